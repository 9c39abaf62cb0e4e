// Heartbeats and maintenance windows, the whole service in-process (as
// service_test.cpp): a real HTTP server on port 0, a real SQLite file, the
// webhook channel pointed at a local HttpPeer, and a fake clock the tests move.
// Each test states its scenario first; restarts are a new App on the same file.
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <sstream>

#include "bot/app.hpp"
#include "bot/cli.hpp"
#include "tests/support/fake_clock.hpp"
#include "tests/support/http_peer.hpp"
#include "tests/support/service_harness.hpp"

using namespace baton;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

using test::eventually;
using test::TempDb;

/// payments: heartbeat "nightly"; batch: a weekly window; with `watchdog`,
/// monitoring with an Alertmanager-fed heartbeat (it fires 12 min after start
/// unless fed, so only the test about it has it).
std::string config_yaml(const std::string& webhook_url, const std::string& db, bool watchdog) {
  return R"(
server:
  listen: "127.0.0.1:0"
  public_url: "http://baton.test"
  action_secret: "test-action-secret"
  api_tokens: [{name: ops, token: ")" +
         std::string(test::kApiToken) + R"("}]
storage: {path: ")" + db + R"(", durability: normal}
webhook: {url: ")" + webhook_url + R"(/hook"}
dispatch: {max_attempts: 2, base_backoff: 1s}
people:
  alice: {name: Alice, email: alice@example.com}
  bob: {name: Bob, email: bob@example.com}
escalation_policies:
  main:
    steps:
      - {targets: [{person: alice}], timeout: 5m}
      - {targets: [{person: bob}], timeout: 90s}
services:
  payments:
    name: Payments
    escalation_policy: main
    integration_keys: [key-pay]
    heartbeats: [{name: nightly, interval: 1h, grace: 5m, key: hb-nightly}]
  batch:
    name: Batch
    escalation_policy: main
    integration_keys: [key-batch]
    maintenance: [{days: [thu], start: "00:00", duration: 30m, time_zone: UTC, reason: nightly reindex}]
)" + std::string(watchdog ? R"(
  monitoring:
    name: Monitoring
    escalation_policy: main
    integration_keys: [am-mon]
    heartbeats: [{name: watchdog, interval: 10m, grace: 2m, key: hb-watchdog, alertname: Watchdog}]
)"
                                     : "");
}

struct Service : test::ServiceHarness {
  Service(test::FakeClock& c, const std::string& webhook_url, const std::string& db, bool watchdog = false)
      : ServiceHarness(c, config_yaml(webhook_url, db, watchdog)) {
    // The engine resumes on its loop after start(): heartbeat grace counts from
    // then, so let it run before the test moves the clock.
    app->incidents().drain();
  }

  /// Moves the clock, fires what is due and waits for it to be committed and sent.
  void advance(engine::Millis d) {
    clock.advance(d);
    app->incidents().poke();
    app->incidents().drain();
  }
  integrations::HttpResponse beat(const std::string& key, const std::string& method = "POST") {
    return call(method, "/api/v1/heartbeats/" + key, "", "", false);
  }
  std::string metrics() { return call("GET", "/metrics", "", "", false).body; }
};

std::string event(std::string action, std::string dedup, std::string key = "key-pay") {
  json::object o{{"routing_key", key}, {"event_action", action}, {"dedup_key", dedup}};
  if (action == "trigger")
    o["payload"] = json::object{{"summary", "Disk full on " + dedup}, {"source", "db-7"}, {"severity", "critical"}};
  return json::serialize(o);
}

/// The pages the webhook received, as (incident number, person id).
std::vector<std::pair<std::int64_t, std::string>> pages(const test::HttpPeer& peer) {
  std::vector<std::pair<std::int64_t, std::string>> out;
  for (const auto& r : peer.requests()) {
    auto v = json::parse(r.body).as_object();
    if (v["event"] == "incident.page")
      out.emplace_back(v["incident"].at("number").as_int64(), std::string(v["person"].at("id").as_string()));
  }
  return out;
}

std::string watchdog_payload(const std::string& status) {
  json::array alerts{json::object{{"status", status},
                                  {"labels", json::object{{"alertname", "Watchdog"}, {"severity", "none"}}},
                                  {"annotations", json::object{{"summary", "An alert that should always be firing"}}},
                                  {"startsAt", "2026-01-01T00:00:00Z"},
                                  {"endsAt", "0001-01-01T00:00:00Z"},
                                  {"fingerprint", "e5a4b3c2d1"}}};
  return json::serialize(json::object{{"receiver", "baton"},
                                      {"status", status},
                                      {"alerts", alerts},
                                      {"groupLabels", json::object{{"alertname", "Watchdog"}}},
                                      {"commonLabels", json::object{{"alertname", "Watchdog"}}},
                                      {"commonAnnotations", json::object{}},
                                      {"externalURL", "http://am"},
                                      {"version", "4"},
                                      {"groupKey", "{}:{alertname=\"Watchdog\"}"},
                                      {"truncatedAlerts", 0}});
}

std::size_t incident_count(Service& svc) {
  return svc.get_json("/api/v1/incidents?state=all").at("incidents").as_array().size();
}

/// `baton incident list` against the running service.
std::string cli_list(const Service& svc) {
  ::setenv("BATON_API_TOKEN", test::kApiToken, 1);
  std::ostringstream out, err;
  const int code = bot::run_cli({"incident", "list", "--url", svc.base}, out, err);
  ::unsetenv("BATON_API_TOKEN");
  INFO(err.str());
  CHECK(code == 0);
  return out.str();
}

}  // namespace

TEST_CASE("a missed heartbeat pages through the policy and the next beat resolves it", "[service][heartbeat]") {
  // Scenario: "nightly" (1 h + 5 min grace) beats at T0 with curl (POST, no
  // token: the key is the credential). An unknown key is 404 and changes
  // nothing. Nothing is paged at T0+1h5min minus a second; at T0+1h5min an
  // incident opens on payments ("No heartbeat from nightly since T0") and
  // alice is paged through the policy. The next beat (a GET this time)
  // resolves it with a timeline note. /metrics shows the beat's age.
  TempDb db;
  test::FakeClock clock;
  test::HttpPeer sink;
  Service svc(clock, sink.url(), db.path());

  auto first = svc.beat("hb-nightly");
  REQUIRE(first.status == 200);
  CHECK(json::parse(first.body) ==
        json::parse(R"({"status":"ok","service":"payments","heartbeat":"nightly","resolved":null})"));
  CHECK(svc.beat("hb-unknown").status == 404);
  CHECK(svc.beat("hb-nightly", "DELETE").status == 405);
  CHECK(incident_count(svc) == 0);

  svc.advance(1h + 5min - 1s);
  CHECK(pages(sink).empty());
  CHECK(incident_count(svc) == 0);
  svc.advance(1s);
  REQUIRE(eventually([&] { return pages(sink).size() == 1; }));
  CHECK(pages(sink)[0] == std::make_pair(std::int64_t{1}, std::string("alice")));
  auto inc = svc.get_json("/api/v1/incidents/1");
  CHECK(inc.at("service") == "payments");
  CHECK(inc.at("summary") == "No heartbeat from nightly since 2026-01-01T00:00:00.000Z");
  CHECK(inc.at("state") == "triggered");
  auto metrics = svc.metrics();
  CHECK(metrics.find("baton_heartbeat_last_beat_age_seconds{service=\"payments\",heartbeat=\"nightly\"} 3900.000") !=
        std::string::npos);
  CHECK(metrics.find("baton_heartbeat_missing{service=\"payments\",heartbeat=\"nightly\"} 1") != std::string::npos);

  svc.advance(10min);  // still missing: escalated to bob, no second incident
  CHECK(incident_count(svc) == 1);
  auto next = svc.beat("hb-nightly", "GET");
  REQUIRE(next.status == 200);
  CHECK(json::parse(next.body).at("resolved") == 1);
  CHECK(svc.get_json("/api/v1/incidents/1").at("state") == "resolved");
  CHECK(svc.timeline_text(1).find("note: Heartbeat from nightly received at 2026-01-01T01:15:00.000Z: resolving") !=
        std::string::npos);
  CHECK(svc.metrics().find("baton_heartbeat_missing{service=\"payments\",heartbeat=\"nightly\"} 0") !=
        std::string::npos);
}

TEST_CASE("heartbeats across restarts: missed while down fires after the grace unless a beat comes",
          "[service][heartbeat][restart]") {
  // Scenario: nightly beats at T0; baton stops. At T0+2h (deadline passed
  // while down) a new process starts: nothing is paged at start nor within
  // the 5 min grace, and a beat then keeps it quiet. The next deadline is
  // missed: #1 pages alice. baton restarts with #1 open: the next beat
  // resolves it. baton stops again for 3 h; with no beat after the start,
  // #2 is paged 5 min after it.
  TempDb db;
  test::FakeClock clock;
  test::HttpPeer sink;
  {
    Service svc(clock, sink.url(), db.path());
    REQUIRE(svc.beat("hb-nightly").status == 200);
    svc.app->stop();
  }
  clock.advance(2h);
  {
    Service svc(clock, sink.url(), db.path());
    svc.advance(0ms);
    svc.advance(4min);
    CHECK(pages(sink).empty());
    REQUIRE(svc.beat("hb-nightly").status == 200);  // T0+2h4min
    svc.advance(1h + 5min - 1s);
    CHECK(pages(sink).empty());
    svc.advance(1s);
    REQUIRE(eventually([&] { return pages(sink).size() == 1; }));
    CHECK(svc.get_json("/api/v1/incidents/1").at("summary") ==
          "No heartbeat from nightly since 2026-01-01T02:04:00.000Z");
    svc.app->stop();
  }
  {
    Service svc(clock, sink.url(), db.path());
    auto resolved = svc.beat("hb-nightly");
    REQUIRE(resolved.status == 200);
    CHECK(json::parse(resolved.body).at("resolved") == 1);
    CHECK(svc.get_json("/api/v1/incidents/1").at("state") == "resolved");
    svc.app->stop();
  }
  clock.advance(3h);
  Service svc(clock, sink.url(), db.path());
  svc.advance(5min - 1s);
  CHECK(pages(sink).size() == 1);
  svc.advance(1s);
  REQUIRE(eventually([&] { return pages(sink).size() == 2; }));
  CHECK(pages(sink)[1] == std::make_pair(std::int64_t{2}, std::string("alice")));
}

TEST_CASE("an Alertmanager Watchdog feeds its heartbeat and opens no incident", "[service][heartbeat][alertmanager]") {
  // Scenario: the Prometheus operator's always-firing Watchdog reaches baton
  // through monitoring's Alertmanager integration every 5 minutes for half an
  // hour: each is accepted (200), no incident opens, nobody is paged. Then
  // the Watchdog stops: 12 minutes after the last one, monitoring's incident
  // says so and pages alice; the next Watchdog resolves it.
  TempDb db;
  test::FakeClock clock;
  test::HttpPeer sink;
  Service svc(clock, sink.url(), db.path(), /*watchdog=*/true);
  REQUIRE(svc.beat("hb-nightly").status == 200);
  for (int i = 0; i <= 6; ++i) {
    auto r = svc.call("POST", "/api/v1/integrations/alertmanager/am-mon", watchdog_payload("firing"), "application/json",
                      false);
    REQUIRE(r.status == 200);
    CHECK(json::parse(r.body).as_object().if_contains("incident") == nullptr);
    svc.advance(5min);
  }
  CHECK(incident_count(svc) == 0);
  CHECK(pages(sink).empty());
  // The last Watchdog came at T0+30min: due at T0+42min; we are at T0+35min.
  svc.advance(7min - 1s);
  CHECK(pages(sink).empty());
  svc.advance(1s);
  REQUIRE(eventually([&] { return pages(sink).size() == 1; }));
  CHECK(svc.get_json("/api/v1/incidents/1").at("summary") ==
        "No heartbeat from watchdog since 2026-01-01T00:30:00.000Z");
  CHECK(svc.get_json("/api/v1/incidents/1").at("service") == "monitoring");
  auto r = svc.call("POST", "/api/v1/integrations/alertmanager/am-mon", watchdog_payload("firing"), "application/json",
                    false);
  REQUIRE(r.status == 200);
  CHECK(svc.get_json("/api/v1/incidents/1").at("state") == "resolved");
  CHECK(incident_count(svc) == 1);
}

TEST_CASE("a maintenance window suppresses, then pages what is still open at its end", "[service][maintenance]") {
  // Scenario: POST a window on payments until T0+1h ("deploy"). During it,
  // alert A (twice) and alert B are accepted (202), deduplicated and
  // recorded; the API and the timeline show them suppressed, `baton incident
  // list` marks them, /metrics shows the window; nobody is paged. B is
  // resolved during the window. baton restarts in the middle: the hold and
  // the window survive. At T0+1h, A is paged (alice), B stays quiet.
  TempDb db;
  test::FakeClock clock;
  test::HttpPeer sink;
  {
    Service svc(clock, sink.url(), db.path());
    REQUIRE(svc.beat("hb-nightly").status == 200);
    auto created = svc.call("POST", "/api/v1/services/payments/maintenance",
                            R"({"until":"2026-01-01T01:00:00Z","reason":"deploy"})");
    REQUIRE(created.status == 201);
    auto window = json::parse(created.body).as_object();
    CHECK(window["id"].as_int64() > 0);
    CHECK(window["service"] == "payments");
    CHECK(window["until"] == "2026-01-01T01:00:00.000Z");
    CHECK(window["reason"] == "deploy");
    CHECK(window["created_by"] == "api:ops");
    auto listed = svc.get_json("/api/v1/services/payments/maintenance").as_object();
    CHECK(listed["active"].at("reason") == "deploy");
    CHECK(listed["active"].at("until") == "2026-01-01T01:00:00.000Z");
    CHECK(listed["windows"].as_array().size() == 1);
    CHECK(svc.metrics().find("baton_maintenance_active{service=\"payments\"} 1") != std::string::npos);
    CHECK(svc.metrics().find("baton_maintenance_active{service=\"batch\"} 1") != std::string::npos);

    clock.advance(5min);
    CHECK(svc.call("POST", "/v2/enqueue", event("trigger", "A"), "application/json", false).status == 202);
    CHECK(svc.call("POST", "/v2/enqueue", event("trigger", "A"), "application/json", false).status == 202);
    CHECK(svc.call("POST", "/v2/enqueue", event("trigger", "B"), "application/json", false).status == 202);
    svc.app->incidents().drain();
    CHECK(incident_count(svc) == 2);
    auto a = svc.get_json("/api/v1/incidents/1");
    CHECK(a.at("suppressed") == true);
    CHECK(a.at("maintenance").at("reason") == "deploy");
    CHECK(a.at("maintenance").at("until") == "2026-01-01T01:00:00.000Z");
    CHECK(svc.timeline_text(1).find("Suppressed by maintenance (deploy) until 2026-01-01T01:00:00.000Z") !=
          std::string::npos);
    auto listing = cli_list(svc);
    CHECK(listing.find("[suppressed by maintenance (deploy) until 2026-01-01T01:00:00.000Z]") != std::string::npos);
    CHECK(svc.call("POST", "/v2/enqueue", event("resolve", "B"), "application/json", false).status == 202);
    CHECK(svc.get_json("/api/v1/incidents/2").at("state") == "resolved");
    CHECK(svc.get_json("/api/v1/incidents/2").at("suppressed") == false);
    svc.advance(20min);
    CHECK(pages(sink).empty());
    svc.app->stop();
  }
  Service svc(clock, sink.url(), db.path());  // T0+25min
  svc.advance(0ms);
  CHECK(pages(sink).empty());
  CHECK(svc.get_json("/api/v1/incidents/1").at("suppressed") == true);
  CHECK(svc.metrics().find("baton_maintenance_active{service=\"payments\"} 1") != std::string::npos);
  REQUIRE(svc.beat("hb-nightly").status == 200);
  svc.advance(35min - 1s);
  CHECK(pages(sink).empty());
  svc.advance(1s);  // T0+1h: the window ends
  REQUIRE(eventually([&] { return pages(sink).size() == 1; }));
  svc.app->incidents().drain();
  CHECK(pages(sink) == std::vector<std::pair<std::int64_t, std::string>>{{1, "alice"}});
  CHECK(svc.get_json("/api/v1/incidents/1").at("suppressed") == false);
  CHECK(svc.timeline_text(1).find("Maintenance (deploy) ended: paging now") != std::string::npos);
  CHECK(svc.metrics().find("baton_maintenance_active{service=\"payments\"} 0") != std::string::npos);
  CHECK(cli_list(svc).find("suppressed") == std::string::npos);
  // Its escalation runs from the end of the window.
  svc.advance(5min);
  REQUIRE(eventually([&] { return pages(sink).size() == 2; }));
  CHECK(pages(sink)[1] == std::make_pair(std::int64_t{1}, std::string("bob")));
}

TEST_CASE("ending a window early pages at once; bad maintenance requests change nothing", "[service][maintenance]") {
  // Scenario: a window until T0+2h holds alert C; DELETE ends it at T0+10min
  // and C is paged at once. A second DELETE finds nothing in force (404).
  // Requests with a past or missing `until`, an unknown service, no token or
  // a bad body are refused and store nothing.
  TempDb db;
  test::FakeClock clock;
  test::HttpPeer sink;
  Service svc(clock, sink.url(), db.path());
  REQUIRE(svc.beat("hb-nightly").status == 200);
  auto created = svc.call("POST", "/api/v1/services/payments/maintenance", R"({"duration":"2h","reason":"migration"})");
  REQUIRE(created.status == 201);
  CHECK(json::parse(created.body).at("until") == "2026-01-01T02:00:00.000Z");
  CHECK(svc.call("POST", "/v2/enqueue", event("trigger", "C"), "application/json", false).status == 202);
  svc.advance(10min);
  CHECK(pages(sink).empty());
  auto ended = svc.call("DELETE", "/api/v1/services/payments/maintenance");
  REQUIRE(ended.status == 200);
  auto body = json::parse(ended.body).as_object();
  CHECK(body["status"] == "ended");
  REQUIRE(body["windows"].as_array().size() == 1);
  CHECK(body["windows"].as_array()[0].at("ended_at") == "2026-01-01T00:10:00.000Z");
  CHECK(body["windows"].as_array()[0].at("ended_by") == "api:ops");
  REQUIRE(eventually([&] { return pages(sink).size() == 1; }));
  CHECK(pages(sink)[0] == std::make_pair(std::int64_t{1}, std::string("alice")));
  CHECK(svc.timeline_text(1).find("Maintenance (migration) ended early by api:ops: paging now") != std::string::npos);
  CHECK(svc.call("DELETE", "/api/v1/services/payments/maintenance").status == 404);
  CHECK(svc.get_json("/api/v1/services/payments/maintenance").at("active").is_null());

  const std::string path = "/api/v1/services/payments/maintenance";
  CHECK(svc.call("POST", path, R"({"until":"2025-12-31T00:00:00Z"})").status == 400);
  CHECK(svc.call("POST", path, R"({"reason":"no end"})").status == 400);
  CHECK(svc.call("POST", path, R"({"until":"tomorrow"})").status == 400);
  CHECK(svc.call("POST", path, "[1,2]").status == 400);
  CHECK(svc.call("POST", path, R"({"until":"2026-01-01T05:00:00Z"})", "text/plain").status == 415);
  CHECK(svc.call("POST", path, R"({"until":"2026-01-01T05:00:00Z"})", "application/json", false).status == 401);
  CHECK(svc.call("POST", "/api/v1/services/nope/maintenance", R"({"until":"2026-01-01T05:00:00Z"})").status == 404);
  CHECK(svc.call("DELETE", path + "/9999").status == 404);
  CHECK(svc.call("PUT", path, R"({"until":"2026-01-01T05:00:00Z"})").status == 405);
  CHECK(svc.get_json(path).at("windows").as_array().empty());
  CHECK(svc.metrics().find("baton_maintenance_active{service=\"payments\"} 0") != std::string::npos);
}

TEST_CASE("a weekly window from the configuration holds alerts until its occurrence ends", "[service][maintenance]") {
  // Scenario: batch is in maintenance every Thursday 00:00-00:30 UTC (T0 is a
  // Thursday 00:00). GET shows the configured window and that it is in force.
  // An alert at T0+1min is held ("nightly reindex") and paged at T0+30min.
  TempDb db;
  test::FakeClock clock;
  test::HttpPeer sink;
  Service svc(clock, sink.url(), db.path());
  REQUIRE(svc.beat("hb-nightly").status == 200);
  auto listed = svc.get_json("/api/v1/services/batch/maintenance").as_object();
  REQUIRE(listed["configured"].as_array().size() == 1);
  auto configured = listed["configured"].as_array()[0].as_object();
  CHECK(configured["days"] == json::array{"thu"});
  CHECK(configured["start"] == "00:00");
  CHECK(configured["duration_seconds"] == 1800);
  CHECK(configured["next_start"] == "2026-01-01T00:00:00.000Z");
  CHECK(listed["active"].at("reason") == "nightly reindex");
  CHECK(listed["active"].at("window").is_null());
  svc.advance(1min);
  CHECK(svc.call("POST", "/v2/enqueue", event("trigger", "R", "key-batch"), "application/json", false).status == 202);
  svc.app->incidents().drain();
  CHECK(svc.get_json("/api/v1/incidents/1").at("maintenance").at("until") == "2026-01-01T00:30:00.000Z");
  svc.advance(29min - 1s);
  CHECK(pages(sink).empty());
  svc.advance(1s);
  REQUIRE(eventually([&] { return pages(sink).size() == 1; }));
  CHECK(pages(sink)[0] == std::make_pair(std::int64_t{1}, std::string("alice")));
  CHECK(svc.get_json("/api/v1/services/batch/maintenance").at("configured").as_array()[0].at("next_start") ==
        "2026-01-08T00:00:00.000Z");
}
