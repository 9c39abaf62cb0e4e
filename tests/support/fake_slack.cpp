#include "tests/support/fake_slack.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <deque>
#include <map>
#include <future>
#include <mutex>
#include <optional>
#include <thread>

#include "integrations/common/async_http.hpp"

namespace baton::test {
namespace json = boost::json;

struct FakeSlack::State {
  std::string bot_token;
  std::string app_token;
  mutable std::mutex mutex;
  std::vector<SlackCall> calls;
  std::vector<FakeSlackUser> users;
  std::vector<FakeSlackChannel> channels;
  std::vector<FakeSlackMessage> messages;
  std::map<std::string, std::deque<std::string>, std::less<>> failures;
  std::map<std::string, std::deque<std::chrono::milliseconds>, std::less<>> delays;
  std::map<std::string, std::deque<int>, std::less<>> rate_limits;
  std::string socket_url = "wss://wss-primary.slack.com/link/?ticket=fake-ticket&app_id=A0BATON";
  bool down = false;
  std::string scopes;  // the x-oauth-scopes header; "" = not sent
  const engine::Clock* clock = nullptr;
  int next_channel = 1;
  std::int64_t next_ts = 1;

  std::optional<ScriptedResponse> answer(const RecordedRequest& r);
  ScriptedResponse route(const std::string& method, const json::object& args);

  FakeSlackChannel* find_channel(std::string_view id) {
    for (auto& c : channels) {
      if (c.id == id) return &c;
    }
    return nullptr;
  }
  const FakeSlackUser* find_user(std::string_view id) const {
    for (const auto& u : users) {
      if (u.id == id) return &u;
    }
    return nullptr;
  }
  FakeSlackChannel& dm(const std::string& user) {
    const std::string id = dm_id(user);
    if (auto* c = find_channel(id)) return *c;
    FakeSlackChannel c;
    c.id = id;
    c.is_im = true;
    c.is_private = true;
    c.members = {user, kBotUser};
    channels.push_back(std::move(c));
    return channels.back();
  }
  static std::string dm_id(std::string_view user) {
    return "D" + std::string(user.starts_with("U") ? user.substr(1) : user);
  }
  std::string new_ts() {
    const std::int64_t n = next_ts++;
    char buf[40];
    std::snprintf(buf, sizeof buf, "%lld.%06lld", static_cast<long long>(1700000000 + n / 10000),
                  static_cast<long long>((n % 10000) * 100));
    return buf;
  }
};

namespace {

ScriptedResponse envelope(json::object body) {
  return {200, {{"Content-Type", "application/json; charset=utf-8"}}, json::serialize(body)};
}

ScriptedResponse ok(json::object body = {}) {
  json::object out{{"ok", true}};
  for (auto& [k, v] : body) out[k] = v;
  return envelope(std::move(out));
}

ScriptedResponse error(std::string_view code) { return envelope({{"ok", false}, {"error", code}}); }

std::string decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

void parse_form_into(std::string_view text, json::object& out) {
  while (!text.empty()) {
    const auto amp = text.find('&');
    const auto piece = text.substr(0, amp);
    text = amp == std::string_view::npos ? std::string_view() : text.substr(amp + 1);
    if (piece.empty()) continue;
    const auto eq = piece.find('=');
    out[decode(piece.substr(0, eq))] = decode(eq == std::string_view::npos ? std::string_view() : piece.substr(eq + 1));
  }
}

std::string text_arg(const json::object& args, std::string_view name) {
  const auto* v = args.if_contains(name);
  if (!v) return {};
  if (v->is_string()) return std::string(v->as_string());
  return json::serialize(*v);
}

bool truthy(const json::object& args, std::string_view name) {
  const auto* v = args.if_contains(name);
  if (!v) return false;
  if (v->is_bool()) return v->as_bool();
  return v->is_string() && (v->as_string() == "true" || v->as_string() == "1");
}

// Slack takes `blocks` as a JSON array, or (form bodies) a string holding one.
// nullopt = absent; "" = invalid.
std::optional<std::string> blocks_arg(const json::object& args) {
  const auto* v = args.if_contains("blocks");
  if (!v) return std::nullopt;
  json::value blocks = *v;
  if (v->is_string()) {
    boost::system::error_code ec;
    blocks = json::parse(v->as_string(), ec);
    if (ec) return std::string();
  }
  if (!blocks.is_array() || blocks.as_array().size() > 50) return std::string();
  for (const auto& b : blocks.as_array()) {
    if (!b.is_object() || !b.as_object().contains("type") || !b.as_object().at("type").is_string()) return std::string();
  }
  return json::serialize(blocks);
}

bool valid_channel_name(std::string_view name) {
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) return false;
  }
  return true;
}

json::object channel_json(const FakeSlackChannel& c) {
  return {{"id", c.id},
          {"name", c.name},
          {"is_channel", !c.is_im && !c.is_private},
          {"is_group", !c.is_im && c.is_private},
          {"is_im", c.is_im},
          {"is_private", c.is_private},
          {"is_archived", c.archived},
          {"is_member", std::find(c.members.begin(), c.members.end(), FakeSlack::kBotUser) != c.members.end()},
          {"creator", FakeSlack::kBotUser},
          {"topic", json::object{{"value", c.topic}, {"creator", c.topic.empty() ? "" : FakeSlack::kBotUser}}}};
}

json::object user_json(const FakeSlackUser& u) {
  return {{"id", u.id},
          {"team_id", FakeSlack::kTeam},
          {"name", u.name},
          {"real_name", u.name},
          {"tz", "UTC"},
          {"is_bot", false},
          {"profile", json::object{{"email", u.email}, {"real_name", u.name}, {"display_name", u.name}}}};
}

json::object message_json(const FakeSlackMessage& m) {
  json::object out{{"type", "message"}, {"user", FakeSlack::kBotUser}, {"bot_id", FakeSlack::kBotId},
                   {"text", m.text}, {"ts", m.ts}};
  if (!m.blocks_json.empty()) out["blocks"] = json::parse(m.blocks_json);
  return out;
}

// Methods Slack documents as read methods: arguments as form or query only.
bool form_only(std::string_view method) {
  return method == "users.lookupByEmail" || method == "users.info" || method == "auth.test" ||
         method == "apps.connections.open" || method == "conversations.info";
}

}  // namespace

std::string SlackCall::arg(std::string_view name) const {
  boost::system::error_code ec;
  auto v = json::parse(args_json, ec);
  if (ec || !v.is_object()) return {};
  return text_arg(v.as_object(), name);
}

std::optional<ScriptedResponse> FakeSlack::State::answer(const RecordedRequest& r) {
  std::string target = r.target;
  std::string query;
  if (auto q = target.find('?'); q != std::string::npos) {
    query = target.substr(q + 1);
    target.resize(q);
  }
  if (!target.starts_with("/api/") || target.size() == 5) return ScriptedResponse{404, {}, "Not Found"};
  const std::string method = target.substr(5);

  SlackCall call;
  call.method = method;
  call.content_type = r.header("content-type").value_or("");
  if (auto auth = r.header("authorization"); auth && auth->starts_with("Bearer ")) call.token = auth->substr(7);

  json::object args;
  bool bad_json = false;
  parse_form_into(query, args);
  if (call.content_type.starts_with("application/json")) {
    if (!form_only(method)) {  // read methods ignore a JSON body, as Slack does
      boost::system::error_code ec;
      auto body = json::parse(r.body, ec);
      if (ec || !body.is_object()) {
        bad_json = true;
      } else {
        for (auto& [k, v] : body.as_object()) args[k] = v;
      }
    }
  } else {
    parse_form_into(r.body, args);
  }
  call.args_json = json::serialize(args);

  std::lock_guard lock(mutex);
  if (clock) call.at = clock->now();
  calls.push_back(call);
  if (r.method != "POST" && r.method != "GET") return ScriptedResponse{405, {}, "Method Not Allowed"};
  if (down) return ScriptedResponse{503, {{"Content-Type", "text/html"}}, "<html>503 Service Unavailable</html>"};
  if (auto it = rate_limits.find(method); it != rate_limits.end() && !it->second.empty()) {
    const int seconds = it->second.front();
    it->second.pop_front();
    return ScriptedResponse{429,
                            {{"Content-Type", "application/json; charset=utf-8"}, {"Retry-After", std::to_string(seconds)}},
                            R"({"ok":false,"error":"ratelimited"})"};
  }
  if (auto it = failures.find(method); it != failures.end() && !it->second.empty()) {
    auto code = it->second.front();
    it->second.pop_front();
    return error(code);
  }
  if (call.token.empty()) return error("not_authed");
  if (method == "apps.connections.open") {
    if (call.token == bot_token) return error("not_allowed_token_type");
    if (call.token != app_token) return error("invalid_auth");
  } else if (call.token != bot_token) {
    return call.token == app_token ? error("not_allowed_token_type") : error("invalid_auth");
  }
  if (bad_json) return error("invalid_json");
  auto response = route(method, args);
  // Slack names the token's scopes on every Web API answer (api.slack.com/authentication/oauth-v2).
  if (!scopes.empty()) response.headers.emplace_back("x-oauth-scopes", scopes);
  if (auto it = delays.find(method); it != delays.end() && !it->second.empty()) {
    response.delay = it->second.front();
    it->second.pop_front();
  }
  return response;
}

ScriptedResponse FakeSlack::State::route(const std::string& method, const json::object& args) {
  const auto arg = [&](std::string_view name) { return text_arg(args, name); };

  if (method == "auth.test") {
    return ok({{"url", "https://baton-test.slack.com/"}, {"team", "baton-test"}, {"user", "baton"},
               {"team_id", kTeam}, {"user_id", kBotUser}, {"bot_id", kBotId}, {"is_enterprise_install", false}});
  }
  if (method == "apps.connections.open") return ok({{"url", socket_url}});

  if (method == "users.lookupByEmail") {
    const auto email = arg("email");
    if (email.empty()) return error("invalid_arguments");
    for (const auto& u : users) {
      if (u.email == email) return ok({{"user", user_json(u)}});
    }
    return error("users_not_found");
  }
  if (method == "users.info") {
    const auto id = arg("user");
    if (id.empty()) return error("invalid_arguments");
    if (const auto* u = find_user(id)) return ok({{"user", user_json(*u)}});
    return error("user_not_found");
  }

  if (method == "conversations.open") {
    const auto users_arg = arg("users");
    if (users_arg.empty()) return error("users_list_not_supplied");
    if (users_arg.find(',') != std::string::npos) return error("not_implemented_in_fake");
    if (!find_user(users_arg)) return error("user_not_found");
    return ok({{"channel", json::object{{"id", dm(users_arg).id}}}});
  }
  if (method == "conversations.info") {
    const auto* c = find_channel(arg("channel"));
    const bool member = c && std::find(c->members.begin(), c->members.end(), kBotUser) != c->members.end();
    if (!c || (c->is_private && !member)) return error("channel_not_found");  // private ones are hidden
    return ok({{"channel", channel_json(*c)}});
  }
  if (method == "conversations.create") {
    const auto name = arg("name");
    if (name.empty()) return error("invalid_name_required");
    if (name.size() > 80) return error("invalid_name_maxlength");
    if (!valid_channel_name(name)) return error("invalid_name_specials");
    for (const auto& c : channels) {
      if (!c.is_im && c.name == name) return error("name_taken");
    }
    FakeSlackChannel c;
    char id[16];
    std::snprintf(id, sizeof id, "C%07d", next_channel++);
    c.id = id;
    c.name = name;
    c.is_private = truthy(args, "is_private");
    c.members = {kBotUser};
    channels.push_back(c);
    return ok({{"channel", channel_json(c)}});
  }
  if (method == "conversations.invite" || method == "conversations.setTopic" || method == "conversations.archive") {
    auto* c = find_channel(arg("channel"));
    if (!c) return error("channel_not_found");
    if (method == "conversations.archive") {
      if (c->is_im) return error("method_not_supported_for_channel_type");
      if (c->archived) return error("already_archived");
      c->archived = true;
      return ok();
    }
    if (c->archived) return error("is_archived");
    if (method == "conversations.setTopic") {
      const auto topic = arg("topic");
      if (topic.size() > 250) return error("too_long");
      c->topic = topic;
      return ok({{"channel", channel_json(*c)}});
    }
    if (c->is_im) return error("method_not_supported_for_channel_type");
    const auto list = arg("users");
    if (list.empty()) return error("no_user");
    std::vector<std::string> ids;
    for (std::size_t start = 0; start <= list.size();) {
      const auto comma = list.find(',', start);
      ids.push_back(list.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    bool added = false;
    for (const auto& id : ids) {
      if (id == kBotUser) return error("cant_invite_self");
      if (!find_user(id)) return error("user_not_found");
    }
    for (const auto& id : ids) {
      if (std::find(c->members.begin(), c->members.end(), id) == c->members.end()) {
        c->members.push_back(id);
        added = true;
      }
    }
    if (!added) return error("already_in_channel");
    return ok({{"channel", channel_json(*c)}});
  }

  if (method == "chat.postMessage" || method == "chat.postEphemeral") {
    std::string channel_id = arg("channel");
    if (channel_id.empty()) return error("channel_not_found");
    if (channel_id.starts_with("U") && find_user(channel_id)) channel_id = dm(channel_id).id;  // posting to a user = the app DM
    auto* c = find_channel(channel_id);
    if (!c) return error("channel_not_found");
    if (c->archived) return error("is_archived");
    // chat:write.public: a public channel takes posts without the bot as a member.
    const bool write_public = !c->is_private && !c->is_im && (","+scopes+",").find(",chat:write.public,") != std::string::npos;
    if (!write_public && std::find(c->members.begin(), c->members.end(), kBotUser) == c->members.end())
      return error("not_in_channel");
    const auto blocks = blocks_arg(args);
    if (blocks && blocks->empty()) return error("invalid_blocks");
    const auto text = arg("text");
    if (text.empty() && !blocks) return error("no_text");
    if (text.size() > 40000) return error("msg_too_long");
    if (method == "chat.postEphemeral") {
      const auto user = arg("user");
      if (!find_user(user)) return error("user_not_found");
      if (std::find(c->members.begin(), c->members.end(), user) == c->members.end()) return error("user_not_in_channel");
      return ok({{"message_ts", new_ts()}});
    }
    FakeSlackMessage m{c->id, new_ts(), text, blocks.value_or(""), 0};
    messages.push_back(m);
    return ok({{"channel", m.channel}, {"ts", m.ts}, {"message", message_json(m)}});
  }
  if (method == "chat.update") {
    const auto channel_id = arg("channel");
    const auto ts = arg("ts");
    if (!find_channel(channel_id)) return error("channel_not_found");
    const auto blocks = blocks_arg(args);
    if (blocks && blocks->empty()) return error("invalid_blocks");
    for (auto& m : messages) {
      if (m.channel == channel_id && m.ts == ts) {
        if (args.contains("text")) m.text = arg("text");
        if (blocks) m.blocks_json = *blocks;
        ++m.edits;
        return ok({{"channel", m.channel}, {"ts", m.ts}, {"text", m.text}, {"message", message_json(m)}});
      }
    }
    return error("message_not_found");
  }
  return error("unknown_method");
}

FakeSlack::FakeSlack(std::string bot_token, std::string app_token) : state_(std::make_shared<State>()) {
  state_->bot_token = std::move(bot_token);
  state_->app_token = std::move(app_token);
  peer_.set_handler([state = state_](const RecordedRequest& r) { return state->answer(r); });
}

std::string FakeSlack::base_url() const { return peer_.url() + "/api"; }

void FakeSlack::set_scopes(std::string comma_list) {
  std::lock_guard lock(state_->mutex);
  state_->scopes = std::move(comma_list);
}

void FakeSlack::add_user(FakeSlackUser user) {
  std::lock_guard lock(state_->mutex);
  state_->users.push_back(std::move(user));
}

std::string FakeSlack::add_channel(std::string name, bool is_private, bool bot_member) {
  std::lock_guard lock(state_->mutex);
  FakeSlackChannel c;
  char id[16];
  std::snprintf(id, sizeof id, "C%07d", state_->next_channel++);
  c.id = id;
  c.name = std::move(name);
  c.is_private = is_private;
  if (bot_member) c.members = {kBotUser};
  state_->channels.push_back(c);
  return c.id;
}

void FakeSlack::set_clock(const engine::Clock* clock) {
  std::lock_guard lock(state_->mutex);
  state_->clock = clock;
}

void FakeSlack::set_socket_url(std::string url) {
  std::lock_guard lock(state_->mutex);
  state_->socket_url = std::move(url);
}

void FakeSlack::fail_next(std::string method, std::string error) {
  std::lock_guard lock(state_->mutex);
  state_->failures[std::move(method)].push_back(std::move(error));
}

void FakeSlack::delay_next(std::string method, std::chrono::milliseconds delay) {
  std::lock_guard lock(state_->mutex);
  state_->delays[std::move(method)].push_back(delay);
}

void FakeSlack::rate_limit_next(std::string method, int retry_after_s) {
  std::lock_guard lock(state_->mutex);
  state_->rate_limits[std::move(method)].push_back(retry_after_s);
}

void FakeSlack::set_down(bool down) {
  std::lock_guard lock(state_->mutex);
  state_->down = down;
}

void FakeSlack::delete_message(std::string_view channel, std::string_view ts) {
  std::lock_guard lock(state_->mutex);
  std::erase_if(state_->messages, [&](const FakeSlackMessage& m) { return m.channel == channel && m.ts == ts; });
}

std::vector<SlackCall> FakeSlack::calls() const {
  std::lock_guard lock(state_->mutex);
  return state_->calls;
}

std::vector<SlackCall> FakeSlack::calls(std::string_view method) const {
  std::lock_guard lock(state_->mutex);
  std::vector<SlackCall> out;
  for (const auto& c : state_->calls) {
    if (c.method == method) out.push_back(c);
  }
  return out;
}

std::vector<FakeSlackMessage> FakeSlack::messages(std::string_view channel) const {
  std::lock_guard lock(state_->mutex);
  std::vector<FakeSlackMessage> out;
  for (const auto& m : state_->messages) {
    if (channel.empty() || m.channel == channel) out.push_back(m);
  }
  return out;
}

std::optional<FakeSlackChannel> FakeSlack::channel(std::string_view id) const {
  std::lock_guard lock(state_->mutex);
  if (auto* c = state_->find_channel(id)) return *c;
  return std::nullopt;
}

std::optional<FakeSlackChannel> FakeSlack::channel_by_name(std::string_view name) const {
  std::lock_guard lock(state_->mutex);
  for (const auto& c : state_->channels) {
    if (!c.is_im && c.name == name) return c;
  }
  return std::nullopt;
}

std::string FakeSlack::dm_channel(std::string_view user_id) const { return State::dm_id(user_id); }

}  // namespace baton::test

namespace baton::test {

struct SlackNet::Impl {
  boost::asio::io_context io{1};
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work{io.get_executor()};
  std::shared_ptr<integrations::AsyncHttpClient> http = std::make_shared<integrations::AsyncHttpClient>(io);
  std::thread thread{[this] { io.run(); }};
};

SlackNet::SlackNet() : impl_(std::make_unique<Impl>()) {}

SlackNet::~SlackNet() {
  // Everything in flight completes (cancelled) on the loop, then the loop stops.
  impl_->http->shutdown();
  for (int i = 0; i < 500; ++i) {
    const auto st = impl_->http->stats();
    if (st.in_flight == 0 && st.queued == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::promise<void> shut;
  boost::asio::post(impl_->io, [&shut] { shut.set_value(); });
  shut.get_future().wait();
  impl_->work.reset();
  impl_->io.stop();
  impl_->thread.join();
  impl_->http.reset();  // the last reference, unless a test still holds one
}

boost::asio::io_context& SlackNet::io() { return impl_->io; }
std::shared_ptr<integrations::AsyncHttpClient> SlackNet::http() const { return impl_->http; }
bool SlackNet::on_loop_thread() const { return std::this_thread::get_id() == impl_->thread.get_id(); }

}  // namespace baton::test
