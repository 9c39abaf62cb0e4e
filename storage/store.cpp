#include "storage/store.hpp"

#include <charconv>

#include <sqlite3.h>

#include <SQLiteCpp/SQLiteCpp.h>
#include <array>
#include <boost/json.hpp>
#include <map>
#include <stdexcept>
#include <unordered_map>

#include "storage/migrations.hpp"

namespace baton::storage {
namespace json = boost::json;
using engine::from_ms;
using engine::to_ms;

namespace {

// A row that does not decode (unknown enum name, bad JSON): the file was
// edited by hand or written by a newer baton. Reported as permanent.
struct CorruptData : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// An outbox update for an id that was never stored.
struct NotFound : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <typename E, std::size_t N>
E parse_name(std::string_view s, const std::array<E, N>& values, const char* what) {
  for (E v : values)
    if (s == engine::to_string(v)) return v;
  throw CorruptData(std::string("unknown ") + what + " '" + std::string(s) + "'");
}

template <typename E>
E require(std::optional<E> v, std::string_view s, const char* what) {
  if (!v) throw CorruptData(std::string("unknown ") + what + " '" + std::string(s) + "'");
  return *v;
}

engine::TimelineKind parse_timeline_kind(std::string_view s) {
  using K = engine::TimelineKind;
  return parse_name(s,
                    std::array{K::triggered, K::alert, K::acknowledged, K::resolved, K::escalated,
                               K::reassigned, K::paged, K::step_skipped, K::policy_exhausted,
                               K::notification_sent, K::notification_failed, K::note},
                    "timeline kind");
}

engine::NotificationKind parse_notification_kind(std::string_view s) {
  using K = engine::NotificationKind;
  return parse_name(s, std::array{K::page, K::update, K::open_channel}, "notification kind");
}

const char* to_string(OutboxState s) {
  switch (s) {
    case OutboxState::pending: return "pending";
    case OutboxState::delivered: return "delivered";
    case OutboxState::failed: return "failed";
  }
  return "pending";
}

const char* target_kind_name(engine::Target::Kind k) {
  return k == engine::Target::Kind::person ? "person" : "schedule";
}

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
    return f();
  } catch (const SQLite::Exception& e) {
    return tl::unexpected(map_sqlite_error(e, what));
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

// Resets a cached statement when the use ends, even on an exception.
struct Use {
  SQLite::Statement& s;
  ~Use() { s.tryReset(); }
};

// ---- JSON codecs (private: Boost.JSON stays out of the headers) ----

json::value parse_json(const std::string& text, const char* what) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) throw CorruptData(std::string("bad JSON in ") + what + ": " + ec.message());
  return v;
}

std::string encode_policy(const engine::PolicySnapshot& p) {
  json::array steps;
  steps.reserve(p.steps.size());
  for (const auto& step : p.steps) {
    json::array targets;
    for (const auto& t : step.targets)
      targets.push_back(json::object{{"kind", target_kind_name(t.kind)}, {"id", t.id}});
    steps.push_back(json::object{{"targets", std::move(targets)}, {"timeout", step.timeout.count()}});
  }
  return json::serialize(
      json::object{{"policy_id", p.policy_id}, {"repeat", p.repeat}, {"steps", std::move(steps)}});
}

engine::PolicySnapshotPtr decode_policy(const std::string& text) {
  auto v = parse_json(text, "policy_json");
  const auto& o = v.as_object();
  auto p = std::make_shared<engine::PolicySnapshot>();
  p->policy_id = json::value_to<std::string>(o.at("policy_id"));
  p->repeat = o.at("repeat").to_number<int>();
  for (const auto& sv : o.at("steps").as_array()) {
    const auto& so = sv.as_object();
    engine::EscalationStep step;
    step.timeout = engine::Seconds{so.at("timeout").to_number<std::int64_t>()};
    for (const auto& tv : so.at("targets").as_array()) {
      const auto& to = tv.as_object();
      engine::Target t;
      auto kind = to.at("kind").as_string();
      if (kind == "person")
        t.kind = engine::Target::Kind::person;
      else if (kind == "schedule")
        t.kind = engine::Target::Kind::schedule;
      else
        throw CorruptData("unknown target kind '" + std::string(kind) + "'");
      t.id = json::value_to<std::string>(to.at("id"));
      step.targets.push_back(std::move(t));
    }
    p->steps.push_back(std::move(step));
  }
  return p;
}

std::string encode_chain(const std::vector<engine::ContactRule>& chain) {
  json::array a;
  a.reserve(chain.size());
  for (const auto& r : chain)
    a.push_back(json::object{{"method", engine::to_string(r.method)}, {"delay", r.delay.count()}});
  return json::serialize(a);
}

std::vector<engine::ContactRule> decode_chain(const std::string& text) {
  std::vector<engine::ContactRule> chain;
  auto v = parse_json(text, "contact_chain");
  for (const auto& rv : v.as_array()) {
    const auto& o = rv.as_object();
    auto name = o.at("method").as_string();
    chain.push_back({require(engine::parse_method(name), name, "method"),
                     engine::Seconds{o.at("delay").to_number<std::int64_t>()}});
  }
  return chain;
}

std::string encode_ids(const std::vector<std::int64_t>& ids) {
  std::string out;
  for (auto id : ids) {
    if (!out.empty()) out += ',';
    out += std::to_string(id);
  }
  return out;
}

std::vector<std::int64_t> decode_ids(const std::string& text) {
  std::vector<std::int64_t> out;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    std::int64_t v = 0;
    auto [p, ec] = std::from_chars(text.data() + start, text.data() + end, v);
    if (ec != std::errc() || p != text.data() + end) throw CorruptData("corrupt contact_moved_on '" + text + "'");
    out.push_back(v);
    start = end + 1;
  }
  return out;
}

std::string encode_strings(const std::vector<std::string>& v) {
  json::array a;
  a.reserve(v.size());
  for (const auto& s : v) a.emplace_back(s);
  return json::serialize(a);
}

std::vector<std::string> decode_strings(const std::string& text) {
  std::vector<std::string> out;
  auto v = parse_json(text, "group_alert_keys");
  for (const auto& s : v.as_array()) out.push_back(json::value_to<std::string>(s));
  return out;
}

std::string encode_notified(const std::vector<std::pair<std::string, engine::MethodKind>>& v) {
  json::array a;
  a.reserve(v.size());
  for (const auto& [person, method] : v) a.push_back(json::array{person, engine::to_string(method)});
  return json::serialize(a);
}

std::vector<std::pair<std::string, engine::MethodKind>> decode_notified(const std::string& text) {
  std::vector<std::pair<std::string, engine::MethodKind>> out;
  auto v = parse_json(text, "notified");
  for (const auto& pv : v.as_array()) {
    const auto& pair = pv.as_array();
    auto name = pair.at(1).as_string();
    out.emplace_back(json::value_to<std::string>(pair.at(0)), require(engine::parse_method(name), name, "method"));
  }
  return out;
}

std::string encode_alert_payload(const engine::Alert& a) {
  json::array group;
  for (const auto& g : a.group)
    group.push_back(json::object{{"fingerprint", g.fingerprint},
                                 {"firing", g.firing},
                                 {"starts_at", g.starts_at},
                                 {"summary", g.summary}});
  return json::serialize(json::object{{"integration_key", a.integration_key},
                                      {"source_name", a.source_name},
                                      {"severity", engine::to_string(a.severity)},
                                      {"client", a.client},
                                      {"client_url", a.client_url},
                                      {"details_json", a.details_json},
                                      {"group", std::move(group)}});
}

// ---- incident rows ----

constexpr std::array<const char*, 28> kIncidentColumns = {
    "number",         "service_id",         "dedup_key",         "state",
    "summary",        "source_name",        "severity",          "created_by",
    "created_ms",     "updated_ms",         "acked_ms",          "resolved_ms",
    "owner",          "details_json",       "alert_count",       "group_alert_keys",
    "policy_json",    "esc_step",           "esc_round",         "esc_active",
    "esc_deadline_ms", "contact_person",    "contact_page_started_ms", "contact_next_rule",
    "contact_chain",  "contact_next_at_ms", "notified",          "contact_moved_on"};

std::string incident_select() {
  std::string sql = "SELECT ";
  for (std::size_t i = 0; i < kIncidentColumns.size(); ++i) {
    if (i) sql += ", ";
    sql += kIncidentColumns[i];
  }
  return sql + " FROM incidents";
}

std::string incident_upsert() {
  std::string cols, params, sets;
  for (std::size_t i = 0; i < kIncidentColumns.size(); ++i) {
    if (i) {
      cols += ", ";
      params += ", ";
    }
    cols += kIncidentColumns[i];
    params += "?";
    if (i) {  // every column but the key
      if (i > 1) sets += ", ";
      sets += std::string(kIncidentColumns[i]) + " = excluded." + kIncidentColumns[i];
    }
  }
  return "INSERT INTO incidents (" + cols + ") VALUES (" + params + ") ON CONFLICT(number) DO UPDATE SET " +
         sets;
}

const std::string kIncidentSelect = incident_select();
const std::string kIncidentUpsert = incident_upsert();

constexpr const char* kOutboxSelect =
    "SELECT id, incident, person, method, kind, step, created_ms, idempotency_key, attempts, "
    "next_attempt_ms, last_error FROM outbox";

void bind_optional_ms(SQLite::Statement& s, int index, const std::optional<engine::TimePoint>& t) {
  if (t)
    s.bind(index, static_cast<std::int64_t>(to_ms(*t)));
  else
    s.bind(index);
}

void bind_incident_ref(SQLite::Statement& s, int index, std::int64_t number) {
  // 0 means "no incident": NULL keeps the foreign key satisfied.
  if (number == 0)
    s.bind(index);
  else
    s.bind(index, number);
}

std::int64_t column_ms(const SQLite::Column& c) { return c.getInt64(); }

}  // namespace

struct Store::Impl {
  Impl(const std::string& path, int flags) : db(path, flags) {}

  SQLite::Statement& stmt(const std::string& sql) {
    auto it = cache.find(sql);
    if (it == cache.end())
      it = cache.emplace(sql, std::make_unique<SQLite::Statement>(db, sql)).first;
    return *it->second;
  }

  // Snapshots are shared between incidents; encode each one once.
  const std::string& policy_json(const engine::PolicySnapshotPtr& p) {
    if (p != last_policy) {
      last_policy_json = encode_policy(*p);
      last_policy = p;
    }
    return last_policy_json;
  }

  void write_incident(const engine::Incident& inc);
  void write_timers(const engine::Incident& inc);
  void write_effects(const engine::Effects& fx);
  void write_update(const OutboxUpdate& u);
  engine::Incident read_incident(SQLite::Statement& s,
                                 std::map<std::string, engine::PolicySnapshotPtr>& policies);
  OutboxEntry read_outbox(SQLite::Statement& s);
  int read_version();

  SQLite::Database db;  // declared before the statements: destroyed after them
  std::unordered_map<std::string, std::unique_ptr<SQLite::Statement>> cache;
  engine::PolicySnapshotPtr last_policy;
  std::string last_policy_json;
  int version = 0;
};

void Store::Impl::write_incident(const engine::Incident& inc) {
  auto& s = stmt(kIncidentUpsert);
  Use use{s};
  s.bind(1, inc.number);
  s.bind(2, inc.service_id);
  s.bind(3, inc.dedup_key);
  s.bind(4, engine::to_string(inc.state));
  s.bind(5, inc.summary);
  s.bind(6, inc.source_name);
  s.bind(7, engine::to_string(inc.severity));
  s.bind(8, engine::to_string(inc.created_by));
  s.bind(9, static_cast<std::int64_t>(to_ms(inc.created_at)));
  s.bind(10, static_cast<std::int64_t>(to_ms(inc.updated_at)));
  bind_optional_ms(s, 11, inc.acknowledged_at);
  bind_optional_ms(s, 12, inc.resolved_at);
  s.bind(13, inc.owner);
  s.bind(14, inc.details_json);
  s.bind(15, inc.alert_count);
  s.bind(16, encode_strings(inc.group_alert_keys));
  if (inc.policy)
    s.bindNoCopy(17, policy_json(inc.policy));
  else
    s.bind(17);
  s.bind(18, inc.escalation.step);
  s.bind(19, inc.escalation.round);
  s.bind(20, inc.escalation.active ? 1 : 0);
  s.bind(21, static_cast<std::int64_t>(to_ms(inc.escalation.step_deadline)));
  s.bind(22, inc.contact.person);
  s.bind(23, static_cast<std::int64_t>(to_ms(inc.contact.page_started)));
  s.bind(24, inc.contact.next_rule);
  s.bind(25, encode_chain(inc.contact.chain));
  s.bind(26, static_cast<std::int64_t>(to_ms(inc.contact.next_at)));
  s.bind(27, encode_notified(inc.notified));
  s.bind(28, encode_ids(inc.contact.moved_on));
  s.exec();
  write_timers(inc);
}

void Store::Impl::write_timers(const engine::Incident& inc) {
  if (inc.state == engine::IncidentState::resolved) {
    auto& del = stmt("DELETE FROM timers WHERE incident = ?");
    Use use{del};
    del.bind(1, inc.number);
    del.exec();
    return;
  }
  auto set_timer = [&](const char* kind, bool pending, engine::TimePoint due) {
    if (pending) {
      auto& up = stmt(
          "INSERT INTO timers (incident, kind, due_ms) VALUES (?, ?, ?) "
          "ON CONFLICT(incident, kind) DO UPDATE SET due_ms = excluded.due_ms");
      Use use{up};
      up.bind(1, inc.number);
      up.bind(2, kind);
      up.bind(3, static_cast<std::int64_t>(to_ms(due)));
      up.exec();
    } else {
      auto& del = stmt("DELETE FROM timers WHERE incident = ? AND kind = ?");
      Use use{del};
      del.bind(1, inc.number);
      del.bind(2, kind);
      del.exec();
    }
  };
  set_timer("escalation", inc.escalation.active, inc.escalation.step_deadline);
  set_timer("contact",
            inc.contact.next_rule >= 0 &&
                static_cast<std::size_t>(inc.contact.next_rule) < inc.contact.chain.size(),
            inc.contact.next_at);
}

void Store::Impl::write_effects(const engine::Effects& fx) {
  for (const auto& inc : fx.incidents) write_incident(inc);

  if (!fx.alerts.empty()) {
    std::int64_t incident = fx.touched.empty() ? 0 : fx.touched.front();
    std::optional<engine::TimePoint> received;
    for (const auto& inc : fx.incidents)
      if (inc.number == incident) received = inc.updated_at;
    if (!received)
      for (const auto& ev : fx.timeline)
        if (!received || ev.at > *received) received = ev.at;
    auto& s = stmt(
        "INSERT INTO alerts (incident, received_ms, source, action, dedup_key, summary, payload) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)");
    for (const auto& a : fx.alerts) {
      Use use{s};
      bind_incident_ref(s, 1, incident);
      bind_optional_ms(s, 2, received);
      s.bind(3, engine::to_string(a.source));
      s.bind(4, engine::to_string(a.action));
      s.bind(5, a.dedup_key);
      s.bind(6, a.summary);
      s.bind(7, encode_alert_payload(a));
      s.exec();
    }
  }

  if (!fx.timeline.empty()) {
    auto& s = stmt(
        "INSERT INTO timeline (incident, at_ms, kind, actor, channel, message) VALUES (?, ?, ?, ?, ?, ?)");
    for (const auto& ev : fx.timeline) {
      Use use{s};
      bind_incident_ref(s, 1, ev.incident);
      s.bind(2, static_cast<std::int64_t>(to_ms(ev.at)));
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
      const auto created = static_cast<std::int64_t>(to_ms(n.created_at));
      s.bind(1, n.id);
      bind_incident_ref(s, 2, n.incident);
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

void Store::Impl::write_update(const OutboxUpdate& u) {
  auto& s = stmt(
      "UPDATE outbox SET state = ?, attempts = ?, next_attempt_ms = ?, last_error = ?, "
      "updated_ms = CASE WHEN ? = 0 THEN updated_ms ELSE ? END WHERE id = ?");
  Use use{s};
  const auto at = static_cast<std::int64_t>(to_ms(u.at));
  s.bind(1, to_string(u.state));
  s.bind(2, u.attempts);
  s.bind(3, static_cast<std::int64_t>(to_ms(u.next_attempt)));
  s.bind(4, u.error);
  s.bind(5, at);
  s.bind(6, at);
  s.bind(7, u.id);
  if (s.exec() == 0)
    throw NotFound("outbox update for unknown notification " + std::to_string(u.id));
}

engine::Incident Store::Impl::read_incident(SQLite::Statement& s,
                                            std::map<std::string, engine::PolicySnapshotPtr>& policies) {
  engine::Incident inc;
  inc.number = s.getColumn(0).getInt64();
  inc.service_id = s.getColumn(1).getString();
  inc.dedup_key = s.getColumn(2).getString();
  auto state = s.getColumn(3).getString();
  inc.state = require(engine::parse_incident_state(state), state, "incident state");
  inc.summary = s.getColumn(4).getString();
  inc.source_name = s.getColumn(5).getString();
  auto severity = s.getColumn(6).getString();
  inc.severity = require(engine::parse_severity(severity), severity, "severity");
  auto created_by = s.getColumn(7).getString();
  inc.created_by = require(engine::parse_source(created_by), created_by, "source");
  inc.created_at = from_ms(column_ms(s.getColumn(8)));
  inc.updated_at = from_ms(column_ms(s.getColumn(9)));
  if (!s.getColumn(10).isNull()) inc.acknowledged_at = from_ms(column_ms(s.getColumn(10)));
  if (!s.getColumn(11).isNull()) inc.resolved_at = from_ms(column_ms(s.getColumn(11)));
  inc.owner = s.getColumn(12).getString();
  inc.details_json = s.getColumn(13).getString();
  inc.alert_count = s.getColumn(14).getInt();
  inc.group_alert_keys = decode_strings(s.getColumn(15).getString());
  if (!s.getColumn(16).isNull()) {
    auto text = s.getColumn(16).getString();
    auto& shared = policies[text];  // identical snapshots share one object, as in the engine
    if (!shared) shared = decode_policy(text);
    inc.policy = shared;
  }
  inc.escalation.step = s.getColumn(17).getInt();
  inc.escalation.round = s.getColumn(18).getInt();
  inc.escalation.active = s.getColumn(19).getInt() != 0;
  inc.escalation.step_deadline = from_ms(column_ms(s.getColumn(20)));
  inc.contact.person = s.getColumn(21).getString();
  inc.contact.page_started = from_ms(column_ms(s.getColumn(22)));
  inc.contact.next_rule = s.getColumn(23).getInt();
  inc.contact.chain = decode_chain(s.getColumn(24).getString());
  inc.contact.next_at = from_ms(column_ms(s.getColumn(25)));
  inc.notified = decode_notified(s.getColumn(26).getString());
  inc.contact.moved_on = decode_ids(s.getColumn(27).getString());
  return inc;
}

OutboxEntry Store::Impl::read_outbox(SQLite::Statement& s) {
  OutboxEntry e;
  auto& n = e.notification;
  n.id = s.getColumn(0).getInt64();
  n.incident = s.getColumn(1).isNull() ? 0 : s.getColumn(1).getInt64();
  n.person = s.getColumn(2).getString();
  auto method = s.getColumn(3).getString();
  n.method = require(engine::parse_method(method), method, "method");
  n.kind = parse_notification_kind(s.getColumn(4).getString());
  n.step = s.getColumn(5).getInt();
  n.created_at = from_ms(column_ms(s.getColumn(6)));
  n.idempotency_key = s.getColumn(7).getString();
  e.attempts = s.getColumn(8).getInt();
  e.next_attempt = from_ms(column_ms(s.getColumn(9)));
  e.last_error = s.getColumn(10).getString();
  return e;
}

int Store::Impl::read_version() {
  SQLite::Statement s(db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
  s.executeStep();
  return s.getColumn(0).getInt();
}

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

namespace {
int latest_known_version() {
  auto all = embedded_migrations();
  return all.empty() ? 0 : all.back().version;
}
}  // namespace

Result<std::unique_ptr<Store>> Store::open(const std::string& path, Durability durability) {
  std::unique_ptr<Impl> impl;
  try {
    impl = std::make_unique<Impl>(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    impl->db.setBusyTimeout(5000);
    impl->db.exec("PRAGMA journal_mode = WAL");
  } catch (const SQLite::Exception& e) {
    return fail(ErrorKind::invalid_request, "cannot open database '" + path + "': " + e.what());
  }
  auto migrated = guarded("migrate", [&]() -> Result<void> {
    auto& db = impl->db;
    db.exec(durability == Durability::full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
    db.exec("PRAGMA foreign_keys = ON");
    db.exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "version INTEGER PRIMARY KEY, name TEXT NOT NULL)");
    if (impl->read_version() > latest_known_version())
      return fail(ErrorKind::permanent, "database '" + path + "' has schema version " +
                                            std::to_string(impl->read_version()) +
                                            ", newer than this baton (" +
                                            std::to_string(latest_known_version()) + ")");
    for (const auto& m : embedded_migrations()) {
      SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
      // Re-read inside the write lock: another process may have migrated meanwhile.
      if (impl->read_version() >= m.version) continue;
      db.exec(m.sql);
      SQLite::Statement ins(db, "INSERT INTO schema_migrations (version, name) VALUES (?, ?)");
      ins.bind(1, m.version);
      ins.bind(2, m.name);
      ins.exec();
      tx.commit();
    }
    impl->version = impl->read_version();
    return {};
  });
  if (!migrated) {
    auto e = migrated.error();
    if (e.kind != ErrorKind::transient) e.kind = ErrorKind::permanent;
    return tl::unexpected(std::move(e));
  }
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

Result<std::unique_ptr<Store>> Store::open_reader(const std::string& path) {
  std::unique_ptr<Impl> impl;
  try {
    impl = std::make_unique<Impl>(path, SQLite::OPEN_READONLY);
    impl->db.setBusyTimeout(5000);
  } catch (const SQLite::Exception& e) {
    return fail(ErrorKind::invalid_request, "cannot open database '" + path + "' for reading: " + e.what());
  }
  auto checked = guarded("open_reader", [&]() -> Result<void> {
    if (!impl->db.tableExists("schema_migrations"))
      return fail(ErrorKind::invalid_request, "database '" + path + "' is not initialised");
    impl->version = impl->read_version();
    if (impl->version > latest_known_version())
      return fail(ErrorKind::permanent, "database '" + path + "' is newer than this baton");
    return {};
  });
  if (!checked) return tl::unexpected(checked.error());
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

int Store::schema_version() const { return impl_->version; }

Result<void> Store::apply(std::span<const engine::Effects* const> effects,
                          std::span<const OutboxUpdate> updates) {
  return guarded("apply", [&]() -> Result<void> {
    // IMMEDIATE takes the write lock up front: no deadlock-prone upgrade from a read.
    SQLite::Transaction tx(impl_->db, SQLite::TransactionBehavior::IMMEDIATE);
    for (const engine::Effects* fx : effects)
      if (fx) impl_->write_effects(*fx);
    for (const auto& u : updates) impl_->write_update(u);
    tx.commit();  // deferred foreign keys are checked here; a failure rolls back in ~Transaction
    return {};
  });
}

Result<LoadedState> Store::load() {
  return guarded("load", [&]() -> Result<LoadedState> {
    LoadedState out;
    SQLite::Transaction tx(impl_->db);  // one consistent snapshot of all tables
    std::map<std::string, engine::PolicySnapshotPtr> policies;
    {
      auto& s = impl_->stmt(kIncidentSelect + " WHERE state <> 'resolved' ORDER BY number");
      Use use{s};
      while (s.executeStep()) out.open_incidents.push_back(impl_->read_incident(s, policies));
    }
    {
      auto& s = impl_->stmt(std::string(kOutboxSelect) + " WHERE state = 'pending' ORDER BY id");
      Use use{s};
      while (s.executeStep()) out.pending_outbox.push_back(impl_->read_outbox(s));
    }
    {
      auto& s = impl_->stmt("SELECT id, schedule_id, person, start_ms, end_ms FROM overrides ORDER BY id");
      Use use{s};
      while (s.executeStep()) {
        engine::Override o;
        o.id = s.getColumn(0).getInt64();
        o.schedule_id = s.getColumn(1).getString();
        o.person = s.getColumn(2).getString();
        o.start = from_ms(s.getColumn(3).getInt64());
        o.end = from_ms(s.getColumn(4).getInt64());
        out.overrides.push_back(std::move(o));
      }
    }
    {
      auto& s = impl_->stmt(
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

Result<std::vector<engine::Incident>> Store::list_incidents(const IncidentQuery& q) {
  if (q.limit <= 0 || q.limit > 10000)
    return fail(ErrorKind::invalid_request, "limit must be 1..10000, got " + std::to_string(q.limit));
  return guarded("list_incidents", [&]() -> Result<std::vector<engine::Incident>> {
    std::string sql = kIncidentSelect + " WHERE 1 = 1";
    if (q.state) sql += " AND state = ?";
    if (q.before) sql += " AND number < ?";
    sql += " ORDER BY number DESC LIMIT ?";
    auto& s = impl_->stmt(sql);
    Use use{s};
    int i = 1;
    if (q.state) s.bind(i++, engine::to_string(*q.state));
    if (q.before) s.bind(i++, *q.before);
    s.bind(i, q.limit);
    std::vector<engine::Incident> out;
    std::map<std::string, engine::PolicySnapshotPtr> policies;
    while (s.executeStep()) out.push_back(impl_->read_incident(s, policies));
    return out;
  });
}

Result<std::optional<engine::Incident>> Store::get_incident(std::int64_t number) {
  return guarded("get_incident", [&]() -> Result<std::optional<engine::Incident>> {
    auto& s = impl_->stmt(kIncidentSelect + " WHERE number = ?");
    Use use{s};
    s.bind(1, number);
    if (!s.executeStep()) return std::optional<engine::Incident>{};
    std::map<std::string, engine::PolicySnapshotPtr> policies;
    return std::optional<engine::Incident>{impl_->read_incident(s, policies)};
  });
}

Result<std::vector<engine::TimelineEvent>> Store::timeline(std::int64_t number) {
  return guarded("timeline", [&]() -> Result<std::vector<engine::TimelineEvent>> {
    auto& s = impl_->stmt(
        "SELECT incident, at_ms, kind, actor, channel, message FROM timeline WHERE incident = ? "
        "ORDER BY at_ms, id");
    Use use{s};
    s.bind(1, number);
    std::vector<engine::TimelineEvent> out;
    while (s.executeStep()) {
      engine::TimelineEvent ev;
      ev.incident = s.getColumn(0).getInt64();
      ev.at = from_ms(s.getColumn(1).getInt64());
      ev.kind = parse_timeline_kind(s.getColumn(2).getString());
      ev.actor = s.getColumn(3).getString();
      auto channel = s.getColumn(4).getString();
      ev.channel = require(engine::parse_source(channel), channel, "source");
      ev.message = s.getColumn(5).getString();
      out.push_back(std::move(ev));
    }
    return out;
  });
}

Result<std::vector<OutboxEntry>> Store::outbox_for(std::int64_t number) {
  return guarded("outbox_for", [&]() -> Result<std::vector<OutboxEntry>> {
    auto& s = impl_->stmt(std::string(kOutboxSelect) + " WHERE incident = ? ORDER BY id");
    Use use{s};
    s.bind(1, number);
    std::vector<OutboxEntry> out;
    while (s.executeStep()) out.push_back(impl_->read_outbox(s));
    return out;
  });
}

Result<std::int64_t> Store::add_override(const engine::Override& o,
                                         std::optional<engine::TimePoint> created_at) {
  if (o.schedule_id.empty() || o.person.empty())
    return fail(ErrorKind::invalid_request, "override needs a schedule and a person");
  if (o.end <= o.start) return fail(ErrorKind::invalid_request, "override must end after it starts");
  return guarded("add_override", [&]() -> Result<std::int64_t> {
    auto& s = impl_->stmt(
        "INSERT INTO overrides (schedule_id, person, start_ms, end_ms, created_ms) VALUES (?, ?, ?, ?, ?)");
    Use use{s};
    s.bind(1, o.schedule_id);
    s.bind(2, o.person);
    s.bind(3, static_cast<std::int64_t>(to_ms(o.start)));
    s.bind(4, static_cast<std::int64_t>(to_ms(o.end)));
    bind_optional_ms(s, 5, created_at);
    s.exec();
    return static_cast<std::int64_t>(impl_->db.getLastInsertRowid());
  });
}

Result<void> Store::remove_override(std::int64_t id) {
  return guarded("remove_override", [&]() -> Result<void> {
    auto& s = impl_->stmt("DELETE FROM overrides WHERE id = ?");
    Use use{s};
    s.bind(1, id);
    if (s.exec() == 0) return fail(ErrorKind::not_found, "no override " + std::to_string(id));
    return {};
  });
}

Result<std::int64_t> Store::prune_overrides(engine::TimePoint now) {
  return guarded("prune_overrides", [&]() -> Result<std::int64_t> {
    auto& s = impl_->stmt("DELETE FROM overrides WHERE end_ms <= ?");
    Use use{s};
    s.bind(1, static_cast<std::int64_t>(to_ms(now)));
    return static_cast<std::int64_t>(s.exec());
  });
}

Result<std::int64_t> Store::count_incidents(std::optional<engine::IncidentState> state) {
  return guarded("count_incidents", [&]() -> Result<std::int64_t> {
    auto& s = impl_->stmt(state ? "SELECT COUNT(*) FROM incidents WHERE state = ?"
                                : "SELECT COUNT(*) FROM incidents");
    Use use{s};
    if (state) s.bind(1, engine::to_string(*state));
    s.executeStep();
    return s.getColumn(0).getInt64();
  });
}

Result<void> Store::consume_token(const std::string& token_id, engine::TimePoint now) {
  if (token_id.empty()) return fail(ErrorKind::invalid_request, "empty token id");
  auto r = guarded("consume_token", [&]() -> Result<void> {
    auto& s = impl_->stmt("INSERT INTO used_tokens (token_id, used_ms) VALUES (?, ?)");
    Use use{s};
    s.bind(1, token_id);
    s.bind(2, static_cast<std::int64_t>(to_ms(now)));
    s.exec();
    return {};
  });
  if (!r && r.error().kind == ErrorKind::conflict)
    return fail(ErrorKind::conflict, "token already used");
  return r;
}

Result<void> Store::probe_write(engine::TimePoint now) {
  return guarded("probe_write", [&]() -> Result<void> {
    SQLite::Transaction tx(impl_->db, SQLite::TransactionBehavior::IMMEDIATE);
    auto& s = impl_->stmt("INSERT OR REPLACE INTO write_probe (id, at_ms) VALUES (1, ?)");
    Use use{s};
    s.bind(1, static_cast<std::int64_t>(to_ms(now)));
    s.exec();
    tx.commit();
    return {};
  });
}

Result<void> Store::add_chat_message(const ChatMessage& m, engine::TimePoint now) {
  if (m.incident <= 0 || m.kind.empty() || m.conversation.empty())
    return fail(ErrorKind::invalid_request, "a chat message needs an incident, a kind and a conversation");
  return guarded("add_chat_message", [&]() -> Result<void> {
    auto& s = impl_->stmt(
        "INSERT OR IGNORE INTO chat_messages (incident, channel_kind, conversation_id, message_id, person, created_ms) "
        "VALUES (?, ?, ?, ?, ?, ?)");
    Use use{s};
    s.bind(1, static_cast<std::int64_t>(m.incident));
    s.bind(2, m.kind);
    s.bind(3, m.conversation);
    s.bind(4, m.message_id);
    s.bind(5, m.person);
    s.bind(6, static_cast<std::int64_t>(to_ms(now)));
    s.exec();
    return {};
  });
}

Result<void> Store::add_chat_messages(std::span<const ChatMessage> messages, engine::TimePoint now) {
  for (const auto& m : messages)
    if (m.incident <= 0 || m.kind.empty() || m.conversation.empty())
      return fail(ErrorKind::invalid_request, "a chat message needs an incident, a kind and a conversation");
  return guarded("add_chat_messages", [&]() -> Result<void> {
    SQLite::Transaction tx(impl_->db, SQLite::TransactionBehavior::IMMEDIATE);
    for (const auto& m : messages) {
      auto& s = impl_->stmt(
          "INSERT OR IGNORE INTO chat_messages (incident, channel_kind, conversation_id, message_id, person, "
          "created_ms) VALUES (?, ?, ?, ?, ?, ?)");
      Use use{s};
      s.bind(1, static_cast<std::int64_t>(m.incident));
      s.bind(2, m.kind);
      s.bind(3, m.conversation);
      s.bind(4, m.message_id);
      s.bind(5, m.person);
      s.bind(6, static_cast<std::int64_t>(to_ms(now)));
      s.exec();
    }
    tx.commit();
    return {};
  });
}

Result<std::optional<std::int64_t>> Store::incident_for_conversation(const std::string& conversation) {
  return guarded("incident_for_conversation", [&]() -> Result<std::optional<std::int64_t>> {
    auto& s = impl_->stmt(
        "SELECT incident FROM chat_messages WHERE conversation_id = ? AND channel_kind LIKE '%-incident-channel' "
        "ORDER BY created_ms DESC LIMIT 1");
    Use use{s};
    s.bind(1, conversation);
    if (!s.executeStep()) return std::optional<std::int64_t>{};
    return std::optional<std::int64_t>{s.getColumn(0).getInt64()};
  });
}

Result<std::vector<ChatMessage>> Store::chat_messages(std::int64_t incident) {
  return guarded("chat_messages", [&]() -> Result<std::vector<ChatMessage>> {
    auto& s = impl_->stmt(
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

Result<void> Store::save_teams_user(const std::string& aad_object_id, const std::string& teams_id,
                                    engine::TimePoint now) {
  if (aad_object_id.empty() || teams_id.empty())
    return fail(ErrorKind::invalid_request, "a Teams user needs an AAD object id and a Teams id");
  return guarded("save_teams_user", [&]() -> Result<void> {
    auto& s = impl_->stmt("INSERT OR REPLACE INTO teams_users (aad_object_id, teams_id, updated_ms) VALUES (?, ?, ?)");
    Use use{s};
    s.bind(1, aad_object_id);
    s.bind(2, teams_id);
    s.bind(3, static_cast<std::int64_t>(to_ms(now)));
    s.exec();
    return {};
  });
}

Result<std::vector<std::pair<std::string, std::string>>> Store::teams_users() {
  return guarded("teams_users", [&]() -> Result<std::vector<std::pair<std::string, std::string>>> {
    auto& s = impl_->stmt("SELECT aad_object_id, teams_id FROM teams_users");
    Use use{s};
    std::vector<std::pair<std::string, std::string>> out;
    while (s.executeStep()) out.emplace_back(s.getColumn(0).getString(), s.getColumn(1).getString());
    return out;
  });
}

Result<void> Store::save_teams_channel(const std::string& team_id, const std::string& channel_id,
                                       const std::string& service_url, engine::TimePoint now) {
  if (team_id.empty() || channel_id.empty())
    return fail(ErrorKind::invalid_request, "a Teams channel needs a team id and a channel id");
  return guarded("save_teams_channel", [&]() -> Result<void> {
    auto& s = impl_->stmt(
        "INSERT OR REPLACE INTO teams_channels (team_id, channel_id, service_url, added_ms) VALUES (?, ?, ?, ?)");
    Use use{s};
    s.bind(1, team_id);
    s.bind(2, channel_id);
    s.bind(3, service_url);
    s.bind(4, static_cast<std::int64_t>(to_ms(now)));
    s.exec();
    return {};
  });
}

Result<std::vector<std::array<std::string, 3>>> Store::teams_channels() {
  return guarded("teams_channels", [&]() -> Result<std::vector<std::array<std::string, 3>>> {
    auto& s = impl_->stmt("SELECT team_id, channel_id, service_url FROM teams_channels ORDER BY added_ms, team_id, channel_id");
    Use use{s};
    std::vector<std::array<std::string, 3>> out;
    while (s.executeStep())
      out.push_back({s.getColumn(0).getString(), s.getColumn(1).getString(), s.getColumn(2).getString()});
    return out;
  });
}

Result<std::optional<engine::TimePoint>> Store::next_timer() {
  return guarded("next_timer", [&]() -> Result<std::optional<engine::TimePoint>> {
    auto& s = impl_->stmt("SELECT MIN(due_ms) FROM timers");
    Use use{s};
    s.executeStep();
    if (s.getColumn(0).isNull()) return std::optional<engine::TimePoint>{};
    return std::optional<engine::TimePoint>{from_ms(s.getColumn(0).getInt64())};
  });
}

}  // namespace baton::storage
