// The database failing writes (disk full, I/O errors, a file-size limit): a
// change whose commit failed is answered 503 and leaves nothing behind, in the
// database or in memory, so the sender's retry is applied as new once the disk
// takes writes again. The whole service in-process; the failure is real
// (RLIMIT_FSIZE = 0 makes every write of this process fail with EFBIG, and
// SQLite reports a disk I/O error).
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <csignal>
#include <sys/resource.h>

#include "bot/app.hpp"
#include "tests/support/fake_clock.hpp"
#include "tests/support/http_peer.hpp"
#include "tests/support/service_harness.hpp"

using namespace baton;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

std::string yaml(const std::string& webhook_url, const std::string& db) {
  return R"(
server:
  listen: "127.0.0.1:0"
  public_url: "http://baton.test"
  api_tokens: [{name: ops, token: ")" +
         std::string(test::kApiToken) + R"("}]
storage: {path: ")" + db + R"(", durability: normal}
webhook: {url: ")" + webhook_url + R"(/hook"}
dispatch: {workers: 2, max_attempts: 2, base_backoff: 1s}
people:
  alice: {name: Alice, email: alice@example.com}
escalation_policies:
  main:
    steps:
      - {targets: [{person: alice}], timeout: 5m}
services:
  payments: {name: Payments, escalation_policy: main, integration_keys: [key-pay]}
)";
}

std::string event(const std::string& action, const std::string& dedup) {
  json::object o{{"routing_key", "key-pay"}, {"event_action", action}, {"dedup_key", dedup}};
  if (action == "trigger")
    o["payload"] = json::object{{"summary", "Disk full on " + dedup}, {"source", "db"}, {"severity", "critical"}};
  return json::serialize(o);
}

/// Makes every file write of this process fail (EFBIG) while alive.
struct WritesFail {
  rlimit saved{};
  void (*saved_handler)(int);
  WritesFail() {
    saved_handler = std::signal(SIGXFSZ, SIG_IGN);
    getrlimit(RLIMIT_FSIZE, &saved);
    rlimit none = saved;
    none.rlim_cur = 0;
    REQUIRE(setrlimit(RLIMIT_FSIZE, &none) == 0);
  }
  void restore() {
    if (saved_handler == SIG_ERR) return;
    setrlimit(RLIMIT_FSIZE, &saved);
    std::signal(SIGXFSZ, saved_handler);
    saved_handler = SIG_ERR;
  }
  ~WritesFail() { restore(); }
};

int incident_count(test::ServiceHarness& svc, const std::string& dedup, const std::string& state) {
  int n = 0;
  auto list = svc.get_json("/api/v1/incidents?limit=100");
  for (const auto& i : list.at("incidents").as_array())
    if (i.at("dedup_key").as_string() == dedup && (state.empty() || i.at("state").as_string() == state)) ++n;
  return n;
}

}  // namespace

TEST_CASE("a retried trigger and ack after failed commits are stored and paged", "[service][faults]") {
  // Scenario: "k-old" is triggered and committed. Then every write fails: a
  // new trigger "k-new" and an ack of "k-old" get 503, and so do their
  // retries (before the fix the retry was a "duplicate" answered 202 that
  // never reached the disk). /readyz answers 503 meanwhile. The disk comes
  // back: readiness returns by itself, the retries are answered 2xx, and after
  // a restart both changes are there and "k-new" was paged.
  test::TempDb db;
  test::FakeClock clock;
  test::HttpPeer sink;
  {
    test::ServiceHarness svc(clock, yaml(sink.url(), db.path()));
    REQUIRE(svc.call("POST", "/v2/enqueue", event("trigger", "k-old")).status == 202);
    REQUIRE(sink.wait_for_requests(1, 5s));
    svc.app->incidents().drain();

    {
      WritesFail fail;
      auto first = svc.call("POST", "/v2/enqueue", event("trigger", "k-new"));
      CHECK(first.status == 503);
      // The failure is noticed; from then on readiness is off and changes are
      // refused at once with a Retry-After.
      REQUIRE(test::eventually([&] { return svc.call("GET", "/readyz", "", "", false).status == 503; }));
      for (int attempt = 0; attempt < 3; ++attempt) {
        auto retry = svc.call("POST", "/v2/enqueue", event("trigger", "k-new"));
        INFO(retry.body);
        CHECK(retry.status == 503);
      }
      auto ack = svc.call("POST", "/v2/enqueue", event("acknowledge", "k-old"));
      CHECK(ack.status == 503);
      auto refused = svc.call("POST", "/v2/enqueue", event("trigger", "k-new"));
      CHECK(refused.header("retry-after").has_value());
      auto metrics = svc.call("GET", "/metrics", "", "");
      CHECK(metrics.body.find("baton_storage_failing 1") != std::string::npos);
      fail.restore();
      REQUIRE(test::eventually([&] { return svc.call("GET", "/readyz", "", "", false).status == 200; }));
    }
    CHECK(svc.call("POST", "/v2/enqueue", event("trigger", "k-new")).status == 202);
    CHECK(svc.call("POST", "/v2/enqueue", event("acknowledge", "k-old")).status == 202);
    REQUIRE(sink.wait_for_requests(2, 5s));
    svc.app->incidents().drain();
    auto metrics = svc.call("GET", "/metrics", "", "");
    CHECK(metrics.body.find("baton_storage_failing 0") != std::string::npos);
    CHECK(metrics.body.find("baton_storage_recoveries_total 1") != std::string::npos);
    svc.app->stop();
  }
  test::ServiceHarness again(clock, yaml(sink.url(), db.path()));
  CHECK(incident_count(again, "k-new", "triggered") == 1);
  CHECK(incident_count(again, "k-old", "acknowledged") == 1);
  // Exactly one page per incident reached the sink.
  int pages_new = 0;
  for (const auto& r : sink.requests())
    if (r.body.find("k-new") != std::string::npos && r.body.find("incident.page") != std::string::npos) ++pages_new;
  CHECK(pages_new == 1);
}

TEST_CASE("a timer that fires while writes fail fires again after recovery", "[service][faults]") {
  // Scenario: alice is paged for "t1"; writes start failing; the 5-minute step
  // timeout passes and the policy is exhausted, but that commit fails. Once the disk takes writes, the rebuilt engine still has the
  // overdue timer and fires it: the escalation is not lost with the commit.
  test::TempDb db;
  test::FakeClock clock;
  test::HttpPeer sink;
  test::ServiceHarness svc(clock, yaml(sink.url(), db.path()));
  REQUIRE(svc.call("POST", "/v2/enqueue", event("trigger", "t1")).status == 202);
  REQUIRE(sink.wait_for_requests(1, 5s));
  svc.app->incidents().drain();
  const auto before = svc.timeline_text(1);
  {
    WritesFail fail;
    clock.advance(6min);
    svc.app->incidents().poke();
    REQUIRE(test::eventually([&] { return svc.call("GET", "/readyz", "", "", false).status == 503; }));
    fail.restore();
    REQUIRE(test::eventually([&] { return svc.call("GET", "/readyz", "", "", false).status == 200; }));
  }
  svc.app->incidents().poke();
  svc.app->incidents().drain();
  const auto after = svc.timeline_text(1);
  CHECK(before.find("policy_exhausted") == std::string::npos);
  CHECK(after.find("policy_exhausted") != std::string::npos);
}
