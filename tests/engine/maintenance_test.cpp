// Maintenance windows: weekly ones in time zones (DST), one-off ones, and the
// engine holding incidents while its service is in maintenance (rules in
// engine/maintenance.hpp). Fake `now` throughout; each test states its
// scenario first.
#include <algorithm>
#include <catch2/catch.hpp>

#include "engine/engine.hpp"
#include "engine/maintenance.hpp"
#include "engine/oncall.hpp"

using namespace baton;
using namespace baton::engine;
using namespace std::chrono_literals;

namespace {

const TimePoint kT0 = from_ms(1'767'225'600'000);  // 2026-01-01T00:00:00Z, a Thursday

TimePoint utc(const char* iso) { return parse_iso8601(iso).value(); }

Person person(std::string id) {
  Person p;
  p.id = id;
  p.name = id;
  return p;
}

/// payments (alice 10 min, then bob) with integration key key-pay; a
/// heartbeat "cron" (30 min, no grace) with key hb-cron.
std::shared_ptr<Directory> make_directory(std::vector<MaintenanceRule> rules = {}) {
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
  s.integration_keys = {"key-pay"};
  s.maintenance = std::move(rules);
  s.heartbeats = {Heartbeat{"cron", 30min, 0s, "hb-cron", ""}};
  d->services.emplace(s.id, s);
  d->integration_keys.emplace("key-pay", "payments");
  d->heartbeat_keys.emplace("hb-cron", std::make_pair("payments", "cron"));
  return d;
}

Alert trigger(std::string dedup) {
  Alert a;
  a.integration_key = "key-pay";
  a.dedup_key = std::move(dedup);
  a.summary = "Disk full";
  a.severity = Severity::critical;
  a.details_json = "{}";
  return a;
}

std::vector<std::string> pages_to(const Effects& fx) {
  std::vector<std::string> out;
  for (const auto& n : fx.notifications)
    if (n.kind == NotificationKind::page) out.push_back(n.person + "#" + std::to_string(n.incident));
  return out;
}

std::string timeline_text(const Effects& fx) {
  std::string all;
  for (const auto& e : fx.timeline) all += e.message + "\n";
  return all;
}

MaintenanceWindow window(std::int64_t id, TimePoint start, TimePoint end, std::string reason = "deploy") {
  MaintenanceWindow w;
  w.id = id;
  w.service_id = "payments";
  w.start = start;
  w.end = end;
  w.reason = std::move(reason);
  w.created_by = "api:ops";
  return w;
}

Effects ingest(Engine& e, const Alert& a, TimePoint now) {
  auto r = e.ingest(a, now);
  REQUIRE(r.has_value());
  return std::move(*r);
}

MaintenanceRule rule(std::vector<int> days, int start_minute, Millis duration, std::string tz) {
  MaintenanceRule r;
  r.days = std::move(days);
  r.start_minute = start_minute;
  r.duration = duration;
  r.time_zone = std::move(tz);
  return r;
}

}  // namespace

TEST_CASE("a weekly window keeps its local start time across DST changes", "[engine][maintenance][dst]") {
  // Scenario: every Tuesday 02:00-03:00 Europe/Berlin. In January (CET,
  // UTC+1) that is 01:00-02:00 UTC; in July (CEST, UTC+2) 00:00-01:00 UTC. A
  // Sunday 02:30 window falls into the spring-forward gap on 2026-03-29 (02:00
  // -> 03:00): it starts when the gap ends, 03:00 CEST = 01:00 UTC, and lasts
  // its hour of real time. On 2026-10-25, 02:30 happens twice: the first one
  // (CEST) counts.
  const auto tuesday = rule({2}, 2 * 60, 1h, "Europe/Berlin");
  REQUIRE(validate_rule(tuesday));
  auto jan = rule_occurrences(tuesday, utc("2026-01-05T00:00:00Z"), utc("2026-01-08T00:00:00Z"));
  REQUIRE(jan.size() == 1);
  CHECK(jan[0].start == utc("2026-01-06T01:00:00Z"));
  CHECK(jan[0].end == utc("2026-01-06T02:00:00Z"));
  auto jul = rule_occurrences(tuesday, utc("2026-07-06T00:00:00Z"), utc("2026-07-09T00:00:00Z"));
  REQUIRE(jul.size() == 1);
  CHECK(jul[0].start == utc("2026-07-07T00:00:00Z"));
  CHECK(jul[0].end == utc("2026-07-07T01:00:00Z"));

  const auto sunday = rule({7}, 2 * 60 + 30, 1h, "Europe/Berlin");
  auto spring = rule_occurrences(sunday, utc("2026-03-28T00:00:00Z"), utc("2026-03-30T00:00:00Z"));
  REQUIRE(spring.size() == 1);
  CHECK(spring[0].start == utc("2026-03-29T01:00:00Z"));
  CHECK(spring[0].end == utc("2026-03-29T02:00:00Z"));
  auto autumn = rule_occurrences(sunday, utc("2026-10-24T00:00:00Z"), utc("2026-10-26T00:00:00Z"));
  REQUIRE(autumn.size() == 1);
  CHECK(autumn[0].start == utc("2026-10-25T00:30:00Z"));

  // maintenance_at in and around the summer occurrence; the next one is a week on.
  Service s;
  s.id = "payments";
  s.maintenance = {tuesday};
  CHECK_FALSE(maintenance_at(s, {}, utc("2026-07-06T23:59:59Z")).has_value());
  auto in = maintenance_at(s, {}, utc("2026-07-07T00:30:00Z"));
  REQUIRE(in.has_value());
  CHECK(in->until == utc("2026-07-07T01:00:00Z"));
  CHECK(in->reason == "scheduled maintenance");
  CHECK(in->window == 0);
  CHECK_FALSE(maintenance_at(s, {}, utc("2026-07-07T01:00:00Z")).has_value());
  auto next = current_or_next(tuesday, utc("2026-07-07T01:00:00Z"));
  REQUIRE(next.has_value());
  CHECK(next->start == utc("2026-07-14T00:00:00Z"));

  // Bad rules are refused.
  CHECK_FALSE(validate_rule(rule({}, 0, 1h, "UTC")));
  CHECK_FALSE(validate_rule(rule({8}, 0, 1h, "UTC")));
  CHECK_FALSE(validate_rule(rule({1}, 24 * 60, 1h, "UTC")));
  CHECK_FALSE(validate_rule(rule({1}, 0, 0s, "UTC")));
  CHECK_FALSE(validate_rule(rule({1}, 0, 1h, "Mars/Olympus")));
}

TEST_CASE("overlapping windows carry the maintenance on to the last end", "[engine][maintenance]") {
  // Scenario: a one-off window 00:00-01:00 and a daily configured one
  // 00:30-02:00 UTC: at 00:10 the service is in maintenance until 02:00 (the
  // chain), with the one-off window's reason (in force then). A window ended
  // early stops counting at its end.
  Service s;
  s.id = "payments";
  s.maintenance = {rule({1, 2, 3, 4, 5, 6, 7}, 30, 90min, "UTC")};
  std::vector<MaintenanceWindow> windows{window(7, kT0, kT0 + 1h)};
  auto m = maintenance_at(s, windows, kT0 + 10min);
  REQUIRE(m.has_value());
  CHECK(m->until == kT0 + 2h);
  CHECK(m->reason == "deploy");
  CHECK(m->window == 7);
  windows[0].ended_at = kT0 + 20min;
  CHECK_FALSE(maintenance_at(s, windows, kT0 + 20min).has_value());
  CHECK(maintenance_at(s, windows, kT0 + 40min)->reason == "scheduled maintenance");
}

TEST_CASE("during a window alerts are recorded and held; at its end what is still open is paged",
          "[engine][maintenance]") {
  // Scenario: a one-off window "deploy" T0..T0+1h. Alert A at T0+5min opens
  // #1, held: recorded with a timeline line saying so, nobody paged. A again
  // is deduplicated. Alert B opens #2, also held, and is resolved at
  // T0+30min. At T0+1h #1's escalation starts (alice paged), #2 stays quiet.
  // An incident opened by hand during the window is paged at once.
  Engine e{make_directory()};
  (void)e.resume(kT0);
  (void)e.beat("hb-cron", kT0);
  (void)e.add_maintenance(window(1, kT0, kT0 + 1h), kT0);
  CHECK(e.maintenance("payments", kT0 + 5min).has_value());

  auto a = ingest(e, trigger("A"), kT0 + 5min);
  REQUIRE(a.incidents.size() == 1);
  CHECK(pages_to(a).empty());
  CHECK(a.notifications.empty());
  CHECK(a.incidents[0].suppressed_until == kT0 + 1h);
  CHECK(a.incidents[0].suppressed_reason == "deploy");
  CHECK(timeline_text(a).find("Suppressed by maintenance (deploy) until 2026-01-01T01:00:00.000Z") !=
        std::string::npos);
  CHECK(a.alerts.size() == 1);  // recorded
  auto again = ingest(e, trigger("A"), kT0 + 6min);
  CHECK(again.incidents.empty());
  CHECK(e.open_count() == 1);

  auto b = ingest(e, trigger("B"), kT0 + 10min);
  CHECK(pages_to(b).empty());
  const auto number_b = b.incidents.at(0).number;
  REQUIRE(e.resolve(number_b, Actor{"alice", Source::api}, kT0 + 30min).has_value());

  auto manual = e.create("payments", "Checking by hand", Severity::error, Actor{"api:ops", Source::api}, kT0 + 31min);
  REQUIRE(manual.has_value());
  const auto number_manual = manual->incidents.at(0).number;
  CHECK(pages_to(*manual) == std::vector<std::string>{"alice#" + std::to_string(number_manual)});
  REQUIRE(e.resolve(number_manual, Actor{"alice", Source::api}, kT0 + 32min).has_value());

  (void)e.beat("hb-cron", kT0 + 29min);
  (void)e.beat("hb-cron", kT0 + 58min);
  CHECK(e.next_wakeup() == kT0 + 1h);
  CHECK(e.tick(kT0 + 1h - 1ms).notifications.empty());
  auto end = e.tick(kT0 + 1h);
  CHECK(pages_to(end) == std::vector<std::string>{"alice#1"});
  CHECK(timeline_text(end).find("Maintenance (deploy) ended: paging now") != std::string::npos);
  CHECK_FALSE(e.find(1)->suppressed_until.has_value());
  // The escalation runs as usual from the end of the window.
  (void)e.beat("hb-cron", kT0 + 1h);
  CHECK(pages_to(e.tick(kT0 + 70min)) == std::vector<std::string>{"bob#1"});
}

TEST_CASE("ending a window early pages what it held at once", "[engine][maintenance]") {
  // Scenario: window T0..T0+2h; alert at T0+5min is held; the window is ended
  // early at T0+20min: alice is paged in that same call. An acknowledged
  // held incident is not paged.
  Engine e{make_directory()};
  (void)e.resume(kT0);
  (void)e.add_maintenance(window(3, kT0, kT0 + 2h), kT0);
  (void)ingest(e, trigger("A"), kT0 + 5min);
  (void)ingest(e, trigger("C"), kT0 + 6min);
  REQUIRE(e.acknowledge(2, Actor{"bob", Source::slack}, kT0 + 7min).has_value());
  CHECK_FALSE(e.find(2)->suppressed_until.has_value());
  auto w = window(3, kT0, kT0 + 2h);
  w.ended_at = kT0 + 20min;
  w.ended_by = "api:ops";
  auto fx = e.end_maintenance(w, Actor{"api:ops", Source::api}, kT0 + 20min);
  CHECK(pages_to(fx) == std::vector<std::string>{"alice#1"});
  CHECK(timeline_text(fx).find("Maintenance (deploy) ended early by api:ops: paging now") != std::string::npos);
  CHECK_FALSE(e.maintenance("payments", kT0 + 20min).has_value());
  // New alerts page at once again.
  CHECK(pages_to(ingest(e, trigger("D"), kT0 + 21min)) == std::vector<std::string>{"alice#3"});
}

TEST_CASE("a configured weekly window holds incidents; a longer one-off window extends the hold",
          "[engine][maintenance]") {
  // Scenario: every Thursday 00:00-01:00 UTC (T0 is a Thursday). An alert at
  // T0+10min is held until 01:00. A one-off window added at T0+20min until
  // 02:00 moves the hold to 02:00 (with a line on the timeline). A missed
  // heartbeat during the window is held too. At 02:00 both are paged.
  Engine e{make_directory({rule({4}, 0, 1h, "UTC")})};
  (void)e.resume(kT0);
  auto held = ingest(e, trigger("A"), kT0 + 10min);
  CHECK(held.incidents.at(0).suppressed_until == kT0 + 1h);
  CHECK(held.incidents.at(0).suppressed_reason == "scheduled maintenance");
  auto extended = e.add_maintenance(window(9, kT0 + 20min, kT0 + 2h, "migration"), kT0 + 20min);
  REQUIRE(extended.incidents.size() == 1);
  CHECK(extended.incidents[0].suppressed_until == kT0 + 2h);
  CHECK(timeline_text(extended).find("until 2026-01-01T02:00:00.000Z") != std::string::npos);

  // The heartbeat (30 min, never beaten) misses at T0+30min: held as well.
  auto missed = e.tick(kT0 + 30min);
  REQUIRE(missed.incidents.size() == 1);
  CHECK(missed.incidents[0].dedup_key == "heartbeat:cron");
  CHECK(missed.incidents[0].suppressed_until == kT0 + 2h);
  CHECK(pages_to(missed).empty());

  CHECK(e.tick(kT0 + 1h).notifications.empty());  // the weekly window ends; the one-off goes on
  auto end = e.tick(kT0 + 2h);
  auto pages = pages_to(end);
  std::sort(pages.begin(), pages.end());
  CHECK(pages == std::vector<std::string>{"alice#1", "alice#2"});
}

TEST_CASE("held incidents survive a restart; a window ended while down pages at start", "[engine][maintenance][restart]") {
  // Scenario: window 1 (T0..T0+1h) holds #1. The engine restarts at
  // T0+30min from what was stored: #1 is still held and is paged at T0+1h,
  // not before. In a second run the window was ended early (stored) while
  // the engine was down: #1 is paged at the first tick after the start.
  Engine before{make_directory()};
  (void)before.resume(kT0);
  (void)before.add_maintenance(window(1, kT0, kT0 + 1h), kT0);
  auto fx = ingest(before, trigger("A"), kT0 + 5min);
  const Incident stored = fx.incidents.at(0);
  REQUIRE(stored.suppressed_until == kT0 + 1h);

  SECTION("the window goes on") {
    Engine e{make_directory()};
    e.restore(stored);
    e.restore_maintenance(window(1, kT0, kT0 + 1h));
    (void)e.resume(kT0 + 30min);
    (void)e.beat("hb-cron", kT0 + 30min);
    CHECK(e.tick(kT0 + 30min).notifications.empty());
    (void)e.beat("hb-cron", kT0 + 50min);
    CHECK(e.next_wakeup() == kT0 + 1h);
    CHECK(pages_to(e.tick(kT0 + 1h)) == std::vector<std::string>{"alice#1"});
  }
  SECTION("the window was ended while the engine was down") {
    Engine e{make_directory()};
    e.restore(stored);
    auto w = window(1, kT0, kT0 + 1h);
    w.ended_at = kT0 + 20min;
    e.restore_maintenance(w);
    (void)e.resume(kT0 + 30min);
    CHECK(e.next_wakeup() == kT0 + 30min);
    CHECK(pages_to(e.tick(kT0 + 30min)) == std::vector<std::string>{"alice#1"});
  }
}

TEST_CASE("incidents already escalating when a window begins go on; escalating a held one pages step 1",
          "[engine][maintenance]") {
  // Scenario: #1 opens before any window and pages alice. A window starts at
  // T0+1min: #1 still escalates to bob at T0+10min. #2, held, is escalated by
  // hand: that is a request to page now, and step 1 (alice) is paged.
  Engine e{make_directory()};
  (void)e.resume(kT0);
  CHECK(pages_to(ingest(e, trigger("A"), kT0)) == std::vector<std::string>{"alice#1"});
  (void)e.add_maintenance(window(1, kT0 + 1min, kT0 + 1h), kT0 + 1min);
  (void)ingest(e, trigger("B"), kT0 + 2min);
  (void)e.beat("hb-cron", kT0 + 5min);
  CHECK(pages_to(e.tick(kT0 + 10min)) == std::vector<std::string>{"bob#1"});
  auto escalated = e.escalate(2, Actor{"alice", Source::slack}, kT0 + 11min);
  REQUIRE(escalated.has_value());
  CHECK(pages_to(*escalated) == std::vector<std::string>{"alice#2"});
  CHECK_FALSE(e.find(2)->suppressed_until.has_value());
}
