// Heartbeat states, one-off maintenance windows and held incidents in the
// Store, on both back ends (TEMPLATE_TEST_CASE over SQLite and PostgreSQL; the
// PostgreSQL cases skip visibly without the server binaries, see
// tests/storage/test_db.hpp).
#include <catch2/catch.hpp>

#include "storage/codec.hpp"
#include "storage/store.hpp"
#include "tests/storage/storage_fixtures.hpp"
#include "tests/storage/test_db.hpp"

using namespace baton;
using namespace baton::test;
using namespace std::chrono_literals;
using storage::Store;

namespace {

engine::MaintenanceWindow make_window(std::string service, engine::TimePoint start, engine::TimePoint end,
                                      std::string reason) {
  engine::MaintenanceWindow w;
  w.service_id = std::move(service);
  w.start = start;
  w.end = end;
  w.reason = std::move(reason);
  w.created_by = "api:ops";
  return w;
}

void check_same_heartbeat(const engine::HeartbeatState& a, const engine::HeartbeatState& b) {
  INFO("heartbeat " << a.service_id << "/" << a.name);
  CHECK(a.service_id == b.service_id);
  CHECK(a.name == b.name);
  CHECK(a.first_seen == b.first_seen);
  CHECK(a.last_beat == b.last_beat);
  CHECK(a.since == b.since);
  CHECK(a.incident == b.incident);
}

}  // namespace

// Heartbeat states are stored with the Effects that change them (upserts, the
// last one wins), survive a reopen and come back from load() and
// list_heartbeats(); the incident reference is NULL when there is none and
// must name a stored incident otherwise.
TEMPLATE_TEST_CASE("heartbeat states round-trip, the latest state wins", "[storage][heartbeat]",
                   BATON_STORAGE_BACKENDS) {
  BATON_TEST_DB(db);
  const auto path = db.path();
  engine::HeartbeatState never{"payments", "nightly", t0(), std::nullopt, t0(), 0, std::nullopt};
  engine::HeartbeatState watchdog{"payments", "watchdog", t0(), t0() + 5min, t0() + 5min, 0, std::nullopt};
  {
    auto store = open_store(path);
    engine::Effects fx;
    fx.heartbeats = {never, watchdog};
    REQUIRE(apply_one(*store, fx));
    // The watchdog misses: its incident #1 opens in the same Effects.
    auto missed = make_trigger_effects(1, 1);
    watchdog.incident = 1;
    missed.heartbeats = {watchdog};
    REQUIRE(apply_one(*store, missed));
  }
  auto store = open_store(path);
  auto loaded = store->load();
  REQUIRE(loaded);
  REQUIRE(loaded->heartbeats.size() == 2);
  check_same_heartbeat(loaded->heartbeats[0], never);
  check_same_heartbeat(loaded->heartbeats[1], watchdog);
  CHECK(db.scalar("SELECT incident FROM heartbeats WHERE name = 'watchdog'") == "1");
  CHECK_FALSE(db.scalar("SELECT last_beat_ms FROM heartbeats WHERE name = 'nightly'").has_value());
  CHECK_FALSE(db.scalar("SELECT incident FROM heartbeats WHERE name = 'nightly'").has_value());

  // A beat resolves it: the incident reference goes back to NULL.
  watchdog.incident = 0;
  watchdog.last_beat = watchdog.since = t0() + 2h;
  engine::Effects beat;
  beat.heartbeats = {watchdog};
  REQUIRE(apply_one(*store, beat));
  auto listed = store->list_heartbeats();
  REQUIRE(listed);
  REQUIRE(listed->size() == 2);
  check_same_heartbeat((*listed)[1], watchdog);
  CHECK_FALSE(db.scalar("SELECT incident FROM heartbeats WHERE name = 'watchdog'").has_value());

  // An incident that was never stored is refused, and nothing of the Effects is kept.
  engine::Effects dangling;
  watchdog.incident = 99;
  watchdog.last_beat = t0() + 3h;
  dangling.heartbeats = {watchdog};
  CHECK_FALSE(apply_one(*store, dangling).has_value());
  CHECK(store->list_heartbeats()->at(1).last_beat == t0() + 2h);
}

// One-off maintenance windows: stored with a new id, ended early once
// (conflict the second time, not_found for an unknown id), listed all or only
// those not over at a time, and loaded without those over (load(now)).
TEMPLATE_TEST_CASE("maintenance windows are stored, ended early once and listed", "[storage][maintenance]",
                   BATON_STORAGE_BACKENDS) {
  BATON_TEST_DB(db);
  auto store = open_store(db.path());
  auto deploy = make_window("payments", t0(), t0() + 1h, "deploy — ünïcode");
  auto id1 = store->add_maintenance(deploy);
  auto id2 = store->add_maintenance(make_window("search", t0() + 10min, t0() + 3h, "reindex"));
  auto id3 = store->add_maintenance(make_window("payments", t0(), t0() + 30min, "short"));
  REQUIRE(id1);
  REQUIRE(id2);
  REQUIRE(id3);
  CHECK(*id2 > *id1);
  CHECK(store->add_maintenance(make_window("payments", t0(), t0(), "empty")).error().kind ==
        ErrorKind::invalid_request);
  CHECK(store->add_maintenance(make_window("", t0(), t0() + 1h, "nobody")).error().kind == ErrorKind::invalid_request);

  auto all = store->list_maintenance();
  REQUIRE(all);
  REQUIRE(all->size() == 3);
  CHECK((*all)[0].id == *id1);
  CHECK((*all)[0].service_id == "payments");
  CHECK((*all)[0].start == deploy.start);
  CHECK((*all)[0].end == deploy.end);
  CHECK((*all)[0].reason == deploy.reason);
  CHECK((*all)[0].created_by == "api:ops");
  CHECK_FALSE((*all)[0].ended_at.has_value());

  auto ended = store->end_maintenance(*id2, t0() + 20min, "api:ops");
  REQUIRE(ended);
  CHECK(ended->id == *id2);
  CHECK(ended->service_id == "search");
  CHECK(ended->ended_at == t0() + 20min);
  CHECK(ended->ended_by == "api:ops");
  CHECK(store->end_maintenance(*id2, t0() + 21min, "api:ops").error().kind == ErrorKind::conflict);
  CHECK(store->end_maintenance(*id1, t0() + 2h, "api:ops").error().kind == ErrorKind::conflict);  // over by then
  CHECK(store->end_maintenance(12345, t0(), "api:ops").error().kind == ErrorKind::not_found);

  // At t0+40min: #1 goes on; #2 was ended at 20 min; #3 ended at 30 min.
  auto in_force = store->list_maintenance(t0() + 40min);
  REQUIRE(in_force);
  REQUIRE(in_force->size() == 1);
  CHECK((*in_force)[0].id == *id1);
  auto loaded = store->load(t0() + 40min);
  REQUIRE(loaded);
  REQUIRE(loaded->maintenance.size() == 1);
  CHECK(loaded->maintenance[0].id == *id1);
  auto everything = store->load();
  REQUIRE(everything);
  REQUIRE(everything->maintenance.size() == 3);
  CHECK(everything->maintenance[1].ended_at == t0() + 20min);
}

// A held incident keeps its hold (until, reason) through a write and a load,
// with a 'maintenance' timer row while held; releasing it removes that row.
TEMPLATE_TEST_CASE("a held incident keeps its hold and its maintenance timer", "[storage][maintenance]",
                   BATON_STORAGE_BACKENDS) {
  BATON_TEST_DB(db);
  const auto path = db.path();
  auto held = make_incident(4);
  held.escalation.active = false;
  held.contact = {};
  held.suppressed_until = t0() + 1h;
  held.suppressed_reason = "deploy";
  {
    auto store = open_store(path);
    engine::Effects fx;
    fx.incidents.push_back(held);
    REQUIRE(apply_one(*store, fx));
  }
  auto store = open_store(path);
  auto loaded = store->load();
  REQUIRE(loaded);
  REQUIRE(loaded->open_incidents.size() == 1);
  check_same_incident(loaded->open_incidents[0], held);
  CHECK(db.scalar("SELECT due_ms FROM timers WHERE incident = 4 AND kind = 'maintenance'") ==
        std::to_string(engine::to_ms(t0() + 1h)));
  CHECK(store->next_timer().value() == t0() + 1h);

  auto released = held;
  released.suppressed_until.reset();
  released.suppressed_reason.clear();
  released.escalation = {0, 0, true, t0() + 70min};
  engine::Effects fx;
  fx.incidents.push_back(released);
  REQUIRE(apply_one(*store, fx));
  check_same_incident(**store->get_incident(4), released);
  CHECK(db.scalar("SELECT COUNT(*) FROM timers WHERE incident = 4 AND kind = 'maintenance'") == "0");
}

// `baton migrate` (Store::copy_to) carries heartbeat states and maintenance
// windows over with their ids; new windows continue after the copied ids.
TEMPLATE_TEST_CASE("copy_to keeps heartbeat states and maintenance windows", "[storage][migrate][heartbeat]",
                   BATON_STORAGE_BACKENDS) {
  BATON_TEST_DB(db);
  TestDb lite(BackendKind::sqlite);
  auto source = open_store(lite.path());
  auto fx = make_trigger_effects(1, 1);
  fx.heartbeats = {engine::HeartbeatState{"payments", "nightly", t0(), t0() + 1h, t0() + 1h, 1, std::nullopt}};
  fx.incidents[0].suppressed_until = t0() + 2h;
  fx.incidents[0].suppressed_reason = "deploy";
  REQUIRE(apply_one(*source, fx));
  REQUIRE(source->add_maintenance(make_window("payments", t0(), t0() + 2h, "deploy")));
  auto second = source->add_maintenance(make_window("payments", t0(), t0() + 3h, "more"));
  REQUIRE(second);
  REQUIRE(source->end_maintenance(*second, t0() + 1h, "alice"));

  auto target = open_store(db.path());
  auto copied = source->copy_to(*target);
  REQUIRE(copied);
  auto again = target->load();
  REQUIRE(again);
  REQUIRE(again->heartbeats.size() == 1);
  check_same_heartbeat(again->heartbeats[0], fx.heartbeats[0]);
  REQUIRE(again->open_incidents.size() == 1);
  check_same_incident(again->open_incidents[0], fx.incidents[0]);
  REQUIRE(again->maintenance.size() == 2);
  CHECK(again->maintenance[1].id == *second);
  CHECK(again->maintenance[1].ended_at == t0() + 1h);
  CHECK(again->maintenance[1].ended_by == "alice");
  auto next = target->add_maintenance(make_window("payments", t0(), t0() + 1h, "next"));
  REQUIRE(next);
  CHECK(*next > *second);
}
