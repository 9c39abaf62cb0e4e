// High availability pieces on PostgreSQL (see storage/cluster.hpp and
// docs/architecture.md, "High availability"). Every time here is the database
// server's clock_timestamp() in epoch milliseconds
// (https://www.postgresql.org/docs/15/functions-datetime.html#FUNCTIONS-DATETIME-CURRENT),
// so the instances' own clocks never decide who holds the lease.
#include "storage/cluster.hpp"

#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <condition_variable>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include <spdlog/spdlog.h>

#include "storage/codec.hpp"
#include "storage/pg_connection.hpp"
#include "storage/store.hpp"

namespace baton::storage {

namespace json = boost::json;
using pg::Params;
using pg::PgError;

namespace {
constexpr const char* kDbNowMs = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";
}

std::string new_instance_id() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || !host[0]) std::snprintf(host, sizeof host, "baton");
  std::random_device rd;
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "%06x", rd() & 0xffffffu);
  return std::string(host) + "-" + std::to_string(::getpid()) + "-" + suffix;
}

// ---- LeaseKeeper ----

struct LeaseKeeper::Impl {
  LeaseOptions options;
  OnChange on_change;
  // statement_timeout bounds a round against a server that hangs
  // (https://www.postgresql.org/docs/15/runtime-config-client.html#GUC-STATEMENT-TIMEOUT).
  pg::Connection conn;
  mutable std::mutex mutex;
  std::condition_variable cv;
  LeaseStatus status;  // guarded by mutex
  bool stopping = false;
  bool stopped = false;
  std::atomic<bool> want_new_epoch{false};
  std::optional<std::chrono::steady_clock::time_point> last_renewal;  // start of the last round that renewed
  std::thread thread;

  Impl(LeaseOptions o, OnChange cb)
      : options(std::move(o)),
        on_change(std::move(cb)),
        conn(options.uri, {"SET statement_timeout = " + std::to_string(options.ttl.count())}) {}

  LeaseStatus round() {
    const auto started = std::chrono::steady_clock::now();
    LeaseStatus next;
    LeaseStatus before;
    {
      std::lock_guard lock(mutex);
      before = status;
    }
    try {
      {
        Params p;
        p.text(options.instance_id);
        p.text(options.address);
        conn.exec(std::string("INSERT INTO instances (id, address, started_ms, last_seen_ms) VALUES ($1, $2, ") +
                      kDbNowMs + ", " + kDbNowMs +
                      ") ON CONFLICT (id) DO UPDATE SET address = excluded.address, last_seen_ms = excluded.last_seen_ms",
                  p);
      }
      // Take the lease if it is free or expired, or renew our own, in one
      // statement (https://www.postgresql.org/docs/15/sql-insert.html#SQL-ON-CONFLICT):
      // the epoch goes up on every change of holder and whenever we asked for
      // a new one; a renewal of an unexpired lease of ours keeps it.
      const bool force = want_new_epoch.exchange(false);
      Params p;
      p.text(options.instance_id);
      p.i64(options.ttl.count());
      p.text(force ? "true" : "false");
      auto r = conn.exec(std::string("INSERT INTO cluster_lease AS l (name, holder, epoch, expires_ms, acquired_ms) "
                                     "SELECT 'leader', $1, 1, n.ms + $2, n.ms FROM (SELECT ") +
                             kDbNowMs +
                             " AS ms) n "
                             "ON CONFLICT (name) DO UPDATE SET "
                             "epoch = CASE WHEN l.holder = excluded.holder AND l.expires_ms > excluded.acquired_ms "
                             "AND NOT $3::boolean THEN l.epoch ELSE l.epoch + 1 END, "
                             "acquired_ms = CASE WHEN l.holder = excluded.holder AND l.expires_ms > "
                             "excluded.acquired_ms AND NOT $3::boolean THEN l.acquired_ms ELSE excluded.acquired_ms END, "
                             "holder = excluded.holder, expires_ms = excluded.expires_ms "
                             "WHERE l.holder = excluded.holder OR l.expires_ms <= excluded.acquired_ms "
                             "RETURNING epoch",
                         p);
      next.reachable = true;
      if (r.size() > 0) {
        next.owner = true;
        next.epoch = r[0].i64(0);
        last_renewal = started;
      } else {
        // Not ours: the next time we take it, its epoch goes up anyway.
        auto l = conn.exec("SELECT epoch FROM cluster_lease WHERE name = 'leader'");
        next.epoch = l.size() > 0 ? l[0].i64(0) : 0;
      }
    } catch (const std::exception& e) {
      // Without the database we cannot renew: we stay owner only while the
      // lease we last renewed surely has not expired (3/4 of the TTL measured
      // from the start of that round; fencing protects the data either way).
      next = before;
      next.reachable = false;
      if (before.owner && (!last_renewal || started - *last_renewal >= options.ttl * 3 / 4)) next.owner = false;
      if (before.reachable) spdlog::warn("cluster lease: cannot reach the database: {}", e.what());
    }
    bool changed = false;
    {
      std::lock_guard lock(mutex);
      changed = next.owner != status.owner || (next.owner && next.epoch != status.epoch);
      status = next;
    }
    if (changed) {
      if (next.owner)
        spdlog::info("cluster: {} owns the engine (epoch {})", options.instance_id, next.epoch);
      else
        spdlog::warn("cluster: {} no longer owns the engine", options.instance_id);
      if (on_change) on_change(next);
    }
    return next;
  }

  void run() {
    pthread_setname_np(pthread_self(), "baton-lease");
    std::unique_lock lock(mutex);
    while (!stopping) {
      lock.unlock();
      round();
      lock.lock();
      // A new epoch asked for (renew_epoch) waits for the next round too: a
      // database that keeps failing the new owner's load is not hammered.
      cv.wait_for(lock, options.renew_every, [&] { return stopping; });
    }
  }
};

LeaseKeeper::LeaseKeeper(LeaseOptions options, OnChange on_change)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(on_change))) {}

LeaseKeeper::~LeaseKeeper() { stop(false); }

void LeaseKeeper::start() {
  impl_->thread = std::thread([this] { impl_->run(); });
}

void LeaseKeeper::stop(bool release) {
  auto& d = *impl_;
  {
    std::lock_guard lock(d.mutex);
    if (d.stopped) return;
    d.stopped = true;
    d.stopping = true;
  }
  d.cv.notify_all();
  if (d.thread.joinable()) d.thread.join();
  if (!release) return;
  try {
    Params p;
    p.text(d.options.instance_id);
    d.conn.exec("UPDATE cluster_lease SET expires_ms = 0 WHERE name = 'leader' AND holder = $1", p);
    d.conn.exec("DELETE FROM instances WHERE id = $1", p);
  } catch (const std::exception& e) {
    spdlog::warn("cluster lease: could not release it ({}); another instance takes over once it expires", e.what());
  }
  std::lock_guard lock(d.mutex);
  d.status.owner = false;
}

LeaseStatus LeaseKeeper::status() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->status;
}

void LeaseKeeper::renew_epoch() {
  impl_->want_new_epoch = true;
}

LeaseStatus LeaseKeeper::round() { return impl_->round(); }

const LeaseOptions& LeaseKeeper::options() const { return impl_->options; }

// ---- InboxListener ----

struct InboxListener::Impl {
  OnRows on_rows;
  // LISTEN again after every reconnect (session setup,
  // https://www.postgresql.org/docs/15/sql-listen.html).
  pg::Connection conn;
  std::mutex mutex;
  bool stopping = false;
  bool active = false;
  bool look_now = false;
  std::uint64_t generation = 0;
  std::set<std::int64_t> delivered;  // this generation; listener thread
  std::uint64_t delivered_generation = 0;
  std::atomic<double> lag{0};
  std::chrono::steady_clock::time_point lag_read_at{};  // listener thread
  std::thread thread;

  Impl(std::string uri, OnRows cb) : on_rows(std::move(cb)), conn(std::move(uri), {"LISTEN baton_inbox"}) {}

  void look() {
    std::uint64_t gen;
    bool is_active;
    {
      std::lock_guard lock(mutex);
      gen = generation;
      is_active = active;
      look_now = false;
    }
    if (!is_active) {
      // Only for /metrics here: at most once a second, not on every NOTIFY of
      // every other instance's intake.
      const auto now = std::chrono::steady_clock::now();
      if (now - lag_read_at < std::chrono::seconds(1)) return;
      lag_read_at = now;
      auto lag_rows = conn.exec(std::string("SELECT COALESCE(") + kDbNowMs + " - MIN(created_ms), 0) FROM inbox");
      lag = static_cast<double>(std::max<std::int64_t>(0, lag_rows[0].i64(0))) / 1000.0;
      return;
    }
    if (gen != delivered_generation) {
      delivered.clear();
      delivered_generation = gen;
    }
    constexpr int kLimit = 1000;
    Params p;
    p.i64(kLimit);
    // The oldest row's age (by the database's clock) is the inbox lag.
    auto r = conn.exec(std::string("SELECT id, kind, payload, ") + kDbNowMs +
                           " - created_ms FROM inbox ORDER BY id LIMIT $1",
                       p);
    lag = r.size() == 0 ? 0.0 : static_cast<double>(std::max<std::int64_t>(0, r[0].i64(3))) / 1000.0;
    std::vector<InboxRow> rows;
    std::set<std::int64_t> present;
    for (int i = 0; i < r.size(); ++i) {
      const auto id = r[i].i64(0);
      present.insert(id);
      if (delivered.insert(id).second) rows.push_back(InboxRow{id, r[i].text(1), r[i].text(2)});
    }
    if (r.size() < kLimit) delivered = std::move(present);  // consumed rows are gone: forget them
    if (!rows.empty()) on_rows(std::move(rows), gen);
  }

  void run() {
    pthread_setname_np(pthread_self(), "baton-inbox");
    bool connected = false;
    for (;;) {
      {
        std::lock_guard lock(mutex);
        if (stopping) return;
      }
      try {
        if (!connected) {
          conn.connect();
          connected = true;
          look();  // whatever was notified while we were not listening
        }
        bool notified = conn.wait_notification(200);
        bool due;
        {
          std::lock_guard lock(mutex);
          due = look_now;
        }
        // Every 5 s as well (25 waits of 200 ms), in case a notification was lost.
        if (notified || due || ++idle_waits >= 25) {
          idle_waits = 0;
          look();
        }
      } catch (const std::exception& e) {
        if (connected) spdlog::warn("inbox listener: {}", e.what());
        connected = false;
        std::unique_lock lock(mutex);
        if (stopping) return;
        lock.unlock();
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
      }
    }
  }
  int idle_waits = 0;
};

InboxListener::InboxListener(std::string uri, OnRows on_rows)
    : impl_(std::make_unique<Impl>(std::move(uri), std::move(on_rows))) {}

InboxListener::~InboxListener() { stop(); }

void InboxListener::start() {
  impl_->thread = std::thread([this] { impl_->run(); });
}

void InboxListener::stop() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  if (impl_->thread.joinable()) impl_->thread.join();
}

void InboxListener::activate(std::uint64_t generation) {
  std::lock_guard lock(impl_->mutex);
  impl_->active = true;
  impl_->generation = generation;
  impl_->look_now = true;
}

void InboxListener::deactivate() {
  std::lock_guard lock(impl_->mutex);
  impl_->active = false;
}

double InboxListener::lag_seconds() const { return impl_->lag.load(); }

// ---- inbox payloads ----

namespace {

Result<json::object> parse_object(const std::string& payload) {
  boost::system::error_code ec;
  auto v = json::parse(payload, ec);
  if (ec || !v.is_object()) return fail(ErrorKind::invalid_request, "inbox payload is not a JSON object");
  return v.as_object();
}

std::string str(const json::object& o, const char* key) {
  auto it = o.find(key);
  return it != o.end() && it->value().is_string() ? std::string(it->value().as_string()) : std::string();
}

}  // namespace

std::string encode_inbox_alert(const engine::Alert& a) {
  json::array group;
  for (const auto& g : a.group) {
    json::object o{{"fingerprint", g.fingerprint}, {"firing", g.firing}, {"starts_at", g.starts_at}, {"summary", g.summary}};
    if (!g.alertname.empty()) o["alertname"] = g.alertname;  // feeds a heartbeat on the owner
    group.push_back(std::move(o));
  }
  return json::serialize(json::object{{"source", engine::to_string(a.source)},
                                      {"integration_key", a.integration_key},
                                      {"action", engine::to_string(a.action)},
                                      {"dedup_key", a.dedup_key},
                                      {"summary", a.summary},
                                      {"source_name", a.source_name},
                                      {"severity", engine::to_string(a.severity)},
                                      {"client", a.client},
                                      {"client_url", a.client_url},
                                      {"details_json", a.details_json},
                                      {"group", std::move(group)}});
}

Result<engine::Alert> decode_inbox_alert(const std::string& payload) {
  auto o = parse_object(payload);
  if (!o) return tl::unexpected(o.error());
  engine::Alert a;
  auto source = engine::parse_source(str(*o, "source"));
  auto severity = engine::parse_severity(str(*o, "severity"));
  const auto action = str(*o, "action");
  if (!source || !severity) return fail(ErrorKind::invalid_request, "inbox alert: bad source or severity");
  a.source = *source;
  a.severity = *severity;
  if (action == "trigger") a.action = engine::AlertAction::trigger;
  else if (action == "acknowledge") a.action = engine::AlertAction::acknowledge;
  else if (action == "resolve") a.action = engine::AlertAction::resolve;
  else return fail(ErrorKind::invalid_request, "inbox alert: bad action '" + action + "'");
  a.integration_key = str(*o, "integration_key");
  a.dedup_key = str(*o, "dedup_key");
  a.summary = str(*o, "summary");
  a.source_name = str(*o, "source_name");
  a.client = str(*o, "client");
  a.client_url = str(*o, "client_url");
  a.details_json = str(*o, "details_json");
  if (auto it = o->find("group"); it != o->end() && it->value().is_array()) {
    for (const auto& gv : it->value().as_array()) {
      if (!gv.is_object()) continue;
      const auto& g = gv.as_object();
      engine::GroupAlert ga;
      ga.fingerprint = str(g, "fingerprint");
      ga.starts_at = str(g, "starts_at");
      ga.summary = str(g, "summary");
      ga.alertname = str(g, "alertname");
      if (auto f = g.find("firing"); f != g.end() && f->value().is_bool()) ga.firing = f->value().as_bool();
      a.group.push_back(std::move(ga));
    }
  }
  return a;
}

std::string encode_inbox_command(const InboxCommand& c) {
  json::object o{{"incident", c.incident},
                 {"command", c.command},
                 {"actor", c.actor.id},
                 {"channel", engine::to_string(c.actor.channel)}};
  if (!c.text.empty()) o["text"] = c.text;
  if (c.command == "create") {
    o["service"] = c.service;
    o["severity"] = engine::to_string(c.severity);
    if (c.assignee) o["assignee"] = *c.assignee;
  }
  if (c.command == "delivery_failed") {
    const auto& n = c.notification;
    o["notification"] = json::object{{"id", n.id},
                                     {"incident", n.incident},
                                     {"person", n.person},
                                     {"method", engine::to_string(n.method)},
                                     {"kind", engine::to_string(n.kind)},
                                     {"step", n.step},
                                     {"created_ms", engine::to_ms(n.created_at)},
                                     {"idempotency_key", n.idempotency_key}};
  }
  if (c.command == "maintenance_added" || c.command == "maintenance_ended") {
    const auto& w = c.maintenance;
    json::object mo{{"id", w.id},
                    {"service", w.service_id},
                    {"start_ms", engine::to_ms(w.start)},
                    {"end_ms", engine::to_ms(w.end)},
                    {"reason", w.reason},
                    {"created_by", w.created_by},
                    {"ended_by", w.ended_by}};
    if (w.ended_at) mo["ended_ms"] = engine::to_ms(*w.ended_at);
    o["maintenance"] = std::move(mo);
  }
  if (c.command == "override_added" || c.command == "override_removed") {
    const auto& v = c.override_;
    o["override"] = json::object{{"id", v.id},
                                 {"schedule", v.schedule_id},
                                 {"person", v.person},
                                 {"start_ms", engine::to_ms(v.start)},
                                 {"end_ms", engine::to_ms(v.end)}};
  }
  return json::serialize(o);
}

namespace {

std::int64_t i64_of(const json::object& o, const char* key) {
  auto it = o.find(key);
  return it != o.end() && it->value().is_int64() ? it->value().as_int64() : 0;
}

}  // namespace

Result<InboxCommand> decode_inbox_command(const std::string& payload) {
  auto o = parse_object(payload);
  if (!o) return tl::unexpected(o.error());
  InboxCommand c;
  c.incident = i64_of(*o, "incident");
  c.command = str(*o, "command");
  c.actor.id = str(*o, "actor");
  c.text = str(*o, "text");
  auto channel = engine::parse_source(str(*o, "channel"));
  if (!channel) return fail(ErrorKind::invalid_request, "inbox command is malformed");
  c.actor.channel = *channel;
  const auto& k = c.command;
  const bool on_incident = k == "acknowledge" || k == "resolve" || k == "escalate" || k == "reassign" || k == "note";
  if (on_incident) {
    if (c.incident <= 0 || (k == "reassign" && c.text.empty()))
      return fail(ErrorKind::invalid_request, "inbox command is malformed");
    return c;
  }
  if (k == "create") {
    c.service = str(*o, "service");
    auto severity = engine::parse_severity(str(*o, "severity"));
    if (c.service.empty() || !severity) return fail(ErrorKind::invalid_request, "inbox command is malformed");
    c.severity = *severity;
    if (auto it = o->find("assignee"); it != o->end() && it->value().is_string())
      c.assignee = std::string(it->value().as_string());
    return c;
  }
  if (k == "delivery_failed") {
    auto it = o->find("notification");
    if (it == o->end() || !it->value().is_object()) return fail(ErrorKind::invalid_request, "inbox command is malformed");
    const auto& n = it->value().as_object();
    auto method = engine::parse_method(str(n, "method"));
    auto& v = c.notification;
    v.id = i64_of(n, "id");
    v.incident = i64_of(n, "incident");
    v.person = str(n, "person");
    v.kind = codec::parse_notification_kind(str(n, "kind"));
    v.step = static_cast<int>(i64_of(n, "step"));
    v.created_at = engine::from_ms(i64_of(n, "created_ms"));
    v.idempotency_key = str(n, "idempotency_key");
    if (!method || v.id <= 0 || v.incident <= 0) return fail(ErrorKind::invalid_request, "inbox command is malformed");
    v.method = *method;
    return c;
  }
  if (k == "override_added" || k == "override_removed") {
    auto it = o->find("override");
    if (it == o->end() || !it->value().is_object()) return fail(ErrorKind::invalid_request, "inbox command is malformed");
    const auto& v = it->value().as_object();
    auto& ov = c.override_;
    ov.id = i64_of(v, "id");
    ov.schedule_id = str(v, "schedule");
    ov.person = str(v, "person");
    ov.start = engine::from_ms(i64_of(v, "start_ms"));
    ov.end = engine::from_ms(i64_of(v, "end_ms"));
    if (ov.id <= 0) return fail(ErrorKind::invalid_request, "inbox command is malformed");
    return c;
  }
  if (k == "heartbeat") {
    if (c.text.empty()) return fail(ErrorKind::invalid_request, "inbox command is malformed");
    return c;
  }
  if (k == "maintenance_added" || k == "maintenance_ended") {
    auto it = o->find("maintenance");
    if (it == o->end() || !it->value().is_object()) return fail(ErrorKind::invalid_request, "inbox command is malformed");
    const auto& v = it->value().as_object();
    auto& w = c.maintenance;
    w.id = i64_of(v, "id");
    w.service_id = str(v, "service");
    w.start = engine::from_ms(i64_of(v, "start_ms"));
    w.end = engine::from_ms(i64_of(v, "end_ms"));
    w.reason = str(v, "reason");
    w.created_by = str(v, "created_by");
    w.ended_by = str(v, "ended_by");
    if (auto e = v.find("ended_ms"); e != v.end() && e->value().is_int64()) w.ended_at = engine::from_ms(e->value().as_int64());
    if (w.id <= 0 || w.service_id.empty() || (k == "maintenance_ended" && !w.ended_at))
      return fail(ErrorKind::invalid_request, "inbox command is malformed");
    return c;
  }
  return fail(ErrorKind::invalid_request, "inbox command '" + k + "' is unknown");
}

}  // namespace baton::storage
