// High availability on PostgreSQL (storage/cluster.hpp): the lease and its
// epoch, fencing of apply(), the inbox. Nothing here waits for the TTL: a test
// expires the lease by writing its row, as time would.
#include <catch2/catch.hpp>
#include <mutex>
#include <thread>

#include "storage/cluster.hpp"
#include "storage/store.hpp"
#include "tests/storage/storage_fixtures.hpp"
#include "tests/storage/test_db.hpp"

using namespace baton;
using namespace baton::test;
using storage::Store;

namespace {

storage::LeaseOptions lease_for(const std::string& uri, const std::string& id) {
  storage::LeaseOptions o;
  o.uri = uri;
  o.instance_id = id;
  o.address = id + ":8080";
  return o;
}

/// What time would do after the TTL: the lease is expired.
void expire_lease(TestDb& db) { db.exec("UPDATE cluster_lease SET expires_ms = 0"); }

}  // namespace

TEST_CASE("cluster lease: one holder at a time, the epoch goes up at each takeover", "[storage][postgres][cluster]") {
  BATON_TEST_DB_OF(db, BackendKind::postgres);
  open_store(db.path());  // migrations
  std::vector<storage::LeaseStatus> changes_a;
  storage::LeaseKeeper a(lease_for(db.path(), "a"), [&](const storage::LeaseStatus& s) { changes_a.push_back(s); });
  storage::LeaseKeeper b(lease_for(db.path(), "b"), {});

  auto sa = a.round();
  CHECK(sa.reachable);
  CHECK(sa.owner);
  CHECK(sa.epoch == 1);
  auto sb = b.round();
  CHECK(sb.reachable);
  CHECK_FALSE(sb.owner);
  CHECK(sb.epoch == 1);
  CHECK(a.round().epoch == 1);  // a renewal keeps the epoch
  CHECK(db.scalar("SELECT holder FROM cluster_lease") == "a");
  CHECK(db.scalar("SELECT COUNT(*) FROM instances") == "2");

  expire_lease(db);
  sb = b.round();
  CHECK(sb.owner);
  CHECK(sb.epoch == 2);
  sa = a.round();
  CHECK_FALSE(sa.owner);
  REQUIRE(changes_a.size() == 2);
  CHECK(changes_a[0].owner);
  CHECK_FALSE(changes_a[1].owner);

  b.renew_epoch();  // e.g. after a failed commit: reload under a new epoch
  CHECK(b.round().epoch == 3);
  CHECK(b.round().epoch == 3);

  // A clean stop hands the lease over at once.
  b.stop(true);
  sa = a.round();
  CHECK(sa.owner);
  CHECK(sa.epoch == 4);
  CHECK(db.scalar("SELECT COUNT(*) FROM instances") == "1");

  auto view = open_store(db.path())->cluster_view(engine::Millis{10'000});
  REQUIRE(view);
  CHECK(view->epoch == 4);
  CHECK(view->owner == std::optional<std::string>("a"));
  REQUIRE(view->instances.size() == 1);
  CHECK(view->instances[0].address == "a:8080");
}

TEST_CASE("cluster lease: an old epoch's apply writes nothing", "[storage][postgres][cluster]") {
  BATON_TEST_DB_OF(db, BackendKind::postgres);
  auto store = open_store(db.path());
  storage::LeaseKeeper a(lease_for(db.path(), "a"), {});
  storage::LeaseKeeper b(lease_for(db.path(), "b"), {});
  const auto sa = a.round();
  REQUIRE(sa.owner);
  store->set_fence(storage::Fence{"a", sa.epoch});
  REQUIRE(apply_one(*store, make_trigger_effects(1, 1)));

  // a pauses; b takes over.
  expire_lease(db);
  const auto sb = b.round();
  REQUIRE(sb.owner);
  auto r = apply_one(*store, make_trigger_effects(2, 2));
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == ErrorKind::fenced);
  CHECK(db.scalar("SELECT COUNT(*) FROM incidents") == "1");
  CHECK(db.scalar("SELECT COUNT(*) FROM outbox") == "1");
  // Outbox updates are fenced too.
  storage::OutboxUpdate u;
  u.id = 1;
  u.state = storage::OutboxState::delivered;
  u.attempts = 1;
  CHECK_FALSE(apply_updates(*store, {u}));
  CHECK(db.scalar("SELECT state FROM outbox WHERE id = 1") == "pending");

  // The new owner's fence passes.
  auto store_b = open_store(db.path());
  store_b->set_fence(storage::Fence{"b", sb.epoch});
  CHECK(apply_one(*store_b, make_trigger_effects(2, 2)));
  CHECK(db.scalar("SELECT COUNT(*) FROM incidents") == "2");
}

TEST_CASE("cluster inbox: rows are notified to the listener and consumed exactly once", "[storage][postgres][cluster]") {
  BATON_TEST_DB_OF(db, BackendKind::postgres);
  auto store = open_store(db.path());
  std::mutex m;
  std::vector<storage::InboxRow> got;
  storage::InboxListener listener(db.path(), [&](std::vector<storage::InboxRow> rows, std::uint64_t gen) {
    CHECK(gen == 7);
    std::lock_guard lock(m);
    for (auto& r : rows) got.push_back(std::move(r));
  });
  listener.start();
  listener.activate(7);

  engine::Alert alert;
  alert.source = engine::Source::alertmanager;
  alert.integration_key = "key";
  alert.dedup_key = "dk";
  alert.summary = "disk full";
  alert.severity = engine::Severity::critical;
  alert.details_json = "{\"a\":1}";
  alert.group.push_back(engine::GroupAlert{"fp", false, "2026-01-01T00:00:00Z", "s"});
  auto id = store->add_inbox("alert", storage::encode_inbox_alert(alert), "x");
  REQUIRE(id);
  storage::InboxCommand cmd{5, "acknowledge", engine::Actor{"alice", engine::Source::slack}};
  auto id2 = store->add_inbox("command", storage::encode_inbox_command(cmd), "x");
  REQUIRE(id2);

  auto count = [&] {
    std::lock_guard lock(m);
    return got.size();
  };
  for (int i = 0; i < 1000 && count() < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  {
    std::lock_guard lock(m);
    REQUIRE(got.size() == 2);
    CHECK(got[0].id == *id);
    auto back = storage::decode_inbox_alert(got[0].payload);
    REQUIRE(back);
    CHECK(back->source == engine::Source::alertmanager);
    CHECK(back->dedup_key == "dk");
    CHECK(back->severity == engine::Severity::critical);
    CHECK(back->details_json == "{\"a\":1}");
    REQUIRE(back->group.size() == 1);
    CHECK_FALSE(back->group[0].firing);
    auto c = storage::decode_inbox_command(got[1].payload);
    REQUIRE(c);
    CHECK(c->incident == 5);
    CHECK(c->actor.id == "alice");
    CHECK(c->actor.channel == engine::Source::slack);
  }

  // Consumed in the transaction of its effects; a second consumption is refused and writes nothing.
  const auto fx = make_trigger_effects(1, 1);
  const engine::Effects* one[] = {&fx};
  const std::int64_t consumed[] = {*id};
  REQUIRE(store->apply(one, {}, consumed));
  CHECK(db.scalar("SELECT COUNT(*) FROM inbox") == "1");
  const auto fx2 = make_trigger_effects(2, 2);
  const engine::Effects* two[] = {&fx2};
  auto again = store->apply(two, {}, consumed);
  REQUIRE_FALSE(again);
  CHECK(again.error().kind == ErrorKind::conflict);
  CHECK(db.scalar("SELECT COUNT(*) FROM incidents") == "1");
  listener.stop();
}

TEST_CASE("cluster inbox: a repeated trigger of an open incident is answered with a read, not a row",
          "[storage][postgres][cluster]") {
  BATON_TEST_DB_OF(db, BackendKind::postgres);
  auto store = open_store(db.path());
  REQUIRE(apply_one(*store, make_trigger_effects(1, 1)));  // payments / dedup-1, open

  auto probe = [](std::string service, std::string key) {
    storage::InboxEntry row{"alert", "{}", "x", {}, {}};
    row.probe_service = std::move(service);
    row.probe_dedup_key = std::move(key);
    return row;
  };
  const auto rows = [&] { return db.scalar("SELECT COUNT(*) FROM inbox"); };

  SECTION("a repeat of the open incident's key writes nothing") {
    const storage::InboxEntry batch[] = {probe("payments", "dedup-1"), probe("payments", "dedup-1")};
    REQUIRE(store->add_inbox_batch(batch));
    CHECK(rows() == "0");
  }
  SECTION("another service's key, an unknown key, or a resolved incident's key is written") {
    const storage::InboxEntry batch[] = {probe("payments", "dedup-1"), probe("search", "dedup-1"),
                                         probe("payments", "dedup-9")};
    REQUIRE(store->add_inbox_batch(batch));
    CHECK(rows() == "2");
    db.exec("DELETE FROM inbox");
    db.exec("UPDATE incidents SET state = 'resolved' WHERE number = 1");
    const storage::InboxEntry again[] = {probe("payments", "dedup-1")};
    REQUIRE(store->add_inbox_batch(again));
    CHECK(rows() == "1");
  }
  SECTION("while an accepted change still waits in the inbox, the repeat is written after it") {
    // E.g. a resolve taken by this instance before the repeat arrived: the
    // owner applies both in order, so the repeat opens a new incident.
    REQUIRE(store->add_inbox("command", "{}", "x"));
    const storage::InboxEntry batch[] = {probe("payments", "dedup-1")};
    REQUIRE(store->add_inbox_batch(batch));
    CHECK(rows() == "2");
  }
  SECTION("a batch that also carries a row without a probe keeps every row") {
    const storage::InboxEntry batch[] = {probe("payments", "dedup-1"), storage::InboxEntry{"command", "{}", "x", {}, {}}};
    REQUIRE(store->add_inbox_batch(batch));
    CHECK(rows() == "2");
  }
}
