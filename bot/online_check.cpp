// `baton check-config --online` (see online_check.hpp). Each check is a chain
// of completion handlers on the non-blocking clients; a Run collects the
// results in slots fixed up front, so the output order does not depend on
// which service answers first.
#include "bot/online_check.hpp"

#include <pthread.h>

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <future>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "integrations/common/async_http.hpp"
#include "integrations/common/text.hpp"
#include "integrations/email/smtp_client.hpp"
#include "integrations/slack/web_api.hpp"
#include "integrations/common/form.hpp"
#include "integrations/teams/connector.hpp"

namespace baton::bot {
namespace {

namespace json = boost::json;
using integrations::HttpRequest;
using integrations::HttpResponse;

// The results, one slot per check, and what must live until the last one.
struct Run {
  explicit Run(boost::asio::io_context& loop) : io(loop) {}
  boost::asio::io_context& io;
  std::mutex mutex;
  std::vector<std::optional<OnlineCheck>> slots;
  std::size_t pending = 0;
  std::function<void(std::vector<OnlineCheck>)> done;
  std::vector<std::shared_ptr<const void>> keep;  // clients the checks run on
};

// Fills a slot; the last one posts `done` to the loop (never run inside a caller).
void report(const std::shared_ptr<Run>& run, std::size_t slot, bool ok, std::string detail,
            const std::string& name) {
  std::function<void(std::vector<OnlineCheck>)> done;
  std::vector<OnlineCheck> out;
  {
    std::lock_guard lock(run->mutex);
    if (run->slots[slot]) return;
    run->slots[slot] = OnlineCheck{name, ok, std::move(detail)};
    if (--run->pending != 0) return;
    for (auto& s : run->slots) {
      if (!s->name.empty()) out.push_back(std::move(*s));  // the unnamed slot only held the run open
    }
    done = std::move(run->done);
    run->done = nullptr;
  }
  if (done)
    boost::asio::post(run->io, [done = std::move(done), out = std::move(out), run]() mutable {
      done(std::move(out));
      run->keep.clear();
    });
}

// A check's name and its slot: report() once.
struct Slot {
  std::shared_ptr<Run> run;
  std::size_t index = 0;
  std::string name;
  void ok(std::string detail) const { report(run, index, true, std::move(detail), name); }
  void failed(std::string detail) const { report(run, index, false, std::move(detail), name); }
};

Slot slot(const std::shared_ptr<Run>& run, std::string name) {
  run->slots.emplace_back();
  ++run->pending;
  return Slot{run, run->slots.size() - 1, std::move(name)};
}

std::optional<json::object> parse_object(std::string_view text) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.as_object());
}

std::string str(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

bool flag(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_bool() && v->as_bool();
}

// ---- Slack ------------------------------------------------------------------

// One slack_channel and the services that post there.
struct SlackTarget {
  std::string channel;
  std::vector<std::string> services;
};

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : std::string(sep)) + i;
  return out;
}

// conversations.info's answer (api.slack.com/methods/conversations.info) against
// what chat.postMessage needs: membership, or a public channel and chat:write.public.
void judge_channel(const Slot& s, const Result<slack::SlackResponse>& r, const std::optional<std::set<std::string>>& scopes) {
  if (!r) {
    const auto code = slack::slack_error_code(r.error());
    if (code == "channel_not_found")
      return s.failed("channel_not_found: the bot sees no channel with this id (give the channel's id, C..., not "
                      "its name; a private channel needs the bot invited)");
    if (code == "missing_scope")
      return s.failed("missing_scope: conversations.info needs channels:read (groups:read for a private channel)");
    return s.failed(r.error().message);
  }
  auto body = parse_object(r->body);
  const json::object* ch = nullptr;
  if (body) {
    if (const auto* v = body->if_contains("channel"); v && v->is_object()) ch = &v->as_object();
  }
  if (!ch) return s.failed("conversations.info answered without a channel");
  const std::string name = "#" + str(*ch, "name");
  if (flag(*ch, "is_archived")) return s.failed(name + " is archived: posting there fails with is_archived");
  if (flag(*ch, "is_member")) return s.ok(name + ": the bot is a member");
  const bool is_private = flag(*ch, "is_private") || flag(*ch, "is_group") || flag(*ch, "is_im");
  if (is_private) return s.failed("not_in_channel: the bot is not a member of private channel " + name + "; invite it");
  if (!scopes)
    return s.failed("not_in_channel: the bot is not a member of " + name +
                    ", and auth.test sent no x-oauth-scopes header to show chat:write.public; invite the bot");
  if (scopes->contains("chat:write.public"))
    return s.ok(name + ": the bot is not a member, but the channel is public and the token has chat:write.public");
  std::vector<std::string> list(scopes->begin(), scopes->end());
  return s.failed("not_in_channel: the bot is not a member of " + name +
                  " and the token lacks chat:write.public (its scopes: " + (list.empty() ? "none" : join(list, ",")) +
                  "); invite the bot or add the scope");
}

void check_slack(const std::shared_ptr<Run>& run, const Config& cfg,
                 const std::shared_ptr<integrations::AsyncHttpClient>& http, boost::asio::io_context& io) {
  const Slot auth = slot(run, "slack auth.test");
  std::vector<SlackTarget> targets;
  for (const auto& [id, svc] : cfg.directory->services) {
    if (svc.slack_channel.empty()) continue;
    auto it = std::find_if(targets.begin(), targets.end(), [&](const auto& t) { return t.channel == svc.slack_channel; });
    if (it == targets.end()) it = targets.insert(targets.end(), SlackTarget{svc.slack_channel, {}});
    it->services.push_back(id);
  }
  std::vector<Slot> channel_slots;
  for (const auto& t : targets)
    channel_slots.push_back(slot(run, "slack channel " + t.channel + " (service " + join(t.services, ", ") + ")"));

  slack::SlackConfig sc;
  sc.base_url = cfg.slack.base_url;
  sc.bot_token = cfg.slack.bot_token;
  sc.http_key = "slack-check";
  auto api = std::make_shared<const slack::SlackWebApi>(sc, http, io);
  run->keep.push_back(api);

  // auth.test directly, for its x-oauth-scopes header (the token's scopes).
  HttpRequest request;
  request.method = "POST";
  request.url = integrations::trim_slashes(cfg.slack.base_url) + "/auth.test";
  request.headers = {{"Authorization", "Bearer " + cfg.slack.bot_token},
                     {"Content-Type", "application/x-www-form-urlencoded"}};
  request.timeout = sc.timeout;
  http->request("slack-check", std::move(request),
                [auth, api, targets, channel_slots, token = cfg.slack.bot_token](Result<HttpResponse> response) {
                  Result<slack::SlackResponse> r =
                      response ? slack::classify_slack("auth.test", *response)
                               : Result<slack::SlackResponse>(tl::unexpected(response.error()));
                  if (!r) {
                    auth.failed(r.error().message);
                    for (const auto& s : channel_slots) s.failed("not checked: auth.test failed");
                    return;
                  }
                  std::optional<std::set<std::string>> scopes;
                  if (auto header = response->header("x-oauth-scopes")) {
                    scopes.emplace();
                    std::string_view rest = *header;
                    while (!rest.empty()) {
                      const auto comma = rest.find(',');
                      std::string_view one = rest.substr(0, comma);
                      while (!one.empty() && one.front() == ' ') one.remove_prefix(1);
                      while (!one.empty() && one.back() == ' ') one.remove_suffix(1);
                      if (!one.empty()) scopes->emplace(one);
                      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
                    }
                  }
                  std::string detail;
                  if (auto body = parse_object(r->body))
                    detail = "team " + str(*body, "team") + " (" + str(*body, "team_id") + "), bot user " +
                             str(*body, "user_id");
                  if (scopes) {
                    std::vector<std::string> list(scopes->begin(), scopes->end());
                    detail += "; scopes: " + (list.empty() ? std::string("none") : join(list, ","));
                  } else {
                    detail += "; no x-oauth-scopes header";
                  }
                  auth.ok(std::move(detail));
                  for (std::size_t i = 0; i < targets.size(); ++i) {
                    api->call_form_async("conversations.info", {{"channel", targets[i].channel}}, token,
                                         [s = channel_slots[i], scopes](Result<slack::SlackResponse> info) {
                                           judge_channel(s, info, scopes);
                                         });
                  }
                });
}

// ---- Twilio -----------------------------------------------------------------

// Twilio's error body ({"code":20003,"message":"Authenticate",...}) in a line.
std::string twilio_failure(const HttpResponse& r) {
  std::string out = "HTTP " + std::to_string(r.status);
  if (auto body = parse_object(r.body)) {
    if (const auto* code = body->if_contains("code"); code && code->is_int64())
      out += ", Twilio error " + std::to_string(code->as_int64());
    if (auto message = str(*body, "message"); !message.empty()) out += ": " + message.substr(0, 200);
  }
  if (r.status == 401) out += " (check account_sid with auth_token, or api_key_sid with api_key_secret)";
  return out;
}

void check_twilio(const std::shared_ptr<Run>& run, const Config& cfg,
                  const std::shared_ptr<integrations::AsyncHttpClient>& http) {
  const auto& t = cfg.twilio;
  const bool api_key = !t.api_key_sid.empty() && !t.api_key_secret.empty();
  const std::string authorization =
      "Basic " + integrations::base64_encode(api_key ? t.api_key_sid + ":" + t.api_key_secret
                                                     : t.account_sid + ":" + t.auth_token);
  const std::string account_url = integrations::trim_slashes(t.base_url) + "/2010-04-01/Accounts/" +
                                  integrations::percent_encode(t.account_sid);
  auto get = [&](std::string url, std::function<void(Result<HttpResponse>)> then) {
    HttpRequest request;
    request.method = "GET";
    request.url = std::move(url);
    request.headers = {{"Authorization", authorization}, {"Accept", "application/json"}};
    http->request("twilio-check", std::move(request), std::move(then));
  };

  const Slot account = slot(run, "twilio account " + t.account_sid);
  get(account_url + ".json", [account](Result<HttpResponse> r) {
    if (!r) return account.failed(r.error().message);
    if (r->status != 200) return account.failed(twilio_failure(*r));
    auto body = parse_object(r->body);
    if (!body) return account.failed("the answer is not a JSON object");
    const auto status = str(*body, "status");
    const auto type = str(*body, "type");
    if (status != "active") return account.failed("the account is " + (status.empty() ? "of no status" : status));
    std::string detail = "active";
    if (!type.empty()) detail += ", " + type;
    if (type == "Trial") detail += " (a trial account sends only to verified numbers)";
    account.ok(std::move(detail));
  });

  // Each sending number must be one of the account's, with the capability it is used for.
  std::vector<std::pair<std::string, std::string>> numbers;  // (number, capability)
  if (t.messaging_service_sid.empty() && t.from.starts_with("+")) numbers.emplace_back(t.from, "sms");
  if (t.voice && t.voice_from.starts_with("+")) numbers.emplace_back(t.voice_from, "voice");
  for (const auto& [number, capability] : numbers) {
    const Slot s = slot(run, "twilio " + capability + " number " + number);
    get(account_url + "/IncomingPhoneNumbers.json?PhoneNumber=" + integrations::percent_encode(number),
        [s, number, capability, sid = t.account_sid](Result<HttpResponse> r) {
          if (!r) return s.failed(r.error().message);
          if (r->status != 200) return s.failed(twilio_failure(*r));
          auto body = parse_object(r->body);
          const json::array* list = nullptr;
          if (body) {
            if (const auto* v = body->if_contains("incoming_phone_numbers"); v && v->is_array()) list = &v->as_array();
          }
          if (!list) return s.failed("the answer has no incoming_phone_numbers list");
          for (const auto& n : *list) {
            if (!n.is_object() || str(n.as_object(), "phone_number") != number) continue;
            if (const auto* caps = n.as_object().if_contains("capabilities"); caps && caps->is_object()) {
              const auto* can = caps->as_object().if_contains(capability);
              if (can && can->is_bool() && !can->as_bool())
                return s.failed(number + " belongs to the account but has no " + capability + " capability");
            }
            return s.ok("a number of account " + sid);
          }
          s.failed(number + " is not a phone number of account " + sid);
        });
  }
}

// ---- SMTP -------------------------------------------------------------------

void check_smtp(const std::shared_ptr<Run>& run, const Config& cfg, boost::asio::io_context& io) {
  const auto& m = cfg.smtp;
  const Slot s = slot(run, "smtp login " + integrations::url_without_userinfo(m.url));
  integrations::EmailConfig ec;
  ec.url = m.url;
  ec.from = m.from;
  ec.username = m.username;
  ec.password = m.password;
  ec.require_starttls = m.require_starttls;
  ec.ca_file = m.ca_file;
  ec.verify_peer = m.verify_peer;
  ec.timeout = m.timeout;
  std::shared_ptr<integrations::SmtpClient> client;
  try {
    client = std::make_shared<integrations::SmtpClient>(io, ec);
  } catch (const std::exception& e) {
    return s.failed(e.what());
  }
  run->keep.push_back(client);
  const bool tls = m.url.starts_with("smtps://") || m.require_starttls;
  std::string ok = std::string(m.url.starts_with("smtps://") ? "implicit TLS" : tls ? "STARTTLS" : "no TLS required") +
                   (m.username.empty() ? ", no AUTH configured" : ", authenticated as " + m.username);
  client->check_login([s, ok](integrations::SmtpOutcome outcome) {
    if (outcome.failure == integrations::SmtpOutcome::Failure::none) return s.ok(ok);
    s.failed(outcome.message);
  });
}

// ---- Teams ------------------------------------------------------------------

void check_teams(const std::shared_ptr<Run>& run, const Config& cfg,
                 const std::shared_ptr<integrations::AsyncHttpClient>& http) {
  const auto& c = cfg.teams;
  const Slot s = slot(run, "teams token");
  if (c.app_password.empty()) {
    if (c.allow_unauthenticated) return s.ok("no credentials (allow_unauthenticated, Agents Playground): nothing to check");
    return s.failed("teams.app_password is not set");
  }
  auto tokens = std::make_shared<teams::TokenProvider>(c, http);
  run->keep.push_back(tokens);
  const std::string detail = "a token for app " + c.app_id + " (tenant " +
                             (c.tenant_id.empty() ? std::string("botframework.com") : c.tenant_id) + ")";
  tokens->bot_token_async([s, detail](Result<std::string> token) {
    if (!token) return s.failed(token.error().message);
    s.ok(detail);
  });
}

}  // namespace

std::string OnlineCheck::line() const { return name + (ok ? ": ok (" + detail + ")" : ": FAILED: " + detail); }

void run_online_checks_async(std::shared_ptr<const Config> config,
                             std::shared_ptr<integrations::AsyncHttpClient> http, boost::asio::io_context& io,
                             std::function<void(std::vector<OnlineCheck>)> done) {
  auto run = std::make_shared<Run>(io);
  run->done = std::move(done);
  run->keep.push_back(config);
  // An unnamed slot, filled last: no check can finish the run before all are started.
  const Slot starting = slot(run, "");
  const Config& cfg = *config;
  if (cfg.slack.enabled) check_slack(run, cfg, http, io);
  if (cfg.twilio.enabled) check_twilio(run, cfg, http);
  if (cfg.smtp.enabled) check_smtp(run, cfg, io);
  if (cfg.teams.enabled) check_teams(run, cfg, http);
  starting.ok("");
}

std::vector<OnlineCheck> run_online_checks(const Config& config, std::chrono::milliseconds deadline) {
  boost::asio::io_context io{1};
  auto work = boost::asio::make_work_guard(io);
  std::thread thread([&io] {
    pthread_setname_np(pthread_self(), "baton-check");
    io.run();
  });
  auto http = std::make_shared<integrations::AsyncHttpClient>(io);
  auto promise = std::make_shared<std::promise<std::vector<OnlineCheck>>>();
  auto future = promise->get_future();
  run_online_checks_async(std::make_shared<const Config>(config), http, io,
                          [promise](std::vector<OnlineCheck> results) { promise->set_value(std::move(results)); });
  if (future.wait_for(deadline) != std::future_status::ready) {
    http->shutdown();  // every HTTP check still waiting ends now ("cancelled"); SMTP has its own timeout
  }
  auto results = future.get();
  work.reset();
  http->shutdown();
  io.stop();
  thread.join();
  http.reset();
  return results;
}

}  // namespace baton::bot
