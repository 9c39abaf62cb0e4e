#pragma once
// Who is on call: rotations, layers, restrictions and overrides, in time zones.
// Pure functions of (schedule, overrides, instant). Thread-safe.
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/model.hpp"
#include "engine/result.hpp"

namespace baton::engine {

/// One stretch of the final (layered, overridden) schedule.
struct Shift {
  std::string person;  ///< empty = nobody on call
  TimePoint start;
  TimePoint end;
  std::string source;  ///< layer name, or "override"
};

/// Checks a schedule for problems the config loader reports: unknown time
/// zones, unparsable start_local, empty rotations, bad restrictions.
Result<void> validate_schedule(const Schedule& schedule);

/// The person on call for `schedule` at `at`, or nullopt when nobody is.
/// Overrides (the schedule's own plus `extra`) beat every layer; among layers
/// the last (highest) one with someone on call at `at` wins.
std::optional<std::string> on_call_at(const Schedule& schedule, std::span<const Override> extra,
                                      TimePoint at);

/// The final schedule over [from, to): adjacent shifts of the same person are
/// merged; gaps appear as shifts with an empty person.
std::vector<Shift> final_schedule(const Schedule& schedule, std::span<const Override> extra,
                                  TimePoint from, TimePoint to);

/// The next `count` handoffs strictly after `at` (a handoff is where the on-call
/// person changes), as shifts starting at the handoff.
std::vector<Shift> next_handoffs(const Schedule& schedule, std::span<const Override> extra,
                                 TimePoint at, int count);

/// Parses "2026-01-05T09:00" or "2026-01-05T09:00:00" as a local date-time in
/// `time_zone` and returns its UTC instant (for ambiguous/nonexistent local
/// times during DST changes, the earlier valid instant).
Result<TimePoint> parse_local_time(std::string_view local, std::string_view time_zone);

/// Parses an ISO 8601 / RFC 3339 instant ("2026-11-25T10:00:00Z",
/// "2026-11-25T10:00:00.5+01:00").
Result<TimePoint> parse_iso8601(std::string_view text);

/// True when `time_zone` names a zone in the system tz database.
bool is_valid_time_zone(std::string_view time_zone);

}  // namespace baton::engine
