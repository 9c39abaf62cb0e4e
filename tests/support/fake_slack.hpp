#pragma once
// A protocol-faithful fake of the Slack Web API (api.slack.com/web) on an
// HttpPeer: POST /api/<method>, bearer tokens, JSON or form arguments,
// Slack's envelopes ({"ok":true,...} / {"ok":false,"error":...} with HTTP 200,
// 429 + Retry-After when scripted), and in-memory users, channels and
// messages. Every call is recorded. Thread-safe.
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/result.hpp"
#include "engine/time.hpp"
#include "tests/support/http_peer.hpp"

namespace boost::asio {
class io_context;
}
namespace baton::integrations {
class AsyncHttpClient;
}

namespace baton::test {

struct SlackCall {
  std::string method;        ///< "chat.postMessage"
  std::string token;         ///< the bearer token sent, "" without one
  std::string content_type;  ///< as sent
  std::string args_json;     ///< the arguments as a JSON object (form fields as strings)
  engine::TimePoint at{};    ///< when it arrived, by the clock given to set_clock() (else zero)

  /// A string argument ("" when absent); non-strings are given as JSON text.
  std::string arg(std::string_view name) const;
};

struct FakeSlackUser {
  std::string id;  ///< "U0ALICE"
  std::string email;
  std::string name;
};

struct FakeSlackChannel {
  std::string id;  ///< "C0000001"; direct messages "D..."
  std::string name;
  bool is_private = false;
  bool is_im = false;
  bool archived = false;
  std::string topic;
  std::vector<std::string> members;  ///< user ids
};

struct FakeSlackMessage {
  std::string channel;
  std::string ts;  ///< "1700000000.000100", increasing
  std::string text;
  std::string blocks_json;  ///< "" when none
  int edits = 0;            ///< chat.update calls applied
};

class FakeSlack {
 public:
  static constexpr const char* kBotUser = "U0BATONBOT";
  static constexpr const char* kBotId = "B0BATON";
  static constexpr const char* kTeam = "T0BATON";

  explicit FakeSlack(std::string bot_token = "xoxb-test-token", std::string app_token = "xapp-test-token");

  std::string base_url() const;  ///< "http://127.0.0.1:<port>/api"
  HttpPeer& peer() { return peer_; }

  void add_user(FakeSlackUser user);
  /// A channel that exists already, with the bot as a member unless
  /// `bot_member` is false (posting there is then not_in_channel); returns its id.
  std::string add_channel(std::string name, bool is_private = false, bool bot_member = true);
  /// Calls are stamped with `clock`'s time (SlackCall::at); it must outlive the fake.
  void set_clock(const engine::Clock* clock);
  /// The token's scopes ("chat:write,channels:read"), sent as x-oauth-scopes on
  /// every answer; with chat:write.public the bot may post in a public channel it
  /// is not a member of. Default "": no header.
  void set_scopes(std::string comma_list);
  /// What apps.connections.open answers as `url`.
  void set_socket_url(std::string url);

  /// The next call of `method` answers {"ok":false,"error":error}; queued per method.
  void fail_next(std::string method, std::string error);
  /// The next call of `method` is answered (as usual) only after `delay`.
  void delay_next(std::string method, std::chrono::milliseconds delay);
  /// The next call of `method` answers HTTP 429 with Retry-After and error ratelimited.
  void rate_limit_next(std::string method, int retry_after_s);
  /// While down, every call answers HTTP 503 (still recorded).
  void set_down(bool down);
  /// Removes a message, as a user deleting it would (chat.update then answers message_not_found).
  void delete_message(std::string_view channel, std::string_view ts);

  std::vector<SlackCall> calls() const;
  std::vector<SlackCall> calls(std::string_view method) const;
  std::vector<FakeSlackMessage> messages(std::string_view channel = {}) const;
  std::optional<FakeSlackChannel> channel(std::string_view id) const;
  std::optional<FakeSlackChannel> channel_by_name(std::string_view name) const;
  /// The DM channel id conversations.open gives for `user_id` (stable), without recording a call.
  std::string dm_channel(std::string_view user_id) const;

 private:
  struct State;
  std::shared_ptr<State> state_;
  HttpPeer peer_;
};

/// The network side the App gives Slack code: an io_context run by one thread
/// (the App's `baton-net`) and an AsyncHttpClient on it. Declare it before
/// whatever holds the client: its destructor shuts the client down and stops
/// the loop, and the client must be gone before the loop is.
class SlackNet {
 public:
  SlackNet();
  ~SlackNet();
  SlackNet(const SlackNet&) = delete;
  SlackNet& operator=(const SlackNet&) = delete;

  boost::asio::io_context& io();
  std::shared_ptr<integrations::AsyncHttpClient> http() const;
  /// True on the loop's thread (a callback's).
  bool on_loop_thread() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Waits for the result of an asynchronous call: `start(done)` starts it.
template <typename T, typename Start>
Result<T> await_result(Start&& start) {
  auto promise = std::make_shared<std::promise<Result<T>>>();
  auto result = promise->get_future();
  start([promise](Result<T> r) { promise->set_value(std::move(r)); });
  return result.get();
}

}  // namespace baton::test
