// The web console without a browser (docs/console.md): one-time sign-in links,
// the session cookie, CSRF, the actor of console actions, the embedded files
// and their headers, the schedule timeline across a DST change, and ETags on
// the incident list. tests/bot/console_browser_test.cpp drives the same in
// real Chromium.
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "bot/cli.hpp"
#include "bot/config.hpp"
#include "bot/console_auth.hpp"
#include "bot/console_routes.hpp"
#include "bot/http_types.hpp"
#include "engine/oncall.hpp"
#include "tests/support/fake_clock.hpp"
#include "tests/support/service_harness.hpp"

using namespace baton;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

std::string config_yaml(const std::string& db, const std::string& extra_server = "") {
  return R"(
server:
  listen: "127.0.0.1:0"
  public_url: "http://127.0.0.1:8080"
  action_secret: "console-test-secret"
  api_tokens: [{name: ops, token: ")" + std::string(test::kApiToken) + R"("}]
)" + extra_server + R"(
storage: {path: ")" + db + R"(", durability: normal}
people:
  alice: {name: Alice Example, email: alice@example.com}
  bob: {name: Bob Example, email: bob@example.com}
schedules:
  primary:
    name: Primary
    time_zone: America/New_York
    layers:
      - name: daily
        rotation: {unit: days, length: 1, start: "2027-03-01T09:00", time_zone: America/New_York}
        participants: [alice, bob]
escalation_policies:
  main: {steps: [{targets: [{schedule: primary}], timeout: 5m}]}
services:
  payments: {name: Payments, escalation_policy: main, integration_keys: [key-pay]}
)";
}

bot::Config load(const std::string& yaml) {
  auto cfg = bot::load_config_string(yaml, "test.yaml", [](std::string_view) { return std::optional<std::string>{}; });
  if (!cfg) FAIL(cfg.error().front().to_string());
  return std::move(*cfg);
}

std::string token_of(const std::string& link) { return link.substr(link.rfind('/') + 1); }

/// "baton_session=..." from a Set-Cookie value (what a browser sends back).
std::string cookie_of(const std::string& set_cookie) { return set_cookie.substr(0, set_cookie.find(';')); }

const char* kAlert = R"({"routing_key":"key-pay","event_action":"trigger","dedup_key":"disk",
  "payload":{"summary":"Disk full","source":"db-1","severity":"critical"}})";

}  // namespace

TEST_CASE("console links: signed, for known people, short-lived, off without a secret", "[console]") {
  test::TempDb db;
  auto cfg = load(config_yaml(db.path()));
  const auto now = engine::from_ms(1'800'000'000'000);

  auto link = bot::console_link(cfg, "alice", now);
  REQUIRE(link);
  CHECK(link->starts_with("http://127.0.0.1:8080/console/login/"));
  auto claim = bot::verify_console_link(cfg, token_of(*link), now + 9min);
  REQUIRE(claim);
  CHECK(claim->person == "alice");

  // Unknown person: no link.
  CHECK(bot::console_link(cfg, "mallory", now).error().kind == ErrorKind::not_found);
  // Expired after kConsoleLinkTtl.
  CHECK(bot::verify_console_link(cfg, token_of(*link), now + bot::kConsoleLinkTtl).error().kind ==
        ErrorKind::permanent);
  // One changed character: not ours.
  auto tampered = token_of(*link);
  tampered[5] = tampered[5] == 'A' ? 'B' : 'A';
  CHECK_FALSE(bot::verify_console_link(cfg, tampered, now));
  // Another baton's secret: not ours.
  auto other = cfg;
  other.server.action_secret = "another-secret";
  CHECK(bot::verify_console_link(other, token_of(*link), now).error().kind == ErrorKind::unauthorized);
  // A session cookie is not a sign-in link (keys per purpose).
  auto s = bot::start_console_session(cfg, "alice", now);
  auto cookie_token = cookie_of(s.set_cookie).substr(std::string(bot::kConsoleCookie).size() + 1);
  CHECK(bot::verify_console_link(cfg, cookie_token, now).error().kind == ErrorKind::unauthorized);
  // No action secret: sign-in is off.
  auto off = cfg;
  off.server.action_secret.clear();
  CHECK(bot::console_link(off, "alice", now).error().kind == ErrorKind::permanent);
}

TEST_CASE("console sessions: cookie attributes, expiry, CSRF rule", "[console]") {
  test::TempDb db;
  auto cfg = load(config_yaml(db.path(), "  console_session: 2h\n"));
  const auto now = engine::from_ms(1'800'000'000'000);
  auto s = bot::start_console_session(cfg, "alice", now);
  CHECK(s.set_cookie.find("; HttpOnly") != std::string::npos);
  CHECK(s.set_cookie.find("; SameSite=Strict") != std::string::npos);
  CHECK(s.set_cookie.find("; Path=/") != std::string::npos);
  CHECK(s.set_cookie.find("; Max-Age=7200") != std::string::npos);
  CHECK(s.set_cookie.find("Secure") == std::string::npos);  // http public_url

  bot::Request req;
  req.method = "POST";
  req.headers.emplace_back("cookie", "theme=dark; " + cookie_of(s.set_cookie) + "; other=1");
  auto back = bot::console_session(cfg, req, now + 1h);
  REQUIRE(back);
  CHECK(back->person == "alice");
  CHECK(back->csrf == s.session.csrf);
  CHECK_FALSE(bot::console_session(cfg, req, now + 2h));  // expired
  CHECK_FALSE(bot::console_csrf_ok(*back, req));           // POST without the header
  req.headers.emplace_back("x-csrf-token", "wrong");
  CHECK_FALSE(bot::console_csrf_ok(*back, req));
  req.headers.back().second = s.session.csrf;
  CHECK(bot::console_csrf_ok(*back, req));
  bot::Request get;
  get.method = "GET";
  CHECK(bot::console_csrf_ok(*back, get));  // reads need no token

  // Secure when baton is reached over https.
  cfg.server.public_url = "https://baton.example.com";
  CHECK(bot::start_console_session(cfg, "alice", now).set_cookie.ends_with("; Secure"));
  // A person removed from the configuration is signed out.
  auto gone = load(config_yaml(db.path()));
  auto& people = const_cast<engine::Directory&>(*gone.directory).people;
  people.erase("alice");
  CHECK_FALSE(bot::console_session(gone, req, now + 1min));
}

TEST_CASE("console sign-in over HTTP: GET confirms, POST signs in once, expired and reused links refused",
          "[console][service]") {
  test::TempDb db;
  test::FakeClock clock;
  test::ServiceHarness svc(clock, config_yaml(db.path()));
  auto link = bot::console_link(*svc.app, "alice");
  REQUIRE(link);
  const std::string path = "/console/login/" + token_of(*link);

  // A link preview (GET) shows a button and uses nothing up.
  auto page = svc.call("GET", path, "", "", false);
  CHECK(page.status == 200);
  CHECK(page.body.find("Alice Example") != std::string::npos);
  CHECK(page.body.find("<form method=\"post\">") != std::string::npos);
  CHECK(page.header("Content-Security-Policy").value_or("").find("default-src 'none'") != std::string::npos);
  CHECK(page.header("Referrer-Policy") == "same-origin");

  // A form posted from another site is refused.
  auto foreign = svc.call("POST", path, "", "application/x-www-form-urlencoded", false,
                          {{"Origin", "https://evil.example"}});
  CHECK(foreign.status == 403);

  auto signed_in = svc.call("POST", path, "", "application/x-www-form-urlencoded", false);
  REQUIRE(signed_in.status == 303);
  CHECK(signed_in.header("Location") == "/");
  const auto set_cookie = signed_in.header("Set-Cookie").value_or("");
  CHECK(set_cookie.starts_with("baton_session="));
  CHECK(set_cookie.find("HttpOnly") != std::string::npos);
  CHECK(set_cookie.find("SameSite=Strict") != std::string::npos);

  // The same link again: refused, however often.
  CHECK(svc.call("POST", path, "", "application/x-www-form-urlencoded", false).status == 409);

  // An expired link.
  auto old = bot::console_link(*svc.app->config(), "alice", clock.now() - 11min);
  REQUIRE(old);
  CHECK(svc.call("POST", "/console/login/" + token_of(*old), "", "", false).status == 410);
  CHECK(svc.call("GET", "/console/login/" + token_of(*old), "", "", false).status == 410);
  // A garbled one.
  CHECK(svc.call("GET", "/console/login/abc.def", "", "", false).status == 400);

  // The session: who, and the CSRF token for the page.
  const std::string cookie = cookie_of(set_cookie);
  auto session = svc.call("GET", "/console/session", "", "", false, {{"Cookie", cookie}});
  REQUIRE(session.status == 200);
  auto s = json::parse(session.body);
  CHECK(s.at("person").at("id") == "alice");
  CHECK(s.at("csrf").as_string().size() > 20);
  CHECK(svc.call("GET", "/console/session", "", "", false).status == 401);

  // It expires with server.console_session (12 h by default).
  clock.advance(12h + 1s);
  CHECK(svc.call("GET", "/console/session", "", "", false, {{"Cookie", cookie}}).status == 401);
  CHECK(svc.call("GET", "/api/v1/incidents", "", "", false, {{"Cookie", cookie}}).status == 401);
}

TEST_CASE("console actions: session with CSRF acts as the person via console, bearer tokens unchanged",
          "[console][service]") {
  test::TempDb db;
  test::FakeClock clock;
  test::ServiceHarness svc(clock, config_yaml(db.path()));
  REQUIRE(svc.call("POST", "/v2/enqueue", kAlert).status == 202);
  REQUIRE(svc.call("POST", "/v2/enqueue", std::string(kAlert).replace(std::string(kAlert).find("disk"), 4, "cpu"))
              .status == 202);
  svc.app->incidents().drain();

  auto s = bot::start_console_session(*svc.app->config(), "alice", clock.now());
  const std::pair<std::string, std::string> cookie{"Cookie", cookie_of(s.set_cookie)};

  // Reads need the cookie only.
  CHECK(svc.call("GET", "/api/v1/incidents", "", "", false, {cookie}).status == 200);
  // A state change without X-CSRF-Token, or with a wrong one: 403, nothing changes.
  CHECK(svc.call("POST", "/api/v1/incidents/1/ack", "", "", false, {cookie}).status == 403);
  CHECK(svc.call("POST", "/api/v1/incidents/1/ack", "", "", false, {cookie, {"X-CSRF-Token", "nope"}}).status == 403);
  CHECK(svc.get_json("/api/v1/incidents/1").at("state") == "triggered");
  // With it: done as alice, via console.
  auto acked = svc.call("POST", "/api/v1/incidents/1/ack", "", "", false, {cookie, {"X-CSRF-Token", s.session.csrf}});
  REQUIRE(acked.status == 200);
  CHECK(json::parse(acked.body).at("state") == "acknowledged");
  bool found = false;
  const auto one = svc.get_json("/api/v1/incidents/1");
  for (const auto& e : one.at("timeline").as_array())
    if (e.at("kind") == "acknowledged") {
      CHECK(e.at("actor") == "alice");
      CHECK(e.at("channel") == "console");
      found = true;
    }
  CHECK(found);

  // Reassign from the console: bob owns it now, recorded as alice via console.
  auto moved = svc.call("POST", "/api/v1/incidents/1/reassign", R"({"person":"bob"})", "application/json", false,
                        {cookie, {"X-CSRF-Token", s.session.csrf}});
  REQUIRE(moved.status == 200);
  CHECK(json::parse(moved.body).at("owner") == "bob");
  CHECK(svc.call("POST", "/api/v1/incidents/1/reassign", R"({"person":"mallory"})").status == 404);
  CHECK(svc.call("POST", "/api/v1/incidents/1/reassign", R"({"who":"bob"})").status == 400);

  // A bearer token still works, and stays "api:<name>" via api.
  REQUIRE(svc.call("POST", "/api/v1/incidents/2/ack").status == 200);
  const auto two = svc.get_json("/api/v1/incidents/2");
  for (const auto& e : two.at("timeline").as_array())
    if (e.at("kind") == "acknowledged") {
      CHECK(e.at("actor") == "api:ops");
      CHECK(e.at("channel") == "api");
    }
  // A wrong bearer token is refused even with a valid session cookie.
  CHECK(svc.call("GET", "/api/v1/incidents", "", "", false, {cookie, {"Authorization", "Bearer wrong"}}).status == 401);
  // A forged cookie is no session.
  CHECK(svc.call("GET", "/api/v1/incidents", "", "", false, {{"Cookie", "baton_session=eyJwIjoiYWxpY2UifQ.AAAA"}})
            .status == 401);
}

TEST_CASE("console files: embedded, typed, strict CSP, ETag revalidation", "[console][service]") {
  test::TempDb db;
  test::FakeClock clock;
  test::ServiceHarness svc(clock, config_yaml(db.path()));
  auto index = svc.call("GET", "/", "", "", false);
  REQUIRE(index.status == 200);
  CHECK(index.header("Content-Type") == "text/html; charset=utf-8");
  CHECK(index.body.find("/console/app.js") != std::string::npos);
  const auto csp = index.header("Content-Security-Policy").value_or("");
  CHECK(csp.find("script-src 'self'") != std::string::npos);
  CHECK(csp.find("unsafe-inline") == std::string::npos);
  CHECK(csp.find("frame-ancestors 'none'") != std::string::npos);
  const auto etag = index.header("ETag").value_or("");
  REQUIRE_FALSE(etag.empty());
  auto again = svc.call("GET", "/", "", "", false, {{"If-None-Match", etag}});
  CHECK(again.status == 304);
  CHECK(again.body.empty());

  CHECK(svc.call("GET", "/console/app.js", "", "", false).header("Content-Type") == "text/javascript; charset=utf-8");
  CHECK(svc.call("GET", "/console/style.css", "", "", false).header("Content-Type") == "text/css; charset=utf-8");
  CHECK(svc.call("GET", "/console/icon.svg", "", "", false).header("Content-Type") == "image/svg+xml");
  CHECK(svc.call("GET", "/console/nothing.js", "", "", false).status == 404);
  CHECK(svc.call("GET", "/console/../bot/api.cpp", "", "", false).status == 404);
  CHECK(svc.call("POST", "/", "", "", false).status == 405);
  // Every embedded file is served.
  for (const auto& a : bot::console_assets())
    CHECK(svc.call("GET", "/console/" + std::string(a.path), "", "", false).status == 200);
}

TEST_CASE("schedule timeline: layers and final shifts in UTC, 09:00 local on both sides of a DST change",
          "[console][service]") {
  test::TempDb db;
  test::FakeClock clock;
  test::ServiceHarness svc(clock, config_yaml(db.path()));
  // New York moves to EDT on 2027-03-14: 09:00 is 14:00Z before, 13:00Z after.
  auto t = svc.get_json("/api/v1/schedules/primary/timeline?from=2027-03-12T05:00:00Z&to=2027-03-17T04:00:00Z");
  CHECK(t.at("time_zone") == "America/New_York");
  std::vector<std::string> starts;
  for (const auto& s : t.at("final").as_array()) starts.emplace_back(s.at("start").as_string());
  CHECK(starts == std::vector<std::string>{"2027-03-12T05:00:00.000Z", "2027-03-12T14:00:00.000Z",
                                           "2027-03-13T14:00:00.000Z", "2027-03-14T13:00:00.000Z",
                                           "2027-03-15T13:00:00.000Z", "2027-03-16T13:00:00.000Z"});
  REQUIRE(t.at("layers").as_array().size() == 1);
  CHECK(t.at("layers").at(0).at("name") == "daily");
  CHECK(t.at("overrides").as_array().empty());

  // An override shows in its row and wins in the final schedule.
  REQUIRE(svc.call("POST", "/api/v1/schedules/primary/overrides",
                   R"({"person":"alice","start":"2027-03-13T00:00:00Z","end":"2027-03-13T06:00:00Z"})")
              .status == 201);
  t = svc.get_json("/api/v1/schedules/primary/timeline?from=2027-03-12T05:00:00Z&to=2027-03-17T04:00:00Z");
  REQUIRE(t.at("overrides").as_array().size() == 1);
  CHECK(t.at("overrides").at(0).at("person") == "alice");
  bool override_shift = false;
  for (const auto& s : t.at("final").as_array())
    override_shift |= s.at("source") == "override" && s.at("start") == "2027-03-13T00:00:00.000Z";
  CHECK(override_shift);

  CHECK(svc.call("GET", "/api/v1/schedules/nope/timeline", "", "").status == 404);
  CHECK(svc.call("GET", "/api/v1/schedules/primary/timeline?from=yesterday", "", "").status == 400);
  CHECK(svc.call("GET", "/api/v1/schedules/primary/timeline?from=2027-03-12T00:00:00Z&to=2027-06-12T00:00:00Z", "", "")
            .status == 400);
  CHECK(svc.call("GET", "/api/v1/schedules/primary/timeline", "", "", false).status == 401);
}

TEST_CASE("incident list ETag: 304 while nothing changed, 200 after a change", "[console][service]") {
  test::TempDb db;
  test::FakeClock clock;
  test::ServiceHarness svc(clock, config_yaml(db.path()));
  auto first = svc.call("GET", "/api/v1/incidents", "", "");
  REQUIRE(first.status == 200);
  const auto etag = first.header("ETag").value_or("");
  REQUIRE_FALSE(etag.empty());
  CHECK(svc.call("GET", "/api/v1/incidents", "", "", true, {{"If-None-Match", etag}}).status == 304);
  REQUIRE(svc.call("POST", "/v2/enqueue", kAlert).status == 202);
  svc.app->incidents().drain();
  auto changed = svc.call("GET", "/api/v1/incidents", "", "", true, {{"If-None-Match", etag}});
  CHECK(changed.status == 200);
  CHECK(changed.header("ETag") != etag);
}

TEST_CASE("baton console-link prints a one-time link for a person of the configuration", "[console][cli]") {
  test::TempDb db;
  const auto file = (db.dir / "baton.yaml").string();
  std::ofstream(file) << config_yaml(db.path());
  std::ostringstream out, err;
  REQUIRE(bot::run_cli({"console-link", "--person", "alice", "--config", file}, out, err) == 0);
  const auto link = out.str().substr(0, out.str().find('\n'));
  CHECK(link.starts_with("http://127.0.0.1:8080/console/login/"));
  auto cfg = load(config_yaml(db.path()));
  auto claim = bot::verify_console_link(cfg, token_of(link), engine::SystemClock().now());
  REQUIRE(claim);
  CHECK(claim->person == "alice");

  std::ostringstream out2, err2;
  CHECK(bot::run_cli({"console-link", "--person", "mallory", "--config", file}, out2, err2) == 1);
  CHECK(err2.str().find("unknown person 'mallory'") != std::string::npos);
  CHECK(bot::run_cli({"console-link", "--config", file}, out2, err2) == 2);
}
