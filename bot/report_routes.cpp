// GET /api/v1/reports/response (docs/reports.md).
#include "bot/report_routes.hpp"

#include <boost/json.hpp>
#include <cstdio>

#include "bot/app.hpp"
#include "bot/config.hpp"
#include "bot/queries.hpp"
#include "engine/oncall.hpp"

namespace baton::bot {
namespace {

namespace json = boost::json;

constexpr engine::Millis kDefaultRange{30LL * 24 * 3600 * 1000};

Response json_response(int status, const json::value& v) {
  Response r;
  r.status = status;
  r.body = json::serialize(v);
  return r;
}

Response error_response(const Error& e) {
  int status = 503;
  if (e.kind == ErrorKind::invalid_request) status = 400;
  if (e.kind == ErrorKind::not_found) status = 404;
  auto r = json_error(status, e.message);
  if (e.retry_after.count() > 0)
    r.headers.emplace_back("Retry-After",
                           std::to_string(std::max<std::int64_t>(
                               1, std::chrono::duration_cast<std::chrono::seconds>(e.retry_after).count())));
  return r;
}

std::string hh_mm(int minute) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%02d:%02d", minute / 60, minute % 60);
  return buf;
}

json::object hours_json(const storage::WorkingHours& wh) {
  json::array days;
  for (int d : wh.days) days.push_back(d);
  return json::object{{"days", std::move(days)}, {"start", hh_mm(wh.start_minute)}, {"end", hh_mm(wh.end_minute)}};
}

json::value seconds(const std::optional<std::int64_t>& ms) {
  if (!ms) return nullptr;
  return static_cast<double>(*ms) / 1000.0;
}

json::object duration_json(const storage::DurationStats& d) {
  return json::object{{"count", d.count}, {"p50", seconds(d.p50)}, {"p90", seconds(d.p90)}};
}

void stats_json(json::object& o, const storage::ReportStats& s) {
  o["incidents"] = s.incidents;
  o["acknowledged"] = s.acknowledged;
  o["unacknowledged"] = s.unacknowledged;
  o["time_to_first_page_seconds"] = duration_json(s.time_to_first_page);
  o["time_to_acknowledge_seconds"] = duration_json(s.time_to_acknowledge);
  json::object via;
  for (const auto& [channel, n] : s.acknowledged_via) via[channel] = n;
  o["acknowledged_via"] = std::move(via);
  const double mean =
      s.acknowledged > 0 ? static_cast<double>(s.escalations_total) / static_cast<double>(s.acknowledged) : 0.0;
  o["escalations_before_ack"] = json::object{
      {"total", s.escalations_total},
      {"mean", mean},
      {"max", s.escalations_max},
      {"histogram", json::object{{"0", s.escalations_histogram[0]},
                                 {"1", s.escalations_histogram[1]},
                                 {"2", s.escalations_histogram[2]},
                                 {"3+", s.escalations_histogram[3]}}}};
  o["pages"] = s.pages;
  o["pages_out_of_hours"] = s.pages_out_of_hours;
}

/// A query value as error messages show it: at most 64 bytes.
std::string shown(std::string_view v) {
  return v.size() <= 64 ? std::string(v) : std::string(v.substr(0, 64)) + "...";
}

json::value opt_string(const std::optional<std::string>& s) {
  if (!s) return nullptr;
  return json::string(*s);
}

}  // namespace

Result<storage::ReportQuery> report_query(const Request& req, const Config& cfg, engine::TimePoint now) {
  storage::ReportQuery q;
  const auto& dir = *cfg.directory;
  auto instant = [&](const char* name) -> Result<std::optional<engine::TimePoint>> {
    auto v = req.query_param(name);
    if (!v || v->empty()) return std::nullopt;
    auto t = engine::parse_iso8601(*v);
    if (!t)
      return fail(ErrorKind::invalid_request,
                  std::string("'") + name + "' must be an RFC 3339 time such as 2026-11-01T00:00:00Z");
    return std::optional(*t);
  };
  auto to = instant("to");
  if (!to) return tl::unexpected(to.error());
  auto from = instant("from");
  if (!from) return tl::unexpected(from.error());
  q.to = to->value_or(now);
  q.from = from->value_or(q.to - kDefaultRange);
  if (auto tz = req.query_param("tz"); tz && !tz->empty()) q.tz = std::string(*tz);
  if (auto s = req.query_param("service"); s && !s->empty()) {
    if (!dir.service(*s)) return fail(ErrorKind::not_found, "unknown service '" + shown(*s) + "'");
    q.service = std::string(*s);
  }
  if (auto p = req.query_param("person"); p && !p->empty()) {
    if (!dir.person(*p)) return fail(ErrorKind::not_found, "unknown person '" + shown(*p) + "'");
    q.person = std::string(*p);
  }
  if (auto ok = storage::validate_report_query(q); !ok) return tl::unexpected(ok.error());
  for (const auto& [id, person] : dir.people) {
    storage::ReportPerson rp;
    rp.time_zone = person.time_zone.empty() ? "UTC" : person.time_zone;
    if (auto wh = cfg.working_hours.find(id); wh != cfg.working_hours.end()) rp.working_hours = wh->second;
    q.people.emplace(id, std::move(rp));
  }
  for (const auto& [id, service] : dir.services) q.services.push_back(id);
  return q;
}

std::string report_json(const storage::ResponseReport& report, const storage::ReportQuery& q, const Config& cfg,
                        engine::TimePoint generated_at) {
  const auto& dir = *cfg.directory;
  json::object o;
  o["from"] = engine::format_iso8601(q.from);
  o["to"] = engine::format_iso8601(q.to);
  o["tz"] = q.tz;
  o["service"] = opt_string(q.service);
  o["person"] = opt_string(q.person);
  o["generated_at"] = engine::format_iso8601(generated_at);
  o["working_hours_default"] = hours_json(storage::WorkingHours{});
  json::object totals;
  stats_json(totals, report.totals);
  o["totals"] = std::move(totals);
  json::array services;
  for (const auto& row : report.services) {
    json::object r{{"service", row.key}};
    const auto* s = dir.service(row.key);
    r["name"] = s && !s->name.empty() ? s->name : row.key;
    stats_json(r, row.stats);
    services.push_back(std::move(r));
  }
  o["services"] = std::move(services);
  json::array people;
  for (const auto& row : report.people) {
    json::object r{{"person", row.key}};
    const auto* p = dir.person(row.key);
    r["name"] = p && !p->name.empty() ? p->name : row.key;
    auto rp = q.people.find(row.key);
    r["time_zone"] = rp != q.people.end() ? rp->second.time_zone : "UTC";
    r["working_hours"] = hours_json(rp != q.people.end() ? rp->second.working_hours : storage::WorkingHours{});
    stats_json(r, row.stats);
    people.push_back(std::move(r));
  }
  o["people"] = std::move(people);
  json::array channels;
  for (const auto& row : report.channels) {
    json::object r{{"channel", row.key}};
    stats_json(r, row.stats);
    channels.push_back(std::move(r));
  }
  o["channels"] = std::move(channels);
  json::array daily;
  for (const auto& series : report.daily) {
    json::array days;
    for (const auto& d : series.days)
      days.push_back(json::object{{"date", d.date},
                                  {"incidents", d.incidents},
                                  {"acknowledged", d.acknowledged},
                                  {"time_to_acknowledge_p50_seconds", seconds(d.time_to_acknowledge_p50)}});
    daily.push_back(json::object{{"service", series.service}, {"days", std::move(days)}});
  }
  o["daily"] = std::move(daily);
  return json::serialize(o);
}

void report_route(App& app, const Request& req, Responder respond) {
  if (req.method != "GET") return respond(json_error(405, "method not allowed"));
  const auto cfg = app.config();
  const auto now = app.clock().now();
  auto q = report_query(req, *cfg, now);
  if (!q) return respond(error_response(q.error()));
  auto report = app.queries().response_report(*q);
  if (!report) return respond(error_response(report.error()));
  Response r;
  r.status = 200;
  r.body = report_json(*report, *q, *cfg, now);
  respond(std::move(r));
}

}  // namespace baton::bot
