#pragma once
// Heartbeats: what the engine keeps per configured heartbeat, and when it is
// due. The Engine owns the states (beat, tick, restore: engine/engine.hpp);
// storage keeps them in the heartbeats table.
//
// Rules:
// - The deadline is since + interval + grace, where `since` is the last beat,
//   else when baton first saw the heartbeat configured, else (after its
//   incident was resolved by hand while beats were still missing) that
//   resolution: a manual resolve re-arms it instead of paging again at once.
// - A missed deadline opens one incident on the service ("No heartbeat from
//   <name> since <time>"); the next beat resolves it with a timeline note.
// - At start (and at a cluster takeover), no heartbeat is due before start +
//   grace: one whose deadline passed while baton was down fires then, unless a
//   beat arrives first (its senders could not reach baton while it was down).
#include <cstdint>
#include <optional>
#include <string>

#include "engine/model.hpp"
#include "engine/time.hpp"

namespace baton::engine {

struct HeartbeatState {
  std::string service_id;
  std::string name;
  TimePoint first_seen{};              ///< when baton first saw it configured
  std::optional<TimePoint> last_beat;  ///< unset: never beaten
  TimePoint since{};                   ///< the deadline counts from here (see above)
  std::int64_t incident = 0;           ///< its open "no heartbeat" incident; 0 = none
  /// Not stored: no deadline before this (start + grace after a restart).
  std::optional<TimePoint> not_before;

  /// When it fires if no beat comes (meaningless while `incident` is open).
  TimePoint due(const Heartbeat& config) const;
};

/// "payments/nightly-backup": the key the engine indexes heartbeat states by.
std::string heartbeat_id(std::string_view service_id, std::string_view name);

/// The dedup key of a heartbeat's incident on its service.
std::string heartbeat_dedup_key(std::string_view name);

}  // namespace baton::engine
