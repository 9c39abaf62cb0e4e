// Store semantics, run on both back ends (TEMPLATE_TEST_CASE over SQLite and
// PostgreSQL; see tests/storage/test_db.hpp). PostgreSQL-only behaviour is in
// pg_store_test.cpp.
#include "storage/store.hpp"

#include <SQLiteCpp/SQLiteCpp.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <thread>

#include "tests/storage/storage_fixtures.hpp"
#include "tests/storage/test_db.hpp"

using namespace baton;
using namespace baton::test;
using namespace std::chrono_literals;
using storage::OutboxState;
using storage::OutboxUpdate;
using storage::Store;

namespace {

// Reads the timers table directly: (kind, due_ms) rows of one incident.
std::vector<std::pair<std::string, std::int64_t>> timers_of(const TestDb& db, std::int64_t number) {
  std::vector<std::pair<std::string, std::int64_t>> out;
  for (const auto& row :
       db.query("SELECT kind, due_ms FROM timers WHERE incident = " + std::to_string(number) + " ORDER BY kind"))
    out.emplace_back(*row.at(0), std::stoll(*row.at(1)));
  return out;
}

}  // namespace

// A fresh database gets every migration, recorded in schema_migrations;
// reopening applies nothing twice and keeps the data.
TEMPLATE_TEST_CASE("migrations run once on a fresh file and reopen idempotently", "[storage]",
                   BATON_STORAGE_BACKENDS) {
  BATON_TEST_DB(db);
  const auto path = db.path();
  {
    auto store = open_store(path);
    CHECK(store->schema_version() >= 1);
    REQUIRE(apply_one(*store, make_trigger_effects(1, 1)));
  }
  auto store = open_store(path);
  CHECK(store->schema_version() >= 1);
  CHECK(store->count_incidents(std::nullopt).value() == 1);
  CHECK(db.scalar("SELECT COUNT(*) FROM schema_migrations WHERE version = 1") == "1");
  CHECK(db.scalar("SELECT name FROM schema_migrations WHERE version = 1") == "0001_init");
  CHECK(db.scalar("SELECT COUNT(*) FROM schema_migrations") == std::to_string(store->schema_version()));
  if (db.postgres()) {
    // The HA lease table exists, empty.
    CHECK(db.scalar("SELECT COUNT(*) FROM cluster_lease") == "0");
  } else {
    CHECK(db.scalar("SELECT name FROM schema_migrations WHERE version = 2") == "0002_teams_users");
    CHECK(db.scalar("PRAGMA journal_mode") == "wal");
  }
}

// A database written by a newer baton (unknown schema version) is refused, by
// open and by open_reader, with a message saying so.
TEMPLATE_TEST_CASE("open refuses a database from a newer schema", "[storage]", BATON_STORAGE_BACKENDS) {
  BATON_TEST_DB(db);
  const auto path = db.path();
  { open_store(path); }
  db.exec("INSERT INTO schema_migrations (version, name) VALUES (9999, '9999_future')");
  auto again = Store::open(path);
  REQUIRE_FALSE(again.has_value());
  CHECK(again.error().kind == ErrorKind::permanent);
  CHECK(again.error().message.find("newer than this baton") != std::string::npos);
  auto reader = Store::open_reader(path);
  REQUIRE_FALSE(reader.has_value());
  CHECK(reader.error().kind == ErrorKind::permanent);
}

// A path that cannot be opened (its directory does not exist) is an error value.
TEST_CASE("open of an impossible path fails as a value", "[storage][sqlite]") {
  TempDir dir;
  auto s = Store::open(dir.file("no/such/dir/baton.db"));
  REQUIRE_FALSE(s.has_value());
  CHECK(s.error().kind == ErrorKind::invalid_request);
}

// The writer turns SQLite's automatic checkpoint off and a thread of its own
// copies the WAL into the database file (storage/sqlite_store.cpp,
// Checkpointer). Regression: that thread's connection had never read the
// file, so SQLite took it for a rollback-journal database, every checkpoint
// was a no-op, the database file stayed empty and the WAL grew without bound
// (40 MB per 1,000 incidents). Bounded waits; nothing asserts on time.
TEST_CASE("the WAL is checkpointed into the database file and reused", "[storage][sqlite]") {
  TempDir dir;
  const auto path = dir.file();
  auto store = open_store(path);
  namespace fs = std::filesystem;
  const auto db_size_before = fs::file_size(path);
  std::int64_t n = 0;
  auto commit_some = [&](int count) {
    for (int i = 0; i < count; ++i) {
      ++n;
      REQUIRE(apply_one(*store, make_trigger_effects(n, n)));
    }
  };
  commit_some(300);  // more than the commits that wake the checkpointer at once
  auto checkpointed = [&] {
    for (int i = 0; i < 500; ++i) {
      if (fs::file_size(path) > db_size_before) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  };
  REQUIRE(checkpointed());
  // Once everything is copied, the next commits start the WAL over instead of
  // growing it: after several more rounds it is no bigger than a few rounds' worth.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // the idle checkpoint of the last few
  const auto wal_after_one_round = fs::file_size(path + "-wal");
  for (int round = 0; round < 3; ++round) {
    commit_some(300);
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  }
  CHECK(fs::file_size(path + "-wal") <= 2 * wal_after_one_round);
  CHECK(store->count_incidents(std::nullopt).value() == n);
}

// Every Incident field survives a write and a read, including optionals set and
// unset, the policy snapshot, the contact chain and notified list.
TEMPLATE_TEST_CASE("incident round trip keeps every field", "[storage]", BATON_STORAGE_BACKENDS) {
  BATON_TEST_DB(db);
  auto store = open_store(db.scratch());
  auto inc = make_incident(7);
  inc.state = engine::IncidentState::acknowledged;
  inc.acknowledged_at = inc.created_at + 42s;
  engine::Effects fx;
  fx.incidents.push_back(inc);
  REQUIRE(apply_one(*store, fx));
  auto got = store->get_incident(7);
  REQUIRE(got.has_value());
  REQUIRE(got->has_value());
  check_same_incident(**got, inc);
  CHECK_FALSE((*got)->resolved_at.has_value());

  // Edge: no policy, empty lists, empty strings, resolved with both times.
  engine::Incident bare;
  bare.number = 8;
  bare.state = engine::IncidentState::resolved;
  bare.acknowledged_at = engine::from_ms(1);
  bare.resolved_at = engine::from_ms(2);
  engine::Effects fx2;
  fx2.incidents.push_back(bare);
  REQUIRE(apply_one(*store, fx2));
  auto got2 = store->get_incident(8);
  REQUIRE(got2->has_value());
  check_same_incident(**got2, bare);

  // Unknown number: an empty optional, not an error.
  auto none = store->get_incident(999);
  REQUIRE(none.has_value());
  CHECK_FALSE(none->has_value());
}

// A later snapshot of the same incident replaces the earlier one (upsert).
TEMPLATE_TEST_CASE("a newer snapshot replaces the stored incident", "[storage]", BATON_STORAGE_BACKENDS) {
  BATON_TEST_DB(db);
  auto store = open_store(db.scratch());
  REQUIRE(apply_one(*store, make_trigger_effects(1, 1)));
  auto inc = make_incident(1);
  inc.state = engine::IncidentState::resolved;
  inc.resolved_at = inc.created_at + 10min;
  inc.escalation.active = false;
  inc.owner = "bob";
  engine::Effects fx;
  fx.incidents.push_back(inc);
  REQUIRE(apply_one(*store, fx));
  check_same_incident(**store->get_incident(1), inc);
  CHECK(store->count_incidents(std::nullopt).value() == 1);
}

// Incidents sharing one snapshot come back sharing one object.
TEMPLATE_TEST_CASE("identical policy snapshots are shared after load", "[storage]", BATON_STORAGE_BACKENDS) {
  BATON_TEST_DB(db);
  auto store = open_store(db.scratch());
  auto policy = make_policy();
  engine::Effects fx;
  fx.incidents.push_back(make_incident(1, policy));
  fx.incidents.push_back(make_incident(2, policy));
  REQUIRE(apply_one(*store, fx));
  auto loaded = store->load();
  REQUIRE(loaded.has_value());
  REQUIRE(loaded->open_incidents.size() == 2);
  CHECK(loaded->open_incidents[0].policy == loaded->open_incidents[1].policy);
}

// A failing item (duplicate idempotency key in the second Effects) rolls back
// the whole batch: neither the first Effects nor the updates are visible.
TEMPLATE_TEST_CASE("apply is all or nothing", "[storage]", BATON_STORAGE_BACKENDS) {
  BATON_TEST_DB(db);
  auto store = open_store(db.scratch());
  REQUIRE(apply_one(*store, make_trigger_effects(1, 1)));

  auto a = make_trigger_effects(2, 2);
  auto b = make_trigger_effects(3, 3);
  b.notifications[0].idempotency_key = a.notifications[0].idempotency_key;
  const engine::Effects* both[] = {&a, &b};
  std::vector<OutboxUpdate> updates{{1, OutboxState::delivered, 1, t0(), "", t0()}};
  auto r = store->apply(both, updates);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().kind == ErrorKind::conflict);

  CHECK(store->count_incidents(std::nullopt).value() == 1);
  CHECK_FALSE(store->get_incident(2)->has_value());
  CHECK(store->timeline(2)->empty());
  auto loaded = store->load();
  REQUIRE(loaded->pending_outbox.size() == 1);  // the update to #1 rolled back too
  CHECK(loaded->pending_outbox[0].notification.id == 1);

  // The Store is usable afterwards (the transaction was really closed).
  const engine::Effects* only_a[] = {&a};
  REQUIRE(store->apply(only_a, {}));
  CHECK(store->count_incidents(std::nullopt).value() == 2);
}

// Outbox rows and timeline events must point at stored incidents: a dangling
// reference fails the commit (deferred foreign keys) and rolls everything back.
TEMPLATE_TEST_CASE("apply rejects references to unknown incidents", "[storage]", BATON_STORAGE_BACKENDS) {
  BATON_TEST_DB(db);
  auto store = open_store(db.scratch());
  engine::Effects fx;
  fx.notifications.push_back(make_notification(1, 404));
  auto r = apply_one(*store, fx);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().kind == ErrorKind::conflict);
  CHECK(store->load()->pending_outbox.empty());
}

// Newest first, state filter, limit and the `before` cursor walk the pages;
// a bad limit is rejected.
TEMPLATE_TEST_CASE("list_incidents orders, filters and paginates", "[storage]", BATON_STORAGE_BACKENDS) {
  BATON_TEST_DB(db);
  auto store = open_store(db.scratch());
  engine::Effects fx;
  for (std::int64_t n = 1; n <= 10; ++n) {
    auto inc = make_incident(n);
    if (n % 3 == 0) inc.state = engine::IncidentState::resolved;
    fx.incidents.push_back(inc);
  }
  REQUIRE(apply_one(*store, fx));

  auto numbers = [](const std::vector<engine::Incident>& v) {
    std::vector<std::int64_t> out;
    for (const auto& i : v) out.push_back(i.number);
    return out;
  };
  CHECK(numbers(*store->list_incidents({})) == std::vector<std::int64_t>{10, 9, 8, 7, 6, 5, 4, 3, 2, 1});
  CHECK(numbers(*store->list_incidents({engine::IncidentState::resolved, 50, std::nullopt})) ==
        std::vector<std::int64_t>{9, 6, 3});
  CHECK(numbers(*store->list_incidents({std::nullopt, 4, std::nullopt})) ==
        std::vector<std::int64_t>{10, 9, 8, 7});
  CHECK(numbers(*store->list_incidents({std::nullopt, 4, 7})) == std::vector<std::int64_t>{6, 5, 4, 3});
  CHECK(numbers(*store->list_incidents({engine::IncidentState::triggered, 2, 5})) ==
        std::vector<std::int64_t>{4, 2});
  CHECK(store->list_incidents({std::nullopt, 4, 1})->empty());
  CHECK(store->count_incidents(engine::IncidentState::resolved).value() == 3);
  CHECK(store->count_incidents(engine::IncidentState::triggered).value() == 7);
  CHECK(store->count_incidents(engine::IncidentState::acknowledged).value() == 0);

  auto bad = store->list_incidents({std::nullopt, 0, std::nullopt});
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().kind == ErrorKind::invalid_request);
  CHECK_FALSE(store->list_incidents({std::nullopt, -5, std::nullopt}).has_value());
}

// Timeline comes back by time, and in insertion order among equal times,
// across several batches and not mixing incidents.
TEMPLATE_TEST_CASE("timeline is ordered by time then insertion", "[storage]", BATON_STORAGE_BACKENDS) {
  BATON_TEST_DB(db);
  auto store = open_store(db.scratch());
  REQUIRE(apply_one(*store, make_trigger_effects(1, 1)));
  REQUIRE(apply_one(*store, make_trigger_effects(2, 2)));
  engine::Effects fx;
  const auto base = t0() + 1h;
  fx.timeline.push_back(make_event(1, base + 2s, engine::TimelineKind::note, "late"));
  fx.timeline.push_back(make_event(1, base, engine::TimelineKind::escalated, "first at base"));
  fx.timeline.push_back(make_event(1, base, engine::TimelineKind::acknowledged, "second at base"));
  fx.timeline.push_back(make_event(2, base, engine::TimelineKind::note, "other incident"));
  REQUIRE(apply_one(*store, fx));

  auto tl = store->timeline(1);
  REQUIRE(tl.has_value());
  std::vector<std::string> messages;
  for (const auto& ev : *tl) messages.push_back(ev.message);
  CHECK(messages == std::vector<std::string>{"triggered", "paged alice", "first at base", "second at base", "late"});
  CHECK((*tl)[2].kind == engine::TimelineKind::escalated);
  CHECK((*tl)[2].actor == "integration:payments");
  CHECK((*tl)[2].channel == engine::Source::alertmanager);
  CHECK((*tl)[2].at == base);
  CHECK(store->timeline(999)->empty());
}

// Delivered and failed leave the pending outbox; a retry stays pending with its
// attempts, next_attempt and error; outbox_for shows every state; an update for
// an unknown id is not_found.
TEMPLATE_TEST_CASE("outbox updates move entries out of pending", "[storage]", BATON_STORAGE_BACKENDS) {
  BATON_TEST_DB(db);
  auto store = open_store(db.scratch());
  engine::Effects fx = make_trigger_effects(1, 1);
  fx.notifications.push_back(make_notification(2, 1));
  fx.notifications.push_back(make_notification(3, 1));
  REQUIRE(apply_one(*store, fx));

  auto fresh = store->load();
  REQUIRE(fresh->pending_outbox.size() == 3);
  CHECK(fresh->pending_outbox[0].attempts == 0);
  CHECK(fresh->pending_outbox[0].next_attempt == fresh->pending_outbox[0].notification.created_at);

  const auto retry_at = t0() + 90s;
  REQUIRE(apply_updates(*store, {{1, OutboxState::delivered, 1, t0(), "", t0() + 1s},
                                 {2, OutboxState::failed, 5, t0(), "number unreachable", t0() + 2s},
                                 {3, OutboxState::pending, 2, retry_at, "503 from Twilio", t0() + 3s}}));
  auto loaded = store->load();
  REQUIRE(loaded->pending_outbox.size() == 1);
  const auto& e = loaded->pending_outbox[0];
  CHECK(e.notification.id == 3);
  CHECK(e.attempts == 2);
  CHECK(e.next_attempt == retry_at);
  CHECK(e.last_error == "503 from Twilio");
  auto n = make_notification(3, 1);
  CHECK(e.notification.incident == n.incident);
  CHECK(e.notification.person == n.person);
  CHECK(e.notification.method == n.method);
  CHECK(e.notification.kind == n.kind);
  CHECK(e.notification.step == n.step);
  CHECK(e.notification.created_at == n.created_at);
  CHECK(e.notification.idempotency_key == n.idempotency_key);

  auto all = store->outbox_for(1);
  REQUIRE(all->size() == 3);
  CHECK((*all)[1].last_error == "number unreachable");
  CHECK((*all)[1].attempts == 5);

  auto missing = apply_updates(*store, {{42, OutboxState::delivered, 1, t0(), "", t0()}});
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().kind == ErrorKind::not_found);
}

// Restart in the middle of an escalation: incident #2 is triggered with an
// active escalation and a pending contact rule, #1 is acknowledged, #3 is
// resolved; close the file, reopen, load: exactly the open ones with their
// timers, the pending outbox in id order and the next numbers.
TEMPLATE_TEST_CASE("load after reopening resumes an escalation", "[storage]", BATON_STORAGE_BACKENDS) {
  BATON_TEST_DB(db);
  const auto path = db.path();
  engine::Incident mid = make_incident(2);
  {
    auto store = open_store(path);
    engine::Effects fx;
    for (std::int64_t n = 1; n <= 3; ++n) {
      auto e = make_trigger_effects(n, n * 10);
      fx.incidents.insert(fx.incidents.end(), e.incidents.begin(), e.incidents.end());
      fx.notifications.insert(fx.notifications.end(), e.notifications.begin(), e.notifications.end());
    }
    fx.incidents[0].state = engine::IncidentState::acknowledged;
    fx.incidents[0].acknowledged_at = t0() + 1min;
    fx.incidents[0].escalation.active = false;
    fx.incidents[2].state = engine::IncidentState::resolved;
    fx.incidents[2].resolved_at = t0() + 2min;
    mid = fx.incidents[1];
    REQUIRE(apply_one(*store, fx));
    REQUIRE(apply_updates(*store, {{20, OutboxState::delivered, 1, t0(), "", t0()}}));
  }
  auto store = open_store(path);
  auto loaded = store->load();
  REQUIRE(loaded.has_value());
  REQUIRE(loaded->open_incidents.size() == 2);
  CHECK(loaded->open_incidents[0].number == 1);
  CHECK(loaded->open_incidents[0].state == engine::IncidentState::acknowledged);
  check_same_incident(loaded->open_incidents[1], mid);
  CHECK(loaded->open_incidents[1].escalation.active);
  CHECK(loaded->open_incidents[1].escalation.step_deadline == mid.escalation.step_deadline);
  REQUIRE(loaded->pending_outbox.size() == 2);
  CHECK(loaded->pending_outbox[0].notification.id == 10);
  CHECK(loaded->pending_outbox[1].notification.id == 30);
  CHECK(loaded->next_incident == 4);
  CHECK(loaded->next_notification == 31);
}

// An empty database starts numbering at 1.
TEMPLATE_TEST_CASE("load of an empty database", "[storage]", BATON_STORAGE_BACKENDS) {
  BATON_TEST_DB(db);
  auto store = open_store(db.scratch());
  auto loaded = store->load();
  REQUIRE(loaded.has_value());
  CHECK(loaded->open_incidents.empty());
  CHECK(loaded->pending_outbox.empty());
  CHECK(loaded->overrides.empty());
  CHECK(loaded->next_incident == 1);
  CHECK(loaded->next_notification == 1);
}

// The timers table mirrors each snapshot: escalation deadline while active,
// contact next_at while rules remain, nothing once resolved.
TEMPLATE_TEST_CASE("timers follow the incident snapshot", "[storage]", BATON_STORAGE_BACKENDS) {
  BATON_TEST_DB(db);
  const auto path = db.path();
  auto store = open_store(path);
  auto inc = make_incident(1);
  auto write = [&] {
    engine::Effects fx;
    fx.incidents.push_back(inc);
    REQUIRE(apply_one(*store, fx));
  };
  write();
  using Rows = std::vector<std::pair<std::string, std::int64_t>>;
  CHECK(timers_of(db, 1) == Rows{{"contact", engine::to_ms(inc.contact.next_at)},
                                   {"escalation", engine::to_ms(inc.escalation.step_deadline)}});
  CHECK(store->next_timer().value() == inc.contact.next_at);

  inc.contact.next_rule = 3;  // chain exhausted
  inc.escalation.step_deadline += 5min;
  write();
  CHECK(timers_of(db, 1) == Rows{{"escalation", engine::to_ms(inc.escalation.step_deadline)}});

  inc.state = engine::IncidentState::acknowledged;
  inc.escalation.active = false;
  inc.contact.next_rule = 0;  // e.g. a new page started
  write();
  CHECK(timers_of(db, 1) == Rows{{"contact", engine::to_ms(inc.contact.next_at)}});

  inc.state = engine::IncidentState::resolved;
  inc.escalation.active = true;  // even with stale flags, resolved means no timers
  write();
  CHECK(timers_of(db, 1).empty());
  CHECK_FALSE(store->next_timer().value().has_value());
}

// Overrides: add returns increasing ids, load returns them, remove deletes,
// removing twice is not_found, bad ones are refused, prune drops ended ones.
TEMPLATE_TEST_CASE("overrides add, remove, load and prune", "[storage]", BATON_STORAGE_BACKENDS) {
  BATON_TEST_DB(db);
  auto store = open_store(db.scratch());
  engine::Override o{0, "ops", "carol", t0(), t0() + 8h};
  auto id1 = store->add_override(o, t0());
  auto id2 = store->add_override({0, "ops", "dave", t0() + 8h, t0() + 16h});
  REQUIRE(id1.has_value());
  REQUIRE(id2.has_value());
  CHECK(*id2 > *id1);

  auto loaded = store->load();
  REQUIRE(loaded->overrides.size() == 2);
  CHECK(loaded->overrides[0].id == *id1);
  CHECK(loaded->overrides[0].schedule_id == "ops");
  CHECK(loaded->overrides[0].person == "carol");
  CHECK(loaded->overrides[0].start == o.start);
  CHECK(loaded->overrides[0].end == o.end);
  // Listed alone (what an instance that does not run the engine answers from).
  auto listed = store->list_overrides();
  REQUIRE(listed);
  REQUIRE(listed->size() == 2);
  CHECK((*listed)[0].id == *id1);
  CHECK((*listed)[0].person == "carol");
  CHECK((*listed)[1].end == loaded->overrides[1].end);

  REQUIRE(store->remove_override(*id1));
  auto again = store->remove_override(*id1);
  REQUIRE_FALSE(again.has_value());
  CHECK(again.error().kind == ErrorKind::not_found);
  CHECK(store->load()->overrides.size() == 1);
  CHECK(store->list_overrides()->size() == 1);

  CHECK(store->add_override({0, "ops", "erin", t0(), t0()}).error().kind == ErrorKind::invalid_request);
  CHECK(store->add_override({0, "", "erin", t0(), t0() + 1h}).error().kind == ErrorKind::invalid_request);

  CHECK(store->prune_overrides(t0() + 15h).value() == 0);
  CHECK(store->prune_overrides(t0() + 16h).value() == 1);
  CHECK(store->load()->overrides.empty());
}

// A token works once; the second use is a conflict; an empty id is invalid.
TEMPLATE_TEST_CASE("consume_token is single use", "[storage]", BATON_STORAGE_BACKENDS) {
  BATON_TEST_DB(db);
  auto store = open_store(db.scratch());
  REQUIRE(store->consume_token("tok-1", t0()));
  auto second = store->consume_token("tok-1", t0() + 1s);
  REQUIRE_FALSE(second.has_value());
  CHECK(second.error().kind == ErrorKind::conflict);
  CHECK(store->consume_token("tok-2", t0()));
  CHECK(store->consume_token("", t0()).error().kind == ErrorKind::invalid_request);
}

// Alerts are stored against the first touched incident with the snapshot's
// updated_at as received time; without a touched incident, NULL.
TEMPLATE_TEST_CASE("alerts are stored with the touched incident", "[storage]", BATON_STORAGE_BACKENDS) {
  BATON_TEST_DB(db);
  const auto path = db.path();
  auto store = open_store(path);
  auto fx = make_trigger_effects(5, 1);
  REQUIRE(apply_one(*store, fx));
  engine::Effects orphan;
  orphan.alerts.push_back(fx.alerts[0]);
  REQUIRE(apply_one(*store, orphan));

  auto rows = db.query("SELECT incident, received_ms, source, action, dedup_key, payload FROM alerts ORDER BY id");
  REQUIRE(rows.size() == 2);
  CHECK(rows[0][0] == "5");
  CHECK(rows[0][1] == std::to_string(engine::to_ms(fx.incidents[0].updated_at)));
  CHECK(rows[0][2] == "alertmanager");
  CHECK(rows[0][3] == "trigger");
  CHECK(rows[0][4] == "dedup-5");
  CHECK(rows[0][5].value().find("\"fingerprint\":\"fp1\"") != std::string::npos);
  CHECK_FALSE(rows[1][0].has_value());
  CHECK_FALSE(rows[1][1].has_value());
}

// A row edited into nonsense (unknown state name, broken JSON) is reported as
// a permanent error, not a crash.
TEMPLATE_TEST_CASE("corrupt rows are errors, not crashes", "[storage]", BATON_STORAGE_BACKENDS) {
  BATON_TEST_DB(db);
  const auto path = db.path();
  auto store = open_store(path);
  REQUIRE(apply_one(*store, make_trigger_effects(1, 1)));
  REQUIRE(apply_one(*store, make_trigger_effects(2, 2)));
  db.exec("UPDATE incidents SET severity = 'apocalyptic' WHERE number = 1");
  db.exec("UPDATE incidents SET contact_chain = '[{\"method\":' WHERE number = 2");
  auto one = store->get_incident(1);
  REQUIRE_FALSE(one.has_value());
  CHECK(one.error().kind == ErrorKind::permanent);
  auto two = store->get_incident(2);
  REQUIRE_FALSE(two.has_value());
  CHECK(two.error().kind == ErrorKind::permanent);
  CHECK_FALSE(store->load().has_value());
}

// A reader opened beside the writer sees committed rows and cannot write; a
// reader on a file that was never migrated is refused.
TEMPLATE_TEST_CASE("open_reader reads committed state and refuses writes", "[storage]", BATON_STORAGE_BACKENDS) {
  BATON_TEST_DB(db);
  const auto path = db.path();
  auto writer = open_store(path);
  auto reader = Store::open_reader(path);
  REQUIRE(reader.has_value());
  CHECK((*reader)->schema_version() == writer->schema_version());
  CHECK((*reader)->count_incidents(std::nullopt).value() == 0);
  REQUIRE(apply_one(*writer, make_trigger_effects(1, 1)));
  CHECK((*reader)->count_incidents(std::nullopt).value() == 1);
  CHECK((*reader)->get_incident(1)->has_value());
  auto w = apply_one(**reader, make_trigger_effects(2, 2));
  REQUIRE_FALSE(w.has_value());
  CHECK(w.error().kind == ErrorKind::permanent);

  const auto blank = db.another("blank.db");
  db.query_at(blank, "CREATE TABLE t (x INTEGER)");
  auto not_init = Store::open_reader(blank);
  REQUIRE_FALSE(not_init.has_value());
  CHECK(not_init.error().kind == ErrorKind::invalid_request);
  const auto missing = db.postgres() ? blank.substr(0, blank.rfind('/')) + "/no_such_database"
                                     : blank.substr(0, blank.rfind('/')) + "/missing.db";
  CHECK_FALSE(Store::open_reader(missing).has_value());
}

TEMPLATE_TEST_CASE("chat messages are remembered per incident, once each", "[storage]", BATON_STORAGE_BACKENDS) {
  BATON_TEST_DB(db);
  // Scenario: a Slack DM and a channel post are saved for incident 1 (the DM
  // twice, as a retried delivery would); they come back in order, once each;
  // incident 2 has none; a ref without a conversation is refused.
  auto store = open_store(db.scratch());
  auto fx = make_trigger_effects(1, 1);
  const engine::Effects* batch[] = {&fx};
  REQUIRE(store->apply(batch, {}));
  storage::ChatMessage dm{1, "slack-dm", "D123", "1700000000.000100", "alice"};
  storage::ChatMessage post{1, "slack-channel-post", "C999", "1700000000.000200", ""};
  REQUIRE(store->add_chat_message(dm, t0()));
  REQUIRE(store->add_chat_message(dm, t0() + 1s));
  REQUIRE(store->add_chat_message(post, t0() + 2s));
  auto refs = store->chat_messages(1);
  REQUIRE(refs);
  REQUIRE(refs->size() == 2);
  CHECK((*refs)[0].kind == "slack-dm");
  CHECK((*refs)[0].person == "alice");
  CHECK((*refs)[1].conversation == "C999");
  CHECK(store->chat_messages(2)->empty());
  CHECK(store->add_chat_message({1, "slack-dm", "", "x", ""}, t0()).error().kind == ErrorKind::invalid_request);
  // Only an incident channel names the incident of a conversation.
  CHECK_FALSE(*store->incident_for_conversation("C999"));
  REQUIRE(store->add_chat_message({1, "slack-incident-channel", "CINC1", "", ""}, t0()));
  CHECK(*store->incident_for_conversation("CINC1") == std::optional<std::int64_t>{1});
}

TEMPLATE_TEST_CASE("teams user ids are remembered and replaced", "[storage]", BATON_STORAGE_BACKENDS) {
  BATON_TEST_DB(db);
  // Scenario: alice's Teams id is learned, then changes (a new install); the
  // latest one is kept; empty values are refused.
  auto store = open_store(db.scratch());
  REQUIRE(store->save_teams_user("aad-alice", "29:old", t0()));
  REQUIRE(store->save_teams_user("aad-alice", "29:new", t0() + 1s));
  auto all = store->teams_users();
  REQUIRE(all);
  REQUIRE(all->size() == 1);
  CHECK(all->front() == std::pair<std::string, std::string>{"aad-alice", "29:new"});
  CHECK(store->save_teams_user("", "29:x", t0()).error().kind == ErrorKind::invalid_request);
}

TEMPLATE_TEST_CASE("teams channels baton was added to are remembered", "[storage]", BATON_STORAGE_BACKENDS) {
  BATON_TEST_DB(db);
  auto store = open_store(db.scratch());
  REQUIRE(store->save_teams_channel("19:team@thread.tacv2", "19:team@thread.tacv2", "https://smba/", t0()));
  REQUIRE(store->save_teams_channel("19:team@thread.tacv2", "19:ops@thread.tacv2", "https://smba/", t0() + 1s));
  REQUIRE(store->save_teams_channel("19:team@thread.tacv2", "19:ops@thread.tacv2", "https://smba/", t0() + 2s));
  auto all = store->teams_channels();
  REQUIRE(all);
  REQUIRE(all->size() == 2);
  CHECK((*all)[1][1] == "19:ops@thread.tacv2");
  CHECK(store->save_teams_channel("", "x", "", t0()).error().kind == ErrorKind::invalid_request);
}

TEMPLATE_TEST_CASE("chat messages saved in a batch are all or nothing", "[storage]", BATON_STORAGE_BACKENDS) {
  BATON_TEST_DB(db);
  auto store = open_store(db.scratch());
  auto fx = make_trigger_effects(1, 1);
  const engine::Effects* batch[] = {&fx};
  REQUIRE(store->apply(batch, {}));
  std::vector<storage::ChatMessage> good{{1, "slack-dm", "D1", "1.1", "alice"}, {1, "slack-channel-post", "C1", "1.2", ""}};
  REQUIRE(store->add_chat_messages(good, t0()));
  CHECK(store->chat_messages(1)->size() == 2);
  std::vector<storage::ChatMessage> bad{{1, "slack-dm", "D2", "1.3", "bob"}, {1, "", "C1", "x", ""}};
  CHECK(store->add_chat_messages(bad, t0()).error().kind == ErrorKind::invalid_request);
  CHECK(store->chat_messages(1)->size() == 2);
}
