#pragma once
// Private to storage/: the database back end behind the Store facade. Store
// validates arguments (invalid_request) and forwards; a Backend does the I/O and
// maps its database's errors onto ErrorKind. Two implementations:
// sqlite_store.cpp (SQLiteCpp) and pg_store.cpp (libpq). Neither library
// appears in any header outside storage/*.cpp.
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "storage/store.hpp"

namespace baton::storage {

/// One row of a copied table (codec::copy_tables()): every column in text
/// form, NULL as nullopt.
using TableRow = std::vector<std::optional<std::string>>;
/// Takes a batch of rows of codec::copy_tables()[table]; an error stops the copy.
using RowSink = std::function<Result<void>(std::size_t table, std::span<const TableRow> rows)>;

class Backend {
 public:
  virtual ~Backend() = default;

  virtual Result<void> apply(std::span<const engine::Effects* const> effects,
                             std::span<const OutboxUpdate> updates,
                             std::span<const std::int64_t> consumed_inbox) = 0;
  /// PostgreSQL only; SQLite keeps the defaults below (no lease, no inbox).
  virtual void set_fence(std::optional<Fence>) {}
  virtual Result<std::int64_t> add_inbox(const std::string&, const std::string&, const std::string&) {
    return fail(ErrorKind::invalid_request, "the inbox needs PostgreSQL");
  }
  virtual Result<void> add_inbox_batch(std::span<const InboxEntry>) {
    return fail(ErrorKind::invalid_request, "the inbox needs PostgreSQL");
  }
  virtual Result<ClusterView> cluster_view(engine::Millis) { return ClusterView{}; }
  virtual Result<LoadedState> load(std::optional<engine::TimePoint> now) = 0;
  virtual Result<std::vector<engine::Incident>> list_incidents(const IncidentQuery& q) = 0;
  virtual Result<std::optional<engine::Incident>> get_incident(std::int64_t number) = 0;
  virtual Result<std::vector<engine::TimelineEvent>> timeline(std::int64_t number) = 0;
  virtual Result<std::vector<OutboxEntry>> outbox_for(std::int64_t number) = 0;
  virtual Result<std::int64_t> add_override(const engine::Override& o,
                                            std::optional<engine::TimePoint> created_at) = 0;
  /// not_found if absent.
  virtual Result<void> remove_override(std::int64_t id) = 0;
  virtual Result<std::int64_t> prune_overrides(engine::TimePoint now) = 0;
  virtual Result<std::vector<engine::Override>> list_overrides() = 0;
  virtual Result<std::int64_t> count_incidents(std::optional<engine::IncidentState> state) = 0;
  virtual Result<std::int64_t> add_maintenance(const engine::MaintenanceWindow& w) = 0;
  /// not_found if absent; conflict if already over at `at`.
  virtual Result<engine::MaintenanceWindow> end_maintenance(std::int64_t id, engine::TimePoint at,
                                                            const std::string& by) = 0;
  virtual Result<std::vector<engine::MaintenanceWindow>> list_maintenance(std::optional<engine::TimePoint> now) = 0;
  virtual Result<std::vector<engine::HeartbeatState>> list_heartbeats() = 0;
  /// conflict if the id is already stored (any constraint violation).
  virtual Result<void> consume_token(const std::string& token_id, engine::TimePoint now) = 0;
  virtual Result<void> probe_write(engine::TimePoint now) = 0;
  virtual Result<std::optional<engine::TimePoint>> next_timer() = 0;
  /// Saves every message in one transaction; an existing one is kept as is.
  virtual Result<void> add_chat_messages(std::span<const ChatMessage> messages, engine::TimePoint now) = 0;
  virtual Result<std::optional<std::int64_t>> incident_for_conversation(const std::string& conversation) = 0;
  virtual Result<std::vector<ChatMessage>> chat_messages(std::int64_t incident) = 0;
  virtual Result<void> save_teams_user(const std::string& aad_object_id, const std::string& teams_id,
                                       engine::TimePoint now) = 0;
  virtual Result<std::vector<std::pair<std::string, std::string>>> teams_users() = 0;
  virtual Result<void> save_teams_channel(const std::string& team_id, const std::string& channel_id,
                                          const std::string& service_url, engine::TimePoint now) = 0;
  virtual Result<std::vector<std::array<std::string, 3>>> teams_channels() = 0;
  virtual int schema_version() const = 0;
  /// The raw rows of the response report (storage/reports_sql.hpp), read in
  /// one read transaction: incidents created in [from_ms, to_ms) (of
  /// `service` only, when given), their acknowledged/escalated events and pages.
  virtual Result<ReportData> report_data(std::int64_t from_ms, std::int64_t to_ms,
                                         const std::optional<std::string>& service) = 0;

  // ---- whole-database copy (Store::copy_to) ----

  /// Reads every table of codec::copy_tables(), in that order, each in its key
  /// order, in batches, inside ONE read transaction (one consistent snapshot);
  /// stops at the sink's first error and returns it. permanent if the
  /// database's schema is older than this baton's (columns would be missing).
  virtual Result<void> export_tables(const RowSink& sink) = 0;
  /// In ONE write transaction: conflict if any table of codec::copy_tables()
  /// has rows; else calls `fill(write)`, where `write` inserts rows exactly as
  /// given (ids included), and commits if fill succeeded (PostgreSQL: after
  /// moving each identity sequence past the copied ids), else rolls back.
  virtual Result<void> import_tables(const std::function<Result<void>(const RowSink& write)>& fill) = 0;
};

/// SQLite file (or ":memory:").
Result<std::unique_ptr<Backend>> open_sqlite(const std::string& path, Durability durability);
Result<std::unique_ptr<Backend>> open_sqlite_reader(const std::string& path);

/// PostgreSQL: `uri` is a libpq connection URI (postgres:// or postgresql://).
/// Durability is the server's (synchronous_commit), not ours.
Result<std::unique_ptr<Backend>> open_postgres(const std::string& uri);
Result<std::unique_ptr<Backend>> open_postgres_reader(const std::string& uri);

}  // namespace baton::storage
