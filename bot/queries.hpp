#pragma once
// Reads of committed state: one read-only Store connection (WAL readers never
// wait for the group-commit writer), one query at a time. Thread-safe; every
// call reads the disk on the caller's thread, so callers are the HTTP threads
// and the Slack/Teams workers, never the engine loop or the network thread.
#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "storage/store.hpp"

namespace baton::bot {

class Queries {
 public:
  /// `reader` comes from storage::Store::open_reader.
  explicit Queries(std::unique_ptr<storage::Store> reader);
  ~Queries();
  Queries(const Queries&) = delete;
  Queries& operator=(const Queries&) = delete;

  Result<std::vector<engine::Incident>> list_incidents(const storage::IncidentQuery& q);
  Result<std::optional<engine::Incident>> get_incident(std::int64_t number);
  Result<std::vector<engine::TimelineEvent>> timeline(std::int64_t number);
  Result<std::vector<storage::OutboxEntry>> outbox(std::int64_t number);
  Result<std::int64_t> count_incidents(std::optional<engine::IncidentState> state);
  Result<std::vector<engine::Override>> overrides();
  /// PostgreSQL: the instances seen within `live_within` and the lease.
  Result<storage::ClusterView> cluster(engine::Millis live_within);
  /// The incident whose chat channel is `conversation` (e.g. a Slack incident channel).
  std::optional<std::int64_t> incident_for_conversation(const std::string& conversation);
  /// The Teams channels baton was added to (team id, channel id, service url), for admins.
  std::vector<std::array<std::string, 3>> teams_channels();
  /// The response report (storage/reports.hpp, docs/reports.md).
  Result<storage::ResponseReport> response_report(const storage::ReportQuery& q);

 private:
  std::mutex mutex_;
  std::unique_ptr<storage::Store> reader_;
};

}  // namespace baton::bot
