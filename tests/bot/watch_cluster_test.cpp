// Heartbeats and maintenance windows with several instances on one throwaway
// PostgreSQL (as cluster_test.cpp): what an instance that does not run the
// engine takes goes through the inbox, and a held incident and its window
// survive a takeover. Waits are bounded polls of a condition.
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <thread>

#include "bot/app.hpp"
#include "tests/support/cluster_harness.hpp"
#include "tests/support/pg_cluster.hpp"
#include "tests/support/service_harness.hpp"

using namespace baton;
using test::owner;
using test::scalar;
using test::within_a_minute;
namespace json = boost::json;

namespace {

std::string cluster_yaml(const std::string& db) {
  return R"(
server:
  listen: "127.0.0.1:0"
  public_url: "http://baton.test"
  action_secret: "test-action-secret"
  api_tokens: [{name: ops, token: ")" +
         std::string(test::kApiToken) + R"("}]
storage: {path: ")" + db + R"("}
webhook: {url: "http://127.0.0.1:9/hook"}
dispatch: {max_attempts: 2, base_backoff: 1s}
people:
  alice: {name: Alice, email: alice@example.com}
escalation_policies:
  main:
    steps:
      - {targets: [{person: alice}], timeout: 5m}
services:
  payments:
    name: Payments
    escalation_policy: main
    integration_keys: [key-pay]
    heartbeats: [{name: nightly, interval: 1h, grace: 5m, key: hb-nightly}]
)";
}

}  // namespace

TEST_CASE("cluster: a held incident and its window survive a takeover; others take beats and windows via the inbox",
          "[cluster][postgres][maintenance][heartbeat]") {
  // Scenario: a owns the engine, b does not. On b: a maintenance window is
  // set (201, stored, the owner told through the inbox), an alert is taken
  // (inbox) and the owner holds its incident, a heartbeat beat is queued
  // (202) and the owner records it. a dies; b takes over with the incident
  // still held and the window in force: nothing is paged. Ending the window
  // on b pages the incident at once.
  BATON_REQUIRE_POSTGRES();
  const auto db = test::PgCluster::shared().create_database();
  test::FakeClock clock;
  auto a = std::make_unique<test::ServiceHarness>(clock, cluster_yaml(db));
  REQUIRE(within_a_minute([&] { return owner(*a); }));
  test::ServiceHarness b(clock, cluster_yaml(db));
  REQUIRE(within_a_minute([&] { return b.call("GET", "/readyz").status == 200; }));
  REQUIRE_FALSE(owner(b));

  auto window = b.call("POST", "/api/v1/services/payments/maintenance",
                       R"({"until":"2026-01-01T01:00:00Z","reason":"deploy"})");
  REQUIRE(window.status == 201);
  CHECK(scalar(db, "SELECT reason FROM maintenance_windows") == "deploy");
  REQUIRE(within_a_minute([&] { return scalar(db, "SELECT COUNT(*) FROM inbox") == "0"; }));

  auto alert = b.call("POST", "/v2/enqueue",
                      R"({"routing_key":"key-pay","event_action":"trigger","dedup_key":"db-1/down",)"
                      R"("payload":{"summary":"db down","source":"db-1","severity":"critical"}})",
                      "application/json", false);
  REQUIRE(alert.status == 202);
  REQUIRE(within_a_minute([&] { return scalar(db, "SELECT suppressed_reason FROM incidents WHERE number = 1") == "deploy"; }));
  CHECK(scalar(db, "SELECT COUNT(*) FROM outbox WHERE kind = 'page'") == "0");

  auto beat = b.call("POST", "/api/v1/heartbeats/hb-nightly", "", "", false);
  CHECK(beat.status == 202);
  CHECK(json::parse(beat.body).at("status") == "queued");
  REQUIRE(within_a_minute([&] {
    return !scalar(db, "SELECT last_beat_ms FROM heartbeats WHERE name = 'nightly'").empty();
  }));
  CHECK(b.call("POST", "/api/v1/heartbeats/hb-unknown", "", "", false).status == 404);

  // The owner dies; b takes over with the hold and the window.
  a->app->incidents().abandon_lease_for_test();
  a.reset();
  REQUIRE(within_a_minute([&] { return owner(b); }));
  b.app->incidents().drain();
  auto held = b.get_json("/api/v1/incidents/1");
  CHECK(held.at("suppressed") == true);
  CHECK(held.at("maintenance").at("reason") == "deploy");
  CHECK(b.call("GET", "/metrics", "", "", false).body.find("baton_maintenance_active{service=\"payments\"} 1") !=
        std::string::npos);
  CHECK(scalar(db, "SELECT COUNT(*) FROM outbox WHERE kind = 'page'") == "0");

  auto ended = b.call("DELETE", "/api/v1/services/payments/maintenance");
  REQUIRE(ended.status == 200);
  REQUIRE(within_a_minute([&] {
    return scalar(db, "SELECT COUNT(*) FROM outbox WHERE kind = 'page' AND person = 'alice' AND incident = 1") == "1";
  }));
  CHECK(b.get_json("/api/v1/incidents/1").at("suppressed") == false);
}
