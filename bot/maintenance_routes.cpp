#include "bot/maintenance_routes.hpp"

#include <boost/json.hpp>
#include <charconv>
#include <spdlog/spdlog.h>

#include "bot/app.hpp"
#include "bot/config.hpp"
#include "engine/oncall.hpp"

namespace baton::bot {
namespace {

namespace json = boost::json;

Response json_response(int status, const json::value& v) {
  Response r;
  r.status = status;
  r.body = json::serialize(v);
  return r;
}

Response error_response(const Error& e) {
  int status = 503;
  switch (e.kind) {
    case ErrorKind::invalid_request: status = 400; break;
    case ErrorKind::not_found: status = 404; break;
    case ErrorKind::conflict: status = 409; break;
    case ErrorKind::unauthorized: status = 401; break;
    case ErrorKind::rate_limited: status = 429; break;
    default: break;
  }
  auto r = json_error(status, e.message);
  if (e.retry_after.count() > 0)
    r.headers.emplace_back("Retry-After",
                           std::to_string(std::max<std::int64_t>(
                               1, std::chrono::duration_cast<std::chrono::seconds>(e.retry_after).count())));
  return r;
}

json::value time_or_null(const std::optional<engine::TimePoint>& t) {
  if (!t) return nullptr;
  return json::string(engine::format_iso8601(*t));
}

json::object window_json(const engine::MaintenanceWindow& w) {
  return json::object{{"id", w.id},
                      {"service", w.service_id},
                      {"start", engine::format_iso8601(w.start)},
                      {"until", engine::format_iso8601(w.end)},
                      {"reason", w.reason},
                      {"created_by", w.created_by},
                      {"ended_at", time_or_null(w.ended_at)},
                      {"ended_by", w.ended_by.empty() ? json::value(nullptr) : json::value(w.ended_by)}};
}

std::string hh_mm(int minute) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%02d:%02d", minute / 60, minute % 60);
  return buf;
}

json::object configured_json(const MaintenanceStatus::Configured& c) {
  static constexpr const char* kDays[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
  json::array days;
  for (int d : c.rule.days)
    if (d >= 1 && d <= 7) days.emplace_back(kDays[d - 1]);
  json::object o{{"days", std::move(days)},
                 {"start", hh_mm(c.rule.start_minute)},
                 {"duration_seconds", std::chrono::duration_cast<std::chrono::seconds>(c.rule.duration).count()},
                 {"time_zone", c.rule.time_zone},
                 {"reason", c.rule.reason.empty() ? std::string(engine::kScheduledMaintenance) : c.rule.reason}};
  if (c.current_or_next) {
    o["next_start"] = engine::format_iso8601(c.current_or_next->start);
    o["next_end"] = engine::format_iso8601(c.current_or_next->end);
  } else {
    o["next_start"] = nullptr;
    o["next_end"] = nullptr;
  }
  return o;
}

bool is_json(const Request& req) {
  auto ct = req.header("content-type");
  if (!ct) return false;
  std::string base(ct->substr(0, ct->find(';')));
  while (!base.empty() && base.back() == ' ') base.pop_back();
  for (auto& c : base) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return base == "application/json";
}

}  // namespace

void heartbeat_route(App& app, std::string key, const Request& req, Responder respond) {
  if (req.method != "GET" && req.method != "POST") return respond(json_error(405, "method not allowed"));
  if (key.empty() || key.find('/') != std::string::npos) return respond(json_error(404, "unknown heartbeat key"));
  app.incidents().beat(std::move(key), engine::Source::api, [respond = std::move(respond)](Result<BeatOutcome> r) {
    if (!r) return respond(error_response(r.error()));
    json::object o{{"status", r->queued ? "queued" : "ok"}, {"service", r->service}, {"heartbeat", r->heartbeat}};
    o["resolved"] = r->resolved ? json::value(*r->resolved) : json::value(nullptr);
    respond(json_response(r->queued ? 202 : 200, o));
  });
}

void maintenance_route(App& app, const std::string& token_name, std::string_view rest, const Request& req,
                       Responder respond) {
  // rest: "{id}/maintenance" or "{id}/maintenance/{window}"
  const auto slash = rest.find('/');
  if (slash == std::string_view::npos) return respond(json_error(404, "no route for " + req.path));
  const std::string service(rest.substr(0, slash));
  auto tail = rest.substr(slash + 1);
  std::optional<std::int64_t> window;
  if (tail.starts_with("maintenance/")) {
    auto id_text = tail.substr(std::string_view("maintenance/").size());
    std::int64_t id = 0;
    auto [p, ec] = std::from_chars(id_text.data(), id_text.data() + id_text.size(), id);
    if (ec != std::errc() || p != id_text.data() + id_text.size() || id <= 0)
      return respond(json_error(404, "maintenance window ids are positive integers"));
    window = id;
  } else if (tail != "maintenance") {
    return respond(json_error(404, "no route for " + req.path));
  }
  if (!app.config()->directory->service(service)) return respond(json_error(404, "unknown service '" + service + "'"));
  const engine::Actor actor{"api:" + token_name, engine::Source::api};

  if (req.method == "GET") {
    auto st = app.incidents().maintenance(service);
    if (!st) return respond(error_response(st.error()));
    json::array windows;
    for (const auto& w : st->windows)
      if (!window || w.id == *window) windows.push_back(window_json(w));
    if (window && windows.empty())
      return respond(json_error(404, "service '" + service + "' has no maintenance window " + std::to_string(*window) +
                                         " in force"));
    if (window) return respond(json_response(200, windows.front()));
    json::array configured;
    for (const auto& c : st->configured) configured.push_back(configured_json(c));
    json::value active = nullptr;
    if (st->active)
      active = json::object{{"until", engine::format_iso8601(st->active->until)},
                            {"reason", st->active->reason},
                            {"window", st->active->window ? json::value(st->active->window) : json::value(nullptr)}};
    return respond(json_response(200, json::object{{"service", service},
                                                   {"active", std::move(active)},
                                                   {"windows", std::move(windows)},
                                                   {"configured", std::move(configured)}}));
  }
  if (req.method == "DELETE") {
    auto ended = app.incidents().end_maintenance(service, window, actor);
    if (!ended) return respond(error_response(ended.error()));
    json::array arr;
    for (const auto& w : *ended) arr.push_back(window_json(w));
    return respond(json_response(200, json::object{{"status", "ended"}, {"windows", std::move(arr)}}));
  }
  if (req.method != "POST" || window) return respond(json_error(405, "method not allowed"));
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
  std::optional<engine::TimePoint> until;
  if (auto u = field("until")) {
    auto t = engine::parse_iso8601(*u);
    if (!t) return respond(json_error(400, "'until' must be an ISO 8601 time such as 2026-11-25T10:00:00Z"));
    until = *t;
  } else if (auto d = field("duration")) {
    auto len = parse_duration(*d);
    if (!len || len->count() <= 0) return respond(json_error(400, "'duration' must be a duration such as \"1h\""));
    until = app.clock().now() + *len;
  } else {
    return respond(json_error(400, "'until' (an ISO 8601 time) is missing"));
  }
  if (auto* r = o.if_contains("reason"); r && !r->is_string())
    return respond(json_error(400, "'reason' must be a string"));
  auto started = app.incidents().start_maintenance(service, *until, field("reason").value_or(""), actor);
  if (!started) return respond(error_response(started.error()));
  respond(json_response(201, window_json(*started)));
}

}  // namespace baton::bot
