#pragma once
// The asynchronous HTTP/1.1 server (Beast): one session per connection, each
// on its own strand; keep-alive; body-size limits and read timeouts. It parses
// requests into bot::Request and hands them to one Handler.
#include <cstdint>
#include <memory>
#include <string>

#include "bot/http_types.hpp"
#include "engine/result.hpp"

namespace baton::bot {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;  ///< 0 = any free port (tests)
  std::size_t max_body_bytes = 1 << 20;
  std::chrono::seconds request_timeout{30};
  int threads = 2;
};

class HttpServer {
 public:
  HttpServer(HttpServerOptions options, Handler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// Binds, listens (large backlog) and starts the threads. Returns the port.
  Result<std::uint16_t> start();
  /// Stops accepting; waits up to `grace` for in-flight requests to answer.
  void stop(std::chrono::milliseconds grace = std::chrono::seconds(10));
  std::uint16_t port() const;

  struct Impl;  ///< defined in the .cpp (sessions share it)

 private:
  std::shared_ptr<Impl> impl_;
};

/// Splits "host:port" ("[::1]:8080" too). invalid_request when malformed.
Result<std::pair<std::string, std::uint16_t>> parse_listen(std::string_view listen);

}  // namespace baton::bot
