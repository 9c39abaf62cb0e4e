#include "engine/model.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace baton::engine {
namespace {
template <typename Map>
auto lookup(const Map& m, std::string_view id) -> const typename Map::mapped_type* {
  auto it = m.find(id);
  return it == m.end() ? nullptr : &it->second;
}
}  // namespace

const Person* Directory::person(std::string_view id) const { return lookup(people, id); }
const Schedule* Directory::schedule(std::string_view id) const { return lookup(schedules, id); }
const EscalationPolicy* Directory::policy(std::string_view id) const { return lookup(policies, id); }
const Service* Directory::service(std::string_view id) const { return lookup(services, id); }
const Service* Directory::service_by_key(std::string_view key) const {
  auto it = integration_keys.find(key);
  return it == integration_keys.end() ? nullptr : service(it->second);
}

std::pair<const Service*, const Heartbeat*> Directory::heartbeat_by_key(std::string_view key) const {
  auto it = heartbeat_keys.find(key);
  if (it == heartbeat_keys.end()) return {nullptr, nullptr};
  const Service* s = service(it->second.first);
  const Heartbeat* h = s ? s->heartbeat(it->second.second) : nullptr;
  if (!h) return {nullptr, nullptr};
  return {s, h};
}

const Heartbeat* Service::heartbeat(std::string_view name) const {
  for (const auto& h : heartbeats)
    if (h.name == name) return &h;
  return nullptr;
}

bool Directory::has_channel(MethodKind m) const {
  return channels.empty() || std::find(channels.begin(), channels.end(), m) != channels.end();
}

std::string format_iso8601(TimePoint t) {
  const auto ms = to_ms(t);
  std::time_t secs = static_cast<std::time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  int millis = static_cast<int>(ms - static_cast<std::int64_t>(secs) * 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  return buf;
}

}  // namespace baton::engine
