#pragma once
// Maintenance windows: weekly ones from the configuration (MaintenanceRule in
// engine/model.hpp) and one-off ones from the API (MaintenanceWindow, stored).
// Pure functions of (service, windows, instant); thread-safe.
//
// While a service is in maintenance, an incident its alerts (or a missed
// heartbeat) open is recorded but held: nobody is paged. When the maintenance
// ends (naturally or ended early), the incidents still triggered start their
// escalation; those resolved meanwhile stay quiet. Incidents already escalating
// when a window begins go on (as PagerDuty's maintenance windows do), and an
// incident opened by hand (API, chat) is never held.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/model.hpp"
#include "engine/result.hpp"
#include "engine/time.hpp"

namespace baton::engine {

/// A one-off window set through the API (or chat), kept in the database.
struct MaintenanceWindow {
  std::int64_t id = 0;  ///< storage id
  std::string service_id;
  TimePoint start{};
  TimePoint end{};  ///< as set ("until")
  std::string reason;
  std::string created_by;            ///< actor id, e.g. "api:ops", a person id
  std::optional<TimePoint> ended_at;  ///< ended early (DELETE)
  std::string ended_by;

  /// When it stops applying: ended_at when ended early, else end.
  TimePoint effective_end() const { return ended_at && *ended_at < end ? *ended_at : end; }
  bool active_at(TimePoint at) const { return start <= at && at < effective_end(); }
};

/// One occurrence of a configured weekly window.
struct MaintenanceOccurrence {
  TimePoint start{};
  TimePoint end{};
};

/// A service in maintenance at some instant: until when (the end of the chain
/// of windows that overlap or touch from that instant on) and why (the reason
/// of the window in force then that lasts longest).
struct ActiveMaintenance {
  TimePoint until{};
  std::string reason;
  std::int64_t window = 0;  ///< that window's id; 0 = a configured (weekly) window
};

/// The reason shown for a configured window without one.
inline constexpr const char* kScheduledMaintenance = "scheduled maintenance";

/// Checks a rule for what the config loader reports: days 1..7 (at least one),
/// a start minute in 0..1439, a duration in (0, 7 days], a known time zone.
Result<void> validate_rule(const MaintenanceRule& rule);

/// The occurrences of `rule` that overlap [from, to), by start.
std::vector<MaintenanceOccurrence> rule_occurrences(const MaintenanceRule& rule, TimePoint from, TimePoint to);

/// The occurrence of `rule` in force at `at`, else the next one to start after
/// it (within two weeks); nullopt for a rule without days.
std::optional<MaintenanceOccurrence> current_or_next(const MaintenanceRule& rule, TimePoint at);

/// Whether `service` is in maintenance at `at`, from its configured rules and
/// `windows` (one-off windows; those of other services are ignored).
std::optional<ActiveMaintenance> maintenance_at(const Service& service, std::span<const MaintenanceWindow> windows,
                                                TimePoint at);

}  // namespace baton::engine
