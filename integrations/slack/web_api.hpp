#pragma once
// A non-blocking client for the Slack Web API (api.slack.com/web): one POST
// per method call on the AsyncHttpClient, Slack's {"ok":...} envelopes mapped
// onto the error taxonomy in one table. JSON, Asio and curl stay in
// web_api.cpp; callers pass and get JSON as text.
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/result.hpp"
#include "engine/time.hpp"
#include "integrations/http_client.hpp"
#include "integrations/slack/workspace.hpp"

namespace boost::asio {
class io_context;
}
namespace baton::integrations {
class AsyncHttpClient;
}

namespace baton::slack {

struct SlackConfig {
  std::string base_url = "https://slack.com/api";  ///< GovSlack and tests point elsewhere
  std::string bot_token;                           ///< "xoxb-..."
  std::chrono::milliseconds timeout{10000};
  /// The AsyncHttpClient key (its in-flight limit) the calls are queued under.
  std::string http_key = "slack";
  /// chat.postMessage pace per conversation, for the Workspace (its first client sets it).
  double messages_per_second_per_channel = 1.0;
};

/// The raw JSON text of an `{"ok":true,...}` answer.
struct SlackResponse {
  std::string body;
};

struct MessageTs {
  std::string channel;
  std::string ts;  ///< "1700000000.000100": the message's id within its channel
};

struct SlackUser {
  std::string id;
  std::string name;
  std::string email;  ///< empty without the users:read.email scope
};

struct AuthInfo {
  std::string user_id;
  std::string team_id;
  std::string bot_id;
};

/// The kind an `{"ok":false,"error":code}` maps to: ratelimited, rate_limited -> rate_limited;
/// invalid_auth, not_authed, token_revoked, account_inactive, token_expired,
/// missing_scope -> auth_revoked; channel_not_found, user_not_found,
/// users_not_found, message_not_found -> not_found; name_taken,
/// already_in_channel, cant_invite_self, already_archived -> conflict;
/// fatal_error, internal_error, service_unavailable, request_timeout ->
/// transient; anything else -> permanent.
ErrorKind slack_error_kind(std::string_view code);

/// A Web API answer mapped onto the taxonomy: HTTP 429 -> rate_limited with
/// Retry-After; 408 and 5xx -> transient; other non-2xx -> permanent; a 2xx
/// body that is not a JSON object -> transient; `ok:false` -> slack_error_kind()
/// with the message "slack <method>: <code>" (Error::message ends with the
/// code, so callers may compare it with slack_error_code()); a rate_limited
/// code answered with HTTP 200 takes its Retry-After too, when there is one.
Result<SlackResponse> classify_slack(std::string_view method, const integrations::HttpResponse& response);

/// The Slack error code at the end of a message made by classify_slack(), or "".
std::string slack_error_code(const Error& error);

template <typename T>
using SlackCallback = std::function<void(Result<T>)>;

/// A non-blocking client on the service's AsyncHttpClient (docs/async_http.md).
/// Every call is `POST {base_url}/{method}` with `Authorization: Bearer <token>`:
/// a JSON body (`application/json; charset=utf-8`) for write methods; a form body
/// for the read methods that take no JSON (users.lookupByEmail, users.info,
/// auth.test, apps.connections.open), as api.slack.com/web describes. Requests go
/// under the AsyncHttpClient key `config.http_key` (apps.connections.open under
/// "<http_key>-connect", response_url posts under "<http_key>-response-url", so
/// neither queues behind a storm of pages). Transport errors are `transient`.
///
/// Thread-safe; no call blocks or sleeps. `done` is called exactly once, on a
/// thread running `io` (the client's network thread), never inside the call:
/// keep it short. Methods with a rate tier (slack_tier_per_minute) are paced per
/// workspace (workspace.hpp: every SlackWebApi with the same token shares one
/// budget): a call finds its slot at once (or uses one a notifier reserved
/// ahead), or waits for it on an Asio timer when it comes within 250 ms (no
/// thread waits); past that it is not sent and `done` gets rate_limited with
/// retry_after, so the dispatcher re-queues the delivery instead.
class SlackWebApi {
 public:
  using FormArgs = std::vector<std::pair<std::string, std::string>>;

  /// `io` is the io_context `http` runs on (its timers pace the tiers). Both
  /// must outlive the calls in flight (App::stop shuts `http` down first).
  /// `clock` times the workspace's budgets (a test's fake clock); it must
  /// outlive every client of the workspace.
  SlackWebApi(SlackConfig config, std::shared_ptr<integrations::AsyncHttpClient> http, boost::asio::io_context& io,
              const engine::Clock& clock = system_clock());

  /// Any method with JSON arguments (`args_json` a JSON object's text).
  void call_async(std::string method, std::string args_json, SlackCallback<SlackResponse> done) const;
  /// Any method with form arguments and an explicit token.
  void call_form_async(std::string method, FormArgs args, std::string token, SlackCallback<SlackResponse> done) const;

  /// `blocks_json` is a JSON array's text, or empty for none; `text` is the
  /// notification fallback and is always sent.
  void post_message_async(std::string channel, std::string text, std::string blocks_json,
                          SlackCallback<MessageTs> done) const;
  void update_message_async(std::string channel, std::string ts, std::string text, std::string blocks_json,
                            SlackCallback<void> done) const;
  /// The ephemeral message's ts.
  void post_ephemeral_async(std::string channel, std::string user, std::string text, std::string blocks_json,
                            SlackCallback<std::string> done) const;
  /// conversations.open: the DM channel id ("D...") with `user_id`.
  void open_dm_async(std::string user_id, SlackCallback<std::string> done) const;
  /// conversations.create: the new channel's id.
  void create_channel_async(std::string name, bool is_private, SlackCallback<std::string> done) const;
  void invite_async(std::string channel, std::vector<std::string> user_ids, SlackCallback<void> done) const;
  void set_topic_async(std::string channel, std::string topic, SlackCallback<void> done) const;
  void archive_async(std::string channel, SlackCallback<void> done) const;
  /// users.lookupByEmail: the user id; not_found (users_not_found) when none.
  void lookup_user_by_email_async(std::string email, SlackCallback<std::string> done) const;
  void user_info_async(std::string user_id, SlackCallback<SlackUser> done) const;
  void auth_test_async(SlackCallback<AuthInfo> done) const;
  /// apps.connections.open with the app-level token ("xapp-..."): a single-use wss:// URL.
  void open_connection_async(std::string app_token, SlackCallback<std::string> done) const;

  /// Not a Web API method: POSTs a message JSON to an interaction's
  /// response_url (api.slack.com/interactivity/handling#message_responses),
  /// without a token. Any 2xx is success; other statuses are errors
  /// (transient for 408, 429 and 5xx, else permanent).
  void post_response_url_async(std::string url, std::string message_json, SlackCallback<void> done) const;

  /// Runs `fn` on `io` at `when` (an Asio timer: no thread waits). `fn` must not
  /// block; it does not run if `io` stops first.
  void run_at(std::chrono::steady_clock::time_point when, std::function<void()> fn) const;

  const SlackConfig& config() const;
  /// The budgets and the note sink shared with every client of the same token.
  Workspace& workspace() const;
  /// The same client, whose calls first use the tier slots that
  /// Workspace::reserve_calls() took ahead (for a notifier's sends).
  SlackWebApi using_reserved_slots() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
  bool use_reserved_ = false;
};

}  // namespace baton::slack
