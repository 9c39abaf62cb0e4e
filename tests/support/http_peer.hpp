#pragma once
// A protocol-faithful local HTTP/1.1 server for tests: binds 127.0.0.1 on an
// ephemeral port, runs on its own thread, keeps connections alive, records
// every request and answers from a script. Beast stays in http_peer.cpp.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace baton::test {

struct RecordedRequest {
  std::string method;  ///< "POST"
  std::string target;  ///< "/hook?x=1"
  std::vector<std::pair<std::string, std::string>> headers;  ///< names lowercased, in order
  std::string body;
  std::uint64_t connection = 0;  ///< 1 for the first accepted connection, 2 for the next...

  /// The first header with this name (any case), if any.
  std::optional<std::string> header(std::string_view name) const;
};

struct ScriptedResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;  ///< Content-Type defaults to application/json
  std::string body = "{}";
  std::chrono::milliseconds delay{0};  ///< wait this long before answering (this connection only)
};

/// Thread-safe. Each request is answered by, in order: the handler if it
/// returns a response, else the next queued response, else the default.
class HttpPeer {
 public:
  using Handler = std::function<std::optional<ScriptedResponse>(const RecordedRequest&)>;

  HttpPeer();   ///< listening when constructed; throws if it cannot bind
  ~HttpPeer();  ///< stop()
  HttpPeer(const HttpPeer&) = delete;
  HttpPeer& operator=(const HttpPeer&) = delete;

  std::uint16_t port() const;
  std::string url() const;  ///< "http://127.0.0.1:<port>"

  std::vector<RecordedRequest> requests() const;
  /// True once at least `n` requests were received; false after `timeout`.
  bool wait_for_requests(std::size_t n, std::chrono::milliseconds timeout) const;

  void push_response(ScriptedResponse response);
  void set_default_response(ScriptedResponse response);
  void set_handler(Handler handler);

  /// Closes the listener and every connection (delayed answers are dropped)
  /// and joins the thread. Idempotent.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace baton::test
