#include "engine/oncall.hpp"

#include "engine/tz.hpp"

#include <date/date.h>
#include <date/tz.h>

#include <algorithm>
#include <cstdint>
#include <exception>

namespace baton::engine {

namespace {

using tz::LocalMillis;
using LocalSeconds = date::local_seconds;
using LocalDays = date::local_days;
using LongDays = std::chrono::duration<std::int64_t, std::ratio<86400>>;

// The window next_handoffs grows to before giving up.
constexpr auto kHandoffSearchLimit = std::chrono::hours{24 * 731};
constexpr auto kHandoffSearchFirst = std::chrono::hours{24 * 14};
constexpr const char* kOverrideSource = "override";

using tz::find_zone;
using tz::local_to_sys;

LocalMillis sys_to_local(const date::time_zone* zone, TimePoint t) {
  return zone->to_local(t);
}

// Reads exactly `width` decimal digits at `pos`; advances pos.
bool read_digits(std::string_view s, std::size_t& pos, std::size_t width, int& out) {
  if (pos + width > s.size()) return false;
  int value = 0;
  for (std::size_t i = 0; i < width; ++i) {
    const char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  out = value;
  pos += width;
  return true;
}

bool expect_char(std::string_view s, std::size_t& pos, char c) {
  if (pos >= s.size() || s[pos] != c) return false;
  ++pos;
  return true;
}

struct DateTimeFields {
  date::local_days day;
  Millis time_of_day{0};
};

// Parses "YYYY-MM-DDTHH:MM[:SS[.fff]]" from the front of `s`; `pos` ends after it.
// Fractions are accepted only when allow_fraction is set.
bool parse_date_time(std::string_view s, std::size_t& pos, bool allow_fraction, DateTimeFields& out) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (!read_digits(s, pos, 4, y) || !expect_char(s, pos, '-') || !read_digits(s, pos, 2, mo) ||
      !expect_char(s, pos, '-') || !read_digits(s, pos, 2, d)) {
    return false;
  }
  if (pos >= s.size() || (s[pos] != 'T' && s[pos] != 't' && s[pos] != ' ')) return false;
  ++pos;
  if (!read_digits(s, pos, 2, h) || !expect_char(s, pos, ':') || !read_digits(s, pos, 2, mi)) return false;
  Millis fraction{0};
  if (pos < s.size() && s[pos] == ':') {
    ++pos;
    if (!read_digits(s, pos, 2, sec)) return false;
    if (allow_fraction && pos < s.size() && (s[pos] == '.' || s[pos] == ',')) {
      ++pos;
      const std::size_t digits_start = pos;
      int scale = 100;
      int ms = 0;
      while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
        // Beyond milliseconds the digits are read and truncated.
        ms += (s[pos] - '0') * scale;
        scale /= 10;
        ++pos;
      }
      if (pos == digits_start) return false;
      fraction = Millis{ms};
    }
  }
  const date::year_month_day ymd{date::year{y}, date::month{static_cast<unsigned>(mo)},
                                 date::day{static_cast<unsigned>(d)}};
  if (!ymd.ok() || h > 23 || mi > 59 || sec > 59) return false;
  out.day = date::local_days{ymd};
  out.time_of_day = std::chrono::hours{h} + std::chrono::minutes{mi} + std::chrono::seconds{sec} + fraction;
  return true;
}

std::optional<LocalMillis> parse_local_fields(std::string_view local) {
  DateTimeFields f;
  std::size_t pos = 0;
  if (!parse_date_time(local, pos, false, f) || pos != local.size()) return std::nullopt;
  return LocalMillis{f.day.time_since_epoch() + f.time_of_day};
}

// A layer resolved once per call: zone looked up, start parsed.
struct LayerPlan {
  const Layer* layer = nullptr;
  const date::time_zone* zone = nullptr;
  LocalMillis start_local;
  TimePoint start;
  std::int64_t unit_days = 0;  // 0 for hourly layers
  Millis shift{0};             // hourly layers only

  TimePoint handoff(std::int64_t k) const {
    if (unit_days == 0) return start + shift * k;
    return local_to_sys(zone, start_local + LongDays{k * unit_days});
  }

  // The index of the shift holding `t`; requires t >= start.
  std::int64_t shift_index(TimePoint t) const {
    if (unit_days == 0) return (t - start) / shift;
    const auto elapsed = sys_to_local(zone, t) - start_local;
    std::int64_t k = std::chrono::floor<LongDays>(elapsed).count() / unit_days;
    // Local arithmetic can be off by one shift around DST changes; settle on the exact instants.
    k = std::max<std::int64_t>(k, 0);
    while (handoff(k + 1) <= t) ++k;
    while (k > 0 && handoff(k) > t) --k;
    return k;
  }

  bool restricted_active(TimePoint t) const {
    if (layer->restrictions.empty()) return true;
    const auto today = date::floor<date::days>(sys_to_local(zone, t));
    // A window lasts at most two days (start 1440 + wrap), so it started at most two days ago.
    for (int back = 2; back >= 0; --back) {
      const LocalDays day = today - date::days{back};
      const unsigned weekday = date::weekday{day}.iso_encoding();
      for (const Restriction& r : layer->restrictions) {
        if (std::find(r.days.begin(), r.days.end(), static_cast<int>(weekday)) == r.days.end()) continue;
        const auto [ws, we] = window(day, r);
        if (ws <= t && t < we) return true;
      }
    }
    return false;
  }

  std::pair<TimePoint, TimePoint> window(LocalDays day, const Restriction& r) const {
    const LocalMillis ws = day + std::chrono::minutes{r.start_minute};
    LocalMillis we = day + std::chrono::minutes{r.end_minute};
    if (r.end_minute <= r.start_minute) we += date::days{1};
    return {local_to_sys(zone, ws), local_to_sys(zone, we)};
  }

  std::optional<std::string_view> person_at(TimePoint t) const {
    if (t < start || layer->participants.empty()) return std::nullopt;
    if (!restricted_active(t)) return std::nullopt;
    const auto k = shift_index(t);
    const auto n = static_cast<std::int64_t>(layer->participants.size());
    return std::string_view{layer->participants[static_cast<std::size_t>(k % n)]};
  }

  // Every instant in (from, to) where this layer's answer may change.
  void boundaries(TimePoint from, TimePoint to, std::vector<TimePoint>& out) const {
    if (from < start && start < to) out.push_back(start);
    if (start < to) {
      std::int64_t k = from < start ? 0 : shift_index(from);
      for (TimePoint h = handoff(k + 1); h < to; h = handoff(++k + 1)) {
        if (h > from) out.push_back(h);
      }
    }
    if (layer->restrictions.empty()) return;
    const auto first = date::floor<date::days>(sys_to_local(zone, from)) - date::days{2};
    const auto last = date::floor<date::days>(sys_to_local(zone, to)) + date::days{1};
    for (LocalDays day = first; day <= last; day += date::days{1}) {
      const unsigned weekday = date::weekday{day}.iso_encoding();
      for (const Restriction& r : layer->restrictions) {
        if (std::find(r.days.begin(), r.days.end(), static_cast<int>(weekday)) == r.days.end()) continue;
        const auto [ws, we] = window(day, r);
        if (from < ws && ws < to) out.push_back(ws);
        if (from < we && we < to) out.push_back(we);
      }
    }
  }
};

std::optional<LayerPlan> plan_layer(const Layer& layer) {
  LayerPlan plan;
  plan.layer = &layer;
  plan.zone = find_zone(layer.time_zone);
  if (plan.zone == nullptr || layer.participants.empty() || layer.shift_length < 1) return std::nullopt;
  const auto local = parse_local_fields(layer.start_local);
  if (!local) return std::nullopt;
  plan.start_local = *local;
  plan.start = local_to_sys(plan.zone, *local);
  switch (layer.unit) {
    case ShiftUnit::hours:
      plan.shift = std::chrono::hours{layer.shift_length};
      break;
    case ShiftUnit::days:
      plan.unit_days = layer.shift_length;
      break;
    case ShiftUnit::weeks:
      plan.unit_days = std::int64_t{7} * layer.shift_length;
      break;
  }
  return plan;
}

struct Plan {
  std::vector<LayerPlan> layers;  // lowest first; invalid layers are left out
  std::vector<const Override*> overrides;
};

Plan make_plan(const Schedule& schedule, std::span<const Override> extra) {
  Plan plan;
  plan.layers.reserve(schedule.layers.size());
  for (const Layer& layer : schedule.layers) {
    if (auto p = plan_layer(layer)) plan.layers.push_back(*p);
  }
  auto usable = [](const Override& o) { return !o.person.empty() && o.start < o.end; };
  for (const Override& o : schedule.overrides) {
    if (usable(o)) plan.overrides.push_back(&o);
  }
  for (const Override& o : extra) {
    if (o.schedule_id == schedule.id && usable(o)) plan.overrides.push_back(&o);
  }
  return plan;
}

struct Answer {
  std::string_view person;  // empty = nobody
  std::string_view source;
};

Answer evaluate(const Plan& plan, TimePoint t) {
  const Override* best = nullptr;
  for (const Override* o : plan.overrides) {
    // On equal starts the later entry (storage after config) wins.
    if (o->start <= t && t < o->end && (best == nullptr || o->start >= best->start)) best = o;
  }
  if (best != nullptr) return {best->person, kOverrideSource};
  for (auto it = plan.layers.rbegin(); it != plan.layers.rend(); ++it) {
    if (auto person = it->person_at(t)) return {*person, it->layer->name};
  }
  return {};
}

std::vector<Shift> final_schedule_of(const Plan& plan, TimePoint from, TimePoint to) {
  std::vector<Shift> shifts;
  if (!(from < to)) return shifts;
  std::vector<TimePoint> edges{from};
  for (const LayerPlan& layer : plan.layers) layer.boundaries(from, to, edges);
  for (const Override* o : plan.overrides) {
    if (from < o->start && o->start < to) edges.push_back(o->start);
    if (from < o->end && o->end < to) edges.push_back(o->end);
  }
  std::sort(edges.begin(), edges.end());
  edges.erase(std::unique(edges.begin(), edges.end()), edges.end());
  edges.push_back(to);
  for (std::size_t i = 0; i + 1 < edges.size(); ++i) {
    const Answer a = evaluate(plan, edges[i]);
    if (!shifts.empty() && shifts.back().person == a.person) {
      shifts.back().end = edges[i + 1];
      continue;
    }
    shifts.push_back(Shift{std::string{a.person}, edges[i], edges[i + 1], std::string{a.source}});
  }
  return shifts;
}

Error invalid(std::string message) { return Error{ErrorKind::invalid_request, std::move(message), {}}; }

}  // namespace

Result<void> validate_schedule(const Schedule& schedule) {
  const std::string where = "schedule '" + schedule.id + "'";
  if (!is_valid_time_zone(schedule.time_zone)) {
    return tl::unexpected(invalid(where + ": unknown time zone '" + schedule.time_zone + "'"));
  }
  for (const Layer& layer : schedule.layers) {
    const std::string at = where + " layer '" + layer.name + "'";
    if (!is_valid_time_zone(layer.time_zone)) {
      return tl::unexpected(invalid(at + ": unknown time zone '" + layer.time_zone + "'"));
    }
    if (!parse_local_fields(layer.start_local)) {
      return tl::unexpected(
          invalid(at + ": start_local '" + layer.start_local + "' is not YYYY-MM-DDTHH:MM[:SS]"));
    }
    if (layer.participants.empty()) return tl::unexpected(invalid(at + ": no participants"));
    for (const std::string& p : layer.participants) {
      if (p.empty()) return tl::unexpected(invalid(at + ": empty participant id"));
    }
    if (layer.shift_length < 1) {
      return tl::unexpected(invalid(at + ": shift_length must be at least 1, got " +
                                    std::to_string(layer.shift_length)));
    }
    for (const Restriction& r : layer.restrictions) {
      if (r.days.empty()) return tl::unexpected(invalid(at + ": restriction has no days"));
      for (int d : r.days) {
        if (d < 1 || d > 7) {
          return tl::unexpected(
              invalid(at + ": restriction day " + std::to_string(d) + " is not 1 (Mon) .. 7 (Sun)"));
        }
      }
      for (int m : {r.start_minute, r.end_minute}) {
        if (m < 0 || m > 1440) {
          return tl::unexpected(
              invalid(at + ": restriction minute " + std::to_string(m) + " is not 0 .. 1440"));
        }
      }
    }
  }
  for (const Override& o : schedule.overrides) {
    if (o.person.empty()) return tl::unexpected(invalid(where + ": override without a person"));
    if (!(o.start < o.end)) {
      return tl::unexpected(invalid(where + ": override for '" + o.person + "' does not end after it starts"));
    }
  }
  return {};
}

std::optional<std::string> on_call_at(const Schedule& schedule, std::span<const Override> extra,
                                      TimePoint at) {
  const Plan plan = make_plan(schedule, extra);
  const Answer a = evaluate(plan, at);
  if (a.person.empty()) return std::nullopt;
  return std::string{a.person};
}

std::vector<Shift> final_schedule(const Schedule& schedule, std::span<const Override> extra,
                                  TimePoint from, TimePoint to) {
  return final_schedule_of(make_plan(schedule, extra), from, to);
}

std::vector<Shift> next_handoffs(const Schedule& schedule, std::span<const Override> extra,
                                 TimePoint at, int count) {
  std::vector<Shift> out;
  if (count <= 0) return out;
  const Plan plan = make_plan(schedule, extra);
  const auto wanted = static_cast<std::size_t>(count);
  Millis window = kHandoffSearchFirst;
  std::vector<Shift> shifts;
  for (;;) {
    shifts = final_schedule_of(plan, at, at + window);
    // One shift more than needed, so the last handoff's end is not cut by the window.
    if (shifts.size() > wanted + 1 || window >= kHandoffSearchLimit) break;
    window = std::min<Millis>(window * 2, kHandoffSearchLimit);
  }
  // shifts[0] holds `at` itself; every later shift starts with a change of person.
  for (std::size_t i = 1; i < shifts.size() && out.size() < wanted; ++i) out.push_back(shifts[i]);
  return out;
}

Result<TimePoint> parse_local_time(std::string_view local, std::string_view time_zone) {
  const date::time_zone* zone = find_zone(time_zone);
  if (zone == nullptr) return fail(ErrorKind::invalid_request, "unknown time zone '" + std::string{time_zone} + "'");
  const auto fields = parse_local_fields(local);
  if (!fields) {
    return fail(ErrorKind::invalid_request,
                "local time '" + std::string{local} + "' is not YYYY-MM-DDTHH:MM[:SS]");
  }
  return local_to_sys(zone, *fields);
}

Result<TimePoint> parse_iso8601(std::string_view text) {
  auto bad = [&] {
    return fail(ErrorKind::invalid_request, "'" + std::string{text} + "' is not an ISO 8601 instant");
  };
  DateTimeFields f;
  std::size_t pos = 0;
  if (!parse_date_time(text, pos, true, f) || pos >= text.size()) return bad();
  Millis offset{0};
  const char sign = text[pos++];
  if (sign == 'Z' || sign == 'z') {
    if (pos != text.size()) return bad();
  } else if (sign == '+' || sign == '-') {
    int oh = 0, om = 0;
    if (!read_digits(text, pos, 2, oh)) return bad();
    if (pos < text.size()) {
      if (text[pos] == ':') ++pos;
      if (!read_digits(text, pos, 2, om)) return bad();
    }
    if (pos != text.size() || oh > 23 || om > 59) return bad();
    offset = std::chrono::hours{oh} + std::chrono::minutes{om};
    if (sign == '-') offset = -offset;
  } else {
    return bad();
  }
  return TimePoint{f.day.time_since_epoch() + f.time_of_day - offset};
}

bool is_valid_time_zone(std::string_view time_zone) { return find_zone(time_zone) != nullptr; }

}  // namespace baton::engine
