#pragma once
// A protocol-faithful Slack Socket Mode server for tests (Slack's Socket Mode docs, api.slack.com/apis/socket-mode
// §2): plain WebSocket on 127.0.0.1, an ephemeral port, its own thread. Every
// url() is a fresh single-use ticket; each connection is greeted with hello;
// tests push envelopes and disconnects and read back the acks. Beast stays in
// fake_socket_mode.cpp.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace baton::test {

struct SocketModeAck {
  std::string envelope_id;
  std::optional<std::string> payload_json;  ///< re-serialized, when the ack carried "payload"
  std::size_t connection = 0;               ///< the connection it came on
};

struct SocketModeConnection {
  std::size_t number = 0;          ///< 1 for the first accepted connection, 2 for the next...
  std::string ticket;              ///< from its URL
  std::size_t others_open = 0;     ///< connections still open when this one was accepted
  bool open = true;
  bool closed_by_client = false;   ///< the client sent a close frame
};

/// Thread-safe. `connection` arguments: 0 means the newest open connection.
/// The push/send/drop calls throw std::runtime_error when that connection is
/// not open (a test bug), and return once the frame is queued on it.
class FakeSocketMode {
 public:
  FakeSocketMode();   ///< listening when constructed; throws if it cannot bind
  ~FakeSocketMode();  ///< stop()
  FakeSocketMode(const FakeSocketMode&) = delete;
  FakeSocketMode& operator=(const FakeSocketMode&) = delete;

  /// A fresh single-use URL: ws://127.0.0.1:<port>/link/?ticket=N. A reused or
  /// unknown ticket is refused with HTTP 401 at the handshake.
  std::string url();
  std::uint16_t port() const;

  /// Sends {"envelope_id","type","payload","accepts_response_payload",
  /// "retry_attempt","retry_reason"}; returns the envelope id (a new "env-N"
  /// unless `envelope_id` is given, e.g. to redeliver one).
  std::string push_envelope(const std::string& type, const std::string& payload_json,
                            bool accepts_response_payload = false, int retry_attempt = 0,
                            const std::string& envelope_id = {}, std::size_t connection = 0);
  /// {"type":"disconnect","reason":reason,...}; the connection stays open.
  void send_disconnect(const std::string& reason, std::size_t connection = 0);
  /// Closes the socket without a close frame.
  void drop_connection(std::size_t connection = 0);

  std::size_t connections() const;       ///< accepted so far (refused handshakes not counted)
  std::size_t open_connections() const;
  std::vector<SocketModeConnection> connection_log() const;
  std::vector<SocketModeAck> acks() const;
  std::size_t refused_handshakes() const;

  /// Bounded waits: true once the condition holds, false after `timeout`.
  bool wait_for_acks(std::size_t n, std::chrono::milliseconds timeout) const;
  bool wait_for_connections(std::size_t n, std::chrono::milliseconds timeout) const;
  bool wait_for_open_connections(std::size_t n, std::chrono::milliseconds timeout) const;

  /// Closes everything and joins the thread. Idempotent.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace baton::test
