// The SQLite back end (SQLiteCpp): one connection to a file (or ":memory:").
#include <sqlite3.h>

#include <SQLiteCpp/SQLiteCpp.h>
#include <pthread.h>

#include <chrono>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "storage/backend.hpp"
#include "storage/codec.hpp"
#include "storage/migrations.hpp"
#include "storage/reports_sql.hpp"

namespace baton::storage {
namespace {

using codec::CorruptData;
using codec::ms;
using codec::NotFound;
using engine::from_ms;

Error map_sqlite_error(const SQLite::Exception& e, const char* what) {
  ErrorKind kind = ErrorKind::permanent;
  switch (e.getErrorCode()) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_PROTOCOL: kind = ErrorKind::transient; break;
    case SQLITE_CONSTRAINT: kind = ErrorKind::conflict; break;
    default: break;
  }
  return Error{kind, std::string(what) + ": " + e.what(), {}};
}

// Runs a storage operation, turning SQLite and decoding exceptions into values
// at the one boundary, so the code inside reads straight.
template <typename F>
auto guarded(const char* what, F&& f) -> decltype(f()) {
  try {
    return codec::guarded_common(what, std::forward<F>(f));
  } catch (const SQLite::Exception& e) {
    return tl::unexpected(map_sqlite_error(e, what));
  }
}

// Resets a cached statement when the use ends, even on an exception.
struct Use {
  SQLite::Statement& s;
  ~Use() { s.tryReset(); }
};

// codec's Binder over a statement: binds parameters left to right.
struct Binder {
  SQLite::Statement& s;
  int index = 1;
  void i64(std::int64_t v) { s.bind(index++, v); }
  void text(const std::string& v) { s.bind(index++, v); }
  // For strings that outlive exec() (the cached policy JSON): no copy.
  void stable_text(const std::string& v) { s.bindNoCopy(index++, v); }
  void null() { s.bind(index++); }
};

// codec's Row over the current row of a statement.
struct Row {
  SQLite::Statement& s;
  bool is_null(int c) const { return s.getColumn(c).isNull(); }
  std::int64_t i64(int c) const { return s.getColumn(c).getInt64(); }
  std::string text(int c) const { return s.getColumn(c).getString(); }
};

std::string question_mark(int) { return "?"; }

const std::string kIncidentSelect = codec::incident_select();
const std::string kIncidentUpsert = codec::incident_upsert(&question_mark);
const std::string kOutboxSelect = std::string("SELECT ") + codec::kOutboxColumns + " FROM outbox";

int latest_known_version() { return codec::latest_version(embedded_migrations()); }

// WAL checkpoints off the commit path. SQLite's automatic checkpoint runs
// inside the commit that crosses wal_autocheckpoint pages, so now and then one
// commit also copies the WAL into the database file and fsyncs it: a stall of
// tens of ms for every alert queued behind it. The writer's connection turns
// that off, and this thread runs PASSIVE checkpoints on a connection of its
// own, which never wait for the writer (https://sqlite.org/wal.html#ckpt,
// https://sqlite.org/c3ref/wal_checkpoint_v2.html).
class Checkpointer {
 public:
  explicit Checkpointer(const std::string& path) : db_(path, SQLite::OPEN_READWRITE) {
    db_.setBusyTimeout(0);  // PASSIVE: never wait for a lock
    // A connection learns that the file is in WAL mode only when it first
    // reads it; until then sqlite3_wal_checkpoint_v2 is a no-op ("not in WAL
    // mode", *pnLog = -1) and the WAL grows without bound. Read it now.
    (void)db_.execAndGet("PRAGMA schema_version").getInt();
    thread_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "baton-ckpt");  // at most 15 characters
      run();
    });
  }
  ~Checkpointer() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
  }
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  /// On the writer's thread after a commit: when the WAL has outgrown its
  /// bound, a RESTART checkpoint on the writer's own connection copies the
  /// few frames left and makes the next commit start the WAL from its
  /// beginning (https://sqlite.org/c3ref/wal_checkpoint_v2.html). It never
  /// waits: with a reader still on the WAL it is SQLITE_BUSY at once and is
  /// tried again after a later commit.
  void restart_if_wanted(SQLite::Database& writer) {
    // The checkpoint thread asks once it copied (nearly) everything; past
    // twice the bound the writer does not wait for it (under CPU pressure it
    // falls behind) and restarts, copying what is left itself: a hard bound.
    const bool hard = wal_frames_.load(std::memory_order_relaxed) >= 2 * kRestartFrames;
    if (!restart_wanted_.exchange(false) && !hard) return;
    // Asked: never wait. Hard: wait a little for a running PASSIVE checkpoint
    // of the checkpoint thread, which holds the checkpoint lock.
    writer.setBusyTimeout(hard ? 200 : 0);
    int log = 0, done = 0;
    const int rc = sqlite3_wal_checkpoint_v2(writer.getHandle(), nullptr, SQLITE_CHECKPOINT_RESTART, &log, &done);
    writer.setBusyTimeout(kWriterBusyTimeoutMs);
    if (rc != SQLITE_OK) restart_wanted_.store(true);
  }

  /// Registers on the writer's connection the hook SQLite calls after each
  /// commit with the WAL's size in frames (https://sqlite.org/c3ref/wal_hook.html).
  void watch(SQLite::Database& writer) {
    sqlite3_wal_hook(
        writer.getHandle(),
        [](void* self, sqlite3*, const char*, int frames) {
          static_cast<Checkpointer*>(self)->wal_frames_.store(frames, std::memory_order_relaxed);
          return SQLITE_OK;
        },
        this);
  }

  /// After each commit on the writer's connection; cheap.
  void committed() {
    bool wake = false;
    {
      std::lock_guard lock(mutex_);
      wake = ++commits_ == kCommitsPerCheckpoint;
    }
    if (wake) wake_.notify_one();
  }

 private:
  // About what SQLite's default (1,000 pages) gives for baton's commits.
  static constexpr std::uint64_t kCommitsPerCheckpoint = 256;
 public:
  static constexpr int kWriterBusyTimeoutMs = 5000;

 private:
  // 64 MB of 4 KiB frames: the WAL's bound under sustained writes.
  static constexpr int kRestartFrames = 16384;
  // A RESTART is tried when PASSIVE left no more than this many frames behind
  // (those committed while it ran), so that it has little left to copy.
  static constexpr int kRestartSlack = 4096;

  void run() {
    std::unique_lock lock(mutex_);
    for (;;) {
      // Soon after a burst of commits, or a second after the last few.
      wake_.wait_for(lock, std::chrono::seconds(1),
                     [this] { return stopping_ || commits_ >= kCommitsPerCheckpoint; });
      if (stopping_) return;
      if (commits_ == 0) {
        wake_.wait(lock, [this] { return stopping_ || commits_ > 0; });  // idle: no wake-ups
        continue;
      }
      commits_ = 0;
      lock.unlock();
      // A failure (busy, a full disk) leaves the frames in the WAL for the
      // next round; the commits themselves report disk trouble.
      int log = 0, done = 0;
      sqlite3_wal_checkpoint_v2(db_.getHandle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
      // Under sustained writes there is never a moment with every frame
      // copied and no transaction open, so the WAL is never started over and
      // grows with every commit. Past kRestartFrames, with (nearly) every
      // frame copied, the writer is asked to restart it between two commits
      // (restart_if_wanted).
      if (log >= kRestartFrames && done >= log - kRestartSlack) restart_wanted_.store(true);
      lock.lock();
    }
  }

  SQLite::Database db_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::uint64_t commits_ = 0;
  bool stopping_ = false;
  std::atomic<bool> restart_wanted_{false};
  std::atomic<int> wal_frames_{0};  // after the writer's last commit
  std::thread thread_;  // last
};

class SqliteBackend final : public Backend {
 public:
  SqliteBackend(const std::string& path, int flags) : db(path, flags) {}

  SQLite::Statement& stmt(const std::string& sql) {
    auto it = cache.find(sql);
    if (it == cache.end()) it = cache.emplace(sql, std::make_unique<SQLite::Statement>(db, sql)).first;
    return *it->second;
  }

  int read_version() {
    SQLite::Statement s(db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
    s.executeStep();
    return s.getColumn(0).getInt();
  }

  void write_incident(const engine::Incident& inc);
  void write_timers(const engine::Incident& inc);
  void write_effects(const engine::Effects& fx);
  void write_update(const OutboxUpdate& u);

  Result<void> apply(std::span<const engine::Effects* const> effects,
                     std::span<const OutboxUpdate> updates,
                     std::span<const std::int64_t> consumed_inbox) override;
  Result<LoadedState> load(std::optional<engine::TimePoint> now) override;
  Result<std::vector<engine::Incident>> list_incidents(const IncidentQuery& q) override;
  Result<std::optional<engine::Incident>> get_incident(std::int64_t number) override;
  Result<std::vector<engine::TimelineEvent>> timeline(std::int64_t number) override;
  Result<std::vector<OutboxEntry>> outbox_for(std::int64_t number) override;
  Result<std::int64_t> add_override(const engine::Override& o,
                                    std::optional<engine::TimePoint> created_at) override;
  Result<void> remove_override(std::int64_t id) override;
  Result<std::int64_t> prune_overrides(engine::TimePoint now) override;
  Result<std::vector<engine::Override>> list_overrides() override {
    return guarded("list_overrides", [&]() -> Result<std::vector<engine::Override>> { return read_overrides(); });
  }
  std::vector<engine::Override> read_overrides() {
    std::vector<engine::Override> out;
    auto& s = stmt("SELECT id, schedule_id, person, start_ms, end_ms FROM overrides ORDER BY id");
    Use use{s};
    while (s.executeStep()) {
      engine::Override o;
      o.id = s.getColumn(0).getInt64();
      o.schedule_id = s.getColumn(1).getString();
      o.person = s.getColumn(2).getString();
      o.start = from_ms(s.getColumn(3).getInt64());
      o.end = from_ms(s.getColumn(4).getInt64());
      out.push_back(std::move(o));
    }
    return out;
  }
  Result<std::int64_t> count_incidents(std::optional<engine::IncidentState> state) override;
  Result<std::int64_t> add_maintenance(const engine::MaintenanceWindow& w) override;
  Result<engine::MaintenanceWindow> end_maintenance(std::int64_t id, engine::TimePoint at, const std::string& by) override;
  Result<std::vector<engine::MaintenanceWindow>> list_maintenance(std::optional<engine::TimePoint> now) override {
    return guarded("list_maintenance",
                   [&]() -> Result<std::vector<engine::MaintenanceWindow>> { return read_maintenance(now); });
  }
  std::vector<engine::MaintenanceWindow> read_maintenance(std::optional<engine::TimePoint> now) {
    std::vector<engine::MaintenanceWindow> out;
    // Over: ended early by `now`, or past its end.
    auto& s = stmt(std::string("SELECT ") + codec::kMaintenanceColumns +
                   " FROM maintenance_windows WHERE ? IS NULL OR (end_ms > ? AND (ended_ms IS NULL OR ended_ms > ?)) "
                   "ORDER BY id");
    Use use{s};
    for (int i = 1; i <= 3; ++i) {
      if (now)
        s.bind(i, ms(*now));
      else
        s.bind(i);
    }
    while (s.executeStep()) out.push_back(codec::decode_maintenance(Row{s}));
    return out;
  }
  Result<std::vector<engine::HeartbeatState>> list_heartbeats() override {
    return guarded("list_heartbeats", [&]() -> Result<std::vector<engine::HeartbeatState>> { return read_heartbeats(); });
  }
  std::vector<engine::HeartbeatState> read_heartbeats() {
    std::vector<engine::HeartbeatState> out;
    auto& s = stmt(std::string("SELECT ") + codec::kHeartbeatColumns + " FROM heartbeats ORDER BY service_id, name");
    Use use{s};
    while (s.executeStep()) out.push_back(codec::decode_heartbeat(Row{s}));
    return out;
  }
  Result<void> consume_token(const std::string& token_id, engine::TimePoint now) override;
  Result<void> probe_write(engine::TimePoint now) override;
  Result<std::optional<engine::TimePoint>> next_timer() override;
  Result<void> add_chat_messages(std::span<const ChatMessage> messages, engine::TimePoint now) override;
  Result<std::optional<std::int64_t>> incident_for_conversation(const std::string& conversation) override;
  Result<std::vector<ChatMessage>> chat_messages(std::int64_t incident) override;
  Result<void> save_teams_user(const std::string& aad_object_id, const std::string& teams_id,
                               engine::TimePoint now) override;
  Result<std::vector<std::pair<std::string, std::string>>> teams_users() override;
  Result<void> save_teams_channel(const std::string& team_id, const std::string& channel_id,
                                  const std::string& service_url, engine::TimePoint now) override;
  Result<std::vector<std::array<std::string, 3>>> teams_channels() override;
  Result<ReportData> report_data(std::int64_t from_ms, std::int64_t to_ms,
                                 const std::optional<std::string>& service) override;
  int schema_version() const override { return version; }
  Result<void> export_tables(const RowSink& sink) override;
  Result<void> import_tables(const std::function<Result<void>(const RowSink& write)>& fill) override;

  SQLite::Database db;  // declared before the statements: destroyed after them
  std::unique_ptr<Checkpointer> checkpointer;  // the writer's, for a file database
  std::unordered_map<std::string, std::unique_ptr<SQLite::Statement>> cache;
  codec::PolicyJsonCache policy_json;
  int version = 0;
};

void SqliteBackend::write_incident(const engine::Incident& inc) {
  auto& s = stmt(kIncidentUpsert);
  Use use{s};
  Binder b{s};
  codec::bind_incident(b, inc, policy_json);
  s.exec();
  write_timers(inc);
}

void SqliteBackend::write_timers(const engine::Incident& inc) {
  if (inc.state == engine::IncidentState::resolved) {
    auto& del = stmt("DELETE FROM timers WHERE incident = ?");
    Use use{del};
    del.bind(1, inc.number);
    del.exec();
    return;
  }
  for (const auto& t : codec::timer_rows(inc)) {
    if (t.pending) {
      auto& up = stmt(
          "INSERT INTO timers (incident, kind, due_ms) VALUES (?, ?, ?) "
          "ON CONFLICT(incident, kind) DO UPDATE SET due_ms = excluded.due_ms");
      Use use{up};
      up.bind(1, inc.number);
      up.bind(2, t.kind);
      up.bind(3, ms(t.due));
      up.exec();
    } else {
      auto& del = stmt("DELETE FROM timers WHERE incident = ? AND kind = ?");
      Use use{del};
      del.bind(1, inc.number);
      del.bind(2, t.kind);
      del.exec();
    }
  }
}

void SqliteBackend::write_effects(const engine::Effects& fx) {
  for (const auto& inc : fx.incidents) write_incident(inc);

  for (const auto& h : fx.heartbeats) {
    auto& s = stmt(std::string("INSERT INTO heartbeats (") + codec::kHeartbeatColumns +
                   ") VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(service_id, name) DO UPDATE SET "
                   "first_seen_ms = excluded.first_seen_ms, last_beat_ms = excluded.last_beat_ms, "
                   "since_ms = excluded.since_ms, incident = excluded.incident");
    Use use{s};
    Binder b{s};
    codec::bind_heartbeat(b, h);
    s.exec();
  }

  if (!fx.alerts.empty()) {
    const auto ref = codec::alert_ref(fx);
    auto& s = stmt(
        "INSERT INTO alerts (incident, received_ms, source, action, dedup_key, summary, payload) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)");
    for (const auto& a : fx.alerts) {
      Use use{s};
      Binder b{s};
      codec::bind_incident_ref(b, ref.incident);
      codec::bind_optional_ms(b, ref.received);
      s.bind(3, engine::to_string(a.source));
      s.bind(4, engine::to_string(a.action));
      s.bind(5, a.dedup_key);
      s.bind(6, a.summary);
      s.bind(7, codec::encode_alert_payload(a));
      s.exec();
    }
  }

  if (!fx.timeline.empty()) {
    auto& s = stmt(
        "INSERT INTO timeline (incident, at_ms, kind, actor, channel, message) VALUES (?, ?, ?, ?, ?, ?)");
    for (const auto& ev : fx.timeline) {
      Use use{s};
      Binder b{s};
      codec::bind_incident_ref(b, ev.incident);
      s.bind(2, ms(ev.at));
      s.bind(3, engine::to_string(ev.kind));
      s.bind(4, ev.actor);
      s.bind(5, engine::to_string(ev.channel));
      s.bind(6, ev.message);
      s.exec();
    }
  }

  if (!fx.notifications.empty()) {
    auto& s = stmt(
        "INSERT INTO outbox (id, incident, person, method, kind, step, created_ms, idempotency_key, "
        "state, attempts, next_attempt_ms, last_error, updated_ms) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, '', ?)");
    for (const auto& n : fx.notifications) {
      Use use{s};
      const auto created = ms(n.created_at);
      s.bind(1, n.id);
      Binder b{s, 2};
      codec::bind_incident_ref(b, n.incident);
      s.bind(3, n.person);
      s.bind(4, engine::to_string(n.method));
      s.bind(5, engine::to_string(n.kind));
      s.bind(6, n.step);
      s.bind(7, created);
      s.bind(8, n.idempotency_key);
      s.bind(9, created);
      s.bind(10, created);
      s.exec();
    }
  }
}

void SqliteBackend::write_update(const OutboxUpdate& u) {
  auto& s = stmt(
      "UPDATE outbox SET state = ?, attempts = ?, next_attempt_ms = ?, last_error = ?, "
      "updated_ms = CASE WHEN ? = 0 THEN updated_ms ELSE ? END WHERE id = ?");
  Use use{s};
  const auto at = ms(u.at);
  s.bind(1, codec::to_string(u.state));
  s.bind(2, u.attempts);
  s.bind(3, ms(u.next_attempt));
  s.bind(4, u.error);
  s.bind(5, at);
  s.bind(6, at);
  s.bind(7, u.id);
  if (s.exec() == 0) throw NotFound("outbox update for unknown notification " + std::to_string(u.id));
}

Result<void> SqliteBackend::apply(std::span<const engine::Effects* const> effects,
                                  std::span<const OutboxUpdate> updates,
                                  std::span<const std::int64_t> consumed_inbox) {
  // One instance, no inbox (docs/architecture.md, "High availability").
  if (!consumed_inbox.empty()) return fail(ErrorKind::invalid_request, "the inbox needs PostgreSQL");
  return guarded("apply", [&]() -> Result<void> {
    // IMMEDIATE takes the write lock up front: no deadlock-prone upgrade from a read.
    SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
    for (const engine::Effects* fx : effects)
      if (fx) write_effects(*fx);
    for (const auto& u : updates) write_update(u);
    tx.commit();  // deferred foreign keys are checked here; a failure rolls back in ~Transaction
    if (checkpointer) {
      checkpointer->committed();
      checkpointer->restart_if_wanted(db);
    }
    return {};
  });
}

Result<LoadedState> SqliteBackend::load(std::optional<engine::TimePoint> now) {
  return guarded("load", [&]() -> Result<LoadedState> {
    LoadedState out;
    SQLite::Transaction tx(db);  // one consistent snapshot of all tables
    std::map<std::string, engine::PolicySnapshotPtr> policies;
    {
      auto& s = stmt(kIncidentSelect + " WHERE state <> 'resolved' ORDER BY number");
      Use use{s};
      while (s.executeStep()) out.open_incidents.push_back(codec::decode_incident(Row{s}, policies));
    }
    {
      auto& s = stmt(kOutboxSelect + " WHERE state = 'pending' ORDER BY id");
      Use use{s};
      while (s.executeStep()) out.pending_outbox.push_back(codec::decode_outbox(Row{s}));
    }
    {
      auto overrides = read_overrides();
      out.overrides = std::move(overrides);
    }
    out.heartbeats = read_heartbeats();
    out.maintenance = read_maintenance(now);
    {
      auto& s = stmt(
          "SELECT (SELECT COALESCE(MAX(number), 0) FROM incidents), (SELECT COALESCE(MAX(id), 0) FROM outbox)");
      Use use{s};
      s.executeStep();
      out.next_incident = s.getColumn(0).getInt64() + 1;
      out.next_notification = s.getColumn(1).getInt64() + 1;
    }
    tx.commit();
    return out;
  });
}

Result<std::vector<engine::Incident>> SqliteBackend::list_incidents(const IncidentQuery& q) {
  return guarded("list_incidents", [&]() -> Result<std::vector<engine::Incident>> {
    std::string sql = kIncidentSelect + " WHERE 1 = 1";
    if (q.state) sql += " AND state = ?";
    if (q.before) sql += " AND number < ?";
    sql += " ORDER BY number DESC LIMIT ?";
    auto& s = stmt(sql);
    Use use{s};
    int i = 1;
    if (q.state) s.bind(i++, engine::to_string(*q.state));
    if (q.before) s.bind(i++, *q.before);
    s.bind(i, q.limit);
    std::vector<engine::Incident> out;
    std::map<std::string, engine::PolicySnapshotPtr> policies;
    while (s.executeStep()) out.push_back(codec::decode_incident(Row{s}, policies));
    return out;
  });
}

Result<std::optional<engine::Incident>> SqliteBackend::get_incident(std::int64_t number) {
  return guarded("get_incident", [&]() -> Result<std::optional<engine::Incident>> {
    auto& s = stmt(kIncidentSelect + " WHERE number = ?");
    Use use{s};
    s.bind(1, number);
    if (!s.executeStep()) return std::optional<engine::Incident>{};
    std::map<std::string, engine::PolicySnapshotPtr> policies;
    return std::optional<engine::Incident>{codec::decode_incident(Row{s}, policies)};
  });
}

Result<std::vector<engine::TimelineEvent>> SqliteBackend::timeline(std::int64_t number) {
  return guarded("timeline", [&]() -> Result<std::vector<engine::TimelineEvent>> {
    auto& s = stmt(
        "SELECT incident, at_ms, kind, actor, channel, message FROM timeline WHERE incident = ? "
        "ORDER BY at_ms, id");
    Use use{s};
    s.bind(1, number);
    std::vector<engine::TimelineEvent> out;
    while (s.executeStep()) {
      engine::TimelineEvent ev;
      ev.incident = s.getColumn(0).getInt64();
      ev.at = from_ms(s.getColumn(1).getInt64());
      ev.kind = codec::parse_timeline_kind(s.getColumn(2).getString());
      ev.actor = s.getColumn(3).getString();
      ev.channel = codec::parse_source(s.getColumn(4).getString());
      ev.message = s.getColumn(5).getString();
      out.push_back(std::move(ev));
    }
    return out;
  });
}

Result<std::vector<OutboxEntry>> SqliteBackend::outbox_for(std::int64_t number) {
  return guarded("outbox_for", [&]() -> Result<std::vector<OutboxEntry>> {
    auto& s = stmt(kOutboxSelect + " WHERE incident = ? ORDER BY id");
    Use use{s};
    s.bind(1, number);
    std::vector<OutboxEntry> out;
    while (s.executeStep()) out.push_back(codec::decode_outbox(Row{s}));
    return out;
  });
}

Result<std::int64_t> SqliteBackend::add_override(const engine::Override& o,
                                                 std::optional<engine::TimePoint> created_at) {
  return guarded("add_override", [&]() -> Result<std::int64_t> {
    auto& s = stmt(
        "INSERT INTO overrides (schedule_id, person, start_ms, end_ms, created_ms) VALUES (?, ?, ?, ?, ?)");
    Use use{s};
    s.bind(1, o.schedule_id);
    s.bind(2, o.person);
    s.bind(3, ms(o.start));
    s.bind(4, ms(o.end));
    Binder b{s, 5};
    codec::bind_optional_ms(b, created_at);
    s.exec();
    return static_cast<std::int64_t>(db.getLastInsertRowid());
  });
}

Result<void> SqliteBackend::remove_override(std::int64_t id) {
  return guarded("remove_override", [&]() -> Result<void> {
    auto& s = stmt("DELETE FROM overrides WHERE id = ?");
    Use use{s};
    s.bind(1, id);
    if (s.exec() == 0) return fail(ErrorKind::not_found, "no override " + std::to_string(id));
    return {};
  });
}

Result<std::int64_t> SqliteBackend::prune_overrides(engine::TimePoint now) {
  return guarded("prune_overrides", [&]() -> Result<std::int64_t> {
    auto& s = stmt("DELETE FROM overrides WHERE end_ms <= ?");
    Use use{s};
    s.bind(1, ms(now));
    return static_cast<std::int64_t>(s.exec());
  });
}

Result<std::int64_t> SqliteBackend::add_maintenance(const engine::MaintenanceWindow& w) {
  return guarded("add_maintenance", [&]() -> Result<std::int64_t> {
    auto& s = stmt(
        "INSERT INTO maintenance_windows (service_id, start_ms, end_ms, reason, created_by, ended_ms, ended_by) "
        "VALUES (?, ?, ?, ?, ?, NULL, '')");
    Use use{s};
    s.bind(1, w.service_id);
    s.bind(2, ms(w.start));
    s.bind(3, ms(w.end));
    s.bind(4, w.reason);
    s.bind(5, w.created_by);
    s.exec();
    return static_cast<std::int64_t>(db.getLastInsertRowid());
  });
}

Result<engine::MaintenanceWindow> SqliteBackend::end_maintenance(std::int64_t id, engine::TimePoint at,
                                                                 const std::string& by) {
  return guarded("end_maintenance", [&]() -> Result<engine::MaintenanceWindow> {
    SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
    auto& sel = stmt(std::string("SELECT ") + codec::kMaintenanceColumns + " FROM maintenance_windows WHERE id = ?");
    std::optional<engine::MaintenanceWindow> w;
    {
      Use use{sel};
      sel.bind(1, id);
      if (sel.executeStep()) w = codec::decode_maintenance(Row{sel});
    }
    if (!w) return fail(ErrorKind::not_found, "no maintenance window " + std::to_string(id));
    if (w->effective_end() <= at)
      return fail(ErrorKind::conflict, "maintenance window " + std::to_string(id) + " is already over");
    auto& up = stmt("UPDATE maintenance_windows SET ended_ms = ?, ended_by = ? WHERE id = ?");
    Use use{up};
    up.bind(1, ms(at));
    up.bind(2, by);
    up.bind(3, id);
    up.exec();
    tx.commit();
    w->ended_at = at;
    w->ended_by = by;
    return *w;
  });
}

Result<std::int64_t> SqliteBackend::count_incidents(std::optional<engine::IncidentState> state) {
  return guarded("count_incidents", [&]() -> Result<std::int64_t> {
    auto& s = stmt(state ? "SELECT COUNT(*) FROM incidents WHERE state = ?" : "SELECT COUNT(*) FROM incidents");
    Use use{s};
    if (state) s.bind(1, engine::to_string(*state));
    s.executeStep();
    return s.getColumn(0).getInt64();
  });
}

Result<void> SqliteBackend::consume_token(const std::string& token_id, engine::TimePoint now) {
  return guarded("consume_token", [&]() -> Result<void> {
    auto& s = stmt("INSERT INTO used_tokens (token_id, used_ms) VALUES (?, ?)");
    Use use{s};
    s.bind(1, token_id);
    s.bind(2, ms(now));
    s.exec();
    return {};
  });
}

Result<void> SqliteBackend::probe_write(engine::TimePoint now) {
  return guarded("probe_write", [&]() -> Result<void> {
    SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
    auto& s = stmt("INSERT OR REPLACE INTO write_probe (id, at_ms) VALUES (1, ?)");
    Use use{s};
    s.bind(1, ms(now));
    s.exec();
    tx.commit();
    return {};
  });
}

Result<void> SqliteBackend::add_chat_messages(std::span<const ChatMessage> messages, engine::TimePoint now) {
  return guarded("add_chat_messages", [&]() -> Result<void> {
    SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
    for (const auto& m : messages) {
      auto& s = stmt(
          "INSERT OR IGNORE INTO chat_messages (incident, channel_kind, conversation_id, message_id, person, "
          "created_ms) VALUES (?, ?, ?, ?, ?, ?)");
      Use use{s};
      s.bind(1, static_cast<std::int64_t>(m.incident));
      s.bind(2, m.kind);
      s.bind(3, m.conversation);
      s.bind(4, m.message_id);
      s.bind(5, m.person);
      s.bind(6, ms(now));
      s.exec();
    }
    tx.commit();
    return {};
  });
}

Result<std::optional<std::int64_t>> SqliteBackend::incident_for_conversation(const std::string& conversation) {
  return guarded("incident_for_conversation", [&]() -> Result<std::optional<std::int64_t>> {
    auto& s = stmt(
        "SELECT incident FROM chat_messages WHERE conversation_id = ? AND channel_kind LIKE '%-incident-channel' "
        "ORDER BY created_ms DESC LIMIT 1");
    Use use{s};
    s.bind(1, conversation);
    if (!s.executeStep()) return std::optional<std::int64_t>{};
    return std::optional<std::int64_t>{s.getColumn(0).getInt64()};
  });
}

Result<std::vector<ChatMessage>> SqliteBackend::chat_messages(std::int64_t incident) {
  return guarded("chat_messages", [&]() -> Result<std::vector<ChatMessage>> {
    auto& s = stmt(
        "SELECT channel_kind, conversation_id, message_id, person FROM chat_messages WHERE incident = ? "
        "ORDER BY created_ms, rowid");
    Use use{s};
    s.bind(1, static_cast<std::int64_t>(incident));
    std::vector<ChatMessage> out;
    while (s.executeStep())
      out.push_back(ChatMessage{incident, s.getColumn(0).getString(), s.getColumn(1).getString(),
                                s.getColumn(2).getString(), s.getColumn(3).getString()});
    return out;
  });
}

Result<void> SqliteBackend::save_teams_user(const std::string& aad_object_id, const std::string& teams_id,
                                            engine::TimePoint now) {
  return guarded("save_teams_user", [&]() -> Result<void> {
    auto& s = stmt("INSERT OR REPLACE INTO teams_users (aad_object_id, teams_id, updated_ms) VALUES (?, ?, ?)");
    Use use{s};
    s.bind(1, aad_object_id);
    s.bind(2, teams_id);
    s.bind(3, ms(now));
    s.exec();
    return {};
  });
}

Result<std::vector<std::pair<std::string, std::string>>> SqliteBackend::teams_users() {
  return guarded("teams_users", [&]() -> Result<std::vector<std::pair<std::string, std::string>>> {
    auto& s = stmt("SELECT aad_object_id, teams_id FROM teams_users");
    Use use{s};
    std::vector<std::pair<std::string, std::string>> out;
    while (s.executeStep()) out.emplace_back(s.getColumn(0).getString(), s.getColumn(1).getString());
    return out;
  });
}

Result<void> SqliteBackend::save_teams_channel(const std::string& team_id, const std::string& channel_id,
                                               const std::string& service_url, engine::TimePoint now) {
  return guarded("save_teams_channel", [&]() -> Result<void> {
    auto& s = stmt(
        "INSERT OR REPLACE INTO teams_channels (team_id, channel_id, service_url, added_ms) VALUES (?, ?, ?, ?)");
    Use use{s};
    s.bind(1, team_id);
    s.bind(2, channel_id);
    s.bind(3, service_url);
    s.bind(4, ms(now));
    s.exec();
    return {};
  });
}

static std::string report_param(int, bool) { return "?"; }

// codec's Row plus a view of a text column without a copy (report_sql::name).
struct ReportRow : Row {
  std::string_view view(int c) const {
    const auto col = s.getColumn(c);
    return {col.getText(), static_cast<std::size_t>(col.getBytes())};
  }
};

Result<ReportData> SqliteBackend::report_data(std::int64_t from_ms, std::int64_t to_ms,
                                              const std::optional<std::string>& service) {
  return guarded("report_data", [&]() -> Result<ReportData> {
    ReportData out;
    SQLite::Transaction tx(db);  // one snapshot for the three reads
    {
      auto& s = stmt(report_sql::incidents(&report_param, service.has_value()));
      Use use{s};
      s.bind(1, from_ms);
      s.bind(2, to_ms);
      if (service) s.bind(3, *service);
      while (s.executeStep()) report_sql::decode_incident(ReportRow{{s}}, out);
    }
    if (out.incidents.empty()) return out;
    auto [lo, hi] = report_sql::number_range(out);
    auto bind = [&](SQLite::Statement& s) {
      if (service) {
        s.bind(1, from_ms);
        s.bind(2, to_ms);
        s.bind(3, *service);
      } else {
        s.bind(1, lo);
        s.bind(2, hi);
      }
    };
    {
      auto& s = stmt(report_sql::events(&report_param, service.has_value()));
      Use use{s};
      bind(s);
      out.events.reserve(out.incidents.size() * 2);
      while (s.executeStep()) report_sql::decode_event(ReportRow{{s}}, out);
    }
    {
      auto& s = stmt(report_sql::pages(&report_param, service.has_value()));
      Use use{s};
      bind(s);
      out.pages.reserve(out.incidents.size() * 5);
      while (s.executeStep()) report_sql::decode_page(ReportRow{{s}}, out);
    }
    return out;
  });
}

Result<std::vector<std::array<std::string, 3>>> SqliteBackend::teams_channels() {
  return guarded("teams_channels", [&]() -> Result<std::vector<std::array<std::string, 3>>> {
    auto& s =
        stmt("SELECT team_id, channel_id, service_url FROM teams_channels ORDER BY added_ms, team_id, channel_id");
    Use use{s};
    std::vector<std::array<std::string, 3>> out;
    while (s.executeStep())
      out.push_back({s.getColumn(0).getString(), s.getColumn(1).getString(), s.getColumn(2).getString()});
    return out;
  });
}

Result<std::optional<engine::TimePoint>> SqliteBackend::next_timer() {
  return guarded("next_timer", [&]() -> Result<std::optional<engine::TimePoint>> {
    auto& s = stmt("SELECT MIN(due_ms) FROM timers");
    Use use{s};
    s.executeStep();
    if (s.getColumn(0).isNull()) return std::optional<engine::TimePoint>{};
    return std::optional<engine::TimePoint>{from_ms(s.getColumn(0).getInt64())};
  });
}

// ---- whole-database copy ----

constexpr std::size_t kExportBatch = 500;

Result<void> SqliteBackend::export_tables(const RowSink& sink) {
  return guarded("export", [&]() -> Result<void> {
    if (version < latest_known_version())
      return fail(ErrorKind::permanent, "database '" + db.getFilename() + "' has schema version " +
                                            std::to_string(version) + ", older than this baton (" +
                                            std::to_string(latest_known_version()) +
                                            "): start this baton on it once to upgrade it, then copy");
    // One read transaction: in WAL mode a reader sees the database as of its
    // first read until it ends, whatever a writer commits meanwhile, and does
    // not block that writer (https://www.sqlite.org/isolation.html,
    // https://www.sqlite.org/wal.html#concurrency).
    SQLite::Transaction tx(db);  // DEFERRED: no lock until the first read
    const auto& tables = codec::copy_tables();
    for (std::size_t t = 0; t < tables.size(); ++t) {
      const auto& table = tables[t];
      const std::string sql = codec::copy_select(table, table.sqlite_order);
      SQLite::Statement s(db, sql);
      const int n = static_cast<int>(table.columns.size());
      std::vector<TableRow> batch;
      batch.reserve(kExportBatch);
      while (s.executeStep()) {
        TableRow row;
        row.reserve(static_cast<std::size_t>(n));
        for (int c = 0; c < n; ++c) {
          auto col = s.getColumn(c);
          row.push_back(col.isNull() ? std::nullopt : std::optional<std::string>(col.getString()));
        }
        batch.push_back(std::move(row));
        if (batch.size() == kExportBatch) {
          if (auto w = sink(t, batch); !w) return w;
          batch.clear();
        }
      }
      if (!batch.empty())
        if (auto w = sink(t, batch); !w) return w;
    }
    tx.commit();  // ends the read transaction
    return {};
  });
}

Result<void> SqliteBackend::import_tables(const std::function<Result<void>(const RowSink& write)>& fill) {
  return guarded("import", [&]() -> Result<void> {
    SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
    const auto& tables = codec::copy_tables();
    for (const auto& table : tables) {
      SQLite::Statement count(db, "SELECT COUNT(*) FROM " + table.name);
      count.executeStep();
      if (const auto rows = count.getColumn(0).getInt64(); rows > 0)
        return fail(ErrorKind::conflict, "database '" + db.getFilename() + "' is not empty (" + table.name + ": " +
                                             std::to_string(rows) + " rows); only an empty database can be copied into");
    }
    const RowSink write = [&](std::size_t t, std::span<const TableRow> rows) -> Result<void> {
      const auto& table = tables.at(t);
      return guarded("import", [&]() -> Result<void> {
        const std::string cols = codec::column_list(table);
        std::string params;
        for (std::size_t c = 0; c < table.columns.size(); ++c) params += c ? ", ?" : "?";
        // Text into an INTEGER column is stored as the integer it spells
        // (type affinity, https://www.sqlite.org/datatype3.html).
        auto& s = stmt("INSERT INTO " + table.name + " (" + cols + ") VALUES (" + params + ")");
        for (const auto& row : rows) {
          Use use{s};
          Binder b{s};
          for (const auto& v : row) {
            if (v)
              b.text(*v);
            else
              b.null();
          }
          s.exec();
        }
        return {};
      });
    };
    if (auto r = fill(write); !r) return r;  // ~Transaction rolls back
    tx.commit();
    return {};
  });
}

}  // namespace

Result<std::unique_ptr<Backend>> open_sqlite(const std::string& path, Durability durability) {
  std::unique_ptr<SqliteBackend> b;
  try {
    b = std::make_unique<SqliteBackend>(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    b->db.setBusyTimeout(Checkpointer::kWriterBusyTimeoutMs);
    b->db.exec("PRAGMA journal_mode = WAL");
  } catch (const SQLite::Exception& e) {
    return fail(ErrorKind::invalid_request, "cannot open database '" + path + "': " + e.what());
  }
  auto migrated = guarded("migrate", [&]() -> Result<void> {
    auto& db = b->db;
    db.exec(durability == Durability::full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
    db.exec("PRAGMA foreign_keys = ON");
    db.exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "version INTEGER PRIMARY KEY, name TEXT NOT NULL)");
    if (b->read_version() > latest_known_version())
      return fail(ErrorKind::permanent, "database '" + path + "' has schema version " +
                                            std::to_string(b->read_version()) + ", newer than this baton (" +
                                            std::to_string(latest_known_version()) + ")");
    for (const auto& m : embedded_migrations()) {
      SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
      // Re-read inside the write lock: another process may have migrated meanwhile.
      if (b->read_version() >= m.version) continue;
      db.exec(m.sql);
      SQLite::Statement ins(db, "INSERT INTO schema_migrations (version, name) VALUES (?, ?)");
      ins.bind(1, m.version);
      ins.bind(2, m.name);
      ins.exec();
      tx.commit();
    }
    b->version = b->read_version();
    if (path != ":memory:" && !path.empty()) {
      db.exec("PRAGMA wal_autocheckpoint = 0");
      b->checkpointer = std::make_unique<Checkpointer>(path);
      b->checkpointer->watch(db);
    }
    return {};
  });
  if (!migrated) return codec::migration_failure(migrated.error());
  return std::unique_ptr<Backend>(std::move(b));
}

Result<std::unique_ptr<Backend>> open_sqlite_reader(const std::string& path) {
  std::unique_ptr<SqliteBackend> b;
  try {
    b = std::make_unique<SqliteBackend>(path, SQLite::OPEN_READONLY);
    b->db.setBusyTimeout(Checkpointer::kWriterBusyTimeoutMs);
  } catch (const SQLite::Exception& e) {
    return fail(ErrorKind::invalid_request, "cannot open database '" + path + "' for reading: " + e.what());
  }
  auto checked = guarded("open_reader", [&]() -> Result<void> {
    if (!b->db.tableExists("schema_migrations"))
      return fail(ErrorKind::invalid_request, "database '" + path + "' is not initialised");
    b->version = b->read_version();
    if (b->version > latest_known_version())
      return fail(ErrorKind::permanent, "database '" + path + "' is newer than this baton");
    return {};
  });
  if (!checked) return tl::unexpected(checked.error());
  return std::unique_ptr<Backend>(std::move(b));
}

}  // namespace baton::storage
