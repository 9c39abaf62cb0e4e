// On-call schedules: rotations in time zones, DST, restrictions, layers,
// overrides, the final schedule, handoffs, validation and time parsing.
#include "engine/oncall.hpp"

#include <catch2/catch.hpp>
#include <date/date.h>

#include <chrono>

using namespace std::chrono_literals;
using baton::ErrorKind;
using baton::engine::final_schedule;
using baton::engine::is_valid_time_zone;
using baton::engine::Layer;
using baton::engine::next_handoffs;
using baton::engine::on_call_at;
using baton::engine::Override;
using baton::engine::parse_iso8601;
using baton::engine::parse_local_time;
using baton::engine::Restriction;
using baton::engine::Schedule;
using baton::engine::Shift;
using baton::engine::ShiftUnit;
using baton::engine::TimePoint;
using baton::engine::validate_schedule;

namespace {

// A UTC instant built independently of the code under test.
TimePoint utc(int y, unsigned m, unsigned d, std::chrono::milliseconds time_of_day = 0ms) {
  return TimePoint{date::sys_days{date::year{y} / date::month{m} / date::day{d}}.time_since_epoch() +
                   time_of_day};
}

Layer layer(std::string name, std::vector<std::string> people, ShiftUnit unit, int length,
            std::string start_local, std::string zone, std::vector<Restriction> restrictions = {}) {
  Layer l;
  l.name = std::move(name);
  l.participants = std::move(people);
  l.unit = unit;
  l.shift_length = length;
  l.start_local = std::move(start_local);
  l.time_zone = std::move(zone);
  l.restrictions = std::move(restrictions);
  return l;
}

Schedule schedule(std::vector<Layer> layers, std::vector<Override> overrides = {}) {
  Schedule s;
  s.id = "primary";
  s.name = "Primary";
  s.layers = std::move(layers);
  s.overrides = std::move(overrides);
  return s;
}

Override override_for(std::string schedule_id, std::string person, TimePoint start, TimePoint end) {
  Override o;
  o.schedule_id = std::move(schedule_id);
  o.person = std::move(person);
  o.start = start;
  o.end = end;
  return o;
}

std::string who(const Schedule& s, TimePoint at, std::span<const Override> extra = {}) {
  return on_call_at(s, extra, at).value_or("<nobody>");
}

}  // namespace

// Weekly rotation handing off Monday 09:00 America/New_York (14:00Z in winter,
// 13:00Z in summer): a, b, c in turn; nobody before the first handoff; the
// index is right a year later and across the March DST change.
TEST_CASE("weekly rotation in New York hands off Monday 09:00 local", "[oncall]") {
  const auto s = schedule({layer("weekly", {"a", "b", "c"}, ShiftUnit::weeks, 1, "2026-01-05T09:00",
                                 "America/New_York")});
  CHECK(who(s, utc(2026, 1, 5, 14h) - 1ms) == "<nobody>");
  CHECK(who(s, utc(2026, 1, 5, 14h)) == "a");
  CHECK(who(s, utc(2026, 1, 12, 14h) - 1ms) == "a");
  CHECK(who(s, utc(2026, 1, 12, 14h)) == "b");
  CHECK(who(s, utc(2026, 1, 19, 14h)) == "c");
  CHECK(who(s, utc(2026, 1, 26, 14h)) == "a");
  // 2026-03-09 is week 9 (9 % 3 == 0), now in EDT: 09:00 local is 13:00Z.
  CHECK(who(s, utc(2026, 3, 9, 13h) - 1ms) == "c");
  CHECK(who(s, utc(2026, 3, 9, 13h)) == "a");
  // 2027-01-04 is week 52 (52 % 3 == 1), back in EST.
  CHECK(who(s, utc(2027, 1, 4, 14h) - 1ms) == "a");
  CHECK(who(s, utc(2027, 1, 4, 14h)) == "b");
}

// The same Monday 09:00 handoff in two other zones: Tokyo (UTC+9, no DST) and
// Berlin (UTC+1 in winter): each layer hands off at its own local time.
TEST_CASE("weekly rotation follows each layer's own time zone", "[oncall]") {
  const auto tokyo = schedule({layer("tokyo", {"ken", "yui"}, ShiftUnit::weeks, 1, "2026-01-05T09:00",
                                     "Asia/Tokyo")});
  CHECK(who(tokyo, utc(2026, 1, 5, 0h) - 1ms) == "<nobody>");
  CHECK(who(tokyo, utc(2026, 1, 5, 0h)) == "ken");
  CHECK(who(tokyo, utc(2026, 1, 12, 0h)) == "yui");

  const auto berlin = schedule({layer("berlin", {"jan", "eva"}, ShiftUnit::weeks, 2, "2026-01-05T09:00",
                                      "Europe/Berlin")});
  CHECK(who(berlin, utc(2026, 1, 5, 8h)) == "jan");
  CHECK(who(berlin, utc(2026, 1, 12, 8h)) == "jan");  // two-week shifts
  CHECK(who(berlin, utc(2026, 1, 19, 8h) - 1ms) == "jan");
  CHECK(who(berlin, utc(2026, 1, 19, 8h)) == "eva");
}

// Daily rotation across the US spring-forward (2026-03-08): the handoff stays
// 09:00 local, so it moves from 14:00Z to 13:00Z and the shift over the change
// lasts 23 hours.
TEST_CASE("daily rotation keeps 09:00 local across US spring forward", "[oncall][dst]") {
  const auto s = schedule({layer("daily", {"a", "b"}, ShiftUnit::days, 1, "2026-03-06T09:00",
                                 "America/New_York")});
  CHECK(who(s, utc(2026, 3, 6, 14h)) == "a");
  CHECK(who(s, utc(2026, 3, 7, 14h)) == "b");
  CHECK(who(s, utc(2026, 3, 8, 13h) - 1ms) == "b");
  CHECK(who(s, utc(2026, 3, 8, 13h)) == "a");
  CHECK(who(s, utc(2026, 3, 9, 13h)) == "b");

  const auto shifts = final_schedule(s, {}, utc(2026, 3, 7, 14h), utc(2026, 3, 9, 13h));
  REQUIRE(shifts.size() == 2);
  CHECK(shifts[0].person == "b");
  CHECK(shifts[0].end - shifts[0].start == 23h);
  CHECK(shifts[1].person == "a");
  CHECK(shifts[1].end - shifts[1].start == 24h);
}

// Daily rotation across the US fall-back (2026-11-01): 09:00 EDT is 13:00Z,
// 09:00 EST is 14:00Z; the shift over the change lasts 25 hours.
TEST_CASE("daily rotation keeps 09:00 local across US fall back", "[oncall][dst]") {
  const auto s = schedule({layer("daily", {"a", "b"}, ShiftUnit::days, 1, "2026-10-30T09:00",
                                 "America/New_York")});
  CHECK(who(s, utc(2026, 10, 30, 13h)) == "a");
  CHECK(who(s, utc(2026, 10, 31, 13h)) == "b");
  CHECK(who(s, utc(2026, 11, 1, 14h) - 1ms) == "b");
  CHECK(who(s, utc(2026, 11, 1, 14h)) == "a");

  const auto shifts = final_schedule(s, {}, utc(2026, 10, 31, 13h), utc(2026, 11, 2, 14h));
  REQUIRE(shifts.size() == 2);
  CHECK(shifts[0].end - shifts[0].start == 25h);
  CHECK(shifts[1].start == utc(2026, 11, 1, 14h));
}

// Europe/London: BST starts 2026-03-29 and ends 2026-10-25; 09:00 local is
// 09:00Z in GMT and 08:00Z in BST.
TEST_CASE("daily rotation keeps 09:00 local across London DST changes", "[oncall][dst]") {
  const auto spring = schedule({layer("daily", {"a", "b"}, ShiftUnit::days, 1, "2026-03-27T09:00",
                                      "Europe/London")});
  CHECK(who(spring, utc(2026, 3, 27, 9h)) == "a");
  CHECK(who(spring, utc(2026, 3, 28, 9h)) == "b");
  CHECK(who(spring, utc(2026, 3, 29, 8h) - 1ms) == "b");
  CHECK(who(spring, utc(2026, 3, 29, 8h)) == "a");

  const auto autumn = schedule({layer("daily", {"a", "b"}, ShiftUnit::days, 1, "2026-10-23T09:00",
                                      "Europe/London")});
  CHECK(who(autumn, utc(2026, 10, 23, 8h)) == "a");
  CHECK(who(autumn, utc(2026, 10, 24, 8h)) == "b");
  CHECK(who(autumn, utc(2026, 10, 25, 9h) - 1ms) == "b");
  CHECK(who(autumn, utc(2026, 10, 25, 9h)) == "a");
}

// A rotation starting at 02:30 on 2026-03-08 in New York, a local time that
// does not exist: it starts when the gap ends (03:00 EDT = 07:00Z); the next
// day's handoff is the ordinary 02:30 EDT (06:30Z).
TEST_CASE("rotation starting at a nonexistent local time starts when the gap ends", "[oncall][dst]") {
  const auto s = schedule({layer("daily", {"a", "b"}, ShiftUnit::days, 1, "2026-03-08T02:30",
                                 "America/New_York")});
  CHECK(who(s, utc(2026, 3, 8, 7h) - 1ms) == "<nobody>");
  CHECK(who(s, utc(2026, 3, 8, 7h)) == "a");
  CHECK(who(s, utc(2026, 3, 9, 6h + 30min) - 1ms) == "a");
  CHECK(who(s, utc(2026, 3, 9, 6h + 30min)) == "b");
}

// Ambiguous and nonexistent local times resolve to the earlier valid instant.
TEST_CASE("parse_local_time resolves DST edge cases", "[oncall][dst][parse]") {
  // 01:30 happens twice on 2026-11-01 in New York: the EDT one (05:30Z) wins.
  CHECK(parse_local_time("2026-11-01T01:30", "America/New_York").value() == utc(2026, 11, 1, 5h + 30min));
  // 01:30 happens twice on 2026-10-25 in London: the BST one (00:30Z) wins.
  CHECK(parse_local_time("2026-10-25T01:30", "Europe/London").value() == utc(2026, 10, 25, 30min));
  // 01:30 does not exist on 2026-03-29 in London: the gap ends 02:00 BST = 01:00Z.
  CHECK(parse_local_time("2026-03-29T01:30", "Europe/London").value() == utc(2026, 3, 29, 1h));
  CHECK(parse_local_time("2026-03-08T02:30:00", "America/New_York").value() == utc(2026, 3, 8, 7h));
}

// Hourly shifts are exact durations: 4-hour shifts in New York keep a 4-hour
// rhythm in UTC straight through the spring-forward night, and the index is
// computed arithmetically far ahead.
TEST_CASE("hourly rotation uses exact durations", "[oncall]") {
  const auto s = schedule({layer("hourly", {"a", "b", "c"}, ShiftUnit::hours, 4, "2026-03-07T22:00",
                                 "America/New_York")});
  CHECK(who(s, utc(2026, 3, 8, 3h) - 1ms) == "<nobody>");
  CHECK(who(s, utc(2026, 3, 8, 3h)) == "a");
  CHECK(who(s, utc(2026, 3, 8, 7h) - 1ms) == "a");
  CHECK(who(s, utc(2026, 3, 8, 7h)) == "b");
  CHECK(who(s, utc(2026, 3, 8, 11h)) == "c");
  CHECK(who(s, utc(2026, 3, 8, 15h)) == "a");
  // 1000 days later = 6000 shifts (6000 % 3 == 0).
  CHECK(who(s, utc(2026, 3, 8, 3h) + 24h * 1000) == "a");
  CHECK(who(s, utc(2026, 3, 8, 3h) + 24h * 1000 - 1ms) == "c");
}

// Nobody is on call with no layers, or a layer that has not started.
TEST_CASE("empty schedules and layers before start have nobody", "[oncall]") {
  CHECK_FALSE(on_call_at(schedule({}), {}, utc(2026, 1, 1)).has_value());
  const auto s = schedule({layer("later", {"a"}, ShiftUnit::days, 1, "2030-01-01T00:00", "UTC")});
  CHECK_FALSE(on_call_at(s, {}, utc(2029, 12, 31, 23h)).has_value());
  CHECK(who(s, utc(2030, 1, 1)) == "a");
}

// A business-hours layer (Mon-Fri 09:00-17:00 New York) above a 24/7 layer
// wins on weekday business hours only; its end is exclusive.
TEST_CASE("a restricted higher layer wins only inside its window", "[oncall][restrictions]") {
  const Restriction business{{1, 2, 3, 4, 5}, 9 * 60, 17 * 60};
  const auto s = schedule({layer("24/7", {"a", "b"}, ShiftUnit::weeks, 1, "2026-01-05T09:00", "America/New_York"),
                           layer("business", {"desk"}, ShiftUnit::weeks, 1, "2026-01-05T00:00",
                                 "America/New_York", {business})});
  // Monday 2026-01-05 (EST = UTC-5).
  CHECK(who(s, utc(2026, 1, 5, 14h) - 1ms) == "<nobody>");  // neither started nor in window
  CHECK(who(s, utc(2026, 1, 5, 14h)) == "desk");
  CHECK(who(s, utc(2026, 1, 5, 22h) - 1ms) == "desk");
  CHECK(who(s, utc(2026, 1, 5, 22h)) == "a");
  CHECK(who(s, utc(2026, 1, 6, 13h)) == "a");  // Tuesday 08:00
  CHECK(who(s, utc(2026, 1, 9, 15h)) == "desk");  // Friday 10:00
  CHECK(who(s, utc(2026, 1, 10, 17h)) == "a");   // Saturday 12:00
  CHECK(who(s, utc(2026, 1, 11, 17h)) == "a");   // Sunday 12:00
  CHECK(who(s, utc(2026, 1, 12, 15h)) == "desk");
  CHECK(who(s, utc(2026, 1, 12, 23h)) == "b");   // next week's 24/7 person
}

// A night window Friday 22:00 -> 06:00 wraps past midnight: it covers early
// Saturday (the window started Friday) but not Saturday night or Thursday night.
TEST_CASE("restriction windows wrap past midnight by their start day", "[oncall][restrictions]") {
  const Restriction friday_night{{5}, 22 * 60, 6 * 60};
  const auto s = schedule({layer("night", {"owl"}, ShiftUnit::days, 1, "2026-01-01T00:00", "UTC", {friday_night})});
  CHECK(who(s, utc(2026, 1, 9, 22h) - 1ms) == "<nobody>");  // Friday 21:59
  CHECK(who(s, utc(2026, 1, 9, 22h)) == "owl");
  CHECK(who(s, utc(2026, 1, 10, 3h)) == "owl");           // Saturday 03:00
  CHECK(who(s, utc(2026, 1, 10, 6h)) == "<nobody>");      // end exclusive
  CHECK(who(s, utc(2026, 1, 10, 23h)) == "<nobody>");     // Saturday night
  CHECK(who(s, utc(2026, 1, 8, 23h)) == "<nobody>");      // Thursday night
}

// Overrides beat every layer over [start, end); among overlapping overrides
// the one that started latest wins; `extra` overrides for other schedules are
// ignored.
TEST_CASE("overrides beat layers, latest-started wins, end exclusive", "[oncall][overrides]") {
  auto s = schedule({layer("base", {"a"}, ShiftUnit::days, 1, "2026-01-01T00:00", "UTC")});
  s.overrides.push_back(override_for("primary", "o1", utc(2026, 2, 1, 10h), utc(2026, 2, 1, 18h)));
  s.overrides.push_back(override_for("primary", "early", utc(2026, 2, 1, 9h), utc(2026, 2, 1, 20h)));
  const std::vector<Override> extra{
      override_for("primary", "o2", utc(2026, 2, 1, 12h), utc(2026, 2, 1, 14h)),
      override_for("other", "stranger", utc(2026, 2, 1, 0h), utc(2026, 2, 2, 0h)),
  };
  CHECK(who(s, utc(2026, 2, 1, 8h), extra) == "a");
  CHECK(who(s, utc(2026, 2, 1, 9h), extra) == "early");
  CHECK(who(s, utc(2026, 2, 1, 11h), extra) == "o1");
  CHECK(who(s, utc(2026, 2, 1, 13h), extra) == "o2");
  CHECK(who(s, utc(2026, 2, 1, 14h), extra) == "o1");  // o2's end is exclusive
  CHECK(who(s, utc(2026, 2, 1, 19h), extra) == "early");
  CHECK(who(s, utc(2026, 2, 1, 20h), extra) == "a");
  CHECK(who(s, utc(2026, 2, 1, 13h)) == "o1");          // without extra
  // An override applies even where no layer has anyone.
  const auto empty = schedule({}, {override_for("primary", "solo", utc(2026, 2, 1), utc(2026, 2, 2))});
  CHECK(who(empty, utc(2026, 2, 1, 5h)) == "solo");
}

// The final schedule over a Monday-Tuesday window of a business-hours-only
// layer: gaps are empty-person shifts, everything is clipped to the window,
// and sources name the layer.
TEST_CASE("final_schedule shows gaps and clips to the window", "[oncall][final]") {
  const Restriction business{{1, 2, 3, 4, 5}, 9 * 60, 17 * 60};
  const auto s = schedule({layer("business", {"x", "y"}, ShiftUnit::days, 1, "2026-01-05T09:00",
                                 "America/New_York", {business})});
  const auto shifts = final_schedule(s, {}, utc(2026, 1, 5, 5h), utc(2026, 1, 7, 5h));
  REQUIRE(shifts.size() == 5);
  CHECK(shifts[0].person.empty());
  CHECK(shifts[0].start == utc(2026, 1, 5, 5h));
  CHECK(shifts[0].end == utc(2026, 1, 5, 14h));
  CHECK(shifts[1].person == "x");
  CHECK(shifts[1].source == "business");
  CHECK(shifts[1].end == utc(2026, 1, 5, 22h));
  CHECK(shifts[2].person.empty());
  CHECK(shifts[3].person == "y");
  CHECK(shifts[3].start == utc(2026, 1, 6, 14h));
  CHECK(shifts[4].person.empty());
  CHECK(shifts[4].end == utc(2026, 1, 7, 5h));

  // Contiguous and clipped: every shift starts where the previous ended.
  for (std::size_t i = 1; i < shifts.size(); ++i) CHECK(shifts[i].start == shifts[i - 1].end);

  CHECK(final_schedule(s, {}, utc(2026, 1, 7), utc(2026, 1, 7)).empty());
  CHECK(final_schedule(s, {}, utc(2026, 1, 8), utc(2026, 1, 7)).empty());
}

// Adjacent shifts of the same person merge, across handoffs of a one-person
// rotation and across an override for the person already on call; an
// override for someone else splits the shift with source "override".
TEST_CASE("final_schedule merges adjacent same-person shifts", "[oncall][final]") {
  auto s = schedule({layer("solo", {"a"}, ShiftUnit::days, 1, "2026-01-01T00:00", "UTC")});
  s.overrides.push_back(override_for("primary", "a", utc(2026, 1, 3, 5h), utc(2026, 1, 3, 6h)));
  const std::vector<Override> extra{override_for("primary", "b", utc(2026, 1, 4, 5h), utc(2026, 1, 4, 6h))};
  const auto shifts = final_schedule(s, extra, utc(2026, 1, 2), utc(2026, 1, 6));
  REQUIRE(shifts.size() == 3);
  CHECK(shifts[0].person == "a");
  CHECK(shifts[0].source == "solo");
  CHECK(shifts[0].end == utc(2026, 1, 4, 5h));
  CHECK(shifts[1].person == "b");
  CHECK(shifts[1].source == "override");
  CHECK(shifts[1].end == utc(2026, 1, 4, 6h));
  CHECK(shifts[2].person == "a");
  CHECK(shifts[2].end == utc(2026, 1, 6));
}

// next_handoffs returns the next changes strictly after `at`, with the real
// end of each shift; a handoff exactly at `at` is not included; a start in the
// future counts as a handoff; a schedule that never changes has none.
TEST_CASE("next_handoffs lists upcoming changes", "[oncall][handoffs]") {
  const auto s = schedule({layer("weekly", {"a", "b", "c"}, ShiftUnit::weeks, 1, "2026-01-05T09:00",
                                 "America/New_York")});
  auto h = next_handoffs(s, {}, utc(2026, 1, 6), 3);
  REQUIRE(h.size() == 3);
  CHECK(h[0].person == "b");
  CHECK(h[0].start == utc(2026, 1, 12, 14h));
  CHECK(h[0].end == utc(2026, 1, 19, 14h));
  CHECK(h[1].person == "c");
  CHECK(h[2].person == "a");
  CHECK(h[2].start == utc(2026, 1, 26, 14h));
  CHECK(h[2].end == utc(2026, 2, 2, 14h));

  h = next_handoffs(s, {}, utc(2026, 1, 12, 14h), 1);
  REQUIRE(h.size() == 1);
  CHECK(h[0].start == utc(2026, 1, 19, 14h));

  h = next_handoffs(s, {}, utc(2026, 1, 1), 1);
  REQUIRE(h.size() == 1);
  CHECK(h[0].person == "a");
  CHECK(h[0].start == utc(2026, 1, 5, 14h));

  CHECK(next_handoffs(s, {}, utc(2026, 1, 6), 0).empty());
  CHECK(next_handoffs(s, {}, utc(2026, 1, 6), -1).empty());

  const auto solo = schedule({layer("solo", {"a"}, ShiftUnit::days, 1, "2026-01-01T00:00", "UTC")});
  CHECK(next_handoffs(solo, {}, utc(2026, 1, 6), 5).empty());
  // Far-off overrides (over a year ahead) are still found.
  const std::vector<Override> extra{override_for("primary", "b", utc(2027, 3, 1), utc(2027, 3, 2))};
  h = next_handoffs(solo, extra, utc(2026, 1, 6), 5);
  REQUIRE(h.size() == 2);
  CHECK(h[0].person == "b");
  CHECK(h[0].source == "override");
  CHECK(h[1].person == "a");
}

// Handoffs into and out of gaps count as changes (to nobody and back).
TEST_CASE("next_handoffs includes gaps", "[oncall][handoffs]") {
  const Restriction business{{1, 2, 3, 4, 5}, 9 * 60, 17 * 60};
  const auto s = schedule({layer("business", {"desk"}, ShiftUnit::weeks, 1, "2026-01-05T00:00", "UTC",
                                 {business})});
  const auto h = next_handoffs(s, {}, utc(2026, 1, 9, 12h), 3);  // Friday noon
  REQUIRE(h.size() == 3);
  CHECK(h[0].person.empty());
  CHECK(h[0].start == utc(2026, 1, 9, 17h));
  CHECK(h[0].end == utc(2026, 1, 12, 9h));  // the whole weekend
  CHECK(h[1].person == "desk");
  CHECK(h[2].person.empty());
}

// A valid schedule passes; each kind of mistake is an invalid_request naming
// the layer.
TEST_CASE("validate_schedule reports configuration mistakes", "[oncall][validate]") {
  const auto good = schedule({layer("L1", {"a"}, ShiftUnit::weeks, 1, "2026-01-05T09:00", "America/New_York",
                                    {Restriction{{1, 7}, 0, 1440}})});
  CHECK(validate_schedule(good).has_value());

  auto expect_error = [](const Schedule& s, const std::string& fragment) {
    const auto r = validate_schedule(s);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == ErrorKind::invalid_request);
    INFO(r.error().message);
    CHECK(r.error().message.find(fragment) != std::string::npos);
  };
  auto bad = good;
  bad.time_zone = "Mars/Olympus_Mons";
  expect_error(bad, "Mars/Olympus_Mons");

  bad = good;
  bad.layers[0].time_zone = "America/Nowhere";
  expect_error(bad, "layer 'L1'");
  expect_error(bad, "America/Nowhere");

  for (const char* start : {"", "2026-01-05", "2026-13-05T09:00", "2026-01-05T25:00", "tomorrow"}) {
    bad = good;
    bad.layers[0].start_local = start;
    expect_error(bad, "start_local");
  }

  bad = good;
  bad.layers[0].participants.clear();
  expect_error(bad, "participants");

  bad = good;
  bad.layers[0].shift_length = 0;
  expect_error(bad, "shift_length");

  for (int day : {0, 8, -1}) {
    bad = good;
    bad.layers[0].restrictions[0].days = {1, day};
    expect_error(bad, "restriction day");
  }
  for (int minute : {-1, 1441}) {
    bad = good;
    bad.layers[0].restrictions[0].end_minute = minute;
    expect_error(bad, "restriction minute");
  }
}

// RFC 3339 instants: Z, positive and negative offsets, fractions (truncated
// to milliseconds), and a round trip through format_iso8601.
TEST_CASE("parse_iso8601 accepts RFC 3339 instants", "[oncall][parse]") {
  CHECK(parse_iso8601("2026-11-25T10:00:00Z").value() == utc(2026, 11, 25, 10h));
  CHECK(parse_iso8601("2026-11-25T10:00:00.5+01:00").value() == utc(2026, 11, 25, 9h + 500ms));
  CHECK(parse_iso8601("2026-11-25T10:00:00-05:30").value() == utc(2026, 11, 25, 15h + 30min));
  CHECK(parse_iso8601("2026-11-25T10:00:00.123456Z").value() == utc(2026, 11, 25, 10h + 123ms));
  CHECK(parse_iso8601("2026-11-25T00:30:00+01:00").value() == utc(2026, 11, 24, 23h + 30min));
  const auto t = utc(2026, 11, 25, 11h + 4min + 47s + 123ms);
  CHECK(parse_iso8601(baton::engine::format_iso8601(t)).value() == t);
}

// Garbage, missing offsets, impossible dates and trailing junk are rejected.
TEST_CASE("parse_iso8601 rejects garbage", "[oncall][parse]") {
  for (const char* text : {"", "garbage", "2026-11-25", "2026-11-25T10:00:00", "2026-13-01T00:00:00Z",
                           "2026-02-30T00:00:00Z", "2026-11-25T24:00:00Z", "2026-11-25T10:60:00Z",
                           "2026-11-25T10:00:00Zjunk", "2026-11-25T10:00:00+1:00", "2026-11-25T10:00:00.Z",
                           "2026-11-25T10:00:00+25:00", "2026/11/25T10:00:00Z", "20261125T100000Z"}) {
    INFO(text);
    const auto r = parse_iso8601(text);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == ErrorKind::invalid_request);
  }
}

// Local date-times with and without seconds; bad zones and bad text fail.
TEST_CASE("parse_local_time parses local date-times in a zone", "[oncall][parse]") {
  CHECK(parse_local_time("2026-01-05T09:00", "America/New_York").value() == utc(2026, 1, 5, 14h));
  CHECK(parse_local_time("2026-07-06T09:00:30", "America/New_York").value() == utc(2026, 7, 6, 13h + 30s));
  CHECK(parse_local_time("2026-01-05T09:00", "UTC").value() == utc(2026, 1, 5, 9h));

  const auto bad_zone = parse_local_time("2026-01-05T09:00", "Mars/Olympus_Mons");
  REQUIRE_FALSE(bad_zone.has_value());
  CHECK(bad_zone.error().kind == ErrorKind::invalid_request);
  for (const char* text : {"", "2026-01-05", "2026-01-05T09:00Z", "2026-01-05T9:00", "2026-02-29T09:00",
                           "2026-01-05T09:00:00.5"}) {
    INFO(text);
    CHECK_FALSE(parse_local_time(text, "UTC").has_value());
  }
}

TEST_CASE("is_valid_time_zone knows the system tz database", "[oncall][parse]") {
  CHECK(is_valid_time_zone("UTC"));
  CHECK(is_valid_time_zone("America/New_York"));
  CHECK(is_valid_time_zone("Europe/London"));
  CHECK_FALSE(is_valid_time_zone(""));
  CHECK_FALSE(is_valid_time_zone("Nowhere/City"));
  CHECK_FALSE(is_valid_time_zone("../etc/passwd"));
  CHECK_FALSE(is_valid_time_zone("america/new_york"));
}
