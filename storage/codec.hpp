#pragma once
// Private to storage/: what both back ends share so that they store and read
// exactly the same values. Row encoding and decoding are templates over a tiny
// row/binder interface, so the SQLite and PostgreSQL code cannot drift apart:
//
//   Row:    bool is_null(int col) const; std::int64_t i64(int col) const;
//           std::string text(int col) const;
//   Binder: void i64(std::int64_t); void text(const std::string&); void null();
//           void stable_text(const std::string&) (the string outlives the
//           statement's execution: may be bound without a copy)
//           (each binds the next parameter, left to right)
#include <array>
#include <boost/system/system_error.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "engine/engine.hpp"
#include "engine/result.hpp"
#include "storage/store.hpp"

namespace baton::storage::codec {

// A row that does not decode (unknown enum name, bad JSON): the database was
// edited by hand or written by a newer baton. Reported as permanent.
struct CorruptData : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// An outbox update for an id that was never stored.
struct NotFound : std::runtime_error {
  using std::runtime_error::runtime_error;
};

engine::TimelineKind parse_timeline_kind(std::string_view s);
engine::NotificationKind parse_notification_kind(std::string_view s);
engine::IncidentState parse_incident_state(std::string_view s);
engine::Severity parse_severity(std::string_view s);
engine::Source parse_source(std::string_view s);
engine::MethodKind parse_method(std::string_view s);
const char* to_string(OutboxState s);

std::string encode_policy(const engine::PolicySnapshot& p);
engine::PolicySnapshotPtr decode_policy(const std::string& text);
std::string encode_chain(const std::vector<engine::ContactRule>& chain);
std::vector<engine::ContactRule> decode_chain(const std::string& text);
std::string encode_ids(const std::vector<std::int64_t>& ids);
std::vector<std::int64_t> decode_ids(const std::string& text);
std::string encode_strings(const std::vector<std::string>& v);
std::vector<std::string> decode_strings(const std::string& text);
std::string encode_notified(const std::vector<std::pair<std::string, engine::MethodKind>>& v);
std::vector<std::pair<std::string, engine::MethodKind>> decode_notified(const std::string& text);
std::string encode_alert_payload(const engine::Alert& a);

// ---- incidents ----

inline constexpr std::array<const char*, 30> kIncidentColumns = {
    "number",          "service_id",       "dedup_key",         "state",
    "summary",         "source_name",      "severity",          "created_by",
    "created_ms",      "updated_ms",       "acked_ms",          "resolved_ms",
    "owner",           "details_json",     "alert_count",       "group_alert_keys",
    "policy_json",     "esc_step",         "esc_round",         "esc_active",
    "esc_deadline_ms", "contact_person",   "contact_page_started_ms", "contact_next_rule",
    "contact_chain",   "contact_next_at_ms", "notified",        "contact_moved_on",
    "suppressed_until_ms", "suppressed_reason"};

/// "SELECT number, ... FROM incidents"
std::string incident_select();
/// The upsert of one incident row; `param(i)` spells parameter i (1-based):
/// "?" for SQLite, "$i" for PostgreSQL.
std::string incident_upsert(std::string (*param)(int));

constexpr const char* kOutboxColumns =
    "id, incident, person, method, kind, step, created_ms, idempotency_key, attempts, next_attempt_ms, last_error";

/// Snapshots are shared between incidents; encode each one once.
class PolicyJsonCache {
 public:
  const std::string& operator()(const engine::PolicySnapshotPtr& p) {
    if (p != last_) {
      json_ = encode_policy(*p);
      last_ = p;
    }
    return json_;
  }

 private:
  engine::PolicySnapshotPtr last_;
  std::string json_;
};

inline std::int64_t ms(engine::TimePoint t) { return static_cast<std::int64_t>(engine::to_ms(t)); }

template <typename Binder>
void bind_optional_ms(Binder& b, const std::optional<engine::TimePoint>& t) {
  if (t)
    b.i64(ms(*t));
  else
    b.null();
}

/// 0 means "no incident": NULL keeps the foreign key satisfied.
template <typename Binder>
void bind_incident_ref(Binder& b, std::int64_t number) {
  if (number == 0)
    b.null();
  else
    b.i64(number);
}

/// Binds the 30 columns of kIncidentColumns, in order.
template <typename Binder>
void bind_incident(Binder& b, const engine::Incident& inc, PolicyJsonCache& policy_json) {
  b.i64(inc.number);
  b.text(inc.service_id);
  b.text(inc.dedup_key);
  b.text(engine::to_string(inc.state));
  b.text(inc.summary);
  b.text(inc.source_name);
  b.text(engine::to_string(inc.severity));
  b.text(engine::to_string(inc.created_by));
  b.i64(ms(inc.created_at));
  b.i64(ms(inc.updated_at));
  bind_optional_ms(b, inc.acknowledged_at);
  bind_optional_ms(b, inc.resolved_at);
  b.text(inc.owner);
  b.text(inc.details_json);
  b.i64(inc.alert_count);
  b.text(encode_strings(inc.group_alert_keys));
  if (inc.policy)
    b.stable_text(policy_json(inc.policy));
  else
    b.null();
  b.i64(inc.escalation.step);
  b.i64(inc.escalation.round);
  b.i64(inc.escalation.active ? 1 : 0);
  b.i64(ms(inc.escalation.step_deadline));
  b.text(inc.contact.person);
  b.i64(ms(inc.contact.page_started));
  b.i64(inc.contact.next_rule);
  b.text(encode_chain(inc.contact.chain));
  b.i64(ms(inc.contact.next_at));
  b.text(encode_notified(inc.notified));
  b.text(encode_ids(inc.contact.moved_on));
  bind_optional_ms(b, inc.suppressed_until);
  b.text(inc.suppressed_reason);
}

/// Reads a row of incident_select(). Identical snapshots share one object, as
/// in the engine (`policies` is keyed by the JSON text).
template <typename Row>
engine::Incident decode_incident(const Row& r, std::map<std::string, engine::PolicySnapshotPtr>& policies) {
  using engine::from_ms;
  engine::Incident inc;
  inc.number = r.i64(0);
  inc.service_id = r.text(1);
  inc.dedup_key = r.text(2);
  inc.state = parse_incident_state(r.text(3));
  inc.summary = r.text(4);
  inc.source_name = r.text(5);
  inc.severity = parse_severity(r.text(6));
  inc.created_by = parse_source(r.text(7));
  inc.created_at = from_ms(r.i64(8));
  inc.updated_at = from_ms(r.i64(9));
  if (!r.is_null(10)) inc.acknowledged_at = from_ms(r.i64(10));
  if (!r.is_null(11)) inc.resolved_at = from_ms(r.i64(11));
  inc.owner = r.text(12);
  inc.details_json = r.text(13);
  inc.alert_count = static_cast<int>(r.i64(14));
  inc.group_alert_keys = decode_strings(r.text(15));
  if (!r.is_null(16)) {
    auto text = r.text(16);
    auto& shared = policies[text];
    if (!shared) shared = decode_policy(text);
    inc.policy = shared;
  }
  inc.escalation.step = static_cast<int>(r.i64(17));
  inc.escalation.round = static_cast<int>(r.i64(18));
  inc.escalation.active = r.i64(19) != 0;
  inc.escalation.step_deadline = from_ms(r.i64(20));
  inc.contact.person = r.text(21);
  inc.contact.page_started = from_ms(r.i64(22));
  inc.contact.next_rule = static_cast<int>(r.i64(23));
  inc.contact.chain = decode_chain(r.text(24));
  inc.contact.next_at = from_ms(r.i64(25));
  inc.notified = decode_notified(r.text(26));
  inc.contact.moved_on = decode_ids(r.text(27));
  if (!r.is_null(28)) inc.suppressed_until = from_ms(r.i64(28));
  inc.suppressed_reason = r.text(29);
  return inc;
}

// ---- heartbeats and maintenance windows ----

constexpr const char* kHeartbeatColumns = "service_id, name, first_seen_ms, last_beat_ms, since_ms, incident";

/// Binds the columns of kHeartbeatColumns, in order.
template <typename Binder>
void bind_heartbeat(Binder& b, const engine::HeartbeatState& h) {
  b.text(h.service_id);
  b.text(h.name);
  b.i64(ms(h.first_seen));
  bind_optional_ms(b, h.last_beat);
  b.i64(ms(h.since));
  bind_incident_ref(b, h.incident);
}

/// Reads a row of kHeartbeatColumns.
template <typename Row>
engine::HeartbeatState decode_heartbeat(const Row& r) {
  engine::HeartbeatState h;
  h.service_id = r.text(0);
  h.name = r.text(1);
  h.first_seen = engine::from_ms(r.i64(2));
  if (!r.is_null(3)) h.last_beat = engine::from_ms(r.i64(3));
  h.since = engine::from_ms(r.i64(4));
  h.incident = r.is_null(5) ? 0 : r.i64(5);
  return h;
}

constexpr const char* kMaintenanceColumns =
    "id, service_id, start_ms, end_ms, reason, created_by, ended_ms, ended_by";

/// Reads a row of kMaintenanceColumns.
template <typename Row>
engine::MaintenanceWindow decode_maintenance(const Row& r) {
  engine::MaintenanceWindow w;
  w.id = r.i64(0);
  w.service_id = r.text(1);
  w.start = engine::from_ms(r.i64(2));
  w.end = engine::from_ms(r.i64(3));
  w.reason = r.text(4);
  w.created_by = r.text(5);
  if (!r.is_null(6)) w.ended_at = engine::from_ms(r.i64(6));
  w.ended_by = r.text(7);
  return w;
}

/// Reads a row of kOutboxColumns.
template <typename Row>
OutboxEntry decode_outbox(const Row& r) {
  using engine::from_ms;
  OutboxEntry e;
  auto& n = e.notification;
  n.id = r.i64(0);
  n.incident = r.is_null(1) ? 0 : r.i64(1);
  n.person = r.text(2);
  n.method = parse_method(r.text(3));
  n.kind = parse_notification_kind(r.text(4));
  n.step = static_cast<int>(r.i64(5));
  n.created_at = from_ms(r.i64(6));
  n.idempotency_key = r.text(7);
  e.attempts = static_cast<int>(r.i64(8));
  e.next_attempt = from_ms(r.i64(9));
  e.last_error = r.text(10);
  return e;
}

/// Effects.alerts are stored with Effects.touched[0] as incident (0 = NULL) and
/// received = that incident's updated_at in the same Effects, else the latest
/// timeline time, else unknown.
struct AlertRef {
  std::int64_t incident = 0;
  std::optional<engine::TimePoint> received;
};
AlertRef alert_ref(const engine::Effects& fx);

/// The timers table mirrors an incident snapshot: one row per pending kind.
struct TimerRow {
  const char* kind;
  bool pending;
  engine::TimePoint due;
};
/// Empty for a resolved incident (all its timers are deleted).
std::vector<TimerRow> timer_rows(const engine::Incident& inc);

// ---- copying a whole database (Store::copy_to, `baton migrate`) ----

/// One table as `baton migrate` copies it: every column, as stored, in a fixed
/// order. Both back ends read and write rows of these columns in text form
/// (NULL = nullopt), so a copy keeps ids, numbers and JSON exactly.
struct CopyTable {
  std::string name;
  std::vector<std::string> columns;
  std::string sqlite_order;  ///< ORDER BY for reading (SQLite); insertion order where it matters
  std::string pg_order;      ///< the same order in PostgreSQL (chat_messages: seq for SQLite's rowid)
  std::string identity;      ///< PostgreSQL identity column whose sequence follows the copied ids; empty if none
};

/// Every table with data, in copy order. Not copied: schema_migrations (each
/// database records its own), write_probe (a scratch row) and cluster_lease
/// (PostgreSQL only, reserved). A test checks that this list covers every
/// column of the SQLite schema.
const std::vector<CopyTable>& copy_tables();

/// "col1, col2, ..." of a copied table, in its order.
std::string column_list(const CopyTable& table);
/// "SELECT <column_list> FROM <name> ORDER BY <order>" (order: the back end's
/// sqlite_order or pg_order).
std::string copy_select(const CopyTable& table, const std::string& order);

/// Runs a storage operation, turning decoding exceptions into values; database
/// exceptions pass through to the back end's own wrapper.
template <typename F>
auto guarded_common(const char* what, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const NotFound& e) {
    return fail(ErrorKind::not_found, std::string(what) + ": " + e.what());
  } catch (const CorruptData& e) {
    return fail(ErrorKind::permanent, std::string(what) + ": corrupt data: " + e.what());
  } catch (const std::invalid_argument& e) {  // Boost.JSON accessors on bad shapes
    return fail(ErrorKind::permanent, std::string(what) + ": corrupt data: " + e.what());
  } catch (const std::out_of_range& e) {
    return fail(ErrorKind::permanent, std::string(what) + ": corrupt data: " + e.what());
  } catch (const boost::system::system_error& e) {
    return fail(ErrorKind::permanent, std::string(what) + ": corrupt data: " + e.what());
  }
}

/// A failed migration as open_*() reports it: transient stays transient (the
/// database may come back), anything else is permanent.
inline tl::unexpected<Error> migration_failure(Error e) {
  if (e.kind != ErrorKind::transient) e.kind = ErrorKind::permanent;
  return tl::unexpected(std::move(e));
}

/// The newest embedded migration version of a set (0 if none).
template <typename Span>
int latest_version(const Span& migrations) {
  return migrations.empty() ? 0 : migrations.back().version;
}

}  // namespace baton::storage::codec
