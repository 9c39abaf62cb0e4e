// The PostgreSQL back end (libpq): the same rows and semantics as the SQLite
// back end (codec.hpp does the encoding for both). Every statement is a
// parameterized prepared statement; values never go into SQL text.
// Durability is the server's: synchronous_commit as configured there (default
// on: COMMIT returns once the WAL is flushed,
// https://www.postgresql.org/docs/15/runtime-config-wal.html#GUC-SYNCHRONOUS-COMMIT).
#include <algorithm>
#include <map>
#include <set>

#include "storage/backend.hpp"
#include "storage/codec.hpp"
#include "storage/migrations.hpp"
#include "storage/reports_sql.hpp"
#include "storage/pg_connection.hpp"

namespace baton::storage {
namespace {

using codec::ms;
using codec::NotFound;
using engine::from_ms;
using pg::Params;
using pg::PgError;
using pg::Transaction;

// Turns libpq and decoding exceptions into values at the one boundary.
template <typename F>
auto guarded(const char* what, F&& f) -> decltype(f()) {
  try {
    return codec::guarded_common(what, std::forward<F>(f));
  } catch (const PgError& e) {
    return tl::unexpected(Error{pg::error_kind(e), std::string(what) + ": " + e.what(), {}});
  }
}

std::string dollar(int i) { return "$" + std::to_string(i); }

const std::string kIncidentSelect = codec::incident_select();
const std::string kIncidentUpsert = codec::incident_upsert(&dollar);
const std::string kOutboxSelect = std::string("SELECT ") + codec::kOutboxColumns + " FROM outbox";

// Serializes migrations between instances starting at once: a transaction-level
// advisory lock, released at COMMIT/ROLLBACK
// (https://www.postgresql.org/docs/15/explicit-locking.html#ADVISORY-LOCKS).
// The key is "baton" in ASCII followed by 0x0001 (any constant would do).
constexpr std::int64_t kMigrationLockKey = 0x626174'6f6e'0001LL;

int latest_known_version() { return codec::latest_version(embedded_postgres_migrations()); }

class PgBackend final : public Backend {
 public:
  PgBackend(const std::string& uri, std::vector<std::string> session_setup)
      : conn(uri, std::move(session_setup)) {}

  int read_version() {
    auto r = conn.exec("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
    return static_cast<int>(r[0].i64(0));
  }

  void write_incident(const engine::Incident& inc);
  void write_timers(const engine::Incident& inc);
  void write_effects(const engine::Effects& fx);
  void write_update(const OutboxUpdate& u);

  Result<void> apply(std::span<const engine::Effects* const> effects,
                     std::span<const OutboxUpdate> updates,
                     std::span<const std::int64_t> consumed_inbox) override;
  void set_fence(std::optional<Fence> f) override { fence = std::move(f); }
  Result<std::int64_t> add_inbox(const std::string& kind, const std::string& payload,
                                 const std::string& origin) override;
  Result<void> add_inbox_batch(std::span<const InboxEntry> rows) override;
  Result<ClusterView> cluster_view(engine::Millis live_within) override;
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
    auto r = conn.exec("SELECT id, schedule_id, person, start_ms, end_ms FROM overrides ORDER BY id");
    for (int i = 0; i < r.size(); ++i) {
      engine::Override o;
      o.id = r[i].i64(0);
      o.schedule_id = r[i].text(1);
      o.person = r[i].text(2);
      o.start = from_ms(r[i].i64(3));
      o.end = from_ms(r[i].i64(4));
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
    Params p;
    if (now)
      p.i64(ms(*now));
    else
      p.null();
    // Over: ended early by `now`, or past its end.
    auto r = conn.exec(std::string("SELECT ") + codec::kMaintenanceColumns +
                           " FROM maintenance_windows WHERE $1::bigint IS NULL OR (end_ms > $1::bigint AND "
                           "(ended_ms IS NULL OR ended_ms > $1::bigint)) ORDER BY id",
                       p);
    for (int i = 0; i < r.size(); ++i) out.push_back(codec::decode_maintenance(r[i]));
    return out;
  }
  Result<std::vector<engine::HeartbeatState>> list_heartbeats() override {
    return guarded("list_heartbeats", [&]() -> Result<std::vector<engine::HeartbeatState>> { return read_heartbeats(); });
  }
  std::vector<engine::HeartbeatState> read_heartbeats() {
    std::vector<engine::HeartbeatState> out;
    // COLLATE "C": byte order, as SQLite's (its WITHOUT ROWID table's key order).
    auto r = conn.exec(std::string("SELECT ") + codec::kHeartbeatColumns +
                       " FROM heartbeats ORDER BY service_id COLLATE \"C\", name COLLATE \"C\"");
    for (int i = 0; i < r.size(); ++i) out.push_back(codec::decode_heartbeat(r[i]));
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

  pg::Connection conn;
  std::optional<Fence> fence;
  codec::PolicyJsonCache policy_json;
  int version = 0;
};

void PgBackend::write_incident(const engine::Incident& inc) {
  Params p;
  codec::bind_incident(p, inc, policy_json);
  conn.exec(kIncidentUpsert, p);
  write_timers(inc);
}

void PgBackend::write_timers(const engine::Incident& inc) {
  if (inc.state == engine::IncidentState::resolved) {
    Params p;
    p.i64(inc.number);
    conn.exec("DELETE FROM timers WHERE incident = $1", p);
    return;
  }
  for (const auto& t : codec::timer_rows(inc)) {
    Params p;
    p.i64(inc.number);
    p.text(t.kind);
    if (t.pending) {
      p.i64(ms(t.due));
      conn.exec(
          "INSERT INTO timers (incident, kind, due_ms) VALUES ($1, $2, $3) "
          "ON CONFLICT (incident, kind) DO UPDATE SET due_ms = excluded.due_ms",
          p);
    } else {
      conn.exec("DELETE FROM timers WHERE incident = $1 AND kind = $2", p);
    }
  }
}

void PgBackend::write_effects(const engine::Effects& fx) {
  for (const auto& inc : fx.incidents) write_incident(inc);

  for (const auto& h : fx.heartbeats) {
    Params p;
    codec::bind_heartbeat(p, h);
    conn.exec(std::string("INSERT INTO heartbeats (") + codec::kHeartbeatColumns +
                  ") VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (service_id, name) DO UPDATE SET "
                  "first_seen_ms = excluded.first_seen_ms, last_beat_ms = excluded.last_beat_ms, "
                  "since_ms = excluded.since_ms, incident = excluded.incident",
              p);
  }

  if (!fx.alerts.empty()) {
    const auto ref = codec::alert_ref(fx);
    for (const auto& a : fx.alerts) {
      Params p;
      codec::bind_incident_ref(p, ref.incident);
      codec::bind_optional_ms(p, ref.received);
      p.text(engine::to_string(a.source));
      p.text(engine::to_string(a.action));
      p.text(a.dedup_key);
      p.text(a.summary);
      p.text(codec::encode_alert_payload(a));
      conn.exec(
          "INSERT INTO alerts (incident, received_ms, source, action, dedup_key, summary, payload) "
          "VALUES ($1, $2, $3, $4, $5, $6, $7)",
          p);
    }
  }

  for (const auto& ev : fx.timeline) {
    Params p;
    codec::bind_incident_ref(p, ev.incident);
    p.i64(ms(ev.at));
    p.text(engine::to_string(ev.kind));
    p.text(ev.actor);
    p.text(engine::to_string(ev.channel));
    p.text(ev.message);
    conn.exec(
        "INSERT INTO timeline (incident, at_ms, kind, actor, channel, message) VALUES ($1, $2, $3, $4, $5, $6)",
        p);
  }

  for (const auto& n : fx.notifications) {
    Params p;
    const auto created = ms(n.created_at);
    p.i64(n.id);
    codec::bind_incident_ref(p, n.incident);
    p.text(n.person);
    p.text(engine::to_string(n.method));
    p.text(engine::to_string(n.kind));
    p.i64(n.step);
    p.i64(created);
    p.text(n.idempotency_key);
    conn.exec(
        "INSERT INTO outbox (id, incident, person, method, kind, step, created_ms, idempotency_key, "
        "state, attempts, next_attempt_ms, last_error, updated_ms) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', 0, $7, '', $7)",
        p);
  }
}

void PgBackend::write_update(const OutboxUpdate& u) {
  Params p;
  p.text(codec::to_string(u.state));
  p.i64(u.attempts);
  p.i64(ms(u.next_attempt));
  p.text(u.error);
  p.i64(ms(u.at));
  p.i64(u.id);
  auto r = conn.exec(
      "UPDATE outbox SET state = $1, attempts = $2, next_attempt_ms = $3, last_error = $4, "
      "updated_ms = CASE WHEN $5::bigint = 0 THEN updated_ms ELSE $5::bigint END WHERE id = $6",
      p);
  if (r.affected() == 0) throw NotFound("outbox update for unknown notification " + std::to_string(u.id));
}

Result<void> PgBackend::apply(std::span<const engine::Effects* const> effects,
                              std::span<const OutboxUpdate> updates,
                              std::span<const std::int64_t> consumed_inbox) {
  return guarded("apply", [&]() -> Result<void> {
    // READ COMMITTED is enough: one writer; atomicity comes from the
    // transaction. Deferred foreign keys are checked at COMMIT; a failure
    // anywhere rolls everything back (~Transaction).
    Transaction tx(conn);
    if (fence) {
      // Fencing (docs/architecture.md, "High availability"): the lease row must
      // still carry our epoch. FOR SHARE keeps it so until COMMIT: a takeover's
      // UPDATE of the row waits for this transaction, and a takeover that came
      // first leaves no row matching here (READ COMMITTED re-checks the WHERE
      // on the newest row version,
      // https://www.postgresql.org/docs/15/transaction-iso.html#XACT-READ-COMMITTED).
      Params p;
      p.text(fence->holder);
      p.i64(fence->epoch);
      auto r = conn.exec(
          "SELECT 1 FROM cluster_lease WHERE name = 'leader' AND holder = $1 AND epoch = $2 FOR SHARE", p);
      if (r.size() == 0)
        return fail(ErrorKind::fenced, "apply: the engine lease moved on from epoch " + std::to_string(fence->epoch) +
                                           "; nothing was written");
    }
    for (const engine::Effects* fx : effects)
      if (fx) write_effects(*fx);
    for (const auto& u : updates) write_update(u);
    for (const auto id : consumed_inbox) {
      Params p;
      p.i64(id);
      if (conn.exec("DELETE FROM inbox WHERE id = $1", p).affected() == 0)
        return fail(ErrorKind::conflict, "apply: inbox row " + std::to_string(id) + " was already consumed");
    }
    tx.commit();
    return {};
  });
}

Result<std::int64_t> PgBackend::add_inbox(const std::string& kind, const std::string& payload,
                                          const std::string& origin) {
  return guarded("add_inbox", [&]() -> Result<std::int64_t> {
    // NOTIFY is delivered when (and only if) the transaction commits
    // (https://www.postgresql.org/docs/15/sql-notify.html).
    Transaction tx(conn);
    Params p;
    p.text(kind);
    p.text(payload);
    p.text(origin);
    auto r = conn.exec(
        "INSERT INTO inbox (kind, payload, origin, created_ms) "
        "VALUES ($1, $2, $3, (extract(epoch FROM clock_timestamp()) * 1000)::bigint) RETURNING id",
        p);
    const auto id = r[0].i64(0);
    conn.exec_script("NOTIFY baton_inbox");
    tx.commit();
    return id;
  });
}

Result<void> PgBackend::add_inbox_batch(std::span<const InboxEntry> rows) {
  return guarded("add_inbox", [&]() -> Result<void> {
    // Repeats of an open incident's dedup key cost one read, not a commit.
    // Only when every row of the batch is such a trigger: a batch that also
    // carries a command keeps its rows in the order they came.
    std::vector<bool> duplicate(rows.size(), false);
    const bool all_probes = std::all_of(rows.begin(), rows.end(), [](const InboxEntry& r) {
      return !r.probe_service.empty() && !r.probe_dedup_key.empty();
    });
    if (all_probes) {
      // One statement is one snapshot (READ COMMITTED): the incident is open
      // and no accepted change waits in the inbox, so nothing committed before
      // these requests arrived can have closed it
      // (https://www.postgresql.org/docs/15/transaction-iso.html#XACT-READ-COMMITTED).
      std::string sql =
          "SELECT i.service_id, i.dedup_key FROM incidents i JOIN (VALUES ";
      Params p;
      for (std::size_t k = 0; k < rows.size(); ++k) {
        if (k) sql += ", ";
        sql += "($" + std::to_string(2 * k + 1) + "::text, $" + std::to_string(2 * k + 2) + "::text)";
        p.text(rows[k].probe_service);
        p.text(rows[k].probe_dedup_key);
      }
      sql += ") AS k (service_id, dedup_key) ON i.service_id = k.service_id AND i.dedup_key = k.dedup_key "
             "WHERE i.state <> 'resolved' AND NOT EXISTS (SELECT 1 FROM inbox)";
      auto r = conn.exec(sql, p);
      std::set<std::pair<std::string, std::string>> open;
      for (int i = 0; i < r.size(); ++i) open.emplace(r[i].text(0), r[i].text(1));
      std::size_t left = 0;
      for (std::size_t k = 0; k < rows.size(); ++k) {
        duplicate[k] = open.contains({rows[k].probe_service, rows[k].probe_dedup_key});
        if (!duplicate[k]) ++left;
      }
      if (left == 0) return {};
    }
    // One transaction and one NOTIFY for a burst taken by this instance: the
    // commit (and its WAL flush) is what a row costs.
    Transaction tx(conn);
    for (std::size_t k = 0; k < rows.size(); ++k) {
      if (duplicate[k]) continue;
      const auto& row = rows[k];
      Params p;
      p.text(row.kind);
      p.text(row.payload);
      p.text(row.origin);
      conn.exec(
          "INSERT INTO inbox (kind, payload, origin, created_ms) "
          "VALUES ($1, $2, $3, (extract(epoch FROM clock_timestamp()) * 1000)::bigint)",
          p);
    }
    conn.exec_script("NOTIFY baton_inbox");
    tx.commit();
    return {};
  });
}

Result<ClusterView> PgBackend::cluster_view(engine::Millis live_within) {
  return guarded("cluster_view", [&]() -> Result<ClusterView> {
    ClusterView v;
    Params p;
    p.i64(live_within.count());
    auto r = conn.exec(
        "SELECT id, address, last_seen_ms FROM instances "
        "WHERE last_seen_ms >= (extract(epoch FROM clock_timestamp()) * 1000)::bigint - $1 ORDER BY id",
        p);
    for (int i = 0; i < r.size(); ++i) v.instances.push_back(InstanceRow{r[i].text(0), r[i].text(1), from_ms(r[i].i64(2))});
    auto l = conn.exec(
        "SELECT holder, epoch, expires_ms > (extract(epoch FROM clock_timestamp()) * 1000)::bigint "
        "FROM cluster_lease WHERE name = 'leader'");
    if (l.size() > 0) {
      v.epoch = l[0].i64(1);
      if (l[0].text(2) == "t") v.owner = l[0].text(0);
    }
    return v;
  });
}

Result<LoadedState> PgBackend::load(std::optional<engine::TimePoint> now) {
  return guarded("load", [&]() -> Result<LoadedState> {
    LoadedState out;
    // One snapshot for every table
    // (https://www.postgresql.org/docs/15/transaction-iso.html#XACT-REPEATABLE-READ).
    Transaction tx(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    std::map<std::string, engine::PolicySnapshotPtr> policies;
    {
      auto r = conn.exec(kIncidentSelect + " WHERE state <> 'resolved' ORDER BY number");
      for (int i = 0; i < r.size(); ++i) out.open_incidents.push_back(codec::decode_incident(r[i], policies));
    }
    {
      auto r = conn.exec(kOutboxSelect + " WHERE state = 'pending' ORDER BY id");
      for (int i = 0; i < r.size(); ++i) out.pending_outbox.push_back(codec::decode_outbox(r[i]));
    }
    out.overrides = read_overrides();
    out.heartbeats = read_heartbeats();
    out.maintenance = read_maintenance(now);
    {
      auto r = conn.exec(
          "SELECT (SELECT COALESCE(MAX(number), 0) FROM incidents), (SELECT COALESCE(MAX(id), 0) FROM outbox)");
      out.next_incident = r[0].i64(0) + 1;
      out.next_notification = r[0].i64(1) + 1;
    }
    tx.commit();
    return out;
  });
}

Result<std::vector<engine::Incident>> PgBackend::list_incidents(const IncidentQuery& q) {
  return guarded("list_incidents", [&]() -> Result<std::vector<engine::Incident>> {
    std::string sql = kIncidentSelect + " WHERE 1 = 1";
    Params p;
    if (q.state) {
      p.text(engine::to_string(*q.state));
      sql += " AND state = $" + std::to_string(p.values().size());
    }
    if (q.before) {
      p.i64(*q.before);
      sql += " AND number < $" + std::to_string(p.values().size());
    }
    p.i64(q.limit);
    sql += " ORDER BY number DESC LIMIT $" + std::to_string(p.values().size());
    auto r = conn.exec(sql, p);
    std::vector<engine::Incident> out;
    std::map<std::string, engine::PolicySnapshotPtr> policies;
    for (int i = 0; i < r.size(); ++i) out.push_back(codec::decode_incident(r[i], policies));
    return out;
  });
}

Result<std::optional<engine::Incident>> PgBackend::get_incident(std::int64_t number) {
  return guarded("get_incident", [&]() -> Result<std::optional<engine::Incident>> {
    Params p;
    p.i64(number);
    auto r = conn.exec(kIncidentSelect + " WHERE number = $1", p);
    if (r.size() == 0) return std::optional<engine::Incident>{};
    std::map<std::string, engine::PolicySnapshotPtr> policies;
    return std::optional<engine::Incident>{codec::decode_incident(r[0], policies)};
  });
}

Result<std::vector<engine::TimelineEvent>> PgBackend::timeline(std::int64_t number) {
  return guarded("timeline", [&]() -> Result<std::vector<engine::TimelineEvent>> {
    Params p;
    p.i64(number);
    auto r = conn.exec(
        "SELECT incident, at_ms, kind, actor, channel, message FROM timeline WHERE incident = $1 "
        "ORDER BY at_ms, id",
        p);
    std::vector<engine::TimelineEvent> out;
    for (int i = 0; i < r.size(); ++i) {
      engine::TimelineEvent ev;
      ev.incident = r[i].i64(0);
      ev.at = from_ms(r[i].i64(1));
      ev.kind = codec::parse_timeline_kind(r[i].text(2));
      ev.actor = r[i].text(3);
      ev.channel = codec::parse_source(r[i].text(4));
      ev.message = r[i].text(5);
      out.push_back(std::move(ev));
    }
    return out;
  });
}

Result<std::vector<OutboxEntry>> PgBackend::outbox_for(std::int64_t number) {
  return guarded("outbox_for", [&]() -> Result<std::vector<OutboxEntry>> {
    Params p;
    p.i64(number);
    auto r = conn.exec(kOutboxSelect + " WHERE incident = $1 ORDER BY id", p);
    std::vector<OutboxEntry> out;
    for (int i = 0; i < r.size(); ++i) out.push_back(codec::decode_outbox(r[i]));
    return out;
  });
}

Result<std::int64_t> PgBackend::add_override(const engine::Override& o,
                                             std::optional<engine::TimePoint> created_at) {
  return guarded("add_override", [&]() -> Result<std::int64_t> {
    Params p;
    p.text(o.schedule_id);
    p.text(o.person);
    p.i64(ms(o.start));
    p.i64(ms(o.end));
    codec::bind_optional_ms(p, created_at);
    auto r = conn.exec(
        "INSERT INTO overrides (schedule_id, person, start_ms, end_ms, created_ms) VALUES ($1, $2, $3, $4, $5) "
        "RETURNING id",
        p);
    return r[0].i64(0);
  });
}

Result<void> PgBackend::remove_override(std::int64_t id) {
  return guarded("remove_override", [&]() -> Result<void> {
    Params p;
    p.i64(id);
    if (conn.exec("DELETE FROM overrides WHERE id = $1", p).affected() == 0)
      return fail(ErrorKind::not_found, "no override " + std::to_string(id));
    return {};
  });
}

Result<std::int64_t> PgBackend::prune_overrides(engine::TimePoint now) {
  return guarded("prune_overrides", [&]() -> Result<std::int64_t> {
    Params p;
    p.i64(ms(now));
    return conn.exec("DELETE FROM overrides WHERE end_ms <= $1", p).affected();
  });
}

Result<std::int64_t> PgBackend::add_maintenance(const engine::MaintenanceWindow& w) {
  return guarded("add_maintenance", [&]() -> Result<std::int64_t> {
    Params p;
    p.text(w.service_id);
    p.i64(ms(w.start));
    p.i64(ms(w.end));
    p.text(w.reason);
    p.text(w.created_by);
    auto r = conn.exec(
        "INSERT INTO maintenance_windows (service_id, start_ms, end_ms, reason, created_by, ended_ms, ended_by) "
        "VALUES ($1, $2, $3, $4, $5, NULL, '') RETURNING id",
        p);
    return r[0].i64(0);
  });
}

Result<engine::MaintenanceWindow> PgBackend::end_maintenance(std::int64_t id, engine::TimePoint at,
                                                             const std::string& by) {
  return guarded("end_maintenance", [&]() -> Result<engine::MaintenanceWindow> {
    Transaction tx(conn);
    Params key;
    key.i64(id);
    // FOR UPDATE: two instances ending the same window at once end it once.
    auto r = conn.exec(std::string("SELECT ") + codec::kMaintenanceColumns +
                           " FROM maintenance_windows WHERE id = $1 FOR UPDATE",
                       key);
    if (r.size() == 0) return fail(ErrorKind::not_found, "no maintenance window " + std::to_string(id));
    auto w = codec::decode_maintenance(r[0]);
    if (w.effective_end() <= at)
      return fail(ErrorKind::conflict, "maintenance window " + std::to_string(id) + " is already over");
    Params p;
    p.i64(ms(at));
    p.text(by);
    p.i64(id);
    conn.exec("UPDATE maintenance_windows SET ended_ms = $1, ended_by = $2 WHERE id = $3", p);
    tx.commit();
    w.ended_at = at;
    w.ended_by = by;
    return w;
  });
}

Result<std::int64_t> PgBackend::count_incidents(std::optional<engine::IncidentState> state) {
  return guarded("count_incidents", [&]() -> Result<std::int64_t> {
    Params p;
    if (state) p.text(engine::to_string(*state));
    auto r = conn.exec(state ? "SELECT COUNT(*) FROM incidents WHERE state = $1" : "SELECT COUNT(*) FROM incidents",
                       p);
    return r[0].i64(0);
  });
}

Result<void> PgBackend::consume_token(const std::string& token_id, engine::TimePoint now) {
  // A second use violates the primary key: 23505 unique_violation -> conflict.
  return guarded("consume_token", [&]() -> Result<void> {
    Params p;
    p.text(token_id);
    p.i64(ms(now));
    conn.exec("INSERT INTO used_tokens (token_id, used_ms) VALUES ($1, $2)", p);
    return {};
  });
}

Result<void> PgBackend::probe_write(engine::TimePoint now) {
  return guarded("probe_write", [&]() -> Result<void> {
    Params p;
    p.i64(ms(now));
    conn.exec(
        "INSERT INTO write_probe (id, at_ms) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET at_ms = excluded.at_ms",
        p);
    return {};
  });
}

Result<void> PgBackend::add_chat_messages(std::span<const ChatMessage> messages, engine::TimePoint now) {
  return guarded("add_chat_messages", [&]() -> Result<void> {
    Transaction tx(conn);
    for (const auto& m : messages) {
      Params p;
      p.i64(m.incident);
      p.text(m.kind);
      p.text(m.conversation);
      p.text(m.message_id);
      p.text(m.person);
      p.i64(ms(now));
      // SQLite: INSERT OR IGNORE. Only the key can conflict here.
      conn.exec(
          "INSERT INTO chat_messages (incident, channel_kind, conversation_id, message_id, person, created_ms) "
          "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (incident, channel_kind, conversation_id, message_id) "
          "DO NOTHING",
          p);
    }
    tx.commit();
    return {};
  });
}

Result<std::optional<std::int64_t>> PgBackend::incident_for_conversation(const std::string& conversation) {
  return guarded("incident_for_conversation", [&]() -> Result<std::optional<std::int64_t>> {
    Params p;
    p.text(conversation);
    // ILIKE: SQLite's LIKE ignores ASCII case.
    auto r = conn.exec(
        "SELECT incident FROM chat_messages WHERE conversation_id = $1 AND channel_kind ILIKE '%-incident-channel' "
        "ORDER BY created_ms DESC, seq DESC LIMIT 1",
        p);
    if (r.size() == 0) return std::optional<std::int64_t>{};
    return std::optional<std::int64_t>{r[0].i64(0)};
  });
}

Result<std::vector<ChatMessage>> PgBackend::chat_messages(std::int64_t incident) {
  return guarded("chat_messages", [&]() -> Result<std::vector<ChatMessage>> {
    Params p;
    p.i64(incident);
    auto r = conn.exec(
        "SELECT channel_kind, conversation_id, message_id, person FROM chat_messages WHERE incident = $1 "
        "ORDER BY created_ms, seq",
        p);
    std::vector<ChatMessage> out;
    for (int i = 0; i < r.size(); ++i)
      out.push_back(ChatMessage{incident, r[i].text(0), r[i].text(1), r[i].text(2), r[i].text(3)});
    return out;
  });
}

Result<void> PgBackend::save_teams_user(const std::string& aad_object_id, const std::string& teams_id,
                                        engine::TimePoint now) {
  return guarded("save_teams_user", [&]() -> Result<void> {
    Params p;
    p.text(aad_object_id);
    p.text(teams_id);
    p.i64(ms(now));
    conn.exec(
        "INSERT INTO teams_users (aad_object_id, teams_id, updated_ms) VALUES ($1, $2, $3) "
        "ON CONFLICT (aad_object_id) DO UPDATE SET teams_id = excluded.teams_id, updated_ms = excluded.updated_ms",
        p);
    return {};
  });
}

Result<std::vector<std::pair<std::string, std::string>>> PgBackend::teams_users() {
  return guarded("teams_users", [&]() -> Result<std::vector<std::pair<std::string, std::string>>> {
    // COLLATE "C": byte order, as SQLite's BINARY (its WITHOUT ROWID table
    // returns rows in key order).
    auto r = conn.exec("SELECT aad_object_id, teams_id FROM teams_users ORDER BY aad_object_id COLLATE \"C\"");
    std::vector<std::pair<std::string, std::string>> out;
    for (int i = 0; i < r.size(); ++i) out.emplace_back(r[i].text(0), r[i].text(1));
    return out;
  });
}

Result<void> PgBackend::save_teams_channel(const std::string& team_id, const std::string& channel_id,
                                           const std::string& service_url, engine::TimePoint now) {
  return guarded("save_teams_channel", [&]() -> Result<void> {
    Params p;
    p.text(team_id);
    p.text(channel_id);
    p.text(service_url);
    p.i64(ms(now));
    conn.exec(
        "INSERT INTO teams_channels (team_id, channel_id, service_url, added_ms) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (team_id, channel_id) DO UPDATE SET service_url = excluded.service_url, "
        "added_ms = excluded.added_ms",
        p);
    return {};
  });
}

static std::string report_param(int i, bool bigint) { return "$" + std::to_string(i) + (bigint ? "::bigint" : ""); }

Result<ReportData> PgBackend::report_data(std::int64_t from_ms, std::int64_t to_ms,
                                          const std::optional<std::string>& service) {
  return guarded("report_data", [&]() -> Result<ReportData> {
    ReportData out;
    Transaction tx(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");  // one snapshot for the three reads
    {
      Params p;
      p.i64(from_ms);
      p.i64(to_ms);
      if (service) p.text(*service);
      auto r = conn.exec(report_sql::incidents(&report_param, service.has_value()), p);
      out.incidents.reserve(static_cast<std::size_t>(r.size()));
      for (int i = 0; i < r.size(); ++i) report_sql::decode_incident(r[i], out);
    }
    if (!out.incidents.empty()) {
      Params p;
      if (service) {
        p.i64(from_ms);
        p.i64(to_ms);
        p.text(*service);
      } else {
        auto [lo, hi] = report_sql::number_range(out);
        p.i64(lo);
        p.i64(hi);
      }
      auto events = conn.exec(report_sql::events(&report_param, service.has_value()), p);
      out.events.reserve(static_cast<std::size_t>(events.size()));
      for (int i = 0; i < events.size(); ++i) report_sql::decode_event(events[i], out);
      auto pages = conn.exec(report_sql::pages(&report_param, service.has_value()), p);
      out.pages.reserve(static_cast<std::size_t>(pages.size()));
      for (int i = 0; i < pages.size(); ++i) report_sql::decode_page(pages[i], out);
    }
    tx.commit();
    return out;
  });
}

Result<std::vector<std::array<std::string, 3>>> PgBackend::teams_channels() {
  return guarded("teams_channels", [&]() -> Result<std::vector<std::array<std::string, 3>>> {
    auto r = conn.exec(
        "SELECT team_id, channel_id, service_url FROM teams_channels "
        "ORDER BY added_ms, team_id COLLATE \"C\", channel_id COLLATE \"C\"");
    std::vector<std::array<std::string, 3>> out;
    for (int i = 0; i < r.size(); ++i) out.push_back({r[i].text(0), r[i].text(1), r[i].text(2)});
    return out;
  });
}

Result<std::optional<engine::TimePoint>> PgBackend::next_timer() {
  return guarded("next_timer", [&]() -> Result<std::optional<engine::TimePoint>> {
    auto r = conn.exec("SELECT MIN(due_ms) FROM timers");
    if (r[0].is_null(0)) return std::optional<engine::TimePoint>{};
    return std::optional<engine::TimePoint>{from_ms(r[0].i64(0))};
  });
}

// ---- whole-database copy ----

constexpr int kExportBatch = 500;

Result<void> PgBackend::export_tables(const RowSink& sink) {
  return guarded("export", [&]() -> Result<void> {
    if (version < latest_known_version())
      return fail(ErrorKind::permanent, "database " + conn.display_name() + " has schema version " +
                                            std::to_string(version) + ", older than this baton (" +
                                            std::to_string(latest_known_version()) + ")");
    // One snapshot for every table, as load() does
    // (https://www.postgresql.org/docs/15/transaction-iso.html#XACT-REPEATABLE-READ).
    Transaction tx(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    const auto& tables = codec::copy_tables();
    for (std::size_t t = 0; t < tables.size(); ++t) {
      const auto& table = tables[t];
      const std::string sql = codec::copy_select(table, table.pg_order);
      auto r = conn.exec(sql);
      const int n = static_cast<int>(table.columns.size());
      std::vector<TableRow> batch;
      for (int i = 0; i < r.size(); ++i) {
        TableRow row;
        row.reserve(static_cast<std::size_t>(n));
        for (int c = 0; c < n; ++c)
          row.push_back(r[i].is_null(c) ? std::nullopt : std::optional<std::string>(r[i].text(c)));
        batch.push_back(std::move(row));
        if (static_cast<int>(batch.size()) == kExportBatch || i + 1 == r.size()) {
          if (auto w = sink(t, batch); !w) return w;
          batch.clear();
        }
      }
    }
    tx.commit();
    return {};
  });
}

Result<void> PgBackend::import_tables(const std::function<Result<void>(const RowSink& write)>& fill) {
  const auto& tables = codec::copy_tables();
  return guarded("import", [&]() -> Result<void> {
    Transaction tx(conn);
    // EXCLUSIVE mode lets others read but not write these tables until COMMIT:
    // nothing can slip in between the emptiness check and the copy
    // (https://www.postgresql.org/docs/15/explicit-locking.html#LOCKING-TABLES).
    std::string lock = "LOCK TABLE ";
    for (std::size_t t = 0; t < tables.size(); ++t) lock += (t ? ", " : "") + tables[t].name;
    conn.exec_script(lock + " IN EXCLUSIVE MODE");
    for (const auto& table : tables) {
      const auto rows = conn.exec("SELECT COUNT(*) FROM " + table.name)[0].i64(0);
      if (rows > 0)
        return fail(ErrorKind::conflict, "database " + conn.display_name() + " is not empty (" + table.name + ": " +
                                             std::to_string(rows) + " rows); only an empty database can be copied into");
    }
    const RowSink write = [&](std::size_t t, std::span<const TableRow> rows) -> Result<void> {
      const auto& table = tables.at(t);
      return guarded("import", [&]() -> Result<void> {
        const std::string cols = codec::column_list(table);
        // Explicit ids go into identity columns as they are
        // (https://www.postgresql.org/docs/15/sql-insert.html, OVERRIDING SYSTEM VALUE).
        const std::string head = "INSERT INTO " + table.name + " (" + cols + ")" +
                                 (table.identity.empty() ? "" : " OVERRIDING SYSTEM VALUE") + " VALUES ";
        // Several rows per statement; a statement takes at most 65535 parameters.
        const std::size_t per_statement = std::max<std::size_t>(1, 16000 / table.columns.size());
        for (std::size_t first = 0; first < rows.size(); first += per_statement) {
          const auto count = std::min(per_statement, rows.size() - first);
          std::string sql = head;
          Params p;
          int param = 0;
          for (std::size_t i = 0; i < count; ++i) {
            sql += i ? ", (" : "(";
            for (std::size_t c = 0; c < table.columns.size(); ++c) {
              sql += (c ? ", $" : "$") + std::to_string(++param);
              const auto& v = rows[first + i].at(c);
              if (v)
                p.text(*v);
              else
                p.null();
            }
            sql += ")";
          }
          conn.exec(sql, p);
        }
        return {};
      });
    };
    if (auto r = fill(write); !r) return r;  // ~Transaction rolls back
    // New rows must not reuse copied ids: each identity sequence continues after
    // the largest one (setval with is_called = false: the next value is exactly
    // that, https://www.postgresql.org/docs/15/functions-sequence.html).
    for (const auto& table : tables) {
      if (table.identity.empty()) continue;
      conn.exec_script("SELECT setval(pg_get_serial_sequence('" + table.name + "', '" + table.identity +
                       "'), COALESCE(MAX(" + table.identity + "), 0) + 1, false) FROM " + table.name);
    }
    tx.commit();
    return {};
  });
}

// Connects, or an error value: invalid_request for a URI libpq cannot parse,
// transient when the server cannot be reached (it may be starting).
Result<std::unique_ptr<PgBackend>> connect(const std::string& uri, std::vector<std::string> session_setup) {
  if (auto bad = pg::uri_error(uri))
    return fail(ErrorKind::invalid_request, "bad PostgreSQL URI " + redact_uri(uri) + ": " + *bad);
  auto b = std::make_unique<PgBackend>(uri, std::move(session_setup));
  try {
    b->conn.connect();
  } catch (const PgError& e) {
    return fail(pg::error_kind(e), e.what());
  }
  return b;
}

}  // namespace

Result<std::unique_ptr<Backend>> open_postgres(const std::string& uri) {
  // A client stalled inside a transaction (a SIGSTOPped engine owner between
  // its fencing check and COMMIT) would hold its FOR SHARE lock on the lease
  // row and so block every takeover: the server ends such a session after 5 s
  // idle in a transaction, rolling it back
  // (https://www.postgresql.org/docs/15/runtime-config-client.html#GUC-IDLE-IN-TRANSACTION-SESSION-TIMEOUT).
  // Only idle time counts: a long transaction that keeps sending statements is
  // not affected.
  auto b = connect(uri, {"SET idle_in_transaction_session_timeout = 5000"});
  if (!b) return tl::unexpected(b.error());
  auto& be = **b;
  const auto name = be.conn.display_name();
  auto migrated = guarded("migrate", [&]() -> Result<void> {
    // Everything in one transaction under the advisory lock: a second instance
    // starting at the same time waits here, then sees the migrations done. DDL
    // is transactional in PostgreSQL, so a failed migration leaves nothing.
    // READ COMMITTED whatever the server's default: each statement after the
    // lock must see what an instance that migrated meanwhile committed.
    Transaction tx(be.conn, "BEGIN ISOLATION LEVEL READ COMMITTED");
    Params key;
    key.i64(kMigrationLockKey);
    be.conn.exec("SELECT pg_advisory_xact_lock($1::bigint)", key);
    be.conn.exec_script(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL)");
    const int current = be.read_version();
    if (current > latest_known_version())
      return fail(ErrorKind::permanent, "database " + name + " has schema version " + std::to_string(current) +
                                            ", newer than this baton (" + std::to_string(latest_known_version()) +
                                            ")");
    for (const auto& m : embedded_postgres_migrations()) {
      if (current >= m.version) continue;
      be.conn.exec_script(m.sql);
      Params p;
      p.i64(m.version);
      p.text(m.name);
      be.conn.exec("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", p);
    }
    tx.commit();
    be.version = be.read_version();
    return {};
  });
  if (!migrated) return codec::migration_failure(migrated.error());
  return std::unique_ptr<Backend>(std::move(*b));
}

Result<std::unique_ptr<Backend>> open_postgres_reader(const std::string& uri) {
  // Read-only for every transaction of the session, re-applied after a reconnect
  // (https://www.postgresql.org/docs/15/runtime-config-client.html#GUC-DEFAULT-TRANSACTION-READ-ONLY):
  // a write fails with 25006 read_only_sql_transaction -> permanent.
  auto b = connect(uri, {"SET default_transaction_read_only = on"});
  if (!b) return tl::unexpected(b.error());
  auto& be = **b;
  const auto name = be.conn.display_name();
  auto checked = guarded("open_reader", [&]() -> Result<void> {
    auto r = be.conn.exec("SELECT to_regclass('schema_migrations') IS NOT NULL");
    if (r[0].text(0) != "t") return fail(ErrorKind::invalid_request, "database " + name + " is not initialised");
    be.version = be.read_version();
    if (be.version > latest_known_version())
      return fail(ErrorKind::permanent, "database " + name + " is newer than this baton");
    return {};
  });
  if (!checked) return tl::unexpected(checked.error());
  return std::unique_ptr<Backend>(std::move(*b));
}

}  // namespace baton::storage
