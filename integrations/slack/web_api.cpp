#include "integrations/slack/web_api.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <array>
#include <map>
#include <mutex>
#include <stdexcept>
#include <utility>

#include "integrations/common/async_http.hpp"
#include "integrations/common/text.hpp"
#include "integrations/common/form.hpp"

namespace baton::slack {
namespace json = boost::json;
namespace asio = boost::asio;
namespace {

using integrations::HttpRequest;
using integrations::HttpResponse;

constexpr std::size_t kSnippetBytes = 200;

// The one table of Slack error codes (api.slack.com/web). Codes not here are permanent.
constexpr std::array<std::pair<std::string_view, ErrorKind>, 20> kErrorTable{{
    {"ratelimited", ErrorKind::rate_limited},
    {"rate_limited", ErrorKind::rate_limited},  // chat.postMessage's spelling, with HTTP 200
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

using integrations::trim_slashes;

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
  auto rate_limited = [&](std::string code) {
    Error error{ErrorKind::rate_limited, prefix + code, {}};
    if (auto value = response.header("Retry-After")) {
      if (auto delay = integrations::parse_retry_after(*value, std::chrono::system_clock::now())) error.retry_after = *delay;
    }
    return tl::unexpected<Error>(std::move(error));
  };
  if (s == 429) return rate_limited("ratelimited");
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
  if (slack_error_kind(code) == ErrorKind::rate_limited) return rate_limited(std::move(code));
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

// The tier budget is the workspace's (workspace.hpp); a call whose slot comes
// within kMaxWait takes it now and is sent by a timer at its slot.
struct SlackWebApi::State : std::enable_shared_from_this<SlackWebApi::State> {
  State(SlackConfig c, std::shared_ptr<integrations::AsyncHttpClient> h, asio::io_context& i,
        const engine::Clock& clock)
      : config(std::move(c)),
        base(trim_slashes(config.base_url)),
        http(std::move(h)),
        io(i),
        workspace(Workspace::of(base, config.bot_token, clock, config.messages_per_second_per_channel)) {}

  const SlackConfig config;
  const std::string base;  // base_url without trailing slashes
  const std::shared_ptr<integrations::AsyncHttpClient> http;
  asio::io_context& io;
  const std::shared_ptr<Workspace> workspace;

  static constexpr engine::Millis kMaxWait{250};

  // Calls `fn` on `io` later, never inside the caller.
  void defer(std::function<void()> fn) { asio::post(io, std::move(fn)); }

  void run_at(std::chrono::steady_clock::time_point when, std::function<void()> fn) {
    auto timer = std::make_shared<asio::steady_timer>(io, when);
    timer->async_wait([timer, fn = std::move(fn)](const boost::system::error_code&) { fn(); });
  }

  struct Call {
    std::string key;
    std::string method;
    HttpRequest request;
    SlackCallback<SlackResponse> done;
  };

  void start(Call call) {
    http->request(std::move(call.key), std::move(call.request),
                  [method = std::move(call.method), done = std::move(call.done)](Result<HttpResponse> response) {
                    if (!response) return done(tl::unexpected(response.error()));
                    done(classify_slack(method, *response));
                  });
  }

  // Sends one Web API request once its tier allows; `done` gets the classified answer.
  void send(std::string key, std::string method, HttpRequest request, SlackCallback<SlackResponse> done,
            bool use_reserved) {
    auto wait = workspace->take(method, kMaxWait, use_reserved);
    if (!wait) return defer([done = std::move(done), error = wait.error()] { done(tl::unexpected(error)); });
    Call call{std::move(key), std::move(method), std::move(request), std::move(done)};
    if (*wait == engine::Millis::zero()) return start(std::move(call));
    // The slot is taken; the request leaves when it comes, from the timer.
    auto later = std::make_shared<Call>(std::move(call));
    run_at(std::chrono::steady_clock::now() + *wait, [weak = weak_from_this(), later] {
      if (auto self = weak.lock()) return self->start(std::move(*later));
      later->done(fail(ErrorKind::transient, "cancelled: the Slack client is gone"));
    });
  }

  HttpRequest web_request(std::string_view method, std::string body, std::string content_type,
                          std::string_view token) const {
    HttpRequest request;
    request.method = "POST";
    request.url = base + "/" + std::string(method);
    request.timeout = config.timeout;
    request.body = std::move(body);
    request.headers = {{"Authorization", "Bearer " + std::string(token)},
                       {"Content-Type", std::move(content_type)},
                       {"Accept", "application/json"},
                       {"User-Agent", "baton/0.1"}};
    return request;
  }
};

SlackWebApi::SlackWebApi(SlackConfig config, std::shared_ptr<integrations::AsyncHttpClient> http,
                         asio::io_context& io, const engine::Clock& clock)
    : state_(std::make_shared<State>(std::move(config), std::move(http), io, clock)) {
  if (!state_->http) throw std::invalid_argument("slack: an AsyncHttpClient is required");
}

const SlackConfig& SlackWebApi::config() const { return state_->config; }

Workspace& SlackWebApi::workspace() const { return *state_->workspace; }

SlackWebApi SlackWebApi::using_reserved_slots() const {
  SlackWebApi copy = *this;
  copy.use_reserved_ = true;
  return copy;
}

void SlackWebApi::run_at(std::chrono::steady_clock::time_point when, std::function<void()> fn) const {
  state_->run_at(when, std::move(fn));
}

namespace {

// Adapts an `ok` answer to a helper's result; a callback throwing is a bug, so
// parse failures of an answer classify_slack accepted cannot happen (it is an object).
template <typename T, typename F>
SlackCallback<SlackResponse> then(SlackCallback<T> done, F map) {
  return [done = std::move(done), map = std::move(map)](Result<SlackResponse> r) mutable {
    if (!r) return done(tl::unexpected(r.error()));
    done(map(*r));
  };
}

}  // namespace

void SlackWebApi::call_async(std::string method, std::string args_json, SlackCallback<SlackResponse> done) const {
  auto request = state_->web_request(method, args_json.empty() ? std::string("{}") : std::move(args_json),
                                     "application/json; charset=utf-8", state_->config.bot_token);
  state_->send(state_->config.http_key, std::move(method), std::move(request), std::move(done), use_reserved_);
}

void SlackWebApi::call_form_async(std::string method, FormArgs args, std::string token,
                                  SlackCallback<SlackResponse> done) const {
  auto request = state_->web_request(method, integrations::form_encode(args), "application/x-www-form-urlencoded", token);
  state_->send(state_->config.http_key, std::move(method), std::move(request), std::move(done), use_reserved_);
}

void SlackWebApi::post_message_async(std::string channel, std::string text, std::string blocks_json,
                                     SlackCallback<MessageTs> done) const {
  json::object args{{"channel", channel}, {"text", text}};
  put_blocks(args, blocks_json);
  call_async("chat.postMessage", json::serialize(args),
             then<MessageTs>(std::move(done), [channel](const SlackResponse& r) -> Result<MessageTs> {
               const auto obj = parse_ok(r);
               auto ts = required(obj, "ts", "chat.postMessage");
               if (!ts) return tl::unexpected(ts.error());
               auto ch = str(obj, "channel");
               return MessageTs{ch.empty() ? channel : ch, *ts};
             }));
}

void SlackWebApi::update_message_async(std::string channel, std::string ts, std::string text, std::string blocks_json,
                                       SlackCallback<void> done) const {
  json::object args{{"channel", channel}, {"ts", ts}, {"text", text}};
  put_blocks(args, blocks_json);
  call_async("chat.update", json::serialize(args),
             then<void>(std::move(done), [](const SlackResponse&) -> Result<void> { return {}; }));
}

void SlackWebApi::post_ephemeral_async(std::string channel, std::string user, std::string text, std::string blocks_json,
                                       SlackCallback<std::string> done) const {
  json::object args{{"channel", channel}, {"user", user}, {"text", text}};
  put_blocks(args, blocks_json);
  call_async("chat.postEphemeral", json::serialize(args),
             then<std::string>(std::move(done), [](const SlackResponse& r) {
               return required(parse_ok(r), "message_ts", "chat.postEphemeral");
             }));
}

void SlackWebApi::open_dm_async(std::string user_id, SlackCallback<std::string> done) const {
  call_async("conversations.open", json::serialize(json::object{{"users", user_id}}),
             then<std::string>(std::move(done), [](const SlackResponse& r) -> Result<std::string> {
               const auto obj = parse_ok(r);
               const auto* channel = sub(obj, "channel");
               if (!channel) return fail(ErrorKind::transient, "slack conversations.open: answer without 'channel'");
               return required(*channel, "id", "conversations.open");
             }));
}

void SlackWebApi::create_channel_async(std::string name, bool is_private, SlackCallback<std::string> done) const {
  call_async("conversations.create", json::serialize(json::object{{"name", name}, {"is_private", is_private}}),
             then<std::string>(std::move(done), [](const SlackResponse& r) -> Result<std::string> {
               const auto obj = parse_ok(r);
               const auto* channel = sub(obj, "channel");
               if (!channel) return fail(ErrorKind::transient, "slack conversations.create: answer without 'channel'");
               return required(*channel, "id", "conversations.create");
             }));
}

void SlackWebApi::invite_async(std::string channel, std::vector<std::string> user_ids, SlackCallback<void> done) const {
  std::string users;
  for (const auto& id : user_ids) users += (users.empty() ? "" : ",") + id;
  call_async("conversations.invite", json::serialize(json::object{{"channel", channel}, {"users", users}}),
             then<void>(std::move(done), [](const SlackResponse&) -> Result<void> { return {}; }));
}

void SlackWebApi::set_topic_async(std::string channel, std::string topic, SlackCallback<void> done) const {
  call_async("conversations.setTopic", json::serialize(json::object{{"channel", channel}, {"topic", topic}}),
             then<void>(std::move(done), [](const SlackResponse&) -> Result<void> { return {}; }));
}

void SlackWebApi::archive_async(std::string channel, SlackCallback<void> done) const {
  call_async("conversations.archive", json::serialize(json::object{{"channel", channel}}),
             then<void>(std::move(done), [](const SlackResponse&) -> Result<void> { return {}; }));
}

void SlackWebApi::lookup_user_by_email_async(std::string email, SlackCallback<std::string> done) const {
  call_form_async("users.lookupByEmail", {{"email", std::move(email)}}, state_->config.bot_token,
                  then<std::string>(std::move(done), [](const SlackResponse& r) -> Result<std::string> {
                    const auto obj = parse_ok(r);
                    const auto* user = sub(obj, "user");
                    if (!user) return fail(ErrorKind::transient, "slack users.lookupByEmail: answer without 'user'");
                    return required(*user, "id", "users.lookupByEmail");
                  }));
}

void SlackWebApi::user_info_async(std::string user_id, SlackCallback<SlackUser> done) const {
  call_form_async("users.info", {{"user", std::move(user_id)}}, state_->config.bot_token,
                  then<SlackUser>(std::move(done), [](const SlackResponse& r) -> Result<SlackUser> {
                    const auto obj = parse_ok(r);
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
                  }));
}

void SlackWebApi::auth_test_async(SlackCallback<AuthInfo> done) const {
  call_form_async("auth.test", {}, state_->config.bot_token,
                  then<AuthInfo>(std::move(done), [](const SlackResponse& r) -> Result<AuthInfo> {
                    const auto obj = parse_ok(r);
                    return AuthInfo{str(obj, "user_id"), str(obj, "team_id"), str(obj, "bot_id")};
                  }));
}

void SlackWebApi::open_connection_async(std::string app_token, SlackCallback<std::string> done) const {
  // Its own key: a reconnection never queues behind a storm of pages.
  const std::string method = "apps.connections.open";
  auto request = state_->web_request(method, "", "application/x-www-form-urlencoded", app_token);
  state_->send(state_->config.http_key + "-connect", method, std::move(request),
               then<std::string>(std::move(done), [](const SlackResponse& r) {
                 return required(parse_ok(r), "url", "apps.connections.open");
               }),
               false);
}

void SlackWebApi::post_response_url_async(std::string url, std::string message_json, SlackCallback<void> done) const {
  HttpRequest request;
  request.method = "POST";
  request.url = std::move(url);
  request.body = std::move(message_json);
  request.headers = {{"Content-Type", "application/json"}, {"User-Agent", "baton/0.1"}};
  request.timeout = state_->config.timeout;
  state_->http->request(state_->config.http_key + "-response-url", std::move(request),
                        [done = std::move(done)](Result<HttpResponse> response) {
                          if (!response) return done(tl::unexpected(response.error()));
                          const int s = response->status;
                          if (s >= 200 && s < 300) return done({});
                          const bool transient = s == 408 || s == 429 || (s >= 500 && s < 600);
                          done(fail(transient ? ErrorKind::transient : ErrorKind::permanent,
                                    "slack response_url: HTTP " + std::to_string(s)));
                        });
}

}  // namespace baton::slack
