// The console's routes: static files, sign-in and the schedule timeline.
// See bot/console_routes.hpp and docs/console.md.
#include "bot/console_routes.hpp"

#include <boost/json.hpp>

#include <map>
#include <mutex>

#include <spdlog/spdlog.h>

#include "bot/app.hpp"
#include "bot/console_auth.hpp"
#include "engine/oncall.hpp"
#include "integrations/crypto.hpp"
#include "integrations/common/text.hpp"

namespace baton::bot {
using integrations::html_escape;
namespace {

namespace json = boost::json;

// Scripts, styles and images from baton itself only; no inline script or
// style, no framing, no plugins; forms post back to baton only.
constexpr const char* kCsp =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

void harden(Response& r) {
  r.headers.emplace_back("Content-Security-Policy", kCsp);
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("X-Frame-Options", "DENY");
  // The sign-in link's token must not leak through a Referer to another site.
  // (Not no-referrer: with it, browsers send "Origin: null" on the sign-in
  // form's POST, which the origin check below must refuse.)
  r.headers.emplace_back("Referrer-Policy", "same-origin");
}

Response json_ok(int status, const json::value& v) {
  Response r;
  r.status = status;
  r.body = json::serialize(v);
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

std::string content_type_of(std::string_view path) {
  auto dot = path.rfind('.');
  auto ext = dot == std::string_view::npos ? std::string_view{} : path.substr(dot + 1);
  if (ext == "html") return "text/html; charset=utf-8";
  if (ext == "css") return "text/css; charset=utf-8";
  if (ext == "js" || ext == "mjs") return "text/javascript; charset=utf-8";
  if (ext == "svg") return "image/svg+xml";
  if (ext == "png") return "image/png";
  if (ext == "ico") return "image/x-icon";
  if (ext == "json") return "application/json";
  if (ext == "txt") return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

// The sign-in pages: plain HTML with the console's stylesheet, no script.
Response page(int status, std::string_view title, std::string_view body_html) {
  Response r;
  r.status = status;
  r.content_type = "text/html; charset=utf-8";
  r.headers.emplace_back("Cache-Control", "no-store");
  harden(r);
  r.body = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" "
           "content=\"width=device-width, initial-scale=1\"><title>" +
           html_escape(title) + " - baton</title><link rel=\"stylesheet\" href=\"/console/style.css\"></head>"
           "<body class=\"signin\"><main><h1>" + html_escape(title) + "</h1>" + std::string(body_html) +
           "</main></body></html>";
  return r;
}

const ConsoleAsset* find_asset(std::string_view path) {
  for (const auto& a : console_assets())
    if (a.path == path) return &a;
  return nullptr;
}

// Strong ETags of the embedded files, computed once.
const std::string& asset_etag(const ConsoleAsset& a) {
  static std::mutex mutex;
  static std::map<std::string_view, std::string> tags;
  std::lock_guard lock(mutex);
  auto& tag = tags[a.path];
  if (tag.empty()) tag = "\"" + integrations::to_hex(integrations::sha256(a.bytes)).substr(0, 32) + "\"";
  return tag;
}

bool etag_matches(const Request& req, std::string_view tag) {
  auto h = req.header("if-none-match");
  if (!h) return false;
  // A list of tags ("a", "b") or "*" (RFC 9110 section 13.1.2); weak tags compare weakly.
  std::string_view list = *h;
  while (!list.empty()) {
    auto comma = list.find(',');
    auto item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item.starts_with("W/")) item.remove_prefix(2);
    if (item == "*" || item == tag) return true;
  }
  return false;
}

void serve_asset(const Request& req, std::string_view name, Responder& respond) {
  const auto* a = find_asset(name);
  if (!a) return respond(json_error(404, "no such console file"));
  Response r;
  r.content_type = content_type_of(a->path);
  harden(r);
  const auto& tag = asset_etag(*a);
  r.headers.emplace_back("ETag", tag);
  // Names carry no hash: revalidate every time (a 304 costs one round trip).
  r.headers.emplace_back("Cache-Control", "no-cache");
  if (etag_matches(req, tag)) {
    r.status = 304;
    return respond(std::move(r));
  }
  r.body = std::string(a->bytes);
  respond(std::move(r));
}

// A form post must come from baton's own pages: when the browser names the
// origin (every current browser does on POST), it must be this host.
bool same_origin(const Request& req) {
  auto origin = req.header("origin");
  if (!origin) return true;
  auto host = req.header("host");
  if (!host) return false;
  return *origin == "http://" + std::string(*host) || *origin == "https://" + std::string(*host);
}

std::string person_name(const Config& cfg, const std::string& id) {
  const auto* p = cfg.directory->person(id);
  return p ? p->name : id;
}

void login(App& app, const std::string& token, const Request& req, Responder respond) {
  auto cfg = app.config();
  auto claim = verify_console_link(*cfg, token, app.clock().now());
  if (!claim) {
    const auto kind = claim.error().kind;
    if (kind == ErrorKind::permanent && cfg->server.action_secret.empty())
      return respond(page(404, "Sign-in is off", "<p>This baton has no action secret configured.</p>"));
    if (kind == ErrorKind::permanent)
      return respond(page(410, "This link has expired",
                          "<p>Ask baton for a new one: <code>/baton console</code> in chat.</p>"));
    return respond(page(400, "This link is not valid", "<p>It was changed or cut short. Ask for a new one.</p>"));
  }
  const std::string name = person_name(*cfg, claim->person);
  // GET only shows a button: chat unfurlers and mail scanners follow links,
  // and must not use up a one-time link.
  if (req.method == "GET" || req.method == "HEAD")
    return respond(page(200, "Sign in to baton",
                        "<p>Sign in as <strong>" + html_escape(name) +
                            "</strong>.</p><form method=\"post\"><button type=\"submit\">Sign in</button></form>"));
  if (req.method != "POST") return respond(json_error(405, "method not allowed"));
  if (!same_origin(req)) return respond(page(403, "Refused", "<p>The form did not come from this baton.</p>"));
  app.incidents().consume_token_async(
      "console-link:" + claim->token_id,
      [&app, person = claim->person, respond = std::move(respond)](Result<void> used) {
        if (!used) {
          if (used.error().kind == ErrorKind::conflict)
            return respond(page(409, "This link was already used",
                                "<p>A sign-in link works once. Ask baton for a new one.</p>"));
          return respond(page(503, "Try again", "<p>baton could not record the sign-in.</p>"));
        }
        auto cfg = app.config();
        auto s = start_console_session(*cfg, person, app.clock().now());
        spdlog::info("console: {} signed in", person);
        Response r;
        r.status = 303;
        r.content_type = "text/plain; charset=utf-8";
        r.headers.emplace_back("Location", "/");
        r.headers.emplace_back("Set-Cookie", s.set_cookie);
        r.headers.emplace_back("Cache-Control", "no-store");
        harden(r);
        respond(std::move(r));
      });
}

void session(App& app, const Request& req, Responder respond) {
  auto cfg = app.config();
  auto s = console_session(*cfg, req, app.clock().now());
  if (!s) return respond(json_error(401, "not signed in"));
  json::array people, services, schedules;
  for (const auto& [id, p] : cfg->directory->people) people.push_back(json::object{{"id", id}, {"name", p.name}});
  for (const auto& [id, sv] : cfg->directory->services)
    services.push_back(json::object{{"id", id}, {"name", sv.name}});
  for (const auto& [id, sc] : cfg->directory->schedules)
    schedules.push_back(json::object{{"id", id}, {"name", sc.name}, {"time_zone", sc.time_zone}});
  respond(json_ok(200, json::object{{"person", json::object{{"id", s->person}, {"name", person_name(*cfg, s->person)}}},
                                    {"csrf", s->csrf},
                                    {"expires", engine::format_iso8601(s->expires)},
                                    {"now", engine::format_iso8601(app.clock().now())},
                                    {"people", std::move(people)},
                                    {"services", std::move(services)},
                                    {"schedules", std::move(schedules)}}));
}

void logout(App& app, const Request& req, Responder respond) {
  auto cfg = app.config();
  auto s = console_session(*cfg, req, app.clock().now());
  if (s && !console_csrf_ok(*s, req)) return respond(json_error(403, "missing or invalid X-CSRF-Token"));
  auto r = json_ok(200, json::object{{"status", "signed out"}});
  r.headers.emplace_back("Set-Cookie", end_console_session_cookie(*cfg));
  respond(std::move(r));
}

json::object shift_json(const Config& cfg, const engine::Shift& s) {
  return json::object{{"person", s.person.empty() ? json::value(nullptr) : json::value(s.person)},
                      {"person_name", s.person.empty() ? json::value(nullptr) : json::value(person_name(cfg, s.person))},
                      {"start", engine::format_iso8601(s.start)},
                      {"end", engine::format_iso8601(s.end)},
                      {"source", s.source}};
}

}  // namespace

bool is_console_path(std::string_view path) {
  return path == "/" || path == "/console" || path.starts_with("/console/");
}

void console_route(App& app, Request&& req, Responder respond) {
  const std::string_view path = req.path;
  constexpr std::string_view kLogin = "/console/login/";
  if (path.starts_with(kLogin)) return login(app, std::string(path.substr(kLogin.size())), req, std::move(respond));
  if (path == "/console/session") {
    if (req.method != "GET") return respond(json_error(405, "method not allowed"));
    return session(app, req, std::move(respond));
  }
  if (path == "/console/logout") {
    if (req.method != "POST") return respond(json_error(405, "method not allowed"));
    return logout(app, req, std::move(respond));
  }
  if (req.method != "GET" && req.method != "HEAD") return respond(json_error(405, "method not allowed"));
  if (path == "/" || path == "/console" || path == "/console/") return serve_asset(req, "index.html", respond);
  auto name = path.substr(std::string_view("/console/").size());
  if (name.find("..") != std::string_view::npos) return respond(json_error(404, "no such console file"));
  serve_asset(req, name, respond);
}

void schedule_timeline(App& app, const std::string& schedule, const Request& req, Responder respond) {
  if (req.method != "GET") return respond(json_error(405, "method not allowed"));
  auto cfg = app.config();
  const auto* s = cfg->directory->schedule(schedule);
  if (!s) return respond(json_error(404, "unknown schedule '" + schedule + "'"));
  auto from = app.clock().now();
  if (auto f = req.query_param("from")) {
    auto t = engine::parse_iso8601(*f);
    if (!t) return respond(json_error(400, "from must be an ISO 8601 time such as 2027-03-10T00:00:00Z"));
    from = *t;
  }
  auto to = from + std::chrono::days(14);
  if (auto t = req.query_param("to")) {
    auto parsed = engine::parse_iso8601(*t);
    if (!parsed) return respond(json_error(400, "to must be an ISO 8601 time such as 2027-03-24T00:00:00Z"));
    to = *parsed;
  }
  if (!(from < to)) return respond(json_error(400, "to must be after from"));
  if (to - from > std::chrono::days(62)) return respond(json_error(400, "a timeline spans at most 62 days"));

  std::vector<engine::Override> extra;
  for (auto& o : app.incidents().overrides())
    if (o.schedule_id == schedule) extra.push_back(std::move(o));
  json::array final_shifts, layers, overrides;
  for (const auto& sh : engine::final_schedule(*s, extra, from, to)) final_shifts.push_back(shift_json(*cfg, sh));
  // Each layer alone, as it would be without the layers above it and without overrides.
  for (const auto& layer : s->layers) {
    engine::Schedule alone;
    alone.id = s->id;
    alone.time_zone = s->time_zone;
    alone.layers = {layer};
    json::array shifts;
    for (const auto& sh : engine::final_schedule(alone, {}, from, to)) shifts.push_back(shift_json(*cfg, sh));
    layers.push_back(json::object{{"name", layer.name}, {"time_zone", layer.time_zone}, {"shifts", std::move(shifts)}});
  }
  auto add_override = [&](const engine::Override& o) {
    if (!(o.start < to && from < o.end)) return;
    overrides.push_back(json::object{{"id", o.id == 0 ? json::value(nullptr) : json::value(o.id)},
                                     {"person", o.person},
                                     {"person_name", person_name(*cfg, o.person)},
                                     {"start", engine::format_iso8601(o.start)},
                                     {"end", engine::format_iso8601(o.end)},
                                     {"configured", o.id == 0}});
  };
  for (const auto& o : s->overrides) add_override(o);
  for (const auto& o : extra) add_override(o);
  respond(json_ok(200, json::object{{"schedule", s->id},
                                    {"name", s->name},
                                    {"time_zone", s->time_zone},
                                    {"from", engine::format_iso8601(from)},
                                    {"to", engine::format_iso8601(to)},
                                    {"final", std::move(final_shifts)},
                                    {"layers", std::move(layers)},
                                    {"overrides", std::move(overrides)}}));
}

Response with_etag(const Request& req, Response res) {
  if (res.status != 200) return res;
  const std::string tag = "\"" + integrations::to_hex(integrations::sha256(res.body)).substr(0, 32) + "\"";
  res.headers.emplace_back("ETag", tag);
  res.headers.emplace_back("Cache-Control", "private, no-cache");
  if (etag_matches(req, tag)) {
    res.status = 304;
    res.body.clear();
  }
  return res;
}

}  // namespace baton::bot
