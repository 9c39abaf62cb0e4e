#pragma once
// Plain request/response values between the HTTP server and the handlers, so
// handlers are plain logic testable without a socket (no Beast here).
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace baton::bot {

struct Request {
  std::string method;  ///< "GET", "POST", ...
  std::string target;  ///< path and query as sent
  std::string path;    ///< decoded path without the query
  std::vector<std::pair<std::string, std::string>> query;
  std::vector<std::pair<std::string, std::string>> headers;  ///< names lowercased
  std::string body;
  std::string remote;  ///< peer address
  std::chrono::steady_clock::time_point received{};

  std::optional<std::string_view> header(std::string_view lowercase_name) const;
  std::optional<std::string_view> query_param(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

/// Completes a request. May be called from any thread, exactly once.
using Responder = std::function<void(Response)>;
using Handler = std::function<void(Request&&, Responder)>;

/// {"status":"error","message":...} with the given HTTP status.
Response json_error(int status, std::string_view message);

}  // namespace baton::bot
