// The blocking HttpClient of the calling thread (see thread_client.hpp).
#include "integrations/common/thread_client.hpp"

namespace baton::integrations {

HttpClient& thread_client() {
  thread_local HttpClient client;
  return client;
}

}  // namespace baton::integrations
