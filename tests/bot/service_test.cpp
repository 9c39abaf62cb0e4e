// The whole service in-process: real HTTP server on port 0, real SQLite file,
// the webhook channel pointed at a local HttpPeer, and a fake clock that the
// tests move to drive escalations.
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <filesystem>
#include <thread>

#include "bot/app.hpp"
#include "bot/config.hpp"
#include "integrations/action_links.hpp"
#include "integrations/http_client.hpp"
#include "tests/support/fake_clock.hpp"
#include "tests/support/http_peer.hpp"
#include "tests/support/service_harness.hpp"

using namespace baton;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

constexpr const char* kToken = test::kApiToken;

std::string config_yaml(const std::string& webhook_url, const std::string& db) {
  return R"(
server:
  listen: "127.0.0.1:0"
  public_url: "http://baton.test"
  action_secret: "test-action-secret"
  api_tokens: [{name: ops, token: ")" +
         std::string(kToken) + R"("}]
  max_body_bytes: 65536
storage: {path: ")" + db + R"(", durability: normal}
webhook: {url: ")" + webhook_url + R"(/hook"}
dispatch: {workers: 2, max_attempts: 2, base_backoff: 1s}
people:
  alice: {name: Alice, email: alice@example.com}
  bob: {name: Bob, email: bob@example.com}
  carol:
    name: Carol
    email: carol@example.com
    contact_chain: [{method: webhook, after: 0s}, {method: email, after: 1m}, {method: webhook, after: 5m}]
schedules:
  day:
    name: Day
    layers:
      - name: daily
        rotation: {unit: days, length: 1, start: "2025-01-01T00:00"}
        participants: [alice]
escalation_policies:
  sched:
    steps:
      - {targets: [{schedule: day}], timeout: 5m}
  main:
    steps:
      - {targets: [{person: alice}], timeout: 5m}
      - {targets: [{person: bob}], timeout: 90s}
  fragile:
    steps:
      - {targets: [{person: carol}], timeout: 10m}
services:
  payments: {name: Payments, escalation_policy: main, integration_keys: [key-pay, am-key]}
  fragile: {name: Fragile, escalation_policy: fragile, integration_keys: [key-fragile]}
  sched: {name: Scheduled, escalation_policy: sched, integration_keys: [key-sched]}
)";
}

using test::eventually;
using test::TempDb;

struct Service : test::ServiceHarness {
  Service(test::FakeClock& c, const std::string& webhook_url, const std::string& db)
      : ServiceHarness(c, config_yaml(webhook_url, db)) {}
};

std::string event(std::string action, std::string dedup, std::string key = "key-pay") {
  json::object o{{"routing_key", key}, {"event_action", action}, {"dedup_key", dedup}};
  if (action == "trigger")
    o["payload"] = json::object{{"summary", "Disk 95% full on db-7"}, {"source", "db-7"}, {"severity", "critical"}};
  return json::serialize(o);
}

std::vector<json::object> pages(const test::HttpPeer& peer) {
  std::vector<json::object> out;
  for (const auto& r : peer.requests()) {
    auto v = json::parse(r.body).as_object();
    if (v["event"] == "incident.page") out.push_back(v);
  }
  return out;
}

std::vector<std::string> timeline_kinds(const json::value& incident) {
  std::vector<std::string> kinds;
  for (const auto& e : incident.at("timeline").as_array()) kinds.emplace_back(e.at("kind").as_string());
  return kinds;
}

/// The actor of the first timeline event of `kind` ("" when there is none).
std::string actor_of(const json::value& incident, std::string_view kind) {
  for (const auto& e : incident.at("timeline").as_array())
    if (e.at("kind").as_string() == kind) return std::string(e.at("actor").as_string());
  return "";
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

TEST_CASE("end to end: alert -> step 1 page -> no ack -> step 2 page -> ack via API -> stops", "[service]") {
  // Scenario: an Events v2 trigger pages alice through the webhook; five
  // minutes pass without an ack; bob is paged; bob's ack through the API
  // stops the escalation; the timeline holds every step.
  TempDb db;
  test::FakeClock clock;
  test::HttpPeer sink;
  Service svc(clock, sink.url(), db.path());

  auto res = svc.call("POST", "/v2/enqueue", event("trigger", "db-7/disk"), "application/json", false);
  CHECK(res.status == 202);
  CHECK(json::parse(res.body) ==
        json::parse(R"({"status":"success","message":"Event processed","dedup_key":"db-7/disk"})"));
  REQUIRE(sink.wait_for_requests(1, 5s));
  auto first = pages(sink);
  REQUIRE(first.size() == 1);
  CHECK(first[0]["person"].at("id") == "alice");
  CHECK(first[0]["step"] == 1);
  CHECK(sink.requests()[0].target == "/hook");

  clock.advance(5min);
  svc.app->incidents().poke();
  // alice's page is updated (escalated) and bob is paged: wait for the page.
  REQUIRE(eventually([&] { return pages(sink).size() == 2; }));
  auto second = pages(sink);
  CHECK(second[1]["person"].at("id") == "bob");
  CHECK(second[1]["step"] == 2);

  auto ack = svc.call("POST", "/api/v1/incidents/1/ack");
  REQUIRE(ack.status == 200);
  CHECK(json::parse(ack.body).at("state") == "acknowledged");

  // Nothing more is paged however long we wait.
  svc.app->incidents().drain();
  const auto before = pages(sink).size();
  clock.advance(1h);
  svc.app->incidents().poke();
  svc.app->incidents().drain();
  CHECK(pages(sink).size() == before);

  // Delivery reports arrive asynchronously from the dispatcher.
  json::value inc;
  std::vector<std::string> kinds;
  CHECK(eventually([&] {
    inc = svc.get_json("/api/v1/incidents/1");
    kinds = timeline_kinds(inc);
    return std::count(kinds.begin(), kinds.end(), "notification_sent") == 2;
  }));
  for (auto k : {"triggered", "paged", "escalated", "acknowledged", "notification_sent"}) CHECK(contains(kinds, k));
  CHECK(std::count(kinds.begin(), kinds.end(), "paged") == 2);
  CHECK(inc.at("owner") == "bob");
  CHECK(actor_of(inc, "acknowledged") == "api:ops");
  svc.app->stop();
}

TEST_CASE("deduplication, acknowledge and resolve events over HTTP", "[service]") {
  // Scenario: the same trigger twice is one incident with one page; an
  // acknowledge event acks it; a resolve event resolves it; resolving again
  // is accepted and changes nothing.
  TempDb db;
  test::FakeClock clock;
  test::HttpPeer sink;
  Service svc(clock, sink.url(), db.path());
  CHECK(svc.call("POST", "/v2/enqueue", event("trigger", "k1")).status == 202);
  CHECK(svc.call("POST", "/v2/enqueue", event("trigger", "k1")).status == 202);
  svc.app->incidents().drain();
  auto list = svc.get_json("/api/v1/incidents");
  CHECK(list.at("incidents").as_array().size() == 1);
  CHECK(svc.call("POST", "/v2/enqueue", event("acknowledge", "k1")).status == 202);
  CHECK(svc.get_json("/api/v1/incidents/1").at("state") == "acknowledged");
  CHECK(svc.call("POST", "/v2/enqueue", event("resolve", "k1")).status == 202);
  CHECK(svc.get_json("/api/v1/incidents/1").at("state") == "resolved");
  CHECK(svc.call("POST", "/v2/enqueue", event("resolve", "k1")).status == 202);
  // A trigger without a dedup key gets one generated and returned.
  auto gen = svc.call("POST", "/v2/enqueue",
                      R"({"routing_key":"key-pay","event_action":"trigger","payload":{"summary":"s","source":"h","severity":"info"}})");
  CHECK(gen.status == 202);
  CHECK_FALSE(json::parse(gen.body).at("dedup_key").as_string().empty());
  // Acting on a resolved incident is a conflict.
  CHECK(svc.call("POST", "/api/v1/incidents/1/ack").status == 409);
}

TEST_CASE("bad input gets a clear error and changes nothing", "[service]") {
  TempDb db;
  test::FakeClock clock;
  test::HttpPeer sink;
  Service svc(clock, sink.url(), db.path());
  struct Case {
    std::string method, path, body, content_type;
    bool auth;
    int status;
  };
  const std::vector<Case> cases = {
      {"POST", "/v2/enqueue", "{not json", "application/json", false, 400},
      {"POST", "/v2/enqueue", event("trigger", "x"), "text/plain", false, 415},
      {"POST", "/v2/enqueue", event("trigger", "x", "no-such-key"), "application/json", false, 400},
      {"POST", "/v2/enqueue", R"({"routing_key":"key-pay","event_action":"trigger"})", "application/json", false, 400},
      {"POST", "/v2/enqueue", std::string(70000, ' '), "application/json", false, 413},
      {"GET", "/v2/enqueue", "", "", false, 405},
      {"POST", "/api/v1/integrations/alertmanager/no-such-key", "{}", "application/json", false, 404},
      {"POST", "/api/v1/integrations/alertmanager/am-key", R"({"version":"4"})", "application/json", false, 400},
      {"GET", "/api/v1/incidents", "", "", false, 401},
      {"GET", "/api/v1/incidents?state=bogus", "", "", true, 400},
      {"GET", "/api/v1/incidents?limit=0", "", "", true, 400},
      {"GET", "/api/v1/incidents/42", "", "", true, 404},
      {"GET", "/api/v1/incidents/abc", "", "", true, 404},
      {"POST", "/api/v1/incidents/42/ack", "", "", true, 404},
      {"POST", "/api/v1/incidents/1/explode", "", "", true, 404},
      {"GET", "/api/v1/oncall?at=yesterday", "", "", true, 400},
      {"GET", "/nowhere", "", "", false, 404},
  };
  for (const auto& c : cases) {
    INFO(c.method << " " << c.path);
    auto res = svc.call(c.method, c.path, c.body, c.content_type, c.auth);
    CHECK(res.status == c.status);
    auto body = json::parse(res.body);
    CHECK(body.is_object());
    CHECK((body.as_object().contains("message") || body.as_object().contains("errors")));
  }
  // A wrong token is refused like a missing one.
  integrations::HttpRequest bad;
  bad.method = "GET";
  bad.url = svc.base + "/api/v1/incidents";
  bad.headers = {{"Authorization", "Bearer wrong"}};
  CHECK(svc.http.request(bad)->status == 401);
  // The missing field is named.
  auto missing = svc.call("POST", "/v2/enqueue", R"({"routing_key":"key-pay","event_action":"trigger","payload":{"source":"a","severity":"info"}})");
  CHECK(missing.body.find("payload.summary") != std::string::npos);
  svc.app->incidents().drain();
  CHECK(svc.get_json("/api/v1/incidents").at("incidents").as_array().empty());
  CHECK(sink.requests().empty());
}

TEST_CASE("an Alertmanager group is one incident, resolved with the group", "[service]") {
  TempDb db;
  test::FakeClock clock;
  test::HttpPeer sink;
  Service svc(clock, sink.url(), db.path());
  auto payload = [](std::string status, int alerts) {
    json::array arr;
    for (int i = 0; i < alerts; ++i)
      arr.push_back(json::object{{"status", status},
                                 {"labels", json::object{{"alertname", "InstanceDown"}, {"instance", "api-" + std::to_string(i)}}},
                                 {"annotations", json::object{{"summary", "api-" + std::to_string(i) + " down"}}},
                                 {"startsAt", "2026-11-24T01:01:04Z"},
                                 {"endsAt", "0001-01-01T00:00:00Z"},
                                 {"generatorURL", "http://prom/graph"},
                                 {"fingerprint", "fp" + std::to_string(i)}});
    return json::serialize(json::object{{"receiver", "baton"}, {"status", status}, {"alerts", arr},
                                        {"groupLabels", json::object{{"alertname", "InstanceDown"}}},
                                        {"commonLabels", json::object{{"alertname", "InstanceDown"}, {"severity", "critical"}}},
                                        {"commonAnnotations", json::object{}},
                                        {"externalURL", "http://am"}, {"version", "4"},
                                        {"groupKey", "{}:{alertname=\"InstanceDown\"}"}, {"truncatedAlerts", 0}});
  };
  // Fifty instances down is one page, not fifty.
  auto res = svc.call("POST", "/api/v1/integrations/alertmanager/am-key", payload("firing", 50));
  REQUIRE(res.status == 200);
  CHECK(json::parse(res.body).at("incident") == 1);
  CHECK(svc.call("POST", "/api/v1/integrations/alertmanager/am-key", payload("firing", 50)).status == 200);
  REQUIRE(sink.wait_for_requests(1, 5s));
  svc.app->incidents().drain();
  CHECK(pages(sink).size() == 1);
  auto inc = svc.get_json("/api/v1/incidents/1");
  CHECK(inc.at("alert_count") == 50);
  CHECK(inc.at("severity") == "critical");
  CHECK(svc.call("POST", "/api/v1/integrations/alertmanager/am-key", payload("resolved", 50)).status == 200);
  CHECK(svc.get_json("/api/v1/incidents/1").at("state") == "resolved");
}

TEST_CASE("a restart in the middle of an escalation loses nothing", "[service]") {
  // Scenario: trigger, alice paged; the service stops (SIGTERM path); a new
  // process on the same database restores the incident; at +5 min bob is
  // paged; numbering continues.
  TempDb db;
  test::FakeClock clock;
  test::HttpPeer sink;
  {
    Service svc(clock, sink.url(), db.path());
    CHECK(svc.call("POST", "/v2/enqueue", event("trigger", "r1")).status == 202);
    REQUIRE(sink.wait_for_requests(1, 5s));
    svc.app->stop();
  }
  Service again(clock, sink.url(), db.path());
  auto list = again.get_json("/api/v1/incidents?state=triggered");
  REQUIRE(list.at("incidents").as_array().size() == 1);
  // The duplicate is still recognised after the restart.
  CHECK(again.call("POST", "/v2/enqueue", event("trigger", "r1")).status == 202);
  clock.advance(5min);
  again.app->incidents().poke();
  REQUIRE(eventually([&] { return pages(sink).size() == 2; }));
  auto p = pages(sink);
  CHECK(p[1]["person"].at("id") == "bob");
  CHECK(again.call("POST", "/v2/enqueue", event("trigger", "r2")).status == 202);
  again.app->incidents().drain();
  CHECK(again.get_json("/api/v1/incidents/2").at("dedup_key") == "r2");
}

TEST_CASE("an undelivered page is sent after a restart", "[service]") {
  // Scenario: the webhook answers 503, so the page waits for a retry in the
  // outbox; the service restarts; once the retry time has passed the page
  // is delivered with the same idempotency key.
  TempDb db;
  test::FakeClock clock;
  test::HttpPeer sink;
  sink.push_response({503, {}, "{}", 0ms});
  std::string key;
  {
    Service svc(clock, sink.url(), db.path());
    CHECK(svc.call("POST", "/v2/enqueue", event("trigger", "u1")).status == 202);
    REQUIRE(sink.wait_for_requests(1, 5s));
    key = *sink.requests()[0].header("idempotency-key");
    svc.app->incidents().drain();
    svc.app->stop();
  }
  clock.advance(10s);
  Service again(clock, sink.url(), db.path());
  REQUIRE(sink.wait_for_requests(2, 5s));
  CHECK(*sink.requests()[1].header("idempotency-key") == key);
}

TEST_CASE("a failed channel moves the contact chain on at once", "[service]") {
  // Scenario: carol's chain is webhook now, email at 1 min (no email channel
  // is configured, so that link is skipped), and a webhook reminder at 5 min.
  // The webhook answers 410 (permanent): the reminder is sent at once instead
  // of at 5 min, and both failures are on the timeline.
  TempDb db;
  test::FakeClock clock;
  test::HttpPeer sink;
  sink.set_default_response({410, {}, R"({"error":"gone"})", 0ms});
  Service svc(clock, sink.url(), db.path());
  CHECK(svc.call("POST", "/v2/enqueue", event("trigger", "f1", "key-fragile")).status == 202);
  REQUIRE(eventually([&] {
    svc.app->incidents().drain();
    auto kinds = timeline_kinds(svc.get_json("/api/v1/incidents/1"));
    return std::count(kinds.begin(), kinds.end(), "notification_failed") >= 2;
  }));
  CHECK(sink.requests().size() == 2);
  auto inc = svc.get_json("/api/v1/incidents/1");
  std::string all;
  for (const auto& e : inc.at("timeline").as_array()) all += std::string(e.at("message").as_string()) + "\n";
  CHECK(all.find("via webhook failed") != std::string::npos);
  CHECK(all.find("Trying the next contact method for Carol now: webhook") != std::string::npos);
  CHECK(all.find("email") == std::string::npos);
}

TEST_CASE("signed action links: confirm on GET, act once on POST", "[service]") {
  TempDb db;
  test::FakeClock clock;
  test::HttpPeer sink;
  Service svc(clock, sink.url(), db.path());
  CHECK(svc.call("POST", "/v2/enqueue", event("trigger", "l1")).status == 202);
  REQUIRE(sink.wait_for_requests(1, 5s));
  auto link = std::string(pages(sink)[0]["links"].at("acknowledge").as_string());
  const std::string prefix = "http://baton.test";
  REQUIRE(link.starts_with(prefix));
  const auto path = link.substr(prefix.size());

  auto confirm = svc.call("GET", path, "", "", false);
  CHECK(confirm.status == 200);
  CHECK(confirm.body.find("<form method=\"post\">") != std::string::npos);
  svc.app->incidents().drain();
  CHECK(svc.get_json("/api/v1/incidents/1").at("state") == "triggered");  // a GET changes nothing

  CHECK(svc.call("POST", path, "", "", false).status == 200);
  auto inc = svc.get_json("/api/v1/incidents/1");
  CHECK(inc.at("state") == "acknowledged");
  CHECK(actor_of(inc, "acknowledged") == "alice");
  CHECK(svc.call("POST", path, "", "", false).status == 409);  // single use

  auto tampered = path;
  tampered[tampered.size() - 3] = tampered[tampered.size() - 3] == 'A' ? 'B' : 'A';
  CHECK(svc.call("POST", tampered, "", "", false).status == 400);
  // An expired link: sign one that ended a minute ago.
  integrations::ActionSigner signer("test-action-secret");
  auto old = signer.sign({1, integrations::Action::resolve, "alice", clock.now() - 1min, ""});
  CHECK(svc.call("POST", "/actions/" + old, "", "", false).status == 410);
  CHECK(svc.get_json("/api/v1/incidents/1").at("state") == "acknowledged");
}

TEST_CASE("listing, pagination, on-call and operational endpoints", "[service]") {
  TempDb db;
  test::FakeClock clock;
  test::HttpPeer sink;
  Service svc(clock, sink.url(), db.path());
  for (auto k : {"a", "b", "c"}) CHECK(svc.call("POST", "/v2/enqueue", event("trigger", k)).status == 202);
  CHECK(svc.call("POST", "/api/v1/incidents/2/resolve").status == 200);
  auto page1 = svc.get_json("/api/v1/incidents?limit=2");
  REQUIRE(page1.at("incidents").as_array().size() == 2);
  CHECK(page1.at("incidents").as_array()[0].at("number") == 3);  // newest first
  auto next = std::string(page1.at("next").as_string());
  auto page2 = svc.get_json(next);
  REQUIRE(page2.at("incidents").as_array().size() == 1);
  CHECK(page2.at("incidents").as_array()[0].at("number") == 1);
  CHECK(svc.get_json("/api/v1/incidents?state=resolved").at("incidents").as_array().size() == 1);

  CHECK(svc.call("POST", "/api/v1/incidents/3/escalate").status == 200);
  CHECK(svc.get_json("/api/v1/incidents/3").at("owner") == "bob");

  auto oncall = svc.get_json("/api/v1/oncall");
  CHECK(oncall.at("oncall").is_array());

  CHECK(svc.call("GET", "/healthz", "", "", false).status == 200);
  CHECK(svc.call("GET", "/readyz", "", "", false).status == 200);
  auto metrics = svc.call("GET", "/metrics", "", "", false);
  CHECK(metrics.status == 200);
  CHECK(metrics.body.find("baton_events_received_total{source=\"events_v2\"} 3") != std::string::npos);
  CHECK(metrics.body.find("baton_incidents{state=\"resolved\"} 1") != std::string::npos);
  CHECK(metrics.body.find("baton_time_to_first_page_seconds_count") != std::string::npos);
}

TEST_CASE("runtime overrides change who is paged and survive a restart", "[service]") {
  // Scenario: alice is on call for schedule "day"; an override through the API
  // puts bob on call for an hour; an alert then pages bob; after a restart the
  // override still holds; deleting it puts alice back. Bad overrides are refused.
  TempDb db;
  test::FakeClock clock;
  test::HttpPeer sink;
  auto oncall_person = [](Service& s) {
    return std::string(s.get_json("/api/v1/oncall?schedule=day").at("oncall").as_array()[0].at("person").at("id").as_string());
  };
  std::int64_t id = 0;
  {
    Service svc(clock, sink.url(), db.path());
    CHECK(oncall_person(svc) == "alice");
    const auto start = engine::format_iso8601(clock.now() - 1min);
    const auto end = engine::format_iso8601(clock.now() + 1h);
    auto res = svc.call("POST", "/api/v1/schedules/day/overrides",
                        R"({"person":"bob","start":")" + start + R"(","end":")" + end + R"("})");
    REQUIRE(res.status == 201);
    id = json::parse(res.body).at("id").as_int64();
    CHECK(oncall_person(svc) == "bob");
    CHECK(svc.call("POST", "/v2/enqueue", event("trigger", "o1", "key-sched")).status == 202);
    REQUIRE(sink.wait_for_requests(1, 5s));
    CHECK(pages(sink)[0]["person"].at("id") == "bob");

    CHECK(svc.call("POST", "/api/v1/schedules/day/overrides", R"({"person":"nobody","start":")" + start +
                                                                 R"(","end":")" + end + R"("})").status == 404);
    CHECK(svc.call("POST", "/api/v1/schedules/day/overrides", R"({"person":"bob","start":")" + end +
                                                                 R"(","end":")" + start + R"("})").status == 400);
    CHECK(svc.call("POST", "/api/v1/schedules/day/overrides", R"({"person":"bob"})").status == 400);
    CHECK(svc.call("POST", "/api/v1/schedules/nope/overrides", "{}").status == 404);
    svc.app->stop();
  }
  Service again(clock, sink.url(), db.path());
  CHECK(oncall_person(again) == "bob");
  CHECK(again.get_json("/api/v1/schedules/day/overrides").at("overrides").as_array().size() == 1);
  CHECK(again.call("DELETE", "/api/v1/overrides/" + std::to_string(id), "", "").status == 200);
  CHECK(oncall_person(again) == "alice");
  CHECK(again.call("DELETE", "/api/v1/overrides/" + std::to_string(id), "", "").status == 404);
}

TEST_CASE("a reload swaps people, policies and services without a restart", "[service]") {
  // Scenario: a running service reloads a config that adds a service with a
  // new integration key; the new key is accepted at once and the old incident
  // keeps escalating with its snapshot.
  TempDb db;
  test::FakeClock clock;
  test::HttpPeer sink;
  Service svc(clock, sink.url(), db.path());
  CHECK(svc.call("POST", "/v2/enqueue", event("trigger", "x", "key-new")).status == 400);
  auto yaml = config_yaml(sink.url(), db.path()) +
              "  newsvc: {name: New, escalation_policy: main, integration_keys: [key-new]}\n";
  auto cfg = bot::load_config_string(yaml, "reload.yaml", [](std::string_view) { return std::optional<std::string>{}; });
  REQUIRE(cfg);
  svc.app->reload(std::move(*cfg));
  CHECK(svc.call("POST", "/v2/enqueue", event("trigger", "x", "key-new")).status == 202);
}
