#include "integrations/teams/connector.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <array>
#include <utility>

#include "integrations/sms/twilio_signature.hpp"

namespace baton::teams {
namespace json = boost::json;
namespace {

using integrations::HttpClient;
using integrations::HttpRequest;
using integrations::HttpResponse;

constexpr std::size_t kSnippetBytes = 200;
constexpr std::string_view kBotScope = "https://api.botframework.com/.default";
constexpr std::string_view kGraphScope = "https://graph.microsoft.com/.default";
constexpr auto kRefreshMargin = std::chrono::minutes(5);

// The one table of Teams (Bot Connector and Graph) statuses (A3, A7). Others:
// 5xx transient, 4xx permanent.
constexpr std::array<std::pair<int, ErrorKind>, 12> kStatusTable{{
    {429, ErrorKind::rate_limited},
    {408, ErrorKind::transient},
    {412, ErrorKind::transient},
    {500, ErrorKind::transient},
    {502, ErrorKind::transient},
    {503, ErrorKind::transient},
    {504, ErrorKind::transient},
    {401, ErrorKind::auth_revoked},
    {403, ErrorKind::auth_revoked},
    {404, ErrorKind::not_found},
    {409, ErrorKind::conflict},
    {400, ErrorKind::permanent},
}};

// Entra (AAD) token endpoint error codes (A2). Others: permanent.
constexpr std::array<std::pair<std::string_view, ErrorKind>, 4> kAadTable{{
    {"invalid_client", ErrorKind::auth_revoked},
    {"unauthorized_client", ErrorKind::auth_revoked},
    {"invalid_grant", ErrorKind::auth_revoked},
    {"temporarily_unavailable", ErrorKind::transient},
}};

const engine::SystemClock kSystemClock;

HttpClient& thread_client() {
  thread_local HttpClient client;
  return client;
}

std::string trim_slashes(std::string_view url) {
  while (!url.empty() && url.back() == '/') url.remove_suffix(1);
  return std::string(url);
}

std::string str(const json::object& obj, std::string_view key) {
  const auto* v = obj.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::optional<json::object> parse_object(std::string_view text) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.as_object());
}

Result<json::object> activity_object(std::string_view operation, std::string_view activity_json) {
  auto obj = parse_object(activity_json);
  if (!obj) return fail(ErrorKind::invalid_request, "teams " + std::string(operation) + ": activity is not a JSON object");
  if (!obj->contains("type")) (*obj)["type"] = "message";
  return std::move(*obj);
}

std::string enc(std::string_view id) { return integrations::percent_encode(id); }

std::string conversations_url(std::string_view service_url) { return trim_slashes(service_url) + "/v3/conversations"; }

Result<std::string> required_id(std::string_view operation, const HttpResponse& response, std::string_view key) {
  auto obj = parse_object(response.body);
  std::string id = obj ? str(*obj, key) : std::string();
  if (id.empty()) {
    return fail(ErrorKind::transient, "teams " + std::string(operation) + ": answer without '" + std::string(key) + "'");
  }
  return id;
}

}  // namespace

ErrorKind teams_status_kind(int status) {
  for (const auto& [code, kind] : kStatusTable) {
    if (code == status) return kind;
  }
  return status >= 500 && status < 600 ? ErrorKind::transient : ErrorKind::permanent;
}

ErrorKind aad_error_kind(std::string_view code) {
  for (const auto& [name, kind] : kAadTable) {
    if (name == code) return kind;
  }
  return ErrorKind::permanent;
}

Result<void> classify_teams(std::string_view operation, const HttpResponse& response) {
  const int s = response.status;
  if (s >= 200 && s < 300) return {};
  std::string message = "teams " + std::string(operation) + ": HTTP " + std::to_string(s);
  if (auto body = parse_object(response.body)) {
    if (const auto* e = body->if_contains("error"); e && e->is_object()) {
      const auto code = str(e->as_object(), "code");
      const auto text = str(e->as_object(), "message");
      if (!code.empty()) message += " " + code;
      if (!text.empty()) message += ": " + text.substr(0, kSnippetBytes);
    }
  } else if (!response.body.empty()) {
    message += " " + response.body.substr(0, kSnippetBytes);
  }
  Error error{teams_status_kind(s), std::move(message), {}};
  if (error.kind == ErrorKind::rate_limited) {
    if (auto value = response.header("Retry-After")) {
      if (auto delay = integrations::parse_retry_after(*value, std::chrono::system_clock::now())) error.retry_after = *delay;
    }
  }
  return tl::unexpected<Error>(std::move(error));
}

// --- TokenProvider ---------------------------------------------------------

TokenProvider::TokenProvider(TeamsConfig config) : config_(std::move(config)), clock_(&kSystemClock) {}

TokenProvider::TokenProvider(TeamsConfig config, const engine::Clock& clock)
    : config_(std::move(config)), clock_(&clock) {}

Result<std::string> TokenProvider::bot_token() { return token_for(std::string(kBotScope)); }

Result<std::string> TokenProvider::graph_token() { return token_for(std::string(kGraphScope)); }

void TokenProvider::invalidate() {
  std::lock_guard lock(mutex_);
  cache_.clear();
}

Result<std::string> TokenProvider::token_for(const std::string& scope) {
  std::lock_guard lock(mutex_);
  const auto now = clock_->now();
  if (auto it = cache_.find(scope); it != cache_.end() && now < it->second.refresh_at) return it->second.token;

  const std::string tenant = config_.tenant_id.empty() ? std::string("botframework.com") : config_.tenant_id;
  HttpRequest request;
  request.method = "POST";
  request.url = trim_slashes(config_.login_base) + "/" + enc(tenant) + "/oauth2/v2.0/token";
  request.timeout = config_.timeout;
  request.body = integrations::form_encode({{"grant_type", "client_credentials"},
                                            {"client_id", config_.app_id},
                                            {"client_secret", config_.app_password},
                                            {"scope", scope}});
  request.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                     {"Accept", "application/json"},
                     {"User-Agent", "baton/0.1"}};
  auto response = thread_client().request(request);
  if (!response) return tl::unexpected(response.error());
  auto body = parse_object(response->body);
  if (response->status < 200 || response->status >= 300) {
    const std::string code = body ? str(*body, "error") : std::string();
    if (code.empty()) {
      auto classified = classify_teams("token", *response);
      return tl::unexpected(classified.error());
    }
    std::string message = "teams token: HTTP " + std::to_string(response->status) + " " + code;
    if (auto description = str(*body, "error_description"); !description.empty()) {
      message += ": " + description.substr(0, kSnippetBytes);
    }
    return fail(aad_error_kind(code), std::move(message));
  }
  const std::string token = body ? str(*body, "access_token") : std::string();
  if (token.empty()) return fail(ErrorKind::transient, "teams token: answer without 'access_token'");
  std::int64_t expires_in = 3600;
  if (const auto* v = body->if_contains("expires_in")) {
    if (v->is_int64()) {
      expires_in = v->as_int64();
    } else if (v->is_uint64()) {
      expires_in = static_cast<std::int64_t>(std::min<std::uint64_t>(v->as_uint64(), 86400 * 365));
    } else if (v->is_string()) {  // some endpoints send it quoted
      try {
        expires_in = std::stoll(std::string(v->as_string()));
      } catch (const std::exception&) {
        expires_in = 0;
      }
    }
  }
  // Cached until 5 minutes before expiry; a shorter-lived token is used once and not cached.
  const auto refresh_at = now + std::chrono::seconds(expires_in) - kRefreshMargin;
  if (refresh_at > now) cache_[scope] = Cached{token, refresh_at};
  return token;
}

// --- BotConnector ----------------------------------------------------------

BotConnector::BotConnector(TeamsConfig config, std::shared_ptr<TokenProvider> tokens)
    : config_(std::move(config)), tokens_(std::move(tokens)) {}

Result<HttpResponse> BotConnector::call(std::string_view operation, std::string method, std::string url,
                                        std::string body) {
  for (int attempt = 0;; ++attempt) {
    auto token = tokens_->bot_token();
    if (!token) return tl::unexpected(token.error());
    HttpRequest request;
    request.method = method;
    request.url = url;
    request.timeout = config_.timeout;
    request.body = body;
    request.headers = {{"Authorization", "Bearer " + *token}, {"Accept", "application/json"}, {"User-Agent", "baton/0.1"}};
    if (method != "GET") request.headers.emplace_back("Content-Type", "application/json; charset=utf-8");
    auto response = thread_client().request(request);
    if (!response) return tl::unexpected(response.error());
    // A 401 may be a token revoked or rotated under us: fetch a new one and try once more.
    if (response->status == 401 && attempt == 0) {
      tokens_->invalidate();
      continue;
    }
    if (auto ok = classify_teams(operation, *response); !ok) return tl::unexpected(ok.error());
    return std::move(*response);
  }
}

Result<ConversationRef> BotConnector::create_channel_thread(std::string_view service_url, std::string_view channel_id,
                                                            std::string_view activity_json) {
  auto activity = activity_object("create_channel_thread", activity_json);
  if (!activity) return tl::unexpected(activity.error());
  json::object channel_data{{"channel", json::object{{"id", channel_id}}}};
  json::object params{{"isGroup", true}};
  if (!config_.tenant_id.empty()) {
    channel_data["tenant"] = json::object{{"id", config_.tenant_id}};
    params["tenantId"] = config_.tenant_id;
  }
  params["channelData"] = std::move(channel_data);
  params["activity"] = std::move(*activity);
  auto response = call("create_channel_thread", "POST", conversations_url(service_url), json::serialize(params));
  if (!response) return tl::unexpected(response.error());
  auto id = required_id("create_channel_thread", *response, "id");
  if (!id) return tl::unexpected(id.error());
  auto obj = parse_object(response->body);
  std::string activity_id = str(*obj, "activityId");
  if (activity_id.empty()) {  // "19:...@thread.tacv2;messageid=<id>": the thread root is the activity
    if (auto pos = id->find(";messageid="); pos != std::string::npos) activity_id = id->substr(pos + 11);
  }
  return ConversationRef{std::string(service_url), *id, activity_id};
}

Result<ConversationRef> BotConnector::create_personal(std::string_view service_url, std::string_view user_id) {
  json::object params{{"isGroup", false},
                      {"bot", json::object{{"id", "28:" + config_.app_id}}},
                      {"members", json::array{json::object{{"id", user_id}}}}};
  if (!config_.tenant_id.empty()) {
    params["channelData"] = json::object{{"tenant", json::object{{"id", config_.tenant_id}}}};
    params["tenantId"] = config_.tenant_id;
  }
  auto response = call("create_personal", "POST", conversations_url(service_url), json::serialize(params));
  if (!response) return tl::unexpected(response.error());
  auto id = required_id("create_personal", *response, "id");
  if (!id) return tl::unexpected(id.error());
  auto obj = parse_object(response->body);
  return ConversationRef{std::string(service_url), *id, str(*obj, "activityId")};
}

Result<std::string> BotConnector::send(std::string_view service_url, std::string_view conversation_id,
                                       std::string_view activity_json) {
  auto activity = activity_object("send", activity_json);
  if (!activity) return tl::unexpected(activity.error());
  auto response = call("send", "POST", conversations_url(service_url) + "/" + enc(conversation_id) + "/activities",
                       json::serialize(*activity));
  if (!response) return tl::unexpected(response.error());
  return required_id("send", *response, "id");
}

Result<std::string> BotConnector::reply(std::string_view service_url, std::string_view conversation_id,
                                        std::string_view reply_to_id, std::string_view activity_json) {
  auto activity = activity_object("reply", activity_json);
  if (!activity) return tl::unexpected(activity.error());
  if (!activity->contains("replyToId")) (*activity)["replyToId"] = reply_to_id;
  auto response = call("reply", "POST",
                       conversations_url(service_url) + "/" + enc(conversation_id) + "/activities/" + enc(reply_to_id),
                       json::serialize(*activity));
  if (!response) return tl::unexpected(response.error());
  return required_id("reply", *response, "id");
}

Result<void> BotConnector::update(std::string_view service_url, std::string_view conversation_id,
                                  std::string_view activity_id, std::string_view activity_json) {
  auto activity = activity_object("update", activity_json);
  if (!activity) return tl::unexpected(activity.error());
  if (!activity->contains("id")) (*activity)["id"] = activity_id;
  auto response = call("update", "PUT",
                       conversations_url(service_url) + "/" + enc(conversation_id) + "/activities/" + enc(activity_id),
                       json::serialize(*activity));
  if (!response) return tl::unexpected(response.error());
  return {};
}

Result<std::string> BotConnector::team_group_id(std::string_view service_url, std::string_view team_id) {
  auto response = call("team_details", "GET", trim_slashes(service_url) + "/v3/teams/" + enc(team_id), "");
  if (!response) return tl::unexpected(response.error());
  return required_id("team_details", *response, "aadGroupId");
}

Result<std::string> BotConnector::member_email(std::string_view service_url, std::string_view conversation_id,
                                               std::string_view user_id) {
  auto response = call("member", "GET",
                       trim_slashes(service_url) + "/v3/conversations/" + enc(conversation_id) + "/members/" + enc(user_id),
                       "");
  if (!response) return tl::unexpected(response.error());
  if (auto email = required_id("member", *response, "email")) return email;
  return required_id("member", *response, "userPrincipalName");
}

// --- ConversationLimiter ---------------------------------------------------

ConversationLimiter::ConversationLimiter()
    : ConversationLimiter({{std::chrono::seconds(1), 7},
                           {std::chrono::seconds(2), 8},
                           {std::chrono::seconds(30), 60},
                           {std::chrono::hours(1), 1800}}) {}

ConversationLimiter::ConversationLimiter(std::vector<RateWindow> windows) : windows_(std::move(windows)) {
  for (const auto& w : windows_) horizon_ = std::max(horizon_, w.length);
}

std::optional<engine::TimePoint> ConversationLimiter::reserve(std::string_view conversation, engine::TimePoint now) {
  std::lock_guard lock(mutex_);
  // Now and then drop conversations idle for longer than every window.
  if (++calls_ % 1024 == 0) {
    std::erase_if(sent_, [&](const auto& entry) { return entry.second.empty() || entry.second.back() <= now - horizon_; });
  }
  auto it = sent_.find(conversation);
  if (it == sent_.end()) it = sent_.emplace(std::string(conversation), std::deque<engine::TimePoint>{}).first;
  auto& times = it->second;
  while (!times.empty() && times.front() <= now - horizon_) times.pop_front();

  // A window of `length` holds the sends at t > now - length; the earliest time
  // a window has room is when its limit-th most recent send leaves it.
  engine::TimePoint earliest = now;
  for (const auto& w : windows_) {
    if (w.limit <= 0) continue;
    const auto n = static_cast<std::ptrdiff_t>(times.size());
    if (n < w.limit) continue;
    const auto oldest_that_counts = times[static_cast<std::size_t>(n - w.limit)];
    earliest = std::max(earliest, oldest_that_counts + w.length);
  }
  if (earliest > now) return earliest;
  // Reservations arrive in time order in practice; keep the deque sorted regardless.
  times.insert(std::upper_bound(times.begin(), times.end(), now), now);
  return std::nullopt;
}

}  // namespace baton::teams
