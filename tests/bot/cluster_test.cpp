// High availability: several App instances in one process on one throwaway
// PostgreSQL (tests/support/pg_cluster.hpp), one fake clock for the engines;
// the lease uses the database's clock. Waits are bounded polls of a condition
// (no assertion on how long anything took).
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <thread>

#include "bot/app.hpp"
#include "tests/support/pg_cluster.hpp"
#include "tests/support/service_harness.hpp"

using namespace baton;
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
  bob: {name: Bob, email: bob@example.com}
escalation_policies:
  main:
    steps:
      - {targets: [{person: alice}], timeout: 5m}
      - {targets: [{person: bob}], timeout: 90s}
services:
  payments: {name: Payments, escalation_policy: main, integration_keys: [key-pay]}
)";
}

/// Polls `pred` every 20 ms, at most 60 s (takeovers wait for a 3 s lease).
template <typename Pred>
bool within_a_minute(Pred pred) {
  for (int i = 0; i < 3000; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

std::string scalar(const std::string& uri, const std::string& sql) {
  auto rows = test::PgCluster::query(uri, sql);
  return rows.empty() || rows[0].empty() || !rows[0][0] ? std::string() : *rows[0][0];
}

std::string trigger(const std::string& dedup_key) {
  return R"({"routing_key":"key-pay","event_action":"trigger","dedup_key":")" + dedup_key +
         R"(","payload":{"summary":"db down","source":"db-1","severity":"critical"}})";
}

bool owner(test::ServiceHarness& s) { return s.app->incidents().cluster_status().owner; }

}  // namespace

#define BATON_REQUIRE_POSTGRES()                                  \
  if (auto why = test::PgCluster::skip_reason()) {                \
    WARN("BATON-SKIPPED: " << *why);                              \
    return;                                                       \
  }

TEST_CASE("cluster: three instances, the owner dies mid-escalation and its successor pages the next step",
          "[cluster][postgres]") {
  BATON_REQUIRE_POSTGRES();
  const auto db = test::PgCluster::shared().create_database();
  test::FakeClock clock;
  auto a = std::make_unique<test::ServiceHarness>(clock, cluster_yaml(db));
  REQUIRE(within_a_minute([&] { return owner(*a); }));
  test::ServiceHarness b(clock, cluster_yaml(db));
  test::ServiceHarness c(clock, cluster_yaml(db));
  REQUIRE(within_a_minute([&] { return b.call("GET", "/readyz").status == 200 && c.call("GET", "/readyz").status == 200; }));
  CHECK_FALSE(owner(b));
  CHECK_FALSE(owner(c));
  const auto a_id = a->app->incidents().cluster_status().instance_id;

  // Every instance answers the cluster view.
  auto view = b.get_json("/api/v1/cluster").as_object();
  CHECK(view["self"].as_object()["owner"] == false);
  CHECK(view["owner"] == json::value(a_id));
  CHECK(view["epoch"] == 1);
  CHECK(view["instances"].as_array().size() == 3);

  // An alert to a non-owner is committed to the inbox (2xx), then applied by the owner.
  auto r = b.call("POST", "/v2/enqueue", trigger("db-1/down"), "application/json", false);
  REQUIRE(r.status == 202);
  REQUIRE(within_a_minute([&] {
    return scalar(db, "SELECT COUNT(*) FROM incidents") == "1" && scalar(db, "SELECT COUNT(*) FROM inbox") == "0";
  }));
  CHECK(scalar(db, "SELECT COUNT(*) FROM outbox WHERE person = 'alice' AND kind = 'page'") == "1");
  CHECK(scalar(db, "SELECT COUNT(*) FROM outbox WHERE person = 'bob'") == "0");
  // A command to a non-owner is queued (202), then applied by the owner.
  auto ack = c.call("POST", "/api/v1/incidents/1/ack");
  CHECK(ack.status == 202);
  CHECK(ack.body.find("queued") != std::string::npos);
  REQUIRE(within_a_minute([&] { return scalar(db, "SELECT state FROM incidents WHERE number = 1") == "acknowledged"; }));
  CHECK(scalar(db, "SELECT COUNT(*) FROM inbox") == "0");

  // The owner dies: it stops renewing the lease (as a killed process would).
  a->app->incidents().abandon_lease_for_test();
  a.reset();
  REQUIRE(within_a_minute([&] { return owner(b) || owner(c); }));
  auto& successor = owner(b) ? b : c;
  auto& other = owner(b) ? c : b;
  CHECK_FALSE(owner(other));
  const auto st = successor.app->incidents().cluster_status();
  CHECK(st.epoch == 2);
  CHECK(st.takeovers == 1);
  // The successor runs the restored incident: a command to it is applied at once.
  auto resolved = successor.call("POST", "/api/v1/incidents/1/resolve");
  CHECK(resolved.status == 200);
  CHECK(scalar(db, "SELECT state FROM incidents WHERE number = 1") == "resolved");

  auto metrics = successor.call("GET", "/metrics", "", "", false).body;
  CHECK(metrics.find("baton_cluster_owner 1") != std::string::npos);
  CHECK(metrics.find("baton_cluster_epoch 2") != std::string::npos);
  CHECK(metrics.find("baton_cluster_takeovers_total 1") != std::string::npos);
  CHECK(metrics.find("baton_inbox_lag_seconds") != std::string::npos);
}

TEST_CASE("cluster: the owner dies before the escalation's next step and the successor pages it", "[cluster][postgres]") {
  BATON_REQUIRE_POSTGRES();
  const auto db = test::PgCluster::shared().create_database();
  test::FakeClock clock;
  auto a = std::make_unique<test::ServiceHarness>(clock, cluster_yaml(db));
  REQUIRE(within_a_minute([&] { return owner(*a); }));
  test::ServiceHarness b(clock, cluster_yaml(db));
  test::ServiceHarness c(clock, cluster_yaml(db));

  REQUIRE(a->call("POST", "/v2/enqueue", trigger("k"), "application/json", false).status == 202);
  REQUIRE(scalar(db, "SELECT COUNT(*) FROM outbox WHERE person = 'alice' AND kind = 'page'") == "1");

  a->app->incidents().abandon_lease_for_test();
  a.reset();
  REQUIRE(within_a_minute([&] { return owner(b) || owner(c); }));
  // Alice's step (5 min) times out under the successor: bob is paged.
  clock.advance(std::chrono::minutes(5) + std::chrono::seconds(1));
  REQUIRE(within_a_minute(
      [&] { return scalar(db, "SELECT COUNT(*) FROM outbox WHERE person = 'bob' AND kind = 'page'") == "1"; }));
  CHECK(scalar(db, "SELECT step FROM outbox WHERE person = 'bob' AND kind = 'page'") == "1");
}

TEST_CASE("cluster: the same dedup key sent to every instance at once makes one incident", "[cluster][postgres]") {
  BATON_REQUIRE_POSTGRES();
  const auto db = test::PgCluster::shared().create_database();
  test::FakeClock clock;
  test::ServiceHarness a(clock, cluster_yaml(db));
  REQUIRE(within_a_minute([&] { return owner(a); }));
  test::ServiceHarness b(clock, cluster_yaml(db));
  test::ServiceHarness c(clock, cluster_yaml(db));
  REQUIRE(within_a_minute([&] { return b.call("GET", "/readyz").status == 200 && c.call("GET", "/readyz").status == 200; }));

  std::vector<int> statuses(6, 0);
  std::vector<std::thread> senders;
  test::ServiceHarness* instances[] = {&a, &b, &c};
  for (int i = 0; i < 6; ++i)
    senders.emplace_back([&, i] {
      integrations::HttpClient http;
      integrations::HttpRequest req;
      req.method = "POST";
      req.url = instances[i % 3]->base + "/v2/enqueue";
      req.body = trigger("same-key");
      req.headers.emplace_back("Content-Type", "application/json");
      auto res = http.request(req);
      statuses[static_cast<std::size_t>(i)] = res ? res->status : -1;
    });
  for (auto& t : senders) t.join();
  for (int s : statuses) CHECK(s == 202);
  // Every 2xx was committed (to the engine or the inbox); once the inbox is consumed all six were applied.
  REQUIRE(within_a_minute([&] { return scalar(db, "SELECT COUNT(*) FROM inbox") == "0"; }));
  CHECK(scalar(db, "SELECT COUNT(*) FROM incidents WHERE dedup_key = 'same-key'") == "1");
  CHECK(scalar(db, "SELECT COUNT(*) FROM outbox WHERE kind = 'page'") == "1");
}

TEST_CASE("cluster: while the database is down instances answer 503, then recover by themselves", "[cluster][postgres]") {
  BATON_REQUIRE_POSTGRES();
  const auto db = test::PgCluster::shared().create_database();
  test::FakeClock clock;
  test::ServiceHarness a(clock, cluster_yaml(db));
  REQUIRE(within_a_minute([&] { return owner(a); }));
  test::ServiceHarness b(clock, cluster_yaml(db));
  REQUIRE(within_a_minute([&] { return b.call("GET", "/readyz").status == 200; }));

  struct Restart {
    bool stopped = false;
    ~Restart() {
      if (stopped) test::PgCluster::shared().start_server();
    }
  } restart;
  test::PgCluster::shared().stop_server();
  restart.stopped = true;
  CHECK(b.call("POST", "/v2/enqueue", trigger("during"), "application/json", false).status == 503);
  CHECK(a.call("POST", "/v2/enqueue", trigger("during"), "application/json", false).status == 503);
  CHECK(within_a_minute([&] { return a.call("GET", "/readyz").status == 503 && b.call("GET", "/readyz").status == 503; }));

  test::PgCluster::shared().start_server();
  restart.stopped = false;
  REQUIRE(within_a_minute([&] { return a.call("GET", "/readyz").status == 200 && b.call("GET", "/readyz").status == 200; }));
  REQUIRE(within_a_minute([&] { return owner(a) || owner(b); }));
  REQUIRE(within_a_minute(
      [&] { return b.call("POST", "/v2/enqueue", trigger("after"), "application/json", false).status == 202; }));
  REQUIRE(within_a_minute([&] { return scalar(db, "SELECT COUNT(*) FROM incidents WHERE dedup_key = 'after'") == "1"; }));
  CHECK(scalar(db, "SELECT COUNT(*) FROM incidents WHERE dedup_key = 'during'") == "0");
}

TEST_CASE("cluster: an old owner that was paused during the takeover writes nothing", "[cluster][postgres]") {
  BATON_REQUIRE_POSTGRES();
  const auto db = test::PgCluster::shared().create_database();
  test::FakeClock clock;
  test::ServiceHarness a(clock, cluster_yaml(db));
  REQUIRE(within_a_minute([&] { return owner(a); }));
  test::ServiceHarness b(clock, cluster_yaml(db));
  REQUIRE(a.call("POST", "/v2/enqueue", trigger("before"), "application/json", false).status == 202);

  // `a` stops renewing (as if SIGSTOPped); `b` takes over. `a` still believes it
  // owns the engine (as a process does right after SIGCONT): its next commit is
  // fenced, answered 503, and writes nothing.
  a.app->incidents().abandon_lease_for_test();
  REQUIRE(within_a_minute([&] { return owner(b); }));
  CHECK(owner(a));
  CHECK(a.call("POST", "/v2/enqueue", trigger("after"), "application/json", false).status == 503);
  CHECK(scalar(db, "SELECT COUNT(*) FROM incidents WHERE dedup_key = 'after'") == "0");
  REQUIRE(within_a_minute([&] { return !owner(a); }));

  // From then on `a` is a non-owner: its timers are gone, what it takes goes to `b`.
  clock.advance(std::chrono::minutes(5) + std::chrono::seconds(1));
  REQUIRE(within_a_minute(
      [&] { return scalar(db, "SELECT COUNT(*) FROM outbox WHERE person = 'bob' AND kind = 'page'") == "1"; }));
  auto again = a.call("POST", "/v2/enqueue", trigger("after"), "application/json", false);
  CHECK(again.status == 202);
  REQUIRE(within_a_minute(
      [&] { return scalar(db, "SELECT COUNT(*) FROM incidents WHERE dedup_key = 'after'") == "1"; }));
  CHECK(scalar(db, "SELECT COUNT(*) FROM outbox WHERE person = 'bob' AND kind = 'page'") == "1");
  CHECK(scalar(db, "SELECT COUNT(*) FROM incidents") == "2");
}
