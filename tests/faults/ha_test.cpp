// High availability (docs/architecture.md, "High availability (PostgreSQL)"):
// three real `baton serve` processes on one throwaway PostgreSQL. The owner is
// SIGKILLed mid-escalation and a successor pages the next step; then the
// successor is SIGSTOPped until a third instance took over and paged the step
// after, and SIGCONTed: its overdue timer must write nothing (fencing), so
// every step is paged exactly once. Times are printed, not asserted (bounds
// only keep a broken build from hanging).
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <csignal>

#include "tests/faults/fault_harness.hpp"
#include "tests/support/pg_cluster.hpp"

namespace baton::faults {
namespace {

using namespace std::chrono_literals;

const char* kDirectory = R"(people:
  pat: {name: Pat, email: pat@example.com, contact_chain: [{method: webhook, after: 0s}]}
  sam: {name: Sam, email: sam@example.com, contact_chain: [{method: webhook, after: 0s}]}
  kim: {name: Kim, email: kim@example.com, contact_chain: [{method: webhook, after: 0s}]}
escalation_policies:
  three: {steps: [{targets: [{person: pat}], timeout: 6s}, {targets: [{person: sam}], timeout: 6s},
                  {targets: [{person: kim}], timeout: 1h}]}
services:
  faults: {name: Faults, escalation_policy: three, integration_keys: [fault-key]}
)";

std::string scalar(const std::string& uri, const std::string& sql) {
  auto rows = test::PgCluster::query(uri, sql);
  return rows.empty() || rows[0].empty() || !rows[0][0] ? std::string() : *rows[0][0];
}

std::string pages_of(const std::string& db, const std::string& person) {
  return scalar(db, "SELECT COUNT(*) FROM outbox WHERE kind = 'page' AND person = '" + person + "'");
}

/// GET /api/v1/cluster of one process: (self id, owner?), or empty when it does not answer.
std::optional<std::pair<std::string, bool>> self_of(BatonProcess& p) {
  HttpConnection conn;
  auto r = conn.request(p.port(), "GET", "/api/v1/cluster", "", {{"Authorization", std::string("Bearer ") + kApiToken}},
                        2000ms, false);
  if (r.kind != HttpResult::Kind::answered || r.status != 200) return std::nullopt;
  auto v = boost::json::parse(r.body).as_object();
  auto& self = v["self"].as_object();
  return std::make_pair(std::string(self["id"].as_string()), self["owner"].as_bool());
}

template <typename Pred>
bool wait_for(Pred pred, Clock::duration bound = 60s) {
  const auto until = Clock::now() + bound;
  while (Clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return pred();
}

TEST_CASE("HA: SIGKILL of the owner mid-escalation, then SIGSTOP/SIGCONT of its successor", "[faults][ha]") {
  if (auto why = test::PgCluster::skip_reason()) {
    WARN("BATON-SKIPPED: " << *why);
    return;
  }
  const auto db = test::PgCluster::shared().create_database();
  WebhookSink sink;
  ConfigOptions cfg;
  cfg.webhook_url = sink.url();
  cfg.db = db;
  cfg.directory_yaml = kDirectory;
  TempDir d0("ha0"), d1("ha1"), d2("ha2");
  std::vector<std::unique_ptr<BatonProcess>> procs;
  procs.push_back(std::make_unique<BatonProcess>(d0.path, cfg));
  procs.push_back(std::make_unique<BatonProcess>(d1.path, cfg));
  procs.push_back(std::make_unique<BatonProcess>(d2.path, cfg));
  REQUIRE(procs[0]->start());
  REQUIRE(wait_for([&] { auto s = self_of(*procs[0]); return s && s->second; }));
  REQUIRE(procs[1]->start());
  REQUIRE(procs[2]->start());
  auto owner_index = [&]() -> int {
    for (int i = 0; i < 3; ++i)
      if (procs[i]->running())
        if (auto s = self_of(*procs[i]); s && s->second) return i;
    return -1;
  };
  REQUIRE(owner_index() == 0);

  // The alert reaches a non-owner: it is queued, answered 2xx, applied by the owner.
  SendStats stats;
  HttpConnection conn;
  auto sent = send_until_accepted(conn, [&] { return procs[1]->port(); }, Event{"ha-1"}, Clock::now() + 30s, stats);
  REQUIRE(sent.accepted);
  REQUIRE(wait_for([&] { return pages_of(db, "pat") == "1"; }));
  CHECK(pages_of(db, "sam") == "0");  // mid-escalation: the next step is 6 s away

  // SIGKILL the owner.
  const auto killed_at = Clock::now();
  procs[0]->kill_now();
  REQUIRE(wait_for([&] { return owner_index() > 0; }));
  const auto takeover = Clock::now() - killed_at;
  const int successor = owner_index();
  const int third = successor == 1 ? 2 : 1;
  REQUIRE(wait_for([&] { return pages_of(db, "sam") == "1"; }));  // paged by the successor
  CHECK(pages_of(db, "kim") == "0");

  // SIGSTOP the successor before the next step; the third instance takes over
  // and pages kim; then SIGCONT: the paused owner's overdue timer is fenced.
  procs[successor]->signal(SIGSTOP);
  const auto stopped_at = Clock::now();
  REQUIRE(wait_for([&] { auto s = self_of(*procs[third]); return s && s->second; }));
  const auto second_takeover = Clock::now() - stopped_at;
  REQUIRE(wait_for([&] { return pages_of(db, "kim") == "1"; }));
  procs[successor]->signal(SIGCONT);
  REQUIRE(wait_for([&] { auto s = self_of(*procs[successor]); return s && !s->second; }));
  // Whatever it still had to do (kim's overdue step), it wrote nothing.
  REQUIRE(wait_for([&] { return procs[successor]->log_tail().find("no longer runs the engine") != std::string::npos; }));
  CHECK(pages_of(db, "pat") == "1");
  CHECK(pages_of(db, "sam") == "1");
  CHECK(pages_of(db, "kim") == "1");
  CHECK(scalar(db, "SELECT COUNT(*) FROM incidents") == "1");
  CHECK(scalar(db, "SELECT epoch FROM cluster_lease") == "3");
  // Every instance still answers.
  for (int i : {successor, third}) CHECK(http_get_status(procs[i]->port(), "/healthz") == 200);

  report("HA", "SIGKILL to successor owner " + std::to_string(seconds(takeover)) +
                   " s; SIGSTOP to third owner " + std::to_string(seconds(second_takeover)) + " s; pages pat/sam/kim 1/1/1");
}

}  // namespace
}  // namespace baton::faults
