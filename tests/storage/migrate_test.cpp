// Store::copy_to, behind `baton migrate`: a running SQLite installation copied
// into PostgreSQL keeps every row exactly (open incidents mid-escalation with
// their timers and pending outbox, history, overrides, chat messages, used
// tokens, Teams ids), and new incidents, notifications and overrides continue
// after the copied numbers. A target that already holds data is refused and
// left as it was. The PostgreSQL cases skip visibly without the server binaries
// (tests/storage/test_db.hpp).
#include <catch2/catch.hpp>
#include <map>
#include <set>

#include "storage/codec.hpp"
#include "storage/store.hpp"
#include "tests/storage/storage_fixtures.hpp"
#include "tests/storage/test_db.hpp"

using namespace baton;
using namespace baton::test;
using namespace std::chrono_literals;
using storage::OutboxState;
using storage::OutboxUpdate;
using storage::Store;

namespace {

// Fills an installation the way a running baton would: three incidents open
// mid-escalation (one without a policy snapshot), one resolved; outbox entries
// pending with retries, delivered and failed; an alert that touched nothing;
// overrides with a gap in their ids; chat messages with equal times (order by
// insertion); used tokens; Teams users and channels.
void fill(Store& s) {
  REQUIRE(apply_one(s, make_trigger_effects(1, 1)));
  REQUIRE(apply_one(s, make_trigger_effects(2, 2)));
  REQUIRE(apply_one(s, make_trigger_effects(3, 3)));
  REQUIRE(apply_one(s, make_trigger_effects(4, 4)));

  // #1: a retry is scheduled for its page, a second page is pending.
  REQUIRE(apply_updates(s, {OutboxUpdate{1, OutboxState::pending, 2, t0() + 90s, "twilio: 503", t0() + 30s}}));
  {
    engine::Effects fx;
    auto inc = make_incident(1);
    inc.escalation = {2, 1, true, t0() + 1200s};
    inc.contact.moved_on = {1};
    inc.updated_at = t0() + 40s;
    fx.incidents.push_back(inc);
    fx.timeline.push_back(make_event(1, t0() + 40s, engine::TimelineKind::escalated, "escalated to step 2"));
    fx.timeline.push_back(make_event(1, t0() + 40s, engine::TimelineKind::paged, "paged bob"));
    auto n = make_notification(5, 1);
    n.person = "bob";
    n.method = engine::MethodKind::email;
    n.step = 2;
    fx.notifications.push_back(n);
    REQUIRE(apply_one(s, fx));
  }
  // #2: acknowledged; its page delivered, an update failed for good.
  {
    engine::Effects fx;
    auto inc = make_incident(2);
    inc.state = engine::IncidentState::acknowledged;
    inc.acknowledged_at = t0() + 50s;
    inc.updated_at = t0() + 50s;
    inc.owner = "bob";
    inc.escalation.active = false;
    inc.contact = {};
    fx.incidents.push_back(inc);
    fx.timeline.push_back(make_event(2, t0() + 50s, engine::TimelineKind::acknowledged, "acknowledged by bob"));
    auto n = make_notification(6, 2);
    n.kind = engine::NotificationKind::update;
    n.method = engine::MethodKind::slack;
    fx.notifications.push_back(n);
    REQUIRE(apply_one(s, fx));
  }
  REQUIRE(apply_updates(s, {OutboxUpdate{2, OutboxState::delivered, 1, t0() + 2s, "", t0() + 2s},
                            OutboxUpdate{6, OutboxState::failed, 5, t0() + 600s, "slack: channel_not_found",
                                         t0() + 600s}}));
  // #3: resolved (its timers are gone); #4: open without a policy snapshot.
  {
    engine::Effects fx;
    auto inc = make_incident(3);
    inc.state = engine::IncidentState::resolved;
    inc.acknowledged_at = t0() + 60s;
    inc.resolved_at = t0() + 70s;
    inc.updated_at = t0() + 70s;
    inc.escalation.active = false;
    inc.contact = {};
    fx.incidents.push_back(inc);
    auto four = make_incident(4, nullptr);
    four.summary = "no policy";
    fx.incidents.push_back(four);
    fx.timeline.push_back(make_event(3, t0() + 70s, engine::TimelineKind::resolved, "resolved"));
    REQUIRE(apply_one(s, fx));
  }
  REQUIRE(apply_updates(s, {OutboxUpdate{3, OutboxState::delivered, 1, t0() + 3s, "", t0() + 3s}}));
  // An alert that touched no incident (NULL incident and time), a note about none.
  {
    engine::Effects fx;
    engine::Alert a;
    a.source = engine::Source::events_v2;
    a.action = engine::AlertAction::resolve;
    a.dedup_key = "unknown";
    a.summary = "resolve for nothing";
    fx.alerts.push_back(a);
    fx.timeline.push_back(make_event(0, t0() + 80s, engine::TimelineKind::note, "a note about no incident"));
    REQUIRE(apply_one(s, fx));
  }

  auto o1 = s.add_override({0, "ops", "carol", t0(), t0() + 3600s}, t0());
  auto o2 = s.add_override({0, "ops", "dave", t0() + 3600s, t0() + 7200s}, std::nullopt);
  auto o3 = s.add_override({0, "db", "erin", t0(), t0() + 86400s}, t0() + 1s);
  REQUIRE((o1 && o2 && o3));
  REQUIRE(s.remove_override(*o2));  // ids 1 and 3 stay: the next one must be 4

  const storage::ChatMessage chats[] = {
      {1, "slack-dm", "D1", "1767225600.000100", "alice"},
      {1, "slack-channel-post", "C-OPS", "1767225600.000200", ""},
      {1, "slack-incident-channel", "C-INC-1", "", ""},
      {2, "teams-dm", "a:1", "act-1", "bob"},
  };
  REQUIRE(s.add_chat_messages(chats, t0() + 10s));  // equal times: order by insertion
  REQUIRE(s.add_chat_message({1, "slack-dm", "D2", "1767225601.000100", "bob"}, t0() + 11s));
  REQUIRE(s.consume_token("tok-ack-1", t0() + 20s));
  REQUIRE(s.consume_token("tok-resolve-2", t0() + 21s));
  REQUIRE(s.save_teams_user("aad-bob", "29:bob", t0()));
  REQUIRE(s.save_teams_channel("team-1", "19:chan@thread.tacv2", "https://smba.example/emea/", t0()));
}

void check_same(const storage::OutboxEntry& a, const storage::OutboxEntry& b) {
  INFO("notification " << a.notification.id);
  CHECK(a.notification.id == b.notification.id);
  CHECK(a.notification.incident == b.notification.incident);
  CHECK(a.notification.person == b.notification.person);
  CHECK(a.notification.method == b.notification.method);
  CHECK(a.notification.kind == b.notification.kind);
  CHECK(a.notification.step == b.notification.step);
  CHECK(a.notification.created_at == b.notification.created_at);
  CHECK(a.notification.idempotency_key == b.notification.idempotency_key);
  CHECK(a.attempts == b.attempts);
  CHECK(a.next_attempt == b.next_attempt);
  CHECK(a.last_error == b.last_error);
}

// Every copied table, row by row as stored (text), in the copy's order.
void check_same_rows(const TestDb& from_db, const std::string& from, const TestDb& to_db, const std::string& to) {
  for (const auto& table : storage::codec::copy_tables()) {
    std::string cols;
    for (const auto& c : table.columns) cols += (cols.empty() ? "" : ", ") + c;
    auto select = [&](const TestDb& db) {
      return "SELECT " + cols + " FROM " + table.name + " ORDER BY " + (db.postgres() ? table.pg_order : table.sqlite_order);
    };
    auto a = from_db.query_at(from, select(from_db));
    auto b = to_db.query_at(to, select(to_db));
    INFO("table " << table.name);
    CHECK(a.size() == b.size());
    CHECK(a == b);
  }
}

// Everything the Store API shows of the two databases is the same.
void check_same_store(Store& a, Store& b) {
  auto la = a.load();
  auto lb = b.load();
  REQUIRE((la && lb));
  REQUIRE(la->open_incidents.size() == lb->open_incidents.size());
  for (std::size_t i = 0; i < la->open_incidents.size(); ++i)
    check_same_incident(la->open_incidents[i], lb->open_incidents[i]);
  REQUIRE(la->pending_outbox.size() == lb->pending_outbox.size());
  for (std::size_t i = 0; i < la->pending_outbox.size(); ++i) check_same(la->pending_outbox[i], lb->pending_outbox[i]);
  REQUIRE(la->overrides.size() == lb->overrides.size());
  for (std::size_t i = 0; i < la->overrides.size(); ++i) {
    CHECK(la->overrides[i].id == lb->overrides[i].id);
    CHECK(la->overrides[i].schedule_id == lb->overrides[i].schedule_id);
    CHECK(la->overrides[i].person == lb->overrides[i].person);
    CHECK(la->overrides[i].start == lb->overrides[i].start);
    CHECK(la->overrides[i].end == lb->overrides[i].end);
  }
  CHECK(la->next_incident == lb->next_incident);
  CHECK(la->next_notification == lb->next_notification);

  auto ia = a.list_incidents({std::nullopt, 100, std::nullopt});
  auto ib = b.list_incidents({std::nullopt, 100, std::nullopt});
  REQUIRE((ia && ib));
  REQUIRE(ia->size() == ib->size());
  for (std::size_t i = 0; i < ia->size(); ++i) check_same_incident((*ia)[i], (*ib)[i]);

  for (const auto& inc : *ia) {
    const auto n = inc.number;
    INFO("incident #" << n);
    auto ta = a.timeline(n);
    auto tb = b.timeline(n);
    REQUIRE((ta && tb));
    REQUIRE(ta->size() == tb->size());
    for (std::size_t i = 0; i < ta->size(); ++i) {
      CHECK((*ta)[i].at == (*tb)[i].at);
      CHECK((*ta)[i].kind == (*tb)[i].kind);
      CHECK((*ta)[i].actor == (*tb)[i].actor);
      CHECK((*ta)[i].channel == (*tb)[i].channel);
      CHECK((*ta)[i].message == (*tb)[i].message);
    }
    auto oa = a.outbox_for(n);
    auto ob = b.outbox_for(n);
    REQUIRE((oa && ob));
    REQUIRE(oa->size() == ob->size());
    for (std::size_t i = 0; i < oa->size(); ++i) check_same((*oa)[i], (*ob)[i]);
    auto ca = a.chat_messages(n);
    auto cb = b.chat_messages(n);
    REQUIRE((ca && cb));
    REQUIRE(ca->size() == cb->size());
    for (std::size_t i = 0; i < ca->size(); ++i) {
      CHECK((*ca)[i].kind == (*cb)[i].kind);
      CHECK((*ca)[i].conversation == (*cb)[i].conversation);
      CHECK((*ca)[i].message_id == (*cb)[i].message_id);
      CHECK((*ca)[i].person == (*cb)[i].person);
    }
  }
  CHECK(a.incident_for_conversation("C-INC-1").value() == b.incident_for_conversation("C-INC-1").value());
  CHECK(a.next_timer().value() == b.next_timer().value());
  CHECK(a.teams_users().value() == b.teams_users().value());
  CHECK(a.teams_channels().value() == b.teams_channels().value());
  for (auto state : {engine::IncidentState::triggered, engine::IncidentState::acknowledged,
                     engine::IncidentState::resolved})
    CHECK(a.count_incidents(state).value() == b.count_incidents(state).value());
}

}  // namespace

TEST_CASE("copy_to moves a running SQLite installation to PostgreSQL exactly", "[storage][postgres][migrate]") {
  BATON_TEST_DB_OF(pg, BackendKind::postgres);
  TestDb lite(BackendKind::sqlite);

  // The running installation keeps its writer open, as `baton serve` would.
  auto writer = open_store(lite.path());
  fill(*writer);
  auto source = open_reader(lite.path());
  auto target = open_store(pg.path());

  auto copied = source->copy_to(*target);
  REQUIRE(copied.has_value());
  std::map<std::string, std::int64_t> counts;
  for (const auto& c : *copied) counts[c.table] = c.rows;
  CHECK(copied->size() == storage::codec::copy_tables().size());
  CHECK(counts["incidents"] == 4);
  CHECK(counts["alerts"] == 5);
  CHECK(counts["outbox"] == 6);
  CHECK(counts["timers"] == std::stoll(*lite.scalar("SELECT COUNT(*) FROM timers")));
  CHECK(counts["timers"] > 0);
  CHECK(counts["overrides"] == 2);
  CHECK(counts["chat_messages"] == 5);
  CHECK(counts["used_tokens"] == 2);
  CHECK(counts["teams_users"] == 1);
  CHECK(counts["teams_channels"] == 1);

  check_same_rows(lite, lite.path(), pg, pg.path());
  check_same_store(*writer, *target);

  // The state the engine resumes from, spelled out.
  auto loaded = target->load();
  REQUIRE(loaded);
  REQUIRE(loaded->open_incidents.size() == 3);
  CHECK(loaded->open_incidents[0].escalation.step == 2);
  CHECK(loaded->open_incidents[0].contact.moved_on == std::vector<std::int64_t>{1});
  CHECK(loaded->open_incidents[1].state == engine::IncidentState::acknowledged);
  CHECK(loaded->open_incidents[2].policy == nullptr);
  CHECK(loaded->next_incident == 5);
  CHECK(loaded->next_notification == 7);
  REQUIRE(loaded->pending_outbox.size() == 3);  // 1 (retrying), 4, 5
  CHECK(loaded->pending_outbox[0].attempts == 2);
  CHECK(loaded->pending_outbox[0].next_attempt == t0() + 90s);
  CHECK(loaded->pending_outbox[0].last_error == "twilio: 503");

  // A copied token is refused as already used; a new one is taken.
  auto reused = target->consume_token("tok-ack-1", t0() + 100s);
  REQUIRE_FALSE(reused.has_value());
  CHECK(reused.error().kind == ErrorKind::conflict);
  CHECK(target->consume_token("tok-new", t0() + 100s));

  // New rows continue after the copied ids (alerts, timeline, overrides are
  // identity columns in PostgreSQL): nothing collides.
  REQUIRE(apply_one(*target, make_trigger_effects(loaded->next_incident, loaded->next_notification)));
  CHECK(target->get_incident(5).value().has_value());
  CHECK(pg.scalar("SELECT MAX(id) FROM alerts") == "6");
  CHECK(pg.scalar("SELECT MAX(id) FROM timeline") == lite.scalar("SELECT MAX(id) + 2 FROM timeline"));
  CHECK(target->add_override({0, "ops", "frank", t0(), t0() + 60s}).value() == 4);
  CHECK(writer->add_override({0, "ops", "frank", t0(), t0() + 60s}).value() == 4);
  REQUIRE(target->add_chat_message({5, "slack-dm", "D9", "1767225700.000100", "alice"}, t0()));
  CHECK(target->load().value().next_notification == 8);

  // The source is untouched and its writer was never blocked.
  REQUIRE(apply_one(*writer, make_trigger_effects(5, 7)));
  CHECK(writer->count_incidents(std::nullopt).value() == 5);
}

TEST_CASE("copy_to refuses a target that already holds data and leaves it as it was",
          "[storage][postgres][migrate]") {
  BATON_TEST_DB_OF(pg, BackendKind::postgres);
  TestDb lite(BackendKind::sqlite);
  {
    auto writer = open_store(lite.path());
    fill(*writer);
  }
  auto source = open_reader(lite.path());

  SECTION("an incident") {
    auto target = open_store(pg.path());
    REQUIRE(apply_one(*target, make_trigger_effects(7, 7)));
    auto before = pg.query("SELECT number, updated_ms FROM incidents ORDER BY number");
    auto copied = source->copy_to(*target);
    REQUIRE_FALSE(copied.has_value());
    CHECK(copied.error().kind == ErrorKind::conflict);
    CHECK(copied.error().message.find("not empty (incidents: 1 rows)") != std::string::npos);
    CHECK(pg.query("SELECT number, updated_ms FROM incidents ORDER BY number") == before);
    CHECK(pg.scalar("SELECT COUNT(*) FROM alerts") == "1");
    CHECK(pg.scalar("SELECT COUNT(*) FROM overrides") == "0");
    CHECK(pg.scalar("SELECT COUNT(*) FROM used_tokens") == "0");
    CHECK(target->load().value().next_incident == 8);
  }
  SECTION("no incident, but an override") {
    auto target = open_store(pg.path());
    REQUIRE(target->add_override({0, "ops", "zoe", t0(), t0() + 60s}));
    auto copied = source->copy_to(*target);
    REQUIRE_FALSE(copied.has_value());
    CHECK(copied.error().kind == ErrorKind::conflict);
    CHECK(copied.error().message.find("overrides: 1 rows") != std::string::npos);
    CHECK(pg.scalar("SELECT COUNT(*) FROM incidents") == "0");
    CHECK(pg.scalar("SELECT COUNT(*) FROM overrides") == "1");
  }
}

// A failure half-way (here: a row PostgreSQL refuses) leaves the target empty,
// so the copy can simply be run again once the cause is fixed.
TEST_CASE("a failed copy leaves nothing behind", "[storage][postgres][migrate]") {
  BATON_TEST_DB_OF(pg, BackendKind::postgres);
  TestDb lite(BackendKind::sqlite);
  {
    auto writer = open_store(lite.path());
    fill(*writer);
  }
  // SQLite stores any text in an INTEGER column; PostgreSQL's BIGINT does not.
  lite.exec("UPDATE used_tokens SET used_ms = 'soon' WHERE token_id = 'tok-ack-1'");
  auto source = open_reader(lite.path());
  auto target = open_store(pg.path());
  auto copied = source->copy_to(*target);
  REQUIRE_FALSE(copied.has_value());
  CHECK(copied.error().kind == ErrorKind::permanent);
  for (const auto& table : storage::codec::copy_tables()) {
    INFO(table.name);
    CHECK(pg.scalar("SELECT COUNT(*) FROM " + table.name) == "0");
  }
  lite.exec("UPDATE used_tokens SET used_ms = 1 WHERE token_id = 'tok-ack-1'");
  CHECK(source->copy_to(*target).has_value());
  CHECK(target->count_incidents(std::nullopt).value() == 4);
}

// The same copy works between any two back ends: SQLite -> SQLite ...
TEST_CASE("copy_to copies SQLite into SQLite", "[storage][migrate]") {
  TestDb lite(BackendKind::sqlite);
  {
    auto writer = open_store(lite.path());
    fill(*writer);
  }
  auto source = open_reader(lite.path());
  const auto copy_path = lite.another("copy.db");
  auto copy = open_store(copy_path);
  REQUIRE(source->copy_to(*copy));
  check_same_rows(lite, lite.path(), lite, copy_path);
  check_same_store(*source, *copy);
  CHECK(copy->add_override({0, "ops", "frank", t0(), t0() + 60s}).value() == 4);
  CHECK(source->copy_to(*source).error().kind == ErrorKind::invalid_request);
}

// ... and PostgreSQL back into SQLite (the way back).
TEST_CASE("copy_to copies PostgreSQL back into SQLite", "[storage][postgres][migrate]") {
  BATON_TEST_DB_OF(pg, BackendKind::postgres);
  TestDb lite(BackendKind::sqlite);
  {
    auto writer = open_store(lite.path());
    fill(*writer);
  }
  auto source = open_reader(lite.path());
  auto pg_store = open_store(pg.path());
  REQUIRE(source->copy_to(*pg_store));
  const auto back_path = lite.another("back.db");
  auto back = open_store(back_path);
  REQUIRE(open_reader(pg.path())->copy_to(*back));
  check_same_rows(lite, lite.path(), lite, back_path);
  check_same_store(*source, *back);
}

// The copy covers every column of every SQLite table but the bookkeeping ones:
// a new migration that adds a table or column fails here until the copy list
// (storage/codec.cpp, copy_tables) knows it.
TEST_CASE("copy_tables covers the whole schema", "[storage][migrate]") {
  TestDb lite(BackendKind::sqlite);
  open_store(lite.path());
  std::set<std::string> schema, copied;
  for (const auto& r : lite.query(
           "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p WHERE m.type = 'table' "
           "AND m.name NOT IN ('schema_migrations', 'write_probe')"))
    schema.insert(*r.at(0) + "." + *r.at(1));
  for (const auto& t : storage::codec::copy_tables())
    for (const auto& c : t.columns) copied.insert(t.name + "." + c);
  CHECK(copied == schema);
}
