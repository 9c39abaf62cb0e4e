// Reads of committed state through the read-only Store (see queries.hpp).
#include "bot/queries.hpp"

namespace baton::bot {

Queries::Queries(std::unique_ptr<storage::Store> reader) : reader_(std::move(reader)) {}

Queries::~Queries() = default;

Result<std::vector<engine::Incident>> Queries::list_incidents(const storage::IncidentQuery& q) {
  std::lock_guard lock(mutex_);
  return reader_->list_incidents(q);
}

Result<std::optional<engine::Incident>> Queries::get_incident(std::int64_t number) {
  std::lock_guard lock(mutex_);
  return reader_->get_incident(number);
}

Result<std::vector<engine::TimelineEvent>> Queries::timeline(std::int64_t number) {
  std::lock_guard lock(mutex_);
  return reader_->timeline(number);
}

Result<std::vector<storage::OutboxEntry>> Queries::outbox(std::int64_t number) {
  std::lock_guard lock(mutex_);
  return reader_->outbox_for(number);
}

Result<std::int64_t> Queries::count_incidents(std::optional<engine::IncidentState> state) {
  std::lock_guard lock(mutex_);
  return reader_->count_incidents(state);
}

Result<storage::ResponseReport> Queries::response_report(const storage::ReportQuery& q) {
  std::lock_guard lock(mutex_);
  return reader_->response_report(q);
}

Result<std::vector<engine::Override>> Queries::overrides() {
  std::lock_guard lock(mutex_);
  return reader_->list_overrides();
}

Result<storage::ClusterView> Queries::cluster(engine::Millis live_within) {
  std::lock_guard lock(mutex_);
  return reader_->cluster_view(live_within);
}

std::optional<std::int64_t> Queries::incident_for_conversation(const std::string& conversation) {
  std::lock_guard lock(mutex_);
  auto found = reader_->incident_for_conversation(conversation);
  if (!found) return std::nullopt;
  return *found;
}

std::vector<std::array<std::string, 3>> Queries::teams_channels() {
  std::lock_guard lock(mutex_);
  auto rows = reader_->teams_channels();
  return rows ? *rows : std::vector<std::array<std::string, 3>>{};
}

}  // namespace baton::bot
