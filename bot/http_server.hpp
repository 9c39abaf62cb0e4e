#pragma once
// The asynchronous HTTP/1.1 server (Beast): one session per connection, each
// on its own strand; keep-alive; body-size limits, header and request
// timeouts, a cap on simultaneous connections. It parses requests into
// bot::Request and hands them to one Handler.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "bot/http_types.hpp"
#include "engine/result.hpp"

namespace baton::bot {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;  ///< 0 = any free port (tests)
  std::size_t max_body_bytes = 1 << 20;
  /// Bounds reading one request's body and writing its answer.
  std::chrono::seconds request_timeout{30};
  /// Bounds the wait for a request's headers, idle keep-alive time included,
  /// so a client trickling bytes (slowloris) is closed. Capped by request_timeout.
  std::chrono::milliseconds header_timeout{std::chrono::seconds(10)};
  /// Connections beyond this are answered 503 with `Connection: close`.
  std::size_t max_connections = 10000;
  int threads = 2;
};

/// Counters for /metrics; a consistent-enough snapshot, read from any thread.
struct HttpServerStats {
  std::uint64_t accept_errors_total = 0;   ///< every failed accept()
  std::uint64_t fd_exhausted_total = 0;    ///< of those, EMFILE/ENFILE/ENOBUFS/ENOMEM
  std::uint64_t connections_reset_total = 0;     ///< shed with a reset while out of descriptors
  std::uint64_t connections_rejected_total = 0;  ///< answered 503 beyond max_connections
  std::uint64_t bad_requests_total = 0;    ///< malformed framing answered 400 (or 413/431)
  std::size_t connections_open = 0;
  std::size_t requests_in_flight = 0;      ///< handed to the handler, not yet answered
  bool currently_backing_off = false;      ///< accept paused after resource exhaustion
};

class HttpServer {
 public:
  HttpServer(HttpServerOptions options, Handler handler);
  ~HttpServer();  ///< stop(0): connections still waiting on the handler are closed
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// Binds, listens (large backlog) and starts the threads. Returns the port.
  Result<std::uint16_t> start();
  /// Stops accepting and closes idle keep-alive connections; every request
  /// already read is answered (with `Connection: close`) and written before
  /// its connection closes. Returns as soon as no connection is left, or after
  /// `grace`, when the rest are closed unanswered. Blocks; call from outside
  /// the server's threads (not from a handler). Idempotent.
  void stop(std::chrono::milliseconds grace = std::chrono::seconds(10));
  std::uint16_t port() const;
  HttpServerStats stats() const;  ///< thread-safe

  struct Impl;  ///< defined in the .cpp (sessions share it)

 private:
  std::shared_ptr<Impl> impl_;
};

/// Splits "host:port" ("[::1]:8080" too). invalid_request when malformed.
Result<std::pair<std::string, std::uint16_t>> parse_listen(std::string_view listen);

}  // namespace baton::bot
