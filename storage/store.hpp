#pragma once
// Durable storage of incidents, timeline, outbox, overrides and used tokens in
// SQLite or PostgreSQL (docs/storage.md). The database libraries (SQLiteCpp,
// libpq) stay behind a private back end (storage/backend.hpp). Timestamps are
// epoch milliseconds taken from the values passed in (never SQL's clock).
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/engine.hpp"
#include "engine/incident.hpp"
#include "engine/model.hpp"
#include "engine/result.hpp"
#include "storage/reports.hpp"

namespace baton::storage {

/// SQLite: PRAGMA synchronous=FULL (fsync per commit) or NORMAL (WAL: may lose
/// the last commits on power loss, never corrupts). PostgreSQL ignores it: the
/// server's synchronous_commit decides.
enum class Durability { full, normal };

/// A notification waiting in the outbox with its delivery bookkeeping.
struct OutboxEntry {
  engine::Notification notification;
  int attempts = 0;
  engine::TimePoint next_attempt{};  ///< created_at until the first retry is scheduled
  std::string last_error;
};

enum class OutboxState { pending, delivered, failed };

/// The outcome of a delivery attempt. `pending` keeps the entry for a retry at
/// `next_attempt`; delivered/failed take it out of the pending outbox.
struct OutboxUpdate {
  std::int64_t id = 0;  ///< notification id; not_found if unknown
  OutboxState state = OutboxState::pending;
  int attempts = 0;
  engine::TimePoint next_attempt{};
  std::string error;
  engine::TimePoint at{};  ///< when the attempt finished (stored as updated_ms); 0 = unknown
};

/// Everything needed to resume after a restart.
struct LoadedState {
  std::vector<engine::Incident> open_incidents;  ///< triggered or acknowledged, by number
  std::vector<OutboxEntry> pending_outbox;       ///< state pending, ordered by id
  std::vector<engine::Override> overrides;       ///< every stored runtime override, by id
  std::vector<engine::HeartbeatState> heartbeats;  ///< every stored heartbeat state, by (service, name)
  std::vector<engine::MaintenanceWindow> maintenance;  ///< one-off windows not over yet (see load()), by id
  std::int64_t next_incident = 1;                ///< max(number)+1
  std::int64_t next_notification = 1;            ///< max(outbox id)+1
};

/// A row for the inbox (PostgreSQL): "alert" or "command", JSON from
/// storage/cluster.hpp, and the instance that took it.
struct InboxEntry {
  std::string kind;
  std::string payload;
  std::string origin;
  /// Set for a trigger that only repeats a dedup key (no group alerts): the
  /// service and the key. If an incident of that service with that key is open
  /// and the inbox holds no row, both read in one snapshot, the owner would
  /// change nothing for it (Engine::ingest_alert), so the row is not written
  /// and the trigger is answered as the duplicate it is. See
  /// docs/architecture.md, "Duplicates on an instance that does not own the engine".
  std::string probe_service;
  std::string probe_dedup_key;
};

struct IncidentQuery {
  std::optional<engine::IncidentState> state;
  int limit = 50;                     ///< 1..10000, else invalid_request
  std::optional<std::int64_t> before;  ///< number < before: cursor, newest first
};

/// A chat message about an incident (the chat_messages table).
struct ChatMessage {
  std::int64_t incident = 0;
  std::string kind;          ///< e.g. "slack-dm", "slack-channel-post", "slack-incident-channel"
  std::string conversation;  ///< channel / conversation id
  std::string message_id;    ///< Slack ts, Teams activity id; empty for a channel itself
  std::string person;        ///< whom it was for; empty for channel posts
};

/// Rows of one table copied by Store::copy_to.
struct TableCount {
  std::string table;
  std::int64_t rows = 0;
};

/// High availability (PostgreSQL only, docs/architecture.md): the lease an
/// engine owner holds. While a Store has a fence, every apply() first checks,
/// in the same transaction, that cluster_lease still names `holder` with
/// `epoch`; if not it writes nothing and fails with ErrorKind::fenced.
struct Fence {
  std::string holder;
  std::int64_t epoch = 0;
};

/// One instance's heartbeat (the instances table).
struct InstanceRow {
  std::string id;
  std::string address;
  engine::TimePoint last_seen{};  ///< the database server's clock
};

/// What GET /api/v1/cluster shows: live instances and the lease.
struct ClusterView {
  std::vector<InstanceRow> instances;  ///< seen within the last `live_within`, by id
  std::optional<std::string> owner;    ///< the lease holder while the lease is unexpired
  std::int64_t epoch = 0;              ///< the lease's epoch (0: never taken)
};

class Backend;  // storage/backend.hpp, private to storage/

/// True for "postgres://..." and "postgresql://..." (case-insensitive scheme):
/// Store::open/open_reader use PostgreSQL for such a path, SQLite otherwise.
bool is_postgres_uri(std::string_view path);

/// The path for messages and logs: a PostgreSQL URI with any password
/// (user:password@ or ?password=) replaced by "***"; a file path as is.
std::string redact_uri(std::string_view path);

/// One database connection. Not thread-safe: one thread (or strand) uses a Store
/// at a time. Several Stores may open the same database (SQLite WAL: one writer,
/// many readers). Errors: busy/locked/I/O/full, lost connection, serialization
/// failure -> transient; constraint -> conflict; corrupt rows or unknown enum
/// names -> permanent.
class Store {
 public:
  /// `path` starting with postgres:// or postgresql:// is a libpq connection URI
  /// (any URI parameter works, e.g. ?sslmode=verify-full): connects and runs the
  /// pending PostgreSQL migrations under an advisory lock; a lost connection is
  /// re-established by the next call. Anything else is an SQLite file: opens
  /// (creating if needed) the database at `path` (":memory:" allowed for tests),
  /// sets WAL, busy_timeout, foreign keys, and runs pending migrations, each in
  /// its own transaction. invalid_request if the file cannot be opened or the URI
  /// does not parse; transient if the server cannot be reached; permanent if a
  /// migration fails or the database is from a newer schema.
  static Result<std::unique_ptr<Store>> open(const std::string& path,
                                             Durability durability = Durability::full);
  /// Opens an existing, migrated database read-only (no migrations). For reads
  /// beside a GroupCommitWriter; writes through it fail with permanent. Same
  /// path/URI rules as open().
  static Result<std::unique_ptr<Store>> open_reader(const std::string& path);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  /// Applies many engine Effects and outbox updates in ONE transaction (group
  /// commit), effects in order then updates in order. All or nothing.
  /// Effects.alerts are stored with Effects.touched[0] as incident (NULL if
  /// empty) and received_ms = that incident's updated_at in the same Effects
  /// (else the latest timeline time, else NULL).
  /// `consumed_inbox` (PostgreSQL): inbox rows deleted in the same
  /// transaction (conflict if one is already gone: it was applied before).
  /// With a fence set (set_fence), checks the lease first (ErrorKind::fenced).
  Result<void> apply(std::span<const engine::Effects* const> effects,
                     std::span<const OutboxUpdate> updates,
                     std::span<const std::int64_t> consumed_inbox = {});
  /// PostgreSQL: the lease every later apply() checks; nullopt = no check.
  /// SQLite ignores it (one instance, no lease).
  void set_fence(std::optional<Fence> fence);
  /// PostgreSQL: stores one inbox row ("alert" or "command", JSON from
  /// storage/cluster.hpp) and NOTIFY baton_inbox in one transaction; returns
  /// its id once committed. SQLite: invalid_request.
  Result<std::int64_t> add_inbox(const std::string& kind, const std::string& payload, const std::string& origin);
  /// The same for several rows in one transaction, with one NOTIFY: all are
  /// stored or none.
  Result<void> add_inbox_batch(std::span<const InboxEntry> rows);
  /// PostgreSQL: the instances seen within `live_within` and the lease.
  /// SQLite: an empty view.
  Result<ClusterView> cluster_view(engine::Millis live_within);
  /// Everything to resume with. `now`, when given, leaves out maintenance
  /// windows that were over by then (they are history); without it, all.
  Result<LoadedState> load(std::optional<engine::TimePoint> now = std::nullopt);
  /// Newest first.
  Result<std::vector<engine::Incident>> list_incidents(const IncidentQuery& q);
  Result<std::optional<engine::Incident>> get_incident(std::int64_t number);
  /// Ordered by time then insertion.
  Result<std::vector<engine::TimelineEvent>> timeline(std::int64_t number);
  /// All states, by id, for `show`.
  Result<std::vector<OutboxEntry>> outbox_for(std::int64_t number);
  /// Returns the new id (the Override's own id is ignored).
  /// invalid_request if end <= start or schedule_id/person is empty.
  Result<std::int64_t> add_override(const engine::Override& o,
                                    std::optional<engine::TimePoint> created_at = std::nullopt);
  /// not_found if absent.
  Result<void> remove_override(std::int64_t id);
  /// Deletes overrides that ended at or before `now`; returns how many.
  Result<std::int64_t> prune_overrides(engine::TimePoint now);
  /// Every stored override, by id (as load() gives them).
  Result<std::vector<engine::Override>> list_overrides();
  Result<std::int64_t> count_incidents(std::optional<engine::IncidentState> state);
  /// Stores a one-off maintenance window (its own id and ended_* are ignored);
  /// returns the new id. invalid_request if end <= start or the service is empty.
  Result<std::int64_t> add_maintenance(const engine::MaintenanceWindow& w);
  /// Ends window `id` early at `at`, by `by`; returns it as stored now.
  /// not_found if absent; conflict if it was already over at `at`.
  Result<engine::MaintenanceWindow> end_maintenance(std::int64_t id, engine::TimePoint at, const std::string& by);
  /// One-off windows, by id: all of them, or those not over at `now`.
  Result<std::vector<engine::MaintenanceWindow>> list_maintenance(std::optional<engine::TimePoint> now = std::nullopt);
  /// Every stored heartbeat state (as load() gives them).
  Result<std::vector<engine::HeartbeatState>> list_heartbeats();
  /// Records a single-use token id (e.g. signed action links); conflict if already used.
  Result<void> consume_token(const std::string& token_id, engine::TimePoint now);
  /// One small write transaction (the write_probe row): does the disk take
  /// writes? Used after a failed commit, before taking changes again.
  Result<void> probe_write(engine::TimePoint now);
  /// The earliest due time in the timers table, if any (for tools and checks).
  Result<std::optional<engine::TimePoint>> next_timer();
  /// Remembers a chat message posted about an incident (Slack, Teams), so
  /// later state changes update it in place. Saving the same ref twice is fine.
  Result<void> add_chat_message(const ChatMessage& m, engine::TimePoint now);
  /// Saves many chat messages in one transaction (one fsync); all or nothing.
  Result<void> add_chat_messages(std::span<const ChatMessage> messages, engine::TimePoint now);
  /// The incident whose chat channel (a "*-incident-channel" ref) is `conversation`.
  Result<std::optional<std::int64_t>> incident_for_conversation(const std::string& conversation);
  /// The chat messages of an incident, oldest first.
  Result<std::vector<ChatMessage>> chat_messages(std::int64_t incident);

  /// Remembers the Teams user id ("29:...") of an AAD object id (insert or replace).
  Result<void> save_teams_user(const std::string& aad_object_id, const std::string& teams_id, engine::TimePoint now);
  /// Every remembered AAD object id -> Teams user id.
  Result<std::vector<std::pair<std::string, std::string>>> teams_users();

  /// Remembers a Teams channel baton was added to (insert or replace).
  Result<void> save_teams_channel(const std::string& team_id, const std::string& channel_id,
                                  const std::string& service_url, engine::TimePoint now);
  /// Every remembered (team id, channel id, service url), oldest first.
  Result<std::vector<std::array<std::string, 3>>> teams_channels();

  /// Copies this whole database into `target`, which must be empty, keeping
  /// every value exactly: incidents with their escalation and contact state and
  /// policy snapshots, alerts, timeline, outbox (states, attempts, next
  /// attempt), timers, overrides, chat messages, used tokens, Teams users and
  /// channels; ids and incident numbers stay, and new ones continue after them
  /// (`baton migrate`, docs/storage.md). This database is read in one read
  /// transaction, so a reader (open_reader) beside a running writer copies a
  /// consistent snapshot; what the writer commits later is not copied. `target`
  /// is written in one transaction: all or nothing. Returns the rows per table,
  /// in copy order. conflict if `target` already holds data (nothing is
  /// written); permanent if this database's schema is older than this baton's;
  /// invalid_request if `target` is this Store.
  Result<std::vector<TableCount>> copy_to(Store& target);

  /// The response report (storage/reports.hpp, docs/reports.md) over the
  /// incidents created in [q.from, q.to), from the timeline and the outbox.
  /// invalid_request for a bad query (validate_report_query). Read-only: works
  /// on an open_reader Store.
  Result<ResponseReport> response_report(const ReportQuery& q);

  /// The highest migration applied (of this back end's migration set).
  int schema_version() const;

 private:
  explicit Store(std::unique_ptr<Backend> backend);
  std::unique_ptr<Backend> backend_;
};

}  // namespace baton::storage
