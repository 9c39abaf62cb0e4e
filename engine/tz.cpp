#include "engine/tz.hpp"

#include <exception>

namespace baton::engine::tz {

const date::time_zone* find_zone(std::string_view name) {
  if (name.empty()) return nullptr;
  try {
    return date::locate_zone(name);
  } catch (const std::exception&) {
    // date/tz reports an unknown zone by throwing; for us it is an expected value.
    return nullptr;
  }
}

TimePoint local_to_sys(const date::time_zone* zone, LocalMillis local) {
  const auto info = zone->get_info(date::floor<std::chrono::seconds>(local));
  switch (info.result) {
    case date::local_info::unique:
    case date::local_info::ambiguous:
      return TimePoint{local.time_since_epoch() - info.first.offset};
    case date::local_info::nonexistent:
      return std::chrono::time_point_cast<Millis>(info.first.end);
  }
  return TimePoint{local.time_since_epoch() - info.first.offset};
}

}  // namespace baton::engine::tz
