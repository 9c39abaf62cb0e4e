#include "engine/quiet_hours.hpp"

#include "engine/tz.hpp"

namespace baton::engine {

bool is_low_urgency(Severity severity) { return severity == Severity::warning || severity == Severity::info; }

std::optional<TimePoint> quiet_until(const Person& person, TimePoint now) {
  if (!person.quiet_hours) return std::nullopt;
  const auto [start, end] = *person.quiet_hours;
  if (start == end) return std::nullopt;
  const date::time_zone* zone = tz::find_zone(person.time_zone);
  if (!zone) zone = date::locate_zone("UTC");
  const auto local = zone->to_local(now);
  const auto day = date::floor<date::days>(local);
  const int minute = static_cast<int>(std::chrono::duration_cast<std::chrono::minutes>(local - day).count());
  std::optional<date::local_days> end_day;
  if (start < end) {
    if (minute >= start && minute < end) end_day = day;
  } else {  // wraps past midnight, e.g. 22:00-07:00
    if (minute >= start) end_day = day + date::days{1};
    else if (minute < end) end_day = day;
  }
  if (!end_day) return std::nullopt;
  return tz::local_to_sys(zone, tz::LocalMillis{*end_day + std::chrono::minutes{end}});
}

}  // namespace baton::engine
