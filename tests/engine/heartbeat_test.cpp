// Heartbeats in the engine, driven by a fake `now` (rules in
// engine/heartbeats.hpp). Each test states its scenario first.
#include <catch2/catch.hpp>

#include "engine/engine.hpp"

using namespace baton;
using namespace baton::engine;
using namespace std::chrono_literals;

namespace {

const TimePoint kT0 = from_ms(1'767'225'600'000);  // 2026-01-01T00:00:00Z

Person person(std::string id) {
  Person p;
  p.id = id;
  p.name = id;
  return p;
}

/// payments: alice (10 min) then bob; heartbeats "nightly" (1 h + 10 min
/// grace, key hb-nightly) and "watchdog" (5 min + 1 min, fed by the
/// Alertmanager alertname Watchdog, key hb-watchdog).
std::shared_ptr<Directory> make_directory() {
  auto d = std::make_shared<Directory>();
  d->people.emplace("alice", person("alice"));
  d->people.emplace("bob", person("bob"));
  EscalationPolicy p;
  p.id = "pay";
  p.steps = {EscalationStep{{Target{Target::Kind::person, "alice"}}, 600s},
             EscalationStep{{Target{Target::Kind::person, "bob"}}, 600s}};
  d->policies.emplace(p.id, p);
  Service s;
  s.id = "payments";
  s.name = "Payments";
  s.escalation_policy = "pay";
  s.integration_keys = {"am-key"};
  s.heartbeats = {Heartbeat{"nightly", 1h, 10min, "hb-nightly", ""}, Heartbeat{"watchdog", 5min, 1min, "hb-watchdog", "Watchdog"}};
  d->services.emplace(s.id, s);
  d->integration_keys.emplace("am-key", "payments");
  d->heartbeat_keys.emplace("hb-nightly", std::make_pair("payments", "nightly"));
  d->heartbeat_keys.emplace("hb-watchdog", std::make_pair("payments", "watchdog"));
  return d;
}

std::vector<std::string> pages_to(const Effects& fx) {
  std::vector<std::string> out;
  for (const auto& n : fx.notifications)
    if (n.kind == NotificationKind::page) out.push_back(n.person);
  return out;
}

std::string timeline_text(const Effects& fx) {
  std::string all;
  for (const auto& e : fx.timeline) all += e.message + "\n";
  return all;
}

const HeartbeatState* state_in(const Effects& fx, std::string_view name) {
  for (const auto& h : fx.heartbeats)
    if (h.name == name) return &h;
  return nullptr;
}

Effects beat(Engine& e, std::string key, TimePoint now) {
  auto r = e.beat(key, now);
  REQUIRE(r.has_value());
  return std::move(*r);
}

/// A fresh engine that first saw both heartbeats configured at `start`.
Engine started_engine(TimePoint start) {
  Engine e{make_directory()};
  auto fx = e.resume(start);
  REQUIRE(fx.heartbeats.size() == 2);
  return e;
}

Alert watchdog(bool firing, std::vector<GroupAlert> extra = {}) {
  Alert a;
  a.source = Source::alertmanager;
  a.integration_key = "am-key";
  a.action = firing ? AlertAction::trigger : AlertAction::resolve;
  a.dedup_key = "am:baton:{}:{alertname=\"Watchdog\"}";
  a.summary = "Watchdog";
  a.details_json = "{}";
  a.group.push_back(GroupAlert{"wd", firing, "2026-01-01T00:00:00Z", "Watchdog", "Watchdog"});
  for (auto& g : extra) a.group.push_back(std::move(g));
  return a;
}

}  // namespace

TEST_CASE("a missed heartbeat opens one incident paged through the policy; the next beat resolves it",
          "[engine][heartbeat]") {
  // Scenario: "nightly" (1 h + 10 min grace) is first seen at T0 and never
  // beats. At T0+70min minus a millisecond nothing happens; at T0+70min one
  // incident opens on payments, says since when nothing came, and pages alice.
  // Later ticks open nothing more. A beat at T0+2h resolves it with a note,
  // and the heartbeat counts from that beat.
  Engine e = started_engine(kT0);
  CHECK(e.next_wakeup() == kT0 + 5min + 1min);  // the watchdog heartbeat is due first
  // The watchdog beats all along; only "nightly" is silent.
  auto tick = [&e](TimePoint t) {
    (void)beat(e, "hb-watchdog", t - 1min);
    return e.tick(t);
  };
  for (auto t = kT0 + 5min; t < kT0 + 70min; t += 5min) CHECK(tick(t).incidents.empty());
  auto quiet = tick(kT0 + 70min - 1ms);
  CHECK(quiet.incidents.empty());

  auto fx = tick(kT0 + 70min);
  REQUIRE(fx.incidents.size() >= 1);
  std::int64_t number = 0;
  for (const auto& inc : fx.incidents)
    if (inc.dedup_key == "heartbeat:nightly") number = inc.number;
  REQUIRE(number != 0);
  const Incident* inc = e.find(number);
  REQUIRE(inc != nullptr);
  CHECK(inc->service_id == "payments");
  CHECK(inc->summary == "No heartbeat from nightly since 2026-01-01T00:00:00.000Z");
  CHECK(inc->severity == Severity::critical);
  CHECK(pages_to(fx) == std::vector<std::string>{"alice"});
  REQUIRE(state_in(fx, "nightly") != nullptr);
  CHECK(state_in(fx, "nightly")->incident == number);

  // Still missing: no second incident, only the escalation goes on.
  (void)tick(kT0 + 75min);
  auto later = tick(kT0 + 80min);
  for (const auto& i : later.incidents) CHECK(i.number == number);
  CHECK(pages_to(later) == std::vector<std::string>{"bob"});

  auto beaten = beat(e, "hb-nightly", kT0 + 2h);
  CHECK(e.find(number) == nullptr);
  REQUIRE_FALSE(beaten.incidents.empty());
  CHECK(beaten.incidents.back().state == IncidentState::resolved);
  CHECK(timeline_text(beaten).find("Heartbeat from nightly received at 2026-01-01T02:00:00.000Z: resolving") !=
        std::string::npos);
  const auto* st = state_in(beaten, "nightly");
  REQUIRE(st != nullptr);
  CHECK(st->incident == 0);
  CHECK(st->last_beat == kT0 + 2h);
  CHECK(e.heartbeats().at("payments/nightly").due(make_directory()->services.at("payments").heartbeats[0]) ==
        kT0 + 2h + 70min);
}

TEST_CASE("regular beats keep a heartbeat quiet; an unknown key changes nothing", "[engine][heartbeat]") {
  // Scenario: both heartbeats beat well within their intervals for a day:
  // no incident ever opens. A beat with a key nobody has is not_found.
  Engine e = started_engine(kT0);
  for (auto t = kT0; t < kT0 + 24h; t += 4min) {
    (void)beat(e, "hb-watchdog", t);
    if ((t - kT0) % 60min == 0min) (void)beat(e, "hb-nightly", t);
    CHECK(e.tick(t).incidents.empty());
  }
  CHECK(e.open_count() == 0);
  auto unknown = e.beat("hb-nope", kT0);
  REQUIRE_FALSE(unknown.has_value());
  CHECK(unknown.error().kind == ErrorKind::not_found);
}

TEST_CASE("a heartbeat incident resolved by hand re-arms the heartbeat from then", "[engine][heartbeat]") {
  // Scenario: the watchdog misses (due T0+6min) and pages; someone resolves it
  // by hand at T0+30min while beats are still missing. Nothing is paged again
  // at once: the heartbeat counts from the resolution, so the next incident
  // opens at T0+36min.
  Engine e = started_engine(kT0);
  (void)beat(e, "hb-nightly", kT0);
  auto fx = e.tick(kT0 + 6min);
  REQUIRE(e.open_count() == 1);
  const auto first = e.open_incidents().begin()->first;
  auto resolved = e.resolve(first, Actor{"alice", Source::api}, kT0 + 30min);
  REQUIRE(resolved.has_value());
  REQUIRE(state_in(*resolved, "watchdog") != nullptr);
  CHECK(state_in(*resolved, "watchdog")->incident == 0);
  CHECK(state_in(*resolved, "watchdog")->since == kT0 + 30min);

  CHECK(e.tick(kT0 + 30min).incidents.empty());
  CHECK(e.open_count() == 0);
  CHECK(e.next_wakeup() == kT0 + 36min);
  CHECK(e.tick(kT0 + 36min - 1ms).incidents.empty());
  auto again = e.tick(kT0 + 36min);
  CHECK(e.open_count() == 1);
  CHECK(e.open_incidents().begin()->first != first);
  CHECK(pages_to(again) == std::vector<std::string>{"alice"});
}

TEST_CASE("heartbeats after a restart: a deadline passed while down fires after the grace, unless a beat comes",
          "[engine][heartbeat][restart]") {
  // Scenario: nightly last beat at T0 (due T0+70min). baton is down from
  // T0+10min to T0+3h. The restarted engine restores the stored state: at
  // start nothing fires; nightly is due at start + 10 min grace. In one run a
  // beat arrives within the grace and nothing is ever opened; in the other no
  // beat comes and the incident opens at start + grace, naming the last beat.
  Engine before = started_engine(kT0);
  auto fx = beat(before, "hb-nightly", kT0);
  fx.merge(beat(before, "hb-watchdog", kT0));
  std::vector<HeartbeatState> stored(fx.heartbeats.begin(), fx.heartbeats.end());
  const TimePoint start = kT0 + 3h;

  auto restart = [&] {
    Engine e{make_directory()};
    for (const auto& h : stored) e.restore_heartbeat(h);
    auto resumed = e.resume(start);
    CHECK(resumed.heartbeats.empty());  // nothing new configured: nothing to store
    return e;
  };

  SECTION("a beat within the grace after the start") {
    Engine e = restart();
    CHECK(e.tick(start).incidents.empty());
    CHECK(e.next_wakeup() == start + 1min);  // the watchdog's grace is shorter
    (void)beat(e, "hb-watchdog", start + 30s);
    (void)beat(e, "hb-watchdog", start + 5min);
    (void)beat(e, "hb-nightly", start + 9min);
    CHECK(e.tick(start + 10min).incidents.empty());
    CHECK(e.open_count() == 0);
  }
  SECTION("no beat within the grace") {
    Engine e = restart();
    (void)beat(e, "hb-watchdog", start);
    (void)beat(e, "hb-watchdog", start + 5min);
    CHECK(e.tick(start + 10min - 1ms).incidents.empty());
    auto fired = e.tick(start + 10min);
    REQUIRE(e.open_count() == 1);
    CHECK(e.open_incidents().begin()->second.summary == "No heartbeat from nightly since 2026-01-01T00:00:00.000Z");
    CHECK(pages_to(fired) == std::vector<std::string>{"alice"});
  }
  SECTION("an open heartbeat incident is still linked after the restart") {
    Engine e = restart();
    (void)beat(e, "hb-watchdog", start);
    (void)beat(e, "hb-watchdog", start + 5min);
    auto fired = e.tick(start + 10min);
    REQUIRE(e.open_count() == 1);
    stored.assign(fired.heartbeats.begin(), fired.heartbeats.end());
    // Second restart, with the incident open.
    Engine again{make_directory()};
    for (const auto& inc : fired.incidents) again.restore(inc);
    for (const auto& h : stored) again.restore_heartbeat(h);
    (void)again.resume(start + 20min);
    (void)again.tick(start + 20min);
    CHECK(again.open_count() == 1);  // no second incident
    auto resolved = beat(again, "hb-nightly", start + 25min);
    CHECK(again.open_count() == 0);
    CHECK(timeline_text(resolved).find("Heartbeat from nightly received") != std::string::npos);
  }
}

TEST_CASE("a heartbeat never beaten counts from when it was first configured", "[engine][heartbeat]") {
  // Scenario: a reload adds heartbeat "backup" (30 min, no grace) at T0+1h to
  // an engine that has run since T0. It is stored as first seen at T0+1h and
  // fires at T0+90min, saying nothing came since T0+1h.
  auto dir = make_directory();
  Engine e{dir};
  (void)e.resume(kT0);
  (void)beat(e, "hb-nightly", kT0);
  (void)beat(e, "hb-watchdog", kT0 + 85min);
  auto changed = std::make_shared<Directory>(*dir);
  changed->services.at("payments").heartbeats.push_back(Heartbeat{"backup", 30min, 0s, "hb-backup", ""});
  changed->heartbeat_keys.emplace("hb-backup", std::make_pair("payments", "backup"));
  e.set_directory(changed);
  auto synced = e.sync_heartbeats(kT0 + 1h);
  REQUIRE(synced.heartbeats.size() == 1);
  CHECK(synced.heartbeats[0].name == "backup");
  CHECK(synced.heartbeats[0].first_seen == kT0 + 1h);
  CHECK_FALSE(synced.heartbeats[0].last_beat.has_value());
  (void)beat(e, "hb-nightly", kT0 + 85min);
  CHECK(e.tick(kT0 + 90min - 1ms).incidents.empty());
  (void)e.tick(kT0 + 90min);
  REQUIRE(e.open_count() == 1);
  CHECK(e.open_incidents().begin()->second.summary == "No heartbeat from backup since 2026-01-01T01:00:00.000Z");
}

TEST_CASE("an Alertmanager Watchdog feeds its heartbeat and opens no incident", "[engine][heartbeat][alertmanager]") {
  // Scenario: the always-firing Watchdog arrives every 4 minutes through the
  // service's Alertmanager integration: it beats "watchdog" and never opens
  // an incident. A resolved Watchdog is not a beat. A group mixing the
  // Watchdog with a real alert opens an incident for the real alert only.
  Engine e = started_engine(kT0);
  (void)beat(e, "hb-nightly", kT0);
  for (auto t = kT0; t <= kT0 + 40min; t += 4min) {
    auto fx = e.ingest(watchdog(true), t);
    REQUIRE(fx.has_value());
    CHECK(fx->incidents.empty());
    CHECK(fx->alerts.empty());
    REQUIRE(state_in(*fx, "watchdog") != nullptr);
    CHECK(state_in(*fx, "watchdog")->last_beat == t);
    CHECK(e.tick(t).incidents.empty());
  }
  CHECK(e.open_count() == 0);

  auto resolved = e.ingest(watchdog(false), kT0 + 41min);
  REQUIRE(resolved.has_value());
  CHECK(resolved->heartbeats.empty());
  CHECK(resolved->incidents.empty());

  auto mixed = e.ingest(watchdog(true, {GroupAlert{"db", true, "2026-01-01T00:40:00Z", "db down", "InstanceDown"}}),
                        kT0 + 42min);
  REQUIRE(mixed.has_value());
  REQUIRE(e.open_count() == 1);
  CHECK(e.open_incidents().begin()->second.alert_count == 1);
  CHECK(state_in(*mixed, "watchdog") != nullptr);
  CHECK(pages_to(*mixed) == std::vector<std::string>{"alice"});
}
