#pragma once
// Quiet hours: when a person's low-urgency pages wait.
#include <optional>

#include "engine/incident.hpp"
#include "engine/model.hpp"

namespace baton::engine {

/// True for severities that wait out quiet hours (warning, info).
bool is_low_urgency(Severity severity);

/// When `person` is inside their quiet hours at `now`, the instant they end;
/// otherwise nullopt. Uses the person's time zone (UTC when unknown).
std::optional<TimePoint> quiet_until(const Person& person, TimePoint now);

}  // namespace baton::engine
