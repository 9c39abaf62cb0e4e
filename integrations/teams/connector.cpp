#include "integrations/teams/connector.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <stdexcept>
#include <utility>

#include "integrations/common/async_http.hpp"
#include "integrations/common/text.hpp"
#include "integrations/common/form.hpp"
#include "integrations/teams/async_wait.hpp"

namespace baton::teams {
namespace json = boost::json;
namespace {

using detail::trim_slashes;
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

// A 2xx answer's `key`, or "" when it names none: the call took effect all the same.
std::string optional_id(const HttpResponse& response, std::string_view key) {
  auto obj = parse_object(response.body);
  return obj ? str(*obj, key) : std::string();
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

struct TokenProvider::State {
  struct Cached {
    std::string token;
    engine::TimePoint refresh_at;
  };
  struct Scope {
    std::optional<Cached> cached;
    bool fetching = false;
    std::vector<TokenDone> waiters;  // answered when the fetch in flight ends
  };

  TeamsConfig config;
  std::shared_ptr<integrations::AsyncHttpClient> http;
  const engine::Clock* clock;
  std::size_t max_waiters;
  mutable std::mutex mutex;  // never held across a request or a callback
  std::map<std::string, Scope, std::less<>> scopes;
  std::size_t fetches = 0;

  HttpRequest token_request(const std::string& scope) const {
    const std::string tenant = config.tenant_id.empty() ? std::string("botframework.com") : config.tenant_id;
    HttpRequest request;
    request.method = "POST";
    request.url = trim_slashes(config.login_base) + "/" + enc(tenant) + "/oauth2/v2.0/token";
    request.timeout = config.timeout;
    request.body = integrations::form_encode({{"grant_type", "client_credentials"},
                                              {"client_id", config.app_id},
                                              {"client_secret", config.app_password},
                                              {"scope", scope}});
    request.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                       {"Accept", "application/json"},
                       {"User-Agent", "baton/0.1"}};
    return request;
  }
};

namespace {

struct Issued {
  std::string token;
  std::int64_t expires_in = 3600;
};

// The token endpoint's answer: the token and its lifetime, or the error.
Result<Issued> parse_token_answer(const Result<HttpResponse>& response) {
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
  Issued issued;
  issued.token = body ? str(*body, "access_token") : std::string();
  if (issued.token.empty()) return fail(ErrorKind::transient, "teams token: answer without 'access_token'");
  if (const auto* v = body->if_contains("expires_in")) {
    if (v->is_int64()) {
      issued.expires_in = v->as_int64();
    } else if (v->is_uint64()) {
      issued.expires_in = static_cast<std::int64_t>(std::min<std::uint64_t>(v->as_uint64(), 86400 * 365));
    } else if (v->is_string()) {  // some endpoints send it quoted
      try {
        issued.expires_in = std::stoll(std::string(v->as_string()));
      } catch (const std::exception&) {
        issued.expires_in = 0;
      }
    }
  }
  return issued;
}

void token_for(const std::shared_ptr<TokenProvider::State>& state, std::string_view scope_name,
               TokenProvider::TokenDone done) {
  auto& s = *state;
  std::unique_lock lock(s.mutex);
  const auto now = s.clock->now();
  auto it = s.scopes.find(scope_name);
  if (it == s.scopes.end()) it = s.scopes.emplace(std::string(scope_name), TokenProvider::State::Scope{}).first;
  auto& scope = it->second;
  if (scope.cached && now < scope.cached->refresh_at) {
    auto token = scope.cached->token;
    lock.unlock();
    return done(std::move(token));
  }
  if (scope.waiters.size() >= s.max_waiters) {
    lock.unlock();
    return done(fail(ErrorKind::transient, "teams token: too many requests waiting for a token"));
  }
  scope.waiters.push_back(std::move(done));
  if (scope.fetching) return;  // the fetch in flight answers this one too
  scope.fetching = true;
  ++s.fetches;
  const std::string name = it->first;
  lock.unlock();

  s.http->request("teams-token", s.token_request(name), [state, name, now](Result<HttpResponse> response) {
    auto issued = parse_token_answer(response);
    std::vector<TokenProvider::TokenDone> waiters;
    {
      std::lock_guard guard(state->mutex);
      auto& scope = state->scopes[name];
      scope.fetching = false;
      waiters = std::exchange(scope.waiters, {});
      // Cached until 5 minutes before expiry; a shorter-lived token is used once and not cached.
      if (issued) {
        const auto refresh_at = now + std::chrono::seconds(issued->expires_in) - kRefreshMargin;
        if (refresh_at > now) scope.cached = TokenProvider::State::Cached{issued->token, refresh_at};
      }
    }
    for (auto& waiter : waiters) {
      if (issued) {
        waiter(issued->token);
      } else {
        waiter(tl::unexpected(issued.error()));
      }
    }
  });
}

}  // namespace

TokenProvider::TokenProvider(TeamsConfig config, std::shared_ptr<integrations::AsyncHttpClient> http)
    : TokenProvider(std::move(config), std::move(http), kSystemClock) {}

TokenProvider::TokenProvider(TeamsConfig config, std::shared_ptr<integrations::AsyncHttpClient> http,
                             const engine::Clock& clock, std::size_t max_waiters)
    : state_(std::make_shared<State>()) {
  if (!http) throw std::invalid_argument("teams: the token provider needs an AsyncHttpClient");
  state_->config = std::move(config);
  state_->http = std::move(http);
  state_->clock = &clock;
  state_->max_waiters = std::max<std::size_t>(max_waiters, 1);
}

TokenProvider::~TokenProvider() = default;

void TokenProvider::bot_token_async(TokenDone done) { token_for(state_, kBotScope, std::move(done)); }

void TokenProvider::graph_token_async(TokenDone done) { token_for(state_, kGraphScope, std::move(done)); }

Result<std::string> TokenProvider::bot_token() {
  return detail::wait_for<std::string>([this](TokenDone done) { bot_token_async(std::move(done)); });
}

Result<std::string> TokenProvider::graph_token() {
  return detail::wait_for<std::string>([this](TokenDone done) { graph_token_async(std::move(done)); });
}

void TokenProvider::invalidate() {
  std::lock_guard lock(state_->mutex);
  for (auto& [name, scope] : state_->scopes) scope.cached.reset();
}

void TokenProvider::invalidate(std::string_view token) {
  std::lock_guard lock(state_->mutex);
  for (auto& [name, scope] : state_->scopes) {
    if (scope.cached && scope.cached->token == token) scope.cached.reset();
  }
}

std::size_t TokenProvider::fetches() const {
  std::lock_guard lock(state_->mutex);
  return state_->fetches;
}

// --- requests with a token --------------------------------------------------

namespace detail {

bool is_loopback_url(std::string_view url) {
  if (const auto scheme = url.find("://"); scheme != std::string_view::npos) url.remove_prefix(scheme + 3);
  url = url.substr(0, url.find_first_of("/?#"));
  if (const auto at = url.rfind('@'); at != std::string_view::npos) url.remove_prefix(at + 1);
  std::string host(url.starts_with('[') ? url.substr(0, url.find(']') + 1) : url.substr(0, url.find(':')));
  for (auto& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (host == "localhost" || host.ends_with(".localhost") || host == "[::1]") return true;
  // 127.0.0.0/8, written as a dotted quad.
  if (!host.starts_with("127.")) return false;
  int dots = 0;
  for (char c : host) {
    if (c == '.') ++dots;
    else if (c < '0' || c > '9') return false;
  }
  return dots == 3 && !host.ends_with('.') && host.find("..") == std::string::npos;
}

namespace {

void send_authorized(std::shared_ptr<TokenProvider> tokens, TokenScope scope,
                     std::shared_ptr<integrations::AsyncHttpClient> http, std::string key, HttpRequest request,
                     std::function<void(Result<HttpResponse>)> done, int attempt) {
  auto on_token = [tokens, scope, http = std::move(http), key = std::move(key), request = std::move(request), attempt,
                   done = std::move(done)](Result<std::string> token) mutable {
    if (!token) return done(tl::unexpected(token.error()));
    HttpRequest authorized = request;
    authorized.headers.insert(authorized.headers.begin(), {"Authorization", "Bearer " + *token});
    auto client = http;
    client->request(key, std::move(authorized),
                    [tokens = std::move(tokens), scope, http = std::move(http), key, request = std::move(request),
                     attempt, token = std::move(*token),
                     done = std::move(done)](Result<HttpResponse> response) mutable {
                      if (response && response->status == 401 && attempt == 0) {
                        tokens->invalidate(token);
                        return send_authorized(std::move(tokens), scope, std::move(http), std::move(key),
                                               std::move(request), std::move(done), 1);
                      }
                      done(std::move(response));
                    });
  };
  auto& provider = *tokens;
  if (scope == TokenScope::bot)
    provider.bot_token_async(std::move(on_token));
  else
    provider.graph_token_async(std::move(on_token));
}

}  // namespace

void send_authorized(std::shared_ptr<TokenProvider> tokens, TokenScope scope,
                     std::shared_ptr<integrations::AsyncHttpClient> http, std::string key, HttpRequest request,
                     std::function<void(Result<HttpResponse>)> done) {
  send_authorized(std::move(tokens), scope, std::move(http), std::move(key), std::move(request), std::move(done), 0);
}

}  // namespace detail

// --- BotConnector ----------------------------------------------------------

struct BotConnector::Shared {
  TeamsConfig config;
  std::shared_ptr<TokenProvider> tokens;
  std::shared_ptr<integrations::AsyncHttpClient> http;
};

namespace {

using Connector = std::shared_ptr<const BotConnector::Shared>;
using ResponseDone = std::function<void(Result<HttpResponse>)>;

// One connector call: the bot token, the request, and on a first 401 (a token
// revoked or rotated under us) a new token and one more try; then classify_teams().
// Unauthenticated local development: a loopback serviceUrl gets no token.
void call(const Connector& c, std::string operation, std::string method, std::string url, std::string body,
          ResponseDone done) {
  integrations::HeaderList headers = {{"Accept", "application/json"}, {"User-Agent", "baton/0.1"}};
  if (method != "GET") headers.emplace_back("Content-Type", "application/json; charset=utf-8");
  HttpRequest request{.method = std::move(method), .url = std::move(url), .headers = std::move(headers),
                      .body = std::move(body), .timeout = c->config.timeout};
  auto classified = [operation = std::move(operation), done = std::move(done)](Result<HttpResponse> response) {
    if (!response) return done(tl::unexpected(response.error()));
    if (auto ok = classify_teams(operation, *response); !ok) return done(tl::unexpected(ok.error()));
    done(std::move(*response));
  };
  if (c->config.allow_unauthenticated && detail::is_loopback_url(request.url))
    return c->http->request("teams", std::move(request), std::move(classified));
  detail::send_authorized(c->tokens, detail::TokenScope::bot, c->http, "teams", std::move(request),
                          std::move(classified));
}

// A 2xx answer's body field `key` as the result (an error without it).
std::function<void(Result<HttpResponse>)> id_of(std::string operation, std::string key,
                                                BotConnector::Done<std::string> done) {
  return [operation = std::move(operation), key = std::move(key), done = std::move(done)](Result<HttpResponse> r) {
    if (!r) return done(tl::unexpected(r.error()));
    done(required_id(operation, *r, key));
  };
}

// A posted activity's id: "" when the 2xx named none (it was posted all the same).
std::function<void(Result<HttpResponse>)> posted_id(BotConnector::Done<std::string> done) {
  return [done = std::move(done)](Result<HttpResponse> r) {
    if (!r) return done(tl::unexpected(r.error()));
    done(optional_id(*r, "id"));
  };
}

}  // namespace

BotConnector::BotConnector(TeamsConfig config, std::shared_ptr<TokenProvider> tokens,
                           std::shared_ptr<integrations::AsyncHttpClient> http) {
  if (!tokens) throw std::invalid_argument("teams: the connector needs a token provider");
  if (!http) throw std::invalid_argument("teams: the connector needs an AsyncHttpClient");
  shared_ = std::make_shared<const Shared>(Shared{std::move(config), std::move(tokens), std::move(http)});
}

const TeamsConfig& BotConnector::config() const { return shared_->config; }

void BotConnector::create_channel_thread_async(std::string_view service_url, std::string_view channel_id,
                                               std::string_view activity_json, Done<ConversationRef> done) {
  auto activity = activity_object("create_channel_thread", activity_json);
  if (!activity) return done(tl::unexpected(activity.error()));
  const auto& config = shared_->config;
  json::object channel_data{{"channel", json::object{{"id", channel_id}}}};
  json::object params{{"isGroup", true}};
  if (!config.tenant_id.empty()) {
    channel_data["tenant"] = json::object{{"id", config.tenant_id}};
    params["tenantId"] = config.tenant_id;
  }
  params["channelData"] = std::move(channel_data);
  params["activity"] = std::move(*activity);
  call(shared_, "create_channel_thread", "POST", conversations_url(service_url), json::serialize(params),
       [service_url = std::string(service_url), channel = std::string(channel_id),
        done = std::move(done)](Result<HttpResponse> response) {
         if (!response) return done(tl::unexpected(response.error()));
         const std::string id = optional_id(*response, "id");
         if (id.empty()) return done(ConversationRef{service_url, channel, ""});  // posted, but where is not known
         std::string activity_id = optional_id(*response, "activityId");
         if (activity_id.empty()) {  // "19:...@thread.tacv2;messageid=<id>": the thread root is the activity
           if (auto pos = id.find(";messageid="); pos != std::string::npos) activity_id = id.substr(pos + 11);
         }
         done(ConversationRef{service_url, id, activity_id});
       });
}

void BotConnector::create_personal_async(std::string_view service_url, std::string_view user_id,
                                         Done<ConversationRef> done) {
  const auto& config = shared_->config;
  json::object params{{"isGroup", false}, {"members", json::array{json::object{{"id", user_id}}}}};
  if (!config.app_id.empty()) params["bot"] = json::object{{"id", "28:" + config.app_id}};
  if (!config.tenant_id.empty()) {
    params["channelData"] = json::object{{"tenant", json::object{{"id", config.tenant_id}}}};
    params["tenantId"] = config.tenant_id;
  }
  call(shared_, "create_personal", "POST", conversations_url(service_url), json::serialize(params),
       [service_url = std::string(service_url), done = std::move(done)](Result<HttpResponse> response) {
         if (!response) return done(tl::unexpected(response.error()));
         auto id = required_id("create_personal", *response, "id");
         if (!id) return done(tl::unexpected(id.error()));
         auto obj = parse_object(response->body);
         done(ConversationRef{service_url, *id, str(*obj, "activityId")});
       });
}

void BotConnector::send_async(std::string_view service_url, std::string_view conversation_id,
                              std::string_view activity_json, Done<std::string> done) {
  auto activity = activity_object("send", activity_json);
  if (!activity) return done(tl::unexpected(activity.error()));
  call(shared_, "send", "POST", conversations_url(service_url) + "/" + enc(conversation_id) + "/activities",
       json::serialize(*activity), posted_id(std::move(done)));
}

void BotConnector::reply_async(std::string_view service_url, std::string_view conversation_id,
                               std::string_view reply_to_id, std::string_view activity_json, Done<std::string> done) {
  auto activity = activity_object("reply", activity_json);
  if (!activity) return done(tl::unexpected(activity.error()));
  if (!activity->contains("replyToId")) (*activity)["replyToId"] = reply_to_id;
  call(shared_, "reply", "POST",
       conversations_url(service_url) + "/" + enc(conversation_id) + "/activities/" + enc(reply_to_id),
       json::serialize(*activity), posted_id(std::move(done)));
}

void BotConnector::update_async(std::string_view service_url, std::string_view conversation_id,
                                std::string_view activity_id, std::string_view activity_json, Done<void> done) {
  auto activity = activity_object("update", activity_json);
  if (!activity) return done(tl::unexpected(activity.error()));
  if (!activity->contains("id")) (*activity)["id"] = activity_id;
  call(shared_, "update", "PUT",
       conversations_url(service_url) + "/" + enc(conversation_id) + "/activities/" + enc(activity_id),
       json::serialize(*activity), [done = std::move(done)](Result<HttpResponse> response) {
         if (!response) return done(tl::unexpected(response.error()));
         done({});
       });
}

void BotConnector::team_group_id_async(std::string_view service_url, std::string_view team_id, Done<std::string> done) {
  call(shared_, "team_details", "GET", trim_slashes(service_url) + "/v3/teams/" + enc(team_id), "",
       id_of("team_details", "aadGroupId", std::move(done)));
}

void BotConnector::member_email_async(std::string_view service_url, std::string_view conversation_id,
                                      std::string_view user_id, Done<std::string> done) {
  call(shared_, "member", "GET",
       trim_slashes(service_url) + "/v3/conversations/" + enc(conversation_id) + "/members/" + enc(user_id), "",
       [done = std::move(done)](Result<HttpResponse> response) {
         if (!response) return done(tl::unexpected(response.error()));
         if (auto email = required_id("member", *response, "email")) return done(std::move(email));
         done(required_id("member", *response, "userPrincipalName"));
       });
}

Result<ConversationRef> BotConnector::create_channel_thread(std::string_view service_url, std::string_view channel_id,
                                                            std::string_view activity_json) {
  return detail::wait_for<ConversationRef>(
      [&](Done<ConversationRef> done) { create_channel_thread_async(service_url, channel_id, activity_json, std::move(done)); });
}

Result<ConversationRef> BotConnector::create_personal(std::string_view service_url, std::string_view user_id) {
  return detail::wait_for<ConversationRef>(
      [&](Done<ConversationRef> done) { create_personal_async(service_url, user_id, std::move(done)); });
}

Result<std::string> BotConnector::send(std::string_view service_url, std::string_view conversation_id,
                                       std::string_view activity_json) {
  return detail::wait_for<std::string>(
      [&](Done<std::string> done) { send_async(service_url, conversation_id, activity_json, std::move(done)); });
}

Result<std::string> BotConnector::reply(std::string_view service_url, std::string_view conversation_id,
                                        std::string_view reply_to_id, std::string_view activity_json) {
  return detail::wait_for<std::string>([&](Done<std::string> done) {
    reply_async(service_url, conversation_id, reply_to_id, activity_json, std::move(done));
  });
}

Result<void> BotConnector::update(std::string_view service_url, std::string_view conversation_id,
                                  std::string_view activity_id, std::string_view activity_json) {
  return detail::wait_for<void>([&](Done<void> done) {
    update_async(service_url, conversation_id, activity_id, activity_json, std::move(done));
  });
}

Result<std::string> BotConnector::team_group_id(std::string_view service_url, std::string_view team_id) {
  return detail::wait_for<std::string>(
      [&](Done<std::string> done) { team_group_id_async(service_url, team_id, std::move(done)); });
}

Result<std::string> BotConnector::member_email(std::string_view service_url, std::string_view conversation_id,
                                               std::string_view user_id) {
  return detail::wait_for<std::string>(
      [&](Done<std::string> done) { member_email_async(service_url, conversation_id, user_id, std::move(done)); });
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
