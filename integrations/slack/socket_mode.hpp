#pragma once
// Slack Socket Mode client (Slack's Socket Mode docs, api.slack.com/apis/socket-mode): a WebSocket to Slack that
// delivers envelopes (events, slash commands, interactions) and takes their
// acknowledgements. Beast, Asio and OpenSSL stay in the .cpp (pimpl).
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "engine/result.hpp"

namespace baton::slack {

struct SocketModeOptions {
  std::string app_token;  ///< xapp-...: for whoever implements open_url; never logged
  /// Calls apps.connections.open (api.slack.com/methods/apps.connections.open)
  /// for the single-use wss:// URL (ws:// in tests), once per (re)connection.
  /// A retryable error is retried with backoff, any other with max_backoff.
  /// Preferred, non-blocking: called on the I/O thread, it must start the call
  /// and return; `done` may be called from any thread, once.
  std::function<void(std::function<void(Result<std::string>)> done)> open_url_async;
  /// Blocking alternative (tests), used when open_url_async is empty: called on
  /// a helper thread, never on the I/O thread (bounded by its client's timeout).
  std::function<Result<std::string>()> open_url;
  std::string ca_file;  ///< optional PEM bundle for wss; default: the system store
  std::chrono::milliseconds ping_interval{5000};   ///< idle this long: ping; twice as long: dead link
  std::chrono::milliseconds max_backoff{30000};    ///< also the delay after too_many_websockets
  std::chrono::milliseconds initial_backoff{1000};  ///< first reconnect delay (jittered to 50-100%)
  std::chrono::milliseconds hello_timeout{10000};   ///< no `hello` this long after the handshake: reconnect
};

/// One Socket Mode envelope, as Slack sent it.
struct Envelope {
  std::string envelope_id;
  std::string type;          ///< "events_api", "slash_commands", "interactive"
  std::string payload_json;  ///< what HTTP mode would have received ("{}" when absent)
  bool accepts_response_payload = false;
  int retry_attempt = 0;
  /// What makes the payload one user action (slack::content_key(): the slash
  /// command's trigger_id, the action's trigger_id or action_ts, the event's
  /// event_id), so a retry under a new envelope id is known; "" when none.
  std::string content_key;
};

/// Thread-safe and idempotent: the first call sends {"envelope_id"} (+ "payload"
/// when given, valid JSON and the envelope accepts one); later calls do nothing.
/// When every copy is destroyed without a call, the ack is sent without payload.
using AckFn = std::function<void(std::optional<std::string> response_payload_json)>;
/// Runs on the client's I/O thread: it must not block. Hand the work to another
/// thread and call `ack` from there (Slack wants it within 3 s). Retried
/// envelopes already handed over (the same envelope_id, or the same
/// content_key under a new id, within 10 minutes) are acked by the client and
/// not handed over again.
using EnvelopeHandler = std::function<void(const Envelope&, AckFn ack)>;

enum class SocketModeState {
  idle,        ///< not started
  connecting,  ///< no connection has said hello yet (or it was lost)
  connected,   ///< at least one connection said hello
  disabled,    ///< Slack sent link_disabled: Socket Mode is off for the app; stays so
  stopped,     ///< stop() was called
};

struct SocketModeStats {
  SocketModeState state = SocketModeState::idle;
  std::uint64_t hellos = 0;            ///< connections that became ready
  std::uint64_t connect_failures = 0;  ///< open_url errors and connections that never said hello
  std::uint64_t refreshes = 0;         ///< refresh_requested / warning handled
  std::uint64_t envelopes = 0;         ///< handed to the handler
  std::uint64_t duplicates = 0;        ///< retried envelopes acked without handling
  std::uint64_t acks_sent = 0;
  std::string last_error;              ///< the latest failure, for logs and health checks
};

/// Owns its io_context and I/O thread. Connects, waits for hello, reads
/// envelopes and acks them through a write queue (one write in flight). On
/// refresh_requested or warning it opens a new connection and closes the old
/// one only after the new one said hello; on a lost connection it reconnects
/// with jittered exponential backoff; on too_many_websockets it waits
/// max_backoff; on link_disabled it stops reconnecting (state `disabled`).
class SlackSocketMode {
 public:
  /// Throws std::runtime_error when ca_file cannot be loaded (bad configuration).
  SlackSocketMode(SocketModeOptions options, EnvelopeHandler handler);
  ~SlackSocketMode();  ///< stop()
  SlackSocketMode(const SlackSocketMode&) = delete;
  SlackSocketMode& operator=(const SlackSocketMode&) = delete;

  /// Starts the I/O thread and the first connection. Once; later calls do nothing.
  void start();
  /// Closes the connections (close handshake bounded to ~1 s), waits for a
  /// blocking open_url call in progress (an open_url_async answer arriving
  /// later is dropped), joins the threads. Idempotent; not from the handler.
  void stop();
  /// True while at least one connection has said hello.
  bool connected() const;
  SocketModeStats stats() const;

  struct Impl;  ///< defined in the .cpp

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace baton::slack
