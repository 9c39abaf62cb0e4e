#pragma once
// Time-zone helpers shared by the engine's .cpp files (internal: date/tz in a
// header is fine inside engine/, which links it; nothing outside includes this).
#include <date/tz.h>

#include <string_view>

#include "engine/time.hpp"

namespace baton::engine::tz {

using LocalMillis = date::local_time<Millis>;

/// The zone named `name`, or nullptr when the tz database has no such zone.
const date::time_zone* find_zone(std::string_view name);

/// Local date-time -> instant. Ambiguous (fall back): the earlier instant.
/// Nonexistent (spring forward): the instant the gap ends.
TimePoint local_to_sys(const date::time_zone* zone, LocalMillis local);

}  // namespace baton::engine::tz
