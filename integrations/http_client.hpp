#pragma once
// A blocking HTTP client over libcurl (kept out of this header), and the one
// table that maps HTTP statuses onto the error taxonomy.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/result.hpp"

namespace baton::integrations {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method = "POST";
  std::string url;
  HeaderList headers;
  std::string body;
  std::chrono::milliseconds timeout{10000};  ///< whole request, connect included
};

struct HttpResponse {
  int status = 0;
  HeaderList headers;  ///< as received (the final response's headers only)
  std::string body;

  /// The first header with this name, compared case-insensitively.
  std::optional<std::string> header(std::string_view name) const;
};

/// One per thread (not thread-safe); reuses connections (keep-alive). TLS
/// verifies the peer and the host name (curl sends SNI). Redirects are not
/// followed. Any HTTP status is a successful result; only transport errors
/// (connection refused, timeout, DNS, TLS) are errors, all `transient`
/// except a malformed URL (`invalid_request`).
class HttpClient {
 public:
  HttpClient();
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  Result<HttpResponse> request(const HttpRequest& request);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Maps a response to the taxonomy: 2xx ok; 429 rate_limited (retry_after from
/// Retry-After in seconds or as an HTTP-date, relative to `now`); 408 and 5xx
/// transient; 401/403 auth_revoked; 404 not_found; other statuses permanent.
/// The message names the status and the start of the body.
Result<void> classify(const HttpResponse& response);
Result<void> classify(const HttpResponse& response, std::chrono::system_clock::time_point now);

/// Parses a Retry-After value (delta-seconds or IMF-fixdate) into a delay from
/// `now`; nullopt when unparseable. Dates in the past give 0.
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           std::chrono::system_clock::time_point now);

}  // namespace baton::integrations
