#pragma once
// A blocking client for the Slack Web API (api.slack.com/web): one POST
// per method call, Slack's {"ok":...} envelopes mapped onto the error taxonomy
// in one table. JSON stays in web_api.cpp; callers pass and get JSON as text.
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/result.hpp"
#include "integrations/http_client.hpp"

namespace baton::slack {

struct SlackConfig {
  std::string base_url = "https://slack.com/api";  ///< GovSlack and tests point elsewhere
  std::string bot_token;                           ///< "xoxb-..."
  std::chrono::milliseconds timeout{10000};
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

/// The kind an `{"ok":false,"error":code}` maps to: ratelimited -> rate_limited;
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
/// code, so callers may compare it with slack_error_code()).
Result<SlackResponse> classify_slack(std::string_view method, const integrations::HttpResponse& response);

/// The Slack error code at the end of a message made by classify_slack(), or "".
std::string slack_error_code(const Error& error);

/// Thread-safe (one HttpClient per calling thread). Every call is
/// `POST {base_url}/{method}` with `Authorization: Bearer <token>`: a JSON body
/// (`application/json; charset=utf-8`) for write methods; a form body for the
/// read methods that take no JSON (users.lookupByEmail, users.info, auth.test,
/// apps.connections.open). Transport errors are `transient`. Blocking.
class SlackWebApi {
 public:
  explicit SlackWebApi(SlackConfig config);

  /// Any method with JSON arguments (`args_json` a JSON object's text).
  Result<SlackResponse> call(std::string_view method, std::string_view args_json) const;
  /// Any method with form arguments and an explicit token.
  Result<SlackResponse> call_form(std::string_view method, const std::vector<std::pair<std::string, std::string>>& args,
                                  std::string_view token) const;

  /// `blocks_json` is a JSON array's text, or empty for none; `text` is the
  /// notification fallback and is always sent.
  Result<MessageTs> post_message(std::string_view channel, std::string_view text, std::string_view blocks_json) const;
  Result<void> update_message(std::string_view channel, std::string_view ts, std::string_view text,
                              std::string_view blocks_json) const;
  /// The ephemeral message's ts.
  Result<std::string> post_ephemeral(std::string_view channel, std::string_view user, std::string_view text,
                                     std::string_view blocks_json) const;
  /// conversations.open: the DM channel id ("D...") with `user_id`.
  Result<std::string> open_dm(std::string_view user_id) const;
  /// conversations.create: the new channel's id.
  Result<std::string> create_channel(std::string_view name, bool is_private = false) const;
  Result<void> invite(std::string_view channel, const std::vector<std::string>& user_ids) const;
  Result<void> set_topic(std::string_view channel, std::string_view topic) const;
  Result<void> archive(std::string_view channel) const;
  /// users.lookupByEmail: the user id; not_found (users_not_found) when none.
  Result<std::string> lookup_user_by_email(std::string_view email) const;
  Result<SlackUser> user_info(std::string_view user_id) const;
  Result<AuthInfo> auth_test() const;
  /// apps.connections.open with the app-level token ("xapp-..."): a single-use wss:// URL.
  Result<std::string> open_connection(std::string_view app_token) const;

  const SlackConfig& config() const { return config_; }

 private:
  struct Tiers;
  /// Waits briefly (at most 250 ms) for Slack's per-method rate tier; past
  /// that, rate_limited with retry_after, so the dispatcher re-queues the
  /// delivery instead of a worker thread sleeping.
  Result<void> pace(std::string_view method) const;

  SlackConfig config_;
  std::string base_;  // base_url without trailing slashes
  std::shared_ptr<Tiers> tiers_;
};

/// Calls per minute Slack allows a method (its rate tier), or 0 when baton does
/// not pace it (chat.postMessage is paced per channel by the notifier;
/// apps.connections.open by Socket Mode's own backoff).
int slack_tier_per_minute(std::string_view method);

}  // namespace baton::slack
