#include "engine/heartbeats.hpp"

#include <algorithm>

namespace baton::engine {

TimePoint HeartbeatState::due(const Heartbeat& config) const {
  const TimePoint deadline = since + config.interval + config.grace;
  return not_before ? std::max(deadline, *not_before) : deadline;
}

std::string heartbeat_id(std::string_view service_id, std::string_view name) {
  std::string id(service_id);
  id += '/';
  id += name;
  return id;
}

std::string heartbeat_dedup_key(std::string_view name) { return "heartbeat:" + std::string(name); }

}  // namespace baton::engine
