// The HTTP routes: thin handlers that authenticate, parse into one command
// (Incidents) or read (Queries), and render the answer. No Beast here; tests
// call handler() directly.
#include <boost/json.hpp>
#include <charconv>
#include <set>

#include <spdlog/spdlog.h>

#include "bot/app.hpp"
#include "bot/console_auth.hpp"
#include "bot/console_routes.hpp"
#include "bot/maintenance_routes.hpp"
#include "bot/report_routes.hpp"
#include "bot/queries.hpp"
#include "engine/oncall.hpp"
#include "integrations/action_links.hpp"
#include "integrations/alerts/alertmanager.hpp"
#include "integrations/alerts/events_v2.hpp"
#include "integrations/common/utf8.hpp"
#include "integrations/crypto.hpp"
#include "integrations/email/message.hpp"
#include "bot/slack_frontend.hpp"
#include "bot/sms_routes.hpp"
#include "bot/teams_frontend.hpp"
#include "bot/voice_routes.hpp"
#include "integrations/slack/commands.hpp"
#include "integrations/slack/interactions.hpp"
#include "integrations/slack/signature.hpp"
#include "integrations/sms/twilio_signature.hpp"
#include "integrations/common/text.hpp"

namespace baton::bot {
using integrations::html_escape;
namespace {

namespace json = boost::json;
using engine::Incident;

Response json_response(int status, const json::value& v) {
  Response r;
  r.status = status;
  r.body = json::serialize(v);
  return r;
}

int status_for(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::invalid_request: return 400;
    case ErrorKind::not_found: return 404;
    case ErrorKind::conflict: return 409;
    case ErrorKind::unauthorized: return 401;
    case ErrorKind::rate_limited: return 429;
    case ErrorKind::transient:
    case ErrorKind::auth_revoked:
    case ErrorKind::fenced:
    case ErrorKind::permanent: return 503;
  }
  return 500;
}

/// The answer for an expected failure; Retry-After when the error gives one
/// (e.g. 503 while the database fails writes).
Response error_response(const Error& e) {
  auto r = json_error(status_for(e.kind), e.message);
  if (e.retry_after.count() > 0)
    r.headers.emplace_back("Retry-After", std::to_string(std::max<std::int64_t>(
                                              1, std::chrono::duration_cast<std::chrono::seconds>(e.retry_after).count())));
  return r;
}

json::value time_or_null(const std::optional<engine::TimePoint>& t) {
  if (!t) return nullptr;
  return json::string(engine::format_iso8601(*t));
}

json::object incident_json(const Incident& inc, const engine::Directory& dir) {
  json::object o;
  o["number"] = inc.number;
  o["service"] = inc.service_id;
  if (const auto* s = dir.service(inc.service_id)) o["service_name"] = s->name;
  o["summary"] = inc.summary;
  o["source"] = inc.source_name;
  o["severity"] = engine::to_string(inc.severity);
  o["state"] = engine::to_string(inc.state);
  o["dedup_key"] = inc.dedup_key;
  o["owner"] = inc.owner.empty() ? json::value(nullptr) : json::value(inc.owner);
  o["created_by"] = engine::to_string(inc.created_by);
  o["created_at"] = engine::format_iso8601(inc.created_at);
  o["updated_at"] = engine::format_iso8601(inc.updated_at);
  o["acknowledged_at"] = time_or_null(inc.acknowledged_at);
  o["resolved_at"] = time_or_null(inc.resolved_at);
  o["alert_count"] = inc.alert_count;
  // Held by a maintenance window: recorded, nobody paged until it ends.
  const bool suppressed = inc.suppressed_until && inc.state == engine::IncidentState::triggered;
  o["suppressed"] = suppressed;
  o["maintenance"] = suppressed ? json::value(json::object{{"reason", inc.suppressed_reason},
                                                           {"until", engine::format_iso8601(*inc.suppressed_until)}})
                                : json::value(nullptr);
  json::object esc;
  esc["policy"] = inc.policy ? inc.policy->policy_id : "";
  esc["step"] = inc.escalation.step + 1;
  esc["round"] = inc.escalation.round + 1;
  esc["active"] = inc.escalation.active && inc.state == engine::IncidentState::triggered;
  esc["next_escalation_at"] = esc["active"].as_bool() ? time_or_null(inc.escalation.step_deadline) : nullptr;
  o["escalation"] = std::move(esc);
  boost::system::error_code ec;
  // As deep as the alert parsers store; Boost's default (32) would hide deeper details.
  json::parse_options deep;
  deep.max_depth = alerts::kMaxDetailsDepth;
  auto details = json::parse(inc.details_json.empty() ? "{}" : inc.details_json, ec, {}, deep);
  o["details"] = ec ? json::value(json::object{}) : std::move(details);
  return o;
}

std::optional<std::int64_t> parse_int(std::string_view s) {
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

bool is_json(const Request& req) {
  auto ct = req.header("content-type");
  if (!ct) return false;
  auto v = *ct;
  auto semi = v.find(';');
  auto base = v.substr(0, semi);
  while (!base.empty() && base.back() == ' ') base.remove_suffix(1);
  std::string lower(base);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower == "application/json";
}

Response html_page(int status, std::string_view title, std::string_view body_html) {
  Response r;
  r.status = status;
  r.content_type = "text/html; charset=utf-8";
  r.headers.emplace_back("Cache-Control", "no-store");
  r.headers.emplace_back("X-Frame-Options", "DENY");
  r.body = "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" "
           "content=\"width=device-width\"><title>" +
           html_escape(title) +
           "</title><style>body{font-family:sans-serif;max-width:36em;margin:3em auto;padding:0 1em}"
           "button{font-size:1.2em;padding:.5em 1.5em}</style></head><body><h1>" +
           html_escape(title) + "</h1>" + std::string(body_html) + "</body></html>";
  return r;
}

const char* verb(integrations::Action a) {
  switch (a) {
    case integrations::Action::acknowledge: return "Acknowledge";
    case integrations::Action::resolve: return "Resolve";
    case integrations::Action::escalate: return "Escalate";
  }
  return "Act on";
}

Command to_command(integrations::Action a) {
  switch (a) {
    case integrations::Action::acknowledge: return Command::acknowledge;
    case integrations::Action::resolve: return Command::resolve;
    case integrations::Action::escalate: return Command::escalate;
  }
  return Command::acknowledge;
}

class Router {
 public:
  explicit Router(App& app) : app_(app) {}

  void operator()(Request&& req, Responder respond) {
    const std::string path = req.path;  // req is moved into route()
    try {
      route(std::move(req), respond);  // a copy: respond stays callable here
    } catch (const std::exception& e) {
      // A bug, not an expected failure: log it and fail this request only (the
      // server ignores a second answer if route() had already given one).
      spdlog::error("handler error on {}: {}", path, e.what());
      respond(json_error(500, "internal error"));
    }
  }

 private:
  void route(Request&& req, Responder respond) {
    const std::string_view path = req.path;
    if (path == "/healthz") return respond(method_is(req, "GET") ? ok_json("ok") : not_allowed());
    if (path == "/readyz") {
      if (!method_is(req, "GET")) return respond(not_allowed());
      if (app_.incidents().ready()) return respond(ok_json("ready"));
      return respond(json_error(503, app_.incidents().storage_failing() ? "the database is failing writes" : "starting or stopping"));
    }
    if (path == "/metrics") {
      if (!method_is(req, "GET")) return respond(not_allowed());
      Response r;
      r.content_type = "text/plain; version=0.0.4; charset=utf-8";
      r.body = app_.metrics_text();
      return respond(std::move(r));
    }
    if (path == "/v2/enqueue") {
      if (!method_is(req, "POST")) return respond(not_allowed());
      return events_v2(std::move(req), std::move(respond));
    }
    constexpr std::string_view kAm = "/api/v1/integrations/alertmanager/";
    if (path.starts_with(kAm)) {
      if (!method_is(req, "POST")) return respond(not_allowed());
      return alertmanager(std::string(path.substr(kAm.size())), std::move(req), std::move(respond));
    }
    if (path == "/slack/events" || path == "/slack/commands" || path == "/slack/interactivity") {
      if (!method_is(req, "POST")) return respond(not_allowed());
      return slack_http(std::move(req), std::move(respond));
    }
    if (path == "/api/messages") {
      if (!method_is(req, "POST")) return respond(not_allowed());
      auto* teams = app_.teams();
      if (!teams) return respond(json_error(404, "the teams channel is not configured"));
      if (!is_json(req)) return respond(json_error(415, "Content-Type must be application/json"));
      return teams->handle(req, std::move(respond));
    }
    if (path == "/sms/twilio" || path == "/sms/twilio/status") {
      if (!method_is(req, "POST")) return respond(not_allowed());
      return twilio_sms(app_, std::move(req), std::move(respond));
    }
    if (path.starts_with("/voice/twilio/")) {
      if (!method_is(req, "POST")) return respond(not_allowed());
      return twilio_voice(app_, std::move(req), std::move(respond));
    }
    constexpr std::string_view kActions = "/actions/";
    if (path.starts_with(kActions)) return action_link(std::string(path.substr(kActions.size())), std::move(req), std::move(respond));
    // Heartbeats: the key in the path is the credential, as integration keys are.
    constexpr std::string_view kHeartbeats = "/api/v1/heartbeats/";
    if (path.starts_with(kHeartbeats))
      return heartbeat_route(app_, std::string(path.substr(kHeartbeats.size())), req, std::move(respond));
    if (is_console_path(path)) return console_route(app_, std::move(req), std::move(respond));
    if (path.starts_with("/api/v1/")) {
      auto who = authenticate(req);
      // A person signed in to the console (no Authorization header: a bearer
      // token, valid or not, always decides); state changes need X-CSRF-Token.
      std::optional<std::string> person;
      if (!who && !req.header("authorization")) {
        if (auto s = console_session(*app_.config(), req, app_.clock().now())) {
          if (!console_csrf_ok(*s, req)) return respond(json_error(403, "missing or invalid X-CSRF-Token"));
          who = "console:" + s->person;
          person = s->person;
        }
      }
      if (!who) {
        auto r = json_error(401, "missing or invalid bearer token");
        r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"baton\"");
        return respond(std::move(r));
      }
      return api(*who, person, std::move(req), std::move(respond));
    }
    respond(json_error(404, "no route for " + std::string(path)));
  }

  static bool method_is(const Request& r, std::string_view m) { return r.method == m; }
  static Response not_allowed() { return json_error(405, "method not allowed"); }
  static Response ok_json(std::string_view status) {
    return json_response(200, json::object{{"status", status}});
  }

  std::optional<std::string> authenticate(const Request& req) {
    auto h = req.header("authorization");
    if (!h || h->size() < 8) return std::nullopt;
    std::string scheme(h->substr(0, 7));
    for (auto& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (scheme != "bearer ") return std::nullopt;
    auto token = h->substr(7);
    std::optional<std::string> who;
    // Check every token (no early exit) so timing does not reveal which matched.
    for (const auto& [name, value] : app_.config()->server.api_tokens)
      if (!value.empty() && integrations::constant_time_equal(token, value) && !who) who = name;
    return who;
  }

  void events_v2(Request&& req, Responder respond) {
    auto reject = [&](int status, std::vector<std::string> errors) {
      app_.count_rejected("events_v2");
      respond(invalid_event(status, errors));
    };
    if (!is_json(req)) return reject(415, {"Content-Type must be application/json"});
    auto alert = alerts::parse_events_v2(req.body);
    if (!alert) return reject(400, alert.error().errors);
    if (!app_.config()->directory->service_by_key(alert->integration_key))
      return reject(400, {"'routing_key' is not the integration key of any service"});
    app_.incidents().ingest(std::move(*alert), [respond = std::move(respond)](Result<IngestOutcome> r) {
      if (!r) return respond(error_response(r.error()));
      respond(json_response(202, json::object{{"status", "success"},
                                              {"message", "Event processed"},
                                              {"dedup_key", r->dedup_key}}));
    });
  }

  static Response invalid_event(int status, const std::vector<std::string>& errors) {
    json::array arr;
    for (const auto& e : errors) arr.emplace_back(e);
    return json_response(status, json::object{{"status", "invalid event"},
                                               {"message", "Event object is invalid"},
                                               {"errors", std::move(arr)}});
  }

  void alertmanager(std::string key, Request&& req, Responder respond) {
    if (key.empty() || key.find('/') != std::string::npos || !app_.config()->directory->service_by_key(key)) {
      app_.count_rejected("alertmanager");
      return respond(json_error(404, "unknown integration key"));
    }
    if (!is_json(req)) {
      app_.count_rejected("alertmanager");
      return respond(json_error(415, "Content-Type must be application/json"));
    }
    auto alert = alerts::parse_alertmanager(req.body, key);
    if (!alert) {
      app_.count_rejected("alertmanager");
      json::array arr;
      for (const auto& e : alert.error().errors) arr.emplace_back(e);
      return respond(json_response(400, json::object{{"status", "error"},
                                                     {"message", "invalid Alertmanager payload"},
                                                     {"errors", std::move(arr)}}));
    }
    const auto alerts = alert->group.size();
    app_.incidents().ingest(std::move(*alert), [respond = std::move(respond), alerts](Result<IngestOutcome> r) {
      if (!r) return respond(error_response(r.error()));
      json::object o{{"status", "success"}, {"dedup_key", r->dedup_key}, {"alerts", alerts}};
      if (r->incident) o["incident"] = *r->incident;
      respond(json_response(200, o));
    });
  }

  /// `person`: the console session's person (then token_name is "console:<person>").
  void api(const std::string& token_name, const std::optional<std::string>& person, Request&& req,
           Responder respond) {
    // Who acts: the signed-in person via the console, or the API token.
    const engine::Actor actor = person ? engine::Actor{*person, engine::Source::console}
                                       : engine::Actor{"api:" + token_name, engine::Source::api};
    const std::string_view path = req.path;
    if (path == "/api/v1/incidents") {
      if (!method_is(req, "GET")) return respond(not_allowed());
      return list(req, std::move(respond));
    }
    if (path == "/api/v1/teams/channels") {
      if (!method_is(req, "GET")) return respond(not_allowed());
      json::array arr;
      for (const auto& [team, channel, service_url] : app_.queries().teams_channels())
        arr.push_back(json::object{{"team", team}, {"channel", channel}, {"service_url", service_url}});
      return respond(json_response(200, json::object{{"channels", std::move(arr)}}));
    }
    if (path == "/api/v1/oncall") {
      if (!method_is(req, "GET")) return respond(not_allowed());
      return oncall(req, std::move(respond));
    }
    if (path == "/api/v1/cluster") {
      if (!method_is(req, "GET")) return respond(not_allowed());
      return cluster(std::move(respond));
    }
    constexpr std::string_view kSchedules = "/api/v1/schedules/";
    if (path.starts_with(kSchedules)) {
      auto rest = path.substr(kSchedules.size());
      auto slash = rest.find('/');
      if (slash != std::string_view::npos && rest.substr(slash) == "/timeline")
        return schedule_timeline(app_, std::string(rest.substr(0, slash)), req, std::move(respond));
      if (slash == std::string_view::npos || rest.substr(slash) != "/overrides")
        return respond(json_error(404, "no route for " + std::string(path)));
      return schedule_overrides(std::string(rest.substr(0, slash)), token_name, req, std::move(respond));
    }
    constexpr std::string_view kOverrides = "/api/v1/overrides/";
    if (path.starts_with(kOverrides)) {
      if (!method_is(req, "DELETE")) return respond(not_allowed());
      auto id = parse_int(path.substr(kOverrides.size()));
      if (!id) return respond(json_error(404, "override ids are integers"));
      auto r = app_.incidents().remove_override(*id);
      if (!r) return respond(error_response(r.error()));
      return respond(json_response(200, json::object{{"status", "deleted"}, {"id", *id}}));
    }
    if (path == "/api/v1/reports/response") return report_route(app_, req, std::move(respond));
    constexpr std::string_view kServices = "/api/v1/services/";
    if (path.starts_with(kServices))
      return maintenance_route(app_, token_name, path.substr(kServices.size()), req, std::move(respond));
    constexpr std::string_view kIncidents = "/api/v1/incidents/";
    if (path.starts_with(kIncidents)) {
      auto rest = path.substr(kIncidents.size());
      auto slash = rest.find('/');
      auto number = parse_int(rest.substr(0, slash));
      if (!number || *number <= 0) return respond(json_error(404, "incident numbers are positive integers"));
      if (slash == std::string_view::npos) {
        if (!method_is(req, "GET")) return respond(not_allowed());
        return show(*number, std::move(respond));
      }
      auto action = rest.substr(slash + 1);
      if (action == "reassign") {
        if (!method_is(req, "POST")) return respond(not_allowed());
        return reassign(*number, actor, req, std::move(respond));
      }
      std::optional<Command> cmd;
      if (action == "ack" || action == "acknowledge") cmd = Command::acknowledge;
      if (action == "resolve") cmd = Command::resolve;
      if (action == "escalate") cmd = Command::escalate;
      if (!cmd) return respond(json_error(404, "unknown action '" + std::string(action) + "'"));
      if (!method_is(req, "POST")) return respond(not_allowed());
      return act(*number, *cmd, actor, std::move(respond));
    }
    respond(json_error(404, "no route for " + std::string(path)));
  }

  // POST /api/v1/incidents/N/reassign {"person": id}: makes that person the owner and pages them.
  void reassign(std::int64_t number, engine::Actor actor, const Request& req, Responder respond) {
    if (!is_json(req)) return respond(json_error(415, "Content-Type must be application/json"));
    boost::system::error_code ec;
    auto body = json::parse(req.body, ec);
    const auto* p = !ec && body.is_object() ? body.as_object().if_contains("person") : nullptr;
    if (!p || !p->is_string()) return respond(json_error(400, "the body must be {\"person\": \"<person id>\"}"));
    std::string person(p->as_string());
    if (!app_.config()->directory->person(person)) return respond(json_error(404, "unknown person '" + person + "'"));
    app_.incidents().reassign(number, std::move(person), std::move(actor),
                              [this, respond = std::move(respond)](Result<Incident> r) {
                                if (!r) return respond(error_response(r.error()));
                                if (is_queued(*r)) return respond(queued_response(r->number));
                                respond(json_response(200, incident_json(*r, *app_.config()->directory)));
                              });
  }

  static json::object override_json(const engine::Override& o) {
    return json::object{{"id", o.id},
                        {"schedule", o.schedule_id},
                        {"person", o.person},
                        {"start", engine::format_iso8601(o.start)},
                        {"end", engine::format_iso8601(o.end)}};
  }

  // GET lists the runtime overrides of a schedule; POST {person, start, end} adds one.
  void schedule_overrides(const std::string& schedule, const std::string& token_name, const Request& req,
                          Responder respond) {
    if (!app_.config()->directory->schedule(schedule))
      return respond(json_error(404, "unknown schedule '" + schedule + "'"));
    if (method_is(req, "GET")) {
      json::array arr;
      for (const auto& o : app_.incidents().overrides())
        if (o.schedule_id == schedule) arr.push_back(override_json(o));
      return respond(json_response(200, json::object{{"overrides", std::move(arr)}}));
    }
    if (!method_is(req, "POST")) return respond(not_allowed());
    if (!is_json(req)) return respond(json_error(415, "Content-Type must be application/json"));
    boost::system::error_code ec;
    auto body = json::parse(req.body, ec);
    if (ec || !body.is_object()) return respond(json_error(400, "the body must be a JSON object"));
    const auto& o = body.as_object();
    auto field = [&](const char* name) -> std::optional<std::string> {
      auto* v = o.if_contains(name);
      if (!v || !v->is_string()) return std::nullopt;
      return std::string(v->as_string());
    };
    auto person = field("person");
    auto start = field("start");
    auto end = field("end");
    if (!person) return respond(json_error(400, "'person' is missing"));
    if (!start || !engine::parse_iso8601(*start)) return respond(json_error(400, "'start' must be an ISO 8601 time"));
    if (!end || !engine::parse_iso8601(*end)) return respond(json_error(400, "'end' must be an ISO 8601 time"));
    engine::Override ov;
    ov.schedule_id = schedule;
    ov.person = *person;
    ov.start = *engine::parse_iso8601(*start);
    ov.end = *engine::parse_iso8601(*end);
    auto added = app_.incidents().add_override(ov);
    if (!added) return respond(error_response(added.error()));
    spdlog::info("override {} added to schedule {} by api:{}", added->id, schedule, token_name);
    respond(json_response(201, override_json(*added)));
  }

  void list(const Request& req, Responder respond) {
    storage::IncidentQuery q;
    if (auto s = req.query_param("state")) {
      if (*s != "all" && !s->empty()) {
        q.state = engine::parse_incident_state(*s);
        if (!q.state) return respond(json_error(400, "state must be triggered, acknowledged, resolved or all"));
      }
    }
    if (auto l = req.query_param("limit")) {
      auto n = parse_int(*l);
      if (!n || *n < 1 || *n > 500) return respond(json_error(400, "limit must be between 1 and 500"));
      q.limit = static_cast<int>(*n);
    }
    if (auto b = req.query_param("before")) {
      auto n = parse_int(*b);
      if (!n || *n < 1) return respond(json_error(400, "before must be a positive incident number"));
      q.before = *n;
    }
    auto rows = app_.queries().list_incidents(q);
    if (!rows) return respond(error_response(rows.error()));
    auto cfg = app_.config();
    json::array arr;
    for (const auto& inc : *rows) arr.push_back(incident_json(inc, *cfg->directory));
    json::object o{{"incidents", std::move(arr)}};
    if (static_cast<int>(rows->size()) == q.limit && !rows->empty()) {
      std::string next = "/api/v1/incidents?limit=" + std::to_string(q.limit) +
                         "&before=" + std::to_string(rows->back().number);
      if (q.state) next += std::string("&state=") + engine::to_string(*q.state);
      o["next"] = next;
    } else {
      o["next"] = nullptr;
    }
    // Pollers (the console) send If-None-Match and get 304 when nothing changed.
    respond(with_etag(req, json_response(200, o)));
  }

  void show(std::int64_t number, Responder respond) {
    auto inc = app_.queries().get_incident(number);
    if (!inc) return respond(error_response(inc.error()));
    if (!*inc) return respond(json_error(404, "no incident #" + std::to_string(number)));
    auto cfg = app_.config();
    auto o = incident_json(**inc, *cfg->directory);
    auto events = app_.queries().timeline(number);
    if (!events) return respond(error_response(events.error()));
    json::array tl;
    for (const auto& e : *events)
      tl.push_back(json::object{{"at", engine::format_iso8601(e.at)},
                                {"kind", engine::to_string(e.kind)},
                                {"actor", e.actor},
                                {"channel", engine::to_string(e.channel)},
                                {"message", e.message}});
    o["timeline"] = std::move(tl);
    if (auto out = app_.queries().outbox(number)) {
      json::array arr;
      for (const auto& e : *out)
        arr.push_back(json::object{{"id", e.notification.id},
                                   {"person", e.notification.person},
                                   {"method", engine::to_string(e.notification.method)},
                                   {"kind", engine::to_string(e.notification.kind)},
                                   {"attempts", e.attempts},
                                   {"last_error", e.last_error}});
      o["notifications"] = std::move(arr);
    }
    respond(json_response(200, o));
  }

  /// GET /api/v1/cluster: this instance, the engine owner, the live instances
  /// (seen within 10 s, the database's clock) and the lease epoch. A single
  /// SQLite instance is its own owner with epoch 0.
  void cluster(Responder respond) {
    const auto self = app_.incidents().cluster_status();
    if (!self.enabled) {
      return respond(json_response(200, json::object{{"self", json::object{{"id", "local"}, {"owner", true}}},
                                                     {"owner", "local"},
                                                     {"instances", json::array{}},
                                                     {"epoch", 0}}));
    }
    auto view = app_.queries().cluster(engine::Millis{10'000});
    if (!view) return respond(error_response(view.error()));
    json::array instances;
    for (const auto& i : view->instances)
      instances.push_back(json::object{{"id", i.id},
                                       {"address", i.address},
                                       {"last_seen", engine::format_iso8601(i.last_seen)},
                                       {"owner", view->owner && *view->owner == i.id}});
    json::value owner = nullptr;
    if (view->owner) owner = *view->owner;
    respond(json_response(200, json::object{{"self", json::object{{"id", self.instance_id}, {"owner", self.owner}}},
                                            {"owner", std::move(owner)},
                                            {"instances", std::move(instances)},
                                            {"epoch", view->epoch}}));
  }

  /// A command taken by an instance that does not run the engine is queued
  /// in the inbox (committed): 202, the owner applies it.
  static Response queued_response(std::int64_t number) {
    return json_response(202, json::object{{"status", "queued"}, {"incident", number}});
  }

  void act(std::int64_t number, Command cmd, engine::Actor actor, Responder respond) {
    app_.incidents().command(number, cmd, std::move(actor), [this, respond = std::move(respond)](Result<Incident> r) {
      if (!r) return respond(error_response(r.error()));
      if (is_queued(*r)) return respond(queued_response(r->number));
      auto cfg = app_.config();
      respond(json_response(200, incident_json(*r, *cfg->directory)));
    });
  }

  void oncall(const Request& req, Responder respond) {
    auto at = app_.clock().now();
    if (auto a = req.query_param("at")) {
      auto t = engine::parse_iso8601(*a);
      if (!t) return respond(json_error(400, "at must be an ISO 8601 time such as 2026-11-25T10:00:00Z"));
      at = *t;
    }
    std::optional<std::string> schedule;
    if (auto s = req.query_param("schedule")) {
      schedule = std::string(*s);
      if (!app_.config()->directory->schedule(*schedule))
        return respond(json_error(404, "unknown schedule '" + *schedule + "'"));
    }
    auto cfg = app_.config();
    json::array arr;
    for (const auto& e : app_.incidents().on_call(schedule, at)) {
      json::object o{{"schedule", e.schedule_id}, {"schedule_name", e.schedule_name}};
      if (e.person.empty()) {
        o["person"] = nullptr;
      } else {
        const auto* p = cfg->directory->person(e.person);
        o["person"] = json::object{{"id", e.person}, {"name", p ? p->name : e.person}, {"email", p ? p->email : ""}};
      }
      o["until"] = time_or_null(e.until);
      arr.push_back(std::move(o));
    }
    respond(json_response(200, json::object{{"at", engine::format_iso8601(at)}, {"oncall", std::move(arr)}}));
  }

  // One-click links: GET shows a confirmation (mail scanners follow links), POST acts once.
  void action_link(std::string token, Request&& req, Responder respond) {
    auto cfg = app_.config();
    if (cfg->server.action_secret.empty())
      return respond(html_page(404, "Links are disabled", "<p>This baton has no action secret configured.</p>"));
    // The key a link verifies with tells where it came from: email's own key
    // (integrations/email/message.hpp), else the action secret (webhook
    // consumers, and emails sent before email had a key of its own).
    auto source = engine::Source::email;
    auto claim = integrations::ActionSigner(integrations::email_link_secret(cfg->server.action_secret))
                     .verify(token, app_.clock().now());
    if (!claim && claim.error().kind == ErrorKind::unauthorized) {
      source = engine::Source::webhook;
      claim = integrations::ActionSigner(cfg->server.action_secret).verify(token, app_.clock().now());
    }
    if (!claim) {
      const bool expired = claim.error().kind == ErrorKind::permanent;
      return respond(html_page(expired ? 410 : 400, expired ? "This link has expired" : "This link is not valid",
                               expired ? "<p>Open the incident in baton or ask for a new page.</p>"
                                       : "<p>The link was changed or cut short. Nothing was done.</p>"));
    }
    const std::string what = std::string(verb(claim->action)) + " incident #" + std::to_string(claim->incident);
    if (req.method == "GET" || req.method == "HEAD") {
      auto inc = app_.queries().get_incident(claim->incident);
      std::string summary = inc && *inc ? (**inc).summary : "";
      return respond(html_page(200, what + "?",
                               "<p>" + html_escape(summary) + "</p><form method=\"post\"><button type=\"submit\">" +
                                   html_escape(verb(claim->action)) + "</button></form>"));
    }
    if (req.method != "POST") return respond(not_allowed());
    auto used = app_.incidents().consume_token(integrations::ActionSigner::token_id(token));
    if (!used) {
      if (used.error().kind == ErrorKind::conflict)
        return respond(html_page(409, "This link was already used", "<p>Nothing more was done.</p>"));
      return respond(html_page(503, "Try again", "<p>baton could not record the action.</p>"));
    }
    app_.incidents().command(claim->incident, to_command(claim->action), engine::Actor{claim->person, source},
                 [respond = std::move(respond), what](Result<Incident> r) {
                   if (!r) return respond(html_page(status_for(r.error().kind), "Nothing was done",
                                                    "<p>" + html_escape(r.error().message) + "</p>"));
                   if (is_queued(*r))
                     return respond(html_page(202, "Accepted", "<p>" + html_escape(what) + ": accepted.</p>"));
                   respond(html_page(200, "Done", "<p>" + html_escape(what) + ": done. The incident is now " +
                                                     engine::to_string(r->state) + ".</p>"));
                 });
  }

  // Slack's HTTP mode: every request is signed (v0, 5-minute window against
  // our clock); the same frontend as Socket Mode does the work.
  void slack_http(Request&& req, Responder respond) {
    auto cfg = app_.config();
    auto* frontend = app_.slack();
    if (!frontend || cfg->slack.mode != "http")
      return respond(json_error(404, "Slack HTTP mode is not configured"));
    // Slack's certificate check of a request URL (ssl_check=1, see
    // api.slack.com/interactivity/slash-commands) does nothing, so it is
    // answered 200; when it comes signed, the signature is checked first, as
    // for every signed request.
    const bool ssl_check = slack::is_ssl_check(req.body);
    auto empty_200 = [&respond] {
      Response r;
      r.content_type = "text/plain";
      respond(std::move(r));
    };
    if (ssl_check && !req.header("x-slack-signature")) return empty_200();
    auto verified = slack::verify_slack_signature(cfg->slack.signing_secret,
                                                  req.header("x-slack-request-timestamp").value_or(""),
                                                  req.header("x-slack-signature").value_or(""), req.body,
                                                  app_.clock().now());
    if (!verified) {
      app_.count_rejected("slack");
      return respond(json_error(401, verified.error().message));
    }
    if (ssl_check) return empty_200();
    auto reply_json = [respond](std::string message) {
      Response r;
      r.body = std::move(message);
      if (r.body.empty()) r.content_type = "text/plain";
      respond(std::move(r));
    };
    if (req.path == "/slack/events") {
      auto event = slack::parse_event(req.body);
      if (!event) return respond(json_error(400, event.error().message));
      if (event->type == "url_verification") {
        Response r;
        r.content_type = "text/plain";
        r.body = event->challenge;
        return respond(std::move(r));
      }
      // Retries (X-Slack-Retry-Num) of an event already seen are acknowledged only.
      if (!event->event_id.empty()) (void)app_.incidents().consume_token("slack-event:" + event->event_id);
      return reply_json("");
    }
    if (req.path == "/slack/commands") {
      auto command = slack::parse_slash_form(req.body);
      if (!command) return respond(json_error(400, command.error().message));
      return frontend->command(*command, reply_json);
    }
    auto payload = slack::payload_from_form(req.body);
    if (!payload) return respond(json_error(400, payload.error().message));
    auto press = slack::parse_block_actions(*payload);
    if (!press) return reply_json("");  // other interaction kinds are not baton's
    frontend->button(*press, reply_json);
  }

  App& app_;
};

}  // namespace

Handler App::handler() {
  auto router = std::make_shared<Router>(*this);
  return [router](Request&& req, Responder respond) { (*router)(std::move(req), std::move(respond)); };
}

}  // namespace baton::bot
