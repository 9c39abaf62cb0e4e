#include "engine/maintenance.hpp"

#include <algorithm>

#include "engine/tz.hpp"

namespace baton::engine {
namespace {

constexpr auto kMaxRuleDuration = std::chrono::hours{24 * 7};
// How far maintenance_at follows a chain of overlapping windows.
constexpr auto kChainHorizon = std::chrono::hours{24 * 62};

const date::time_zone* zone_of(const MaintenanceRule& rule) {
  if (const auto* z = tz::find_zone(rule.time_zone)) return z;
  return date::locate_zone("UTC");
}

struct Span {
  TimePoint start;
  TimePoint end;
  std::string reason;
  std::int64_t window = 0;
};

}  // namespace

Result<void> validate_rule(const MaintenanceRule& rule) {
  if (rule.days.empty()) return fail(ErrorKind::invalid_request, "a maintenance window needs at least one day");
  for (int d : rule.days)
    if (d < 1 || d > 7) return fail(ErrorKind::invalid_request, "maintenance days are 1 (Monday) to 7 (Sunday)");
  if (rule.start_minute < 0 || rule.start_minute >= 24 * 60)
    return fail(ErrorKind::invalid_request, "a maintenance window starts between 00:00 and 23:59");
  if (rule.duration <= Millis{0} || rule.duration > kMaxRuleDuration)
    return fail(ErrorKind::invalid_request, "a maintenance window lasts more than zero and at most 7 days");
  if (!tz::find_zone(rule.time_zone))
    return fail(ErrorKind::invalid_request, "unknown time zone '" + rule.time_zone + "'");
  return {};
}

std::vector<MaintenanceOccurrence> rule_occurrences(const MaintenanceRule& rule, TimePoint from, TimePoint to) {
  std::vector<MaintenanceOccurrence> out;
  if (rule.days.empty() || rule.duration <= Millis{0} || to <= from) return out;
  const auto* zone = zone_of(rule);
  // Every local day whose window could reach into [from, to): the window is at
  // most a week long, and a day either side covers any UTC offset.
  const auto first = date::floor<date::days>(zone->to_local(from - rule.duration)) - date::days{1};
  const auto last = date::floor<date::days>(zone->to_local(to)) + date::days{1};
  for (auto day = first; day <= last; day += date::days{1}) {
    const auto weekday = static_cast<int>(date::weekday{day}.iso_encoding());
    if (std::find(rule.days.begin(), rule.days.end(), weekday) == rule.days.end()) continue;
    // The local start time each day, whatever the offset (DST) is that day.
    const TimePoint start = tz::local_to_sys(zone, tz::LocalMillis{day + std::chrono::minutes{rule.start_minute}});
    const TimePoint end = start + rule.duration;
    if (end > from && start < to) out.push_back({start, end});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.start < b.start; });
  return out;
}

std::optional<MaintenanceOccurrence> current_or_next(const MaintenanceRule& rule, TimePoint at) {
  for (const auto& o : rule_occurrences(rule, at, at + std::chrono::hours{24 * 15}))
    if (o.end > at) return o;
  return std::nullopt;
}

std::optional<ActiveMaintenance> maintenance_at(const Service& service, std::span<const MaintenanceWindow> windows,
                                                TimePoint at) {
  std::vector<Span> spans;
  for (const auto& w : windows)
    if (w.service_id == service.id && w.effective_end() > at)
      spans.push_back({w.start, w.effective_end(), w.reason, w.id});
  for (const auto& rule : service.maintenance)
    for (const auto& o : rule_occurrences(rule, at, at + kChainHorizon))
      spans.push_back({o.start, o.end, rule.reason.empty() ? std::string(kScheduledMaintenance) : rule.reason, 0});

  const Span* in_force = nullptr;
  for (const auto& s : spans)
    if (s.start <= at && at < s.end && (!in_force || s.end > in_force->end)) in_force = &s;
  if (!in_force) return std::nullopt;
  ActiveMaintenance active{in_force->end, in_force->reason, in_force->window};
  // Windows that overlap or touch the end carry the maintenance on.
  for (bool extended = true; extended;) {
    extended = false;
    for (const auto& s : spans)
      if (s.start <= active.until && s.end > active.until) {
        active.until = s.end;
        extended = true;
      }
  }
  return active;
}

}  // namespace baton::engine
