#pragma once
// Outbound Teams: OAuth2 client-credentials tokens (Bot Framework authentication, learn.microsoft.com/azure/bot-service/rest-api/bot-framework-rest-connector-authentication),
// the Bot Connector REST calls (A3), Teams' status codes mapped onto the error
// taxonomy in one table (A3/A7), and per-conversation pacing (A7). JSON stays
// in connector.cpp; callers pass activities as JSON text.
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/result.hpp"
#include "engine/time.hpp"
#include "integrations/http_client.hpp"
#include "integrations/teams/teams_config.hpp"

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
/// botframework.com}/oauth2/v2.0/token. Each scope's token is cached until
/// 5 minutes before its expiry; concurrent refreshes are serialized (one
/// blocking request at a time). Token endpoint errors: aad_error_kind() of the
/// body's `error`, else teams_status_kind(); transport errors transient.
/// Thread-safe.
class TokenProvider {
 public:
  explicit TokenProvider(TeamsConfig config);
  TokenProvider(TeamsConfig config, const engine::Clock& clock);  ///< tests: expiry against this clock

  Result<std::string> bot_token();    ///< scope https://api.botframework.com/.default
  Result<std::string> graph_token();  ///< scope https://graph.microsoft.com/.default
  /// Forgets every cached token (after a 401), so the next call fetches anew.
  void invalidate();

 private:
  struct Cached {
    std::string token;
    engine::TimePoint refresh_at;
  };
  Result<std::string> token_for(const std::string& scope);

  TeamsConfig config_;
  const engine::Clock* clock_;
  std::mutex mutex_;  // held across the token request: one refresh at a time
  std::map<std::string, Cached, std::less<>> cache_;
};

struct ConversationRef {
  std::string service_url;
  std::string conversation_id;
  std::string activity_id;  ///< the first activity's id; "" for a personal chat without one
};

/// Bot Connector calls against a (trusted, JWT-validated) serviceUrl; a
/// trailing '/' is normalised and conversation and activity ids are
/// percent-encoded. Every call carries the bot token; on a 401 the token is
/// fetched anew and the call retried once. Errors: classify_teams() (429
/// rate_limited with Retry-After; 412/5xx transient; 401/403 auth_revoked; 404
/// not_found; other 4xx permanent), token errors as TokenProvider, transport
/// errors transient, an activity_json that is not a JSON object
/// invalid_request. Blocking; thread-safe (one HttpClient per thread).
class BotConnector {
 public:
  BotConnector(TeamsConfig config, std::shared_ptr<TokenProvider> tokens);

  /// New thread in a channel: POST {service_url}/v3/conversations {isGroup:true, channelData:{channel:{id}, tenant:{id}}, activity}
  Result<ConversationRef> create_channel_thread(std::string_view service_url, std::string_view channel_id,
                                                std::string_view activity_json);
  /// 1:1 chat: POST {service_url}/v3/conversations {bot:{id:"28:"+app_id}, members:[{id: user_id}], channelData:{tenant:{id}}, isGroup:false}
  Result<ConversationRef> create_personal(std::string_view service_url, std::string_view user_id);
  /// POST .../v3/conversations/{id}/activities: the new activity's id.
  Result<std::string> send(std::string_view service_url, std::string_view conversation_id, std::string_view activity_json);
  /// POST .../v3/conversations/{id}/activities/{reply_to_id} (replyToId set when absent): the new activity's id.
  Result<std::string> reply(std::string_view service_url, std::string_view conversation_id, std::string_view reply_to_id,
                            std::string_view activity_json);
  /// PUT .../v3/conversations/{id}/activities/{activity_id} (id set when absent).
  Result<void> update(std::string_view service_url, std::string_view conversation_id, std::string_view activity_id,
                      std::string_view activity_json);
  /// GET .../v3/teams/{team_id}: the team's M365 group id (aadGroupId), which Graph calls the team id.
  Result<std::string> team_group_id(std::string_view service_url, std::string_view team_id);
  /// A conversation member's email (GET /v3/conversations/{id}/members/{user}),
  /// falling back to userPrincipalName; not_found when Teams has neither.
  Result<std::string> member_email(std::string_view service_url, std::string_view conversation_id,
                                   std::string_view user_id);

  const TeamsConfig& config() const { return config_; }

 private:
  Result<integrations::HttpResponse> call(std::string_view operation, std::string method, std::string url,
                                          std::string body);

  TeamsConfig config_;
  std::shared_ptr<TokenProvider> tokens_;
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
