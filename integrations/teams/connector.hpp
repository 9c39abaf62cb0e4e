#pragma once
// Outbound Teams: OAuth2 client-credentials tokens (Bot Framework authentication, learn.microsoft.com/azure/bot-service/rest-api/bot-framework-rest-connector-authentication),
// the Bot Connector REST calls (A3), Teams' status codes mapped onto the error
// taxonomy in one table (A3/A7), and per-conversation pacing (A7). JSON stays
// in connector.cpp; callers pass activities as JSON text.
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/result.hpp"
#include "engine/time.hpp"
#include "integrations/common/text.hpp"
#include "integrations/http_client.hpp"
#include "integrations/teams/teams_config.hpp"

namespace baton::integrations {
class AsyncHttpClient;
}

namespace baton::teams {

/// The kind a Bot Connector or Graph HTTP status maps to: 429 rate_limited;
/// 408, 412, 500, 502, 503, 504 (and any other 5xx) transient; 401, 403
/// auth_revoked; 404 not_found; 409 conflict; any other 4xx permanent.
ErrorKind teams_status_kind(int status);

/// The kind an Entra token endpoint error code maps to: invalid_client,
/// unauthorized_client, invalid_grant -> auth_revoked; temporarily_unavailable
/// -> transient; anything else -> permanent.
ErrorKind aad_error_kind(std::string_view code);

/// A non-2xx connector/Graph answer as an Error: teams_status_kind(), Retry-After
/// (seconds or HTTP-date) on 429, message "teams <operation>: HTTP <status>
/// <error.code>: <error.message>". 2xx gives ok.
Result<void> classify_teams(std::string_view operation, const integrations::HttpResponse& response);

/// OAuth2 client credentials against {login_base}/{tenant_id or
/// botframework.com}/oauth2/v2.0/token
/// (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow),
/// on the non-blocking AsyncHttpClient. Each scope's token is cached until 5
/// minutes before its expiry. Concurrent callers share one fetch per scope:
/// they wait as callbacks (at most `max_waiters` per scope; more are refused
/// at once, transient), never on a thread. Token endpoint errors: aad_error_kind()
/// of the body's `error`, else teams_status_kind(); transport errors transient.
/// Thread-safe.
class TokenProvider {
 public:
  using TokenDone = std::function<void(Result<std::string>)>;
  static constexpr std::size_t kDefaultMaxWaiters = 4096;

  /// std::invalid_argument without `http`. `clock` (expiry) must outlive the provider.
  TokenProvider(TeamsConfig config, std::shared_ptr<integrations::AsyncHttpClient> http);
  TokenProvider(TeamsConfig config, std::shared_ptr<integrations::AsyncHttpClient> http, const engine::Clock& clock,
                std::size_t max_waiters = kDefaultMaxWaiters);
  ~TokenProvider();

  /// Never block. `done` runs at once on the caller's thread when the token is
  /// cached (or the waiters are full), else on the client's thread when the
  /// shared fetch ends (or with "cancelled" when the client shuts down).
  void bot_token_async(TokenDone done);    ///< scope https://api.botframework.com/.default
  void graph_token_async(TokenDone done);  ///< scope https://graph.microsoft.com/.default

  /// Blocking forms (detail::wait_for): tests and tools only, never on the client's thread.
  Result<std::string> bot_token();
  Result<std::string> graph_token();

  /// Forgets every cached token, so the next call fetches anew.
  void invalidate();
  /// Forgets `token` if it is still cached (a 401 answered it): callers that
  /// were refused with the same token cause one refetch, not one each.
  void invalidate(std::string_view token);

  /// Fetches started so far (tests, metrics).
  std::size_t fetches() const;

  struct State;  ///< opaque: shared with callbacks in flight

 private:
  std::shared_ptr<State> state_;
};

namespace detail {

/// Which of TokenProvider's tokens a request carries.
enum class TokenScope { bot, graph };

/// Sends `request` on `http` (under `key`) with a `scope` token as its bearer
/// (the Authorization header goes first). On a first 401 (a token revoked or
/// rotated under us) forgets that token (TokenProvider::invalidate) and sends
/// once more with a new one. `done` gets the answer (any status but that first
/// 401) or the token fetch's or the transport's error. Used by BotConnector and
/// GraphClient.
void send_authorized(std::shared_ptr<TokenProvider> tokens, TokenScope scope,
                     std::shared_ptr<integrations::AsyncHttpClient> http, std::string key,
                     integrations::HttpRequest request, std::function<void(Result<integrations::HttpResponse>)> done);

/// A base URL without its trailing slashes (integrations/common/text.hpp).
using integrations::trim_slashes;

/// True when the URL's host is loopback: "localhost" (or a name under
/// ".localhost"), 127.0.0.0/8 or [::1]. Ports, paths and case do not matter.
bool is_loopback_url(std::string_view url);

}  // namespace detail

struct ConversationRef {
  std::string service_url;
  std::string conversation_id;
  std::string activity_id;  ///< the first activity's id; "" for a personal chat without one
};

/// Bot Connector calls (https://learn.microsoft.com/azure/bot-service/rest-api/bot-framework-rest-connector-api-reference)
/// against a (trusted, JWT-validated) serviceUrl, on the non-blocking
/// AsyncHttpClient (key "teams"); a trailing '/' is normalised and
/// conversation and activity ids are percent-encoded. Every call carries the
/// bot token; on a 401 the token is fetched anew and the call retried once.
/// With TeamsConfig::allow_unauthenticated, calls to a loopback serviceUrl
/// carry no token (the Agents Playground has no token endpoint).
/// A 2xx is a success even without the id it should name: the message went
/// out, and posting it again would duplicate it (the Agents Playground answers
/// 202 with no body when it splits a text with a card into two messages).
/// Errors: classify_teams() (429 rate_limited with Retry-After; 412/5xx
/// transient; 401/403 auth_revoked; 404 not_found; other 4xx permanent),
/// token errors as TokenProvider, transport errors transient, an activity_json
/// that is not a JSON object invalid_request.
/// The *_async calls never block; their callback runs exactly once, on the
/// client's thread (or at once on the caller's for an invalid activity): keep
/// it short. The others wait for their *_async twin (tests and tools only).
/// Thread-safe; callbacks may outlive the connector.
class BotConnector {
 public:
  template <typename T>
  using Done = std::function<void(Result<T>)>;

  /// std::invalid_argument without `tokens` or `http`.
  BotConnector(TeamsConfig config, std::shared_ptr<TokenProvider> tokens,
               std::shared_ptr<integrations::AsyncHttpClient> http);

  /// New thread in a channel: POST {service_url}/v3/conversations {isGroup:true, channelData:{channel:{id}, tenant:{id}}, activity}.
  /// A 2xx without the thread's id gives conversation_id = the channel and no activity_id (a thread baton cannot name).
  void create_channel_thread_async(std::string_view service_url, std::string_view channel_id,
                                   std::string_view activity_json, Done<ConversationRef> done);
  /// 1:1 chat: POST {service_url}/v3/conversations {bot:{id:"28:"+app_id}, members:[{id: user_id}], channelData:{tenant:{id}}, isGroup:false}
  /// (bot and tenant left out when not configured). A 2xx without the chat's id is transient: nothing was posted.
  void create_personal_async(std::string_view service_url, std::string_view user_id, Done<ConversationRef> done);
  /// POST .../v3/conversations/{id}/activities: the new activity's id, "" when a 2xx named none.
  void send_async(std::string_view service_url, std::string_view conversation_id, std::string_view activity_json,
                  Done<std::string> done);
  /// POST .../v3/conversations/{id}/activities/{reply_to_id} (replyToId set when absent): the new
  /// activity's id, "" when a 2xx named none.
  void reply_async(std::string_view service_url, std::string_view conversation_id, std::string_view reply_to_id,
                   std::string_view activity_json, Done<std::string> done);
  /// PUT .../v3/conversations/{id}/activities/{activity_id} (id set when absent).
  void update_async(std::string_view service_url, std::string_view conversation_id, std::string_view activity_id,
                    std::string_view activity_json, Done<void> done);
  /// GET .../v3/teams/{team_id}: the team's M365 group id (aadGroupId), which Graph calls the team id.
  void team_group_id_async(std::string_view service_url, std::string_view team_id, Done<std::string> done);
  /// A conversation member's email (GET /v3/conversations/{id}/members/{user}),
  /// falling back to userPrincipalName; not_found when Teams has neither.
  void member_email_async(std::string_view service_url, std::string_view conversation_id, std::string_view user_id,
                          Done<std::string> done);

  Result<ConversationRef> create_channel_thread(std::string_view service_url, std::string_view channel_id,
                                                std::string_view activity_json);
  Result<ConversationRef> create_personal(std::string_view service_url, std::string_view user_id);
  Result<std::string> send(std::string_view service_url, std::string_view conversation_id, std::string_view activity_json);
  Result<std::string> reply(std::string_view service_url, std::string_view conversation_id, std::string_view reply_to_id,
                            std::string_view activity_json);
  Result<void> update(std::string_view service_url, std::string_view conversation_id, std::string_view activity_id,
                      std::string_view activity_json);
  Result<std::string> team_group_id(std::string_view service_url, std::string_view team_id);
  Result<std::string> member_email(std::string_view service_url, std::string_view conversation_id,
                                   std::string_view user_id);

  const TeamsConfig& config() const;

  struct Shared;  ///< opaque: shared with callbacks in flight

 private:
  std::shared_ptr<const Shared> shared_;
};

/// One sliding-window limit: at most `limit` sends in any `length`.
struct RateWindow {
  engine::Millis length;
  int limit;
};

/// Teams' per-bot, per-conversation limits (A7): 7/1 s, 8/2 s, 60/30 s, 1800/1 h,
/// as sliding windows over the times of past reservations. Thread-safe.
class ConversationLimiter {
 public:
  ConversationLimiter();  ///< Teams' windows
  explicit ConversationLimiter(std::vector<RateWindow> windows);

  /// In the shape of Notifier::reserve(): nullopt = a send to `conversation`
  /// may go at `now`, and the slot is taken; otherwise the earliest time one
  /// may go, and nothing is taken.
  std::optional<engine::TimePoint> reserve(std::string_view conversation, engine::TimePoint now);

 private:
  std::vector<RateWindow> windows_;
  engine::Millis horizon_{0};  // the longest window
  std::mutex mutex_;
  std::map<std::string, std::deque<engine::TimePoint>, std::less<>> sent_;
  std::size_t calls_ = 0;
};

}  // namespace baton::teams
