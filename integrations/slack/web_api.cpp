#include "integrations/slack/web_api.hpp"

#include <thread>

#include <mutex>

#include <map>

#include <boost/json.hpp>

#include <array>
#include <utility>

#include "integrations/sms/twilio_signature.hpp"

namespace baton::slack {
namespace json = boost::json;
namespace {

using integrations::HttpClient;
using integrations::HttpRequest;
using integrations::HttpResponse;

constexpr std::size_t kSnippetBytes = 200;

// The one table of Slack error codes (api.slack.com/web). Codes not here are permanent.
constexpr std::array<std::pair<std::string_view, ErrorKind>, 19> kErrorTable{{
    {"ratelimited", ErrorKind::rate_limited},
    {"invalid_auth", ErrorKind::auth_revoked},
    {"not_authed", ErrorKind::auth_revoked},
    {"token_revoked", ErrorKind::auth_revoked},
    {"account_inactive", ErrorKind::auth_revoked},
    {"token_expired", ErrorKind::auth_revoked},
    {"missing_scope", ErrorKind::auth_revoked},
    {"channel_not_found", ErrorKind::not_found},
    {"user_not_found", ErrorKind::not_found},
    {"users_not_found", ErrorKind::not_found},
    {"message_not_found", ErrorKind::not_found},
    {"name_taken", ErrorKind::conflict},
    {"already_in_channel", ErrorKind::conflict},
    {"cant_invite_self", ErrorKind::conflict},
    {"already_archived", ErrorKind::conflict},
    {"fatal_error", ErrorKind::transient},
    {"internal_error", ErrorKind::transient},
    {"service_unavailable", ErrorKind::transient},
    {"request_timeout", ErrorKind::transient},
}};

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

const json::object* sub(const json::object& obj, std::string_view key) {
  const auto* v = obj.if_contains(key);
  return v && v->is_object() ? &v->as_object() : nullptr;
}

// classify_slack() accepted the body, so it is a JSON object.
json::object parse_ok(const SlackResponse& r) { return json::parse(r.body).as_object(); }

Result<std::string> required(const json::object& obj, std::string_view key, std::string_view method) {
  auto v = str(obj, key);
  if (v.empty()) return fail(ErrorKind::transient, "slack " + std::string(method) + ": answer without '" + std::string(key) + "'");
  return v;
}

void put_blocks(json::object& args, std::string_view blocks_json) {
  if (blocks_json.empty()) return;
  boost::system::error_code ec;
  auto blocks = json::parse(blocks_json, ec);
  // Garbled blocks are a bug of ours; Slack answers invalid_blocks, which is permanent.
  args["blocks"] = ec ? json::value(json::string(blocks_json)) : std::move(blocks);
}

}  // namespace

ErrorKind slack_error_kind(std::string_view code) {
  for (const auto& [name, kind] : kErrorTable) {
    if (name == code) return kind;
  }
  return ErrorKind::permanent;
}

Result<SlackResponse> classify_slack(std::string_view method, const integrations::HttpResponse& response) {
  const int s = response.status;
  const std::string prefix = "slack " + std::string(method) + ": ";
  if (s == 429) {
    Error error{ErrorKind::rate_limited, prefix + "ratelimited", {}};
    if (auto value = response.header("Retry-After")) {
      if (auto delay = integrations::parse_retry_after(*value, std::chrono::system_clock::now())) error.retry_after = *delay;
    }
    return tl::unexpected<Error>(std::move(error));
  }
  if (s < 200 || s >= 300) {
    std::string message = prefix + "HTTP " + std::to_string(s);
    if (!response.body.empty()) message += " " + response.body.substr(0, kSnippetBytes);
    const bool transient = s == 408 || (s >= 500 && s < 600);
    return fail(transient ? ErrorKind::transient : ErrorKind::permanent, std::move(message));
  }
  boost::system::error_code ec;
  auto value = json::parse(response.body, ec);
  if (ec || !value.is_object()) {
    return fail(ErrorKind::transient, prefix + "unreadable answer " + response.body.substr(0, kSnippetBytes));
  }
  const auto& obj = value.as_object();
  const auto* ok = obj.if_contains("ok");
  if (ok && ok->is_bool() && ok->as_bool()) return SlackResponse{response.body};
  std::string code = str(obj, "error");
  if (code.empty()) code = "unknown_error";
  return fail(slack_error_kind(code), prefix + code);
}

std::string slack_error_code(const Error& error) {
  const auto& m = error.message;
  if (!m.starts_with("slack ")) return {};
  const auto colon = m.find(": ");
  if (colon == std::string::npos) return {};
  std::string code = m.substr(colon + 2);
  for (char c : code) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return {};
  }
  return code;
}

int slack_tier_per_minute(std::string_view method) {
  // Slack's documented tiers: Tier 2 "20+ per minute", Tier 3 "50+", Tier 4 "100+".
  static const std::map<std::string_view, int> kTiers{
      {"conversations.create", 20}, {"conversations.invite", 50}, {"conversations.setTopic", 20},
      {"conversations.archive", 20}, {"conversations.open", 50},  {"users.lookupByEmail", 50},
      {"chat.update", 50},           {"chat.postEphemeral", 100}, {"users.info", 100},
      {"auth.test", 100}};
  auto it = kTiers.find(method);
  return it == kTiers.end() ? 0 : it->second;
}

// A token bucket per method: a burst of one minute's allowance, refilled
// evenly, as Slack's "N+ per minute" tiers tolerate short bursts.
struct SlackWebApi::Tiers {
  struct Bucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point refilled{};
  };
  std::mutex mutex;
  std::map<std::string, Bucket, std::less<>> buckets;
};

Result<void> SlackWebApi::pace(std::string_view method) const {
  const int per_minute = slack_tier_per_minute(method);
  if (per_minute <= 0) return {};
  const double rate = per_minute / 60.0;  // tokens per second
  constexpr std::chrono::milliseconds kMaxSleep{250};
  for (bool slept = false;; slept = true) {
    std::chrono::duration<double> wait{};
    {
      std::lock_guard lock(tiers_->mutex);
      auto now = std::chrono::steady_clock::now();
      auto [it, fresh] = tiers_->buckets.try_emplace(std::string(method), Tiers::Bucket{double(per_minute), now});
      auto& b = it->second;
      b.tokens = std::min<double>(per_minute, b.tokens + std::chrono::duration<double>(now - b.refilled).count() * rate);
      b.refilled = now;
      if (b.tokens >= 1.0) {
        b.tokens -= 1.0;
        return {};
      }
      wait = std::chrono::duration<double>((1.0 - b.tokens) / rate);
    }
    if (slept || wait > kMaxSleep) {
      Error e{ErrorKind::rate_limited, "slack " + std::string(method) + ": paced to its rate tier (" +
                                          std::to_string(per_minute) + "/min)",
              std::chrono::ceil<std::chrono::milliseconds>(wait)};
      return tl::unexpected(std::move(e));
    }
    std::this_thread::sleep_for(wait);
  }
}

SlackWebApi::SlackWebApi(SlackConfig config)
    : config_(std::move(config)), base_(trim_slashes(config_.base_url)), tiers_(std::make_shared<Tiers>()) {}

Result<SlackResponse> SlackWebApi::call(std::string_view method, std::string_view args_json) const {
  if (auto paced = pace(method); !paced) return tl::unexpected(paced.error());
  HttpRequest request;
  request.method = "POST";
  request.url = base_ + "/" + std::string(method);
  request.timeout = config_.timeout;
  request.body = args_json.empty() ? std::string("{}") : std::string(args_json);
  request.headers = {{"Authorization", "Bearer " + config_.bot_token},
                     {"Content-Type", "application/json; charset=utf-8"},
                     {"Accept", "application/json"},
                     {"User-Agent", "baton/0.1"}};
  auto response = thread_client().request(request);
  if (!response) return tl::unexpected(response.error());
  return classify_slack(method, *response);
}

Result<SlackResponse> SlackWebApi::call_form(std::string_view method,
                                             const std::vector<std::pair<std::string, std::string>>& args,
                                             std::string_view token) const {
  if (auto paced = pace(method); !paced) return tl::unexpected(paced.error());
  HttpRequest request;
  request.method = "POST";
  request.url = base_ + "/" + std::string(method);
  request.timeout = config_.timeout;
  request.body = integrations::form_encode(args);
  request.headers = {{"Authorization", "Bearer " + std::string(token)},
                     {"Content-Type", "application/x-www-form-urlencoded"},
                     {"Accept", "application/json"},
                     {"User-Agent", "baton/0.1"}};
  auto response = thread_client().request(request);
  if (!response) return tl::unexpected(response.error());
  return classify_slack(method, *response);
}

Result<MessageTs> SlackWebApi::post_message(std::string_view channel, std::string_view text,
                                            std::string_view blocks_json) const {
  json::object args{{"channel", channel}, {"text", text}};
  put_blocks(args, blocks_json);
  auto r = call("chat.postMessage", json::serialize(args));
  if (!r) return tl::unexpected(r.error());
  const auto obj = parse_ok(*r);
  auto ts = required(obj, "ts", "chat.postMessage");
  if (!ts) return tl::unexpected(ts.error());
  auto ch = str(obj, "channel");
  return MessageTs{ch.empty() ? std::string(channel) : ch, *ts};
}

Result<void> SlackWebApi::update_message(std::string_view channel, std::string_view ts, std::string_view text,
                                         std::string_view blocks_json) const {
  json::object args{{"channel", channel}, {"ts", ts}, {"text", text}};
  put_blocks(args, blocks_json);
  auto r = call("chat.update", json::serialize(args));
  if (!r) return tl::unexpected(r.error());
  return {};
}

Result<std::string> SlackWebApi::post_ephemeral(std::string_view channel, std::string_view user, std::string_view text,
                                                std::string_view blocks_json) const {
  json::object args{{"channel", channel}, {"user", user}, {"text", text}};
  put_blocks(args, blocks_json);
  auto r = call("chat.postEphemeral", json::serialize(args));
  if (!r) return tl::unexpected(r.error());
  return required(parse_ok(*r), "message_ts", "chat.postEphemeral");
}

Result<std::string> SlackWebApi::open_dm(std::string_view user_id) const {
  auto r = call("conversations.open", json::serialize(json::object{{"users", user_id}}));
  if (!r) return tl::unexpected(r.error());
  const auto obj = parse_ok(*r);
  const auto* channel = sub(obj, "channel");
  if (!channel) return fail(ErrorKind::transient, "slack conversations.open: answer without 'channel'");
  return required(*channel, "id", "conversations.open");
}

Result<std::string> SlackWebApi::create_channel(std::string_view name, bool is_private) const {
  auto r = call("conversations.create", json::serialize(json::object{{"name", name}, {"is_private", is_private}}));
  if (!r) return tl::unexpected(r.error());
  const auto obj = parse_ok(*r);
  const auto* channel = sub(obj, "channel");
  if (!channel) return fail(ErrorKind::transient, "slack conversations.create: answer without 'channel'");
  return required(*channel, "id", "conversations.create");
}

Result<void> SlackWebApi::invite(std::string_view channel, const std::vector<std::string>& user_ids) const {
  std::string users;
  for (const auto& id : user_ids) users += (users.empty() ? "" : ",") + id;
  auto r = call("conversations.invite", json::serialize(json::object{{"channel", channel}, {"users", users}}));
  if (!r) return tl::unexpected(r.error());
  return {};
}

Result<void> SlackWebApi::set_topic(std::string_view channel, std::string_view topic) const {
  auto r = call("conversations.setTopic", json::serialize(json::object{{"channel", channel}, {"topic", topic}}));
  if (!r) return tl::unexpected(r.error());
  return {};
}

Result<void> SlackWebApi::archive(std::string_view channel) const {
  auto r = call("conversations.archive", json::serialize(json::object{{"channel", channel}}));
  if (!r) return tl::unexpected(r.error());
  return {};
}

Result<std::string> SlackWebApi::lookup_user_by_email(std::string_view email) const {
  auto r = call_form("users.lookupByEmail", {{"email", std::string(email)}}, config_.bot_token);
  if (!r) return tl::unexpected(r.error());
  const auto obj = parse_ok(*r);
  const auto* user = sub(obj, "user");
  if (!user) return fail(ErrorKind::transient, "slack users.lookupByEmail: answer without 'user'");
  return required(*user, "id", "users.lookupByEmail");
}

Result<SlackUser> SlackWebApi::user_info(std::string_view user_id) const {
  auto r = call_form("users.info", {{"user", std::string(user_id)}}, config_.bot_token);
  if (!r) return tl::unexpected(r.error());
  const auto obj = parse_ok(*r);
  const auto* user = sub(obj, "user");
  if (!user) return fail(ErrorKind::transient, "slack users.info: answer without 'user'");
  SlackUser out;
  out.id = str(*user, "id");
  out.name = str(*user, "real_name");
  if (out.name.empty()) out.name = str(*user, "name");
  if (const auto* profile = sub(*user, "profile")) {
    out.email = str(*profile, "email");
    if (out.name.empty()) out.name = str(*profile, "real_name");
  }
  if (out.id.empty()) return fail(ErrorKind::transient, "slack users.info: answer without 'user.id'");
  return out;
}

Result<AuthInfo> SlackWebApi::auth_test() const {
  auto r = call_form("auth.test", {}, config_.bot_token);
  if (!r) return tl::unexpected(r.error());
  const auto obj = parse_ok(*r);
  return AuthInfo{str(obj, "user_id"), str(obj, "team_id"), str(obj, "bot_id")};
}

Result<std::string> SlackWebApi::open_connection(std::string_view app_token) const {
  auto r = call_form("apps.connections.open", {}, app_token);
  if (!r) return tl::unexpected(r.error());
  return required(parse_ok(*r), "url", "apps.connections.open");
}

}  // namespace baton::slack
