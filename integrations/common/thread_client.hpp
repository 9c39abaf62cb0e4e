#pragma once
// The blocking HttpClient of the calling thread, for the notifiers' blocking
// send() (tools and tests; the service sends with AsyncHttpClient).
#include "integrations/http_client.hpp"

namespace baton::integrations {

/// One client per thread, created on first use and reused (keep-alive).
HttpClient& thread_client();

}  // namespace baton::integrations
