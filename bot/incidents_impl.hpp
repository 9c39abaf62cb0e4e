#pragma once
// Private to bot/: the state behind Incidents, shared by incidents.cpp (the
// engine loop, commits, outcomes, commands) and incidents_ownership.cpp (who
// may run the engine: recovery after a failed SQLite commit, and the lease and
// inbox on PostgreSQL). Asio stays out of incidents.hpp.
#include "bot/incidents.hpp"

#include <pthread.h>
#include <algorithm>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <future>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <spdlog/spdlog.h>
#include "bot/chat_refs.hpp"
#include "bot/metrics.hpp"
#include "bot/queries.hpp"
#include "engine/oncall.hpp"
#include "integrations/common/utf8.hpp"
#include "integrations/dispatcher.hpp"
#include "storage/cluster.hpp"
#include "storage/group_commit.hpp"

namespace baton::bot {

namespace net = boost::asio;
using engine::TimePoint;

namespace detail {
/// The last line of defence for text from outside: everything the engine keeps
/// and storage serves as JSON must be UTF-8 (transports repair their own input;
/// this catches any that did not).
void repair_text(engine::Alert& a);

/// Restores what the engine keeps besides open incidents (after them):
/// heartbeat states and one-off maintenance windows. Start-up, takeover and
/// the rebuild after a failed commit all use it; then Impl::resume_engine().
inline void restore_watch_state(engine::Engine& e, storage::LoadedState& state) {
  for (auto& h : state.heartbeats) e.restore_heartbeat(std::move(h));
  for (auto& w : state.maintenance) e.restore_maintenance(std::move(w));
}
}  // namespace detail

struct Incidents::Impl {
  const engine::Clock& clock;
  Queries& queries;
  Metrics& metrics;

  net::io_context loop{1};
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::thread loop_thread;
  net::steady_timer timer{loop};
  std::optional<TimePoint> armed_for;

  // The directory the engine runs with (swapped by a reload), for checks off the loop.
  mutable std::mutex directory_mutex;
  engine::DirectoryPtr directory;

  std::unique_ptr<engine::Engine> engine;  // touched on the loop thread only (after start)
  std::unique_ptr<storage::GroupCommitWriter> writer;
  // After the writer, so destroyed before it: chat references still waiting
  // (held by `people` and the Slack/Teams notifiers) are written through it.
  std::unique_ptr<integrations::Dispatcher> dispatcher;
  std::shared_ptr<const StoredChatRefs> people;          // Teams user ids of the people paged
  std::function<void(std::vector<engine::TimelineEvent>)> lines_sink;
  std::vector<storage::OutboxEntry> resume_outbox;
  std::vector<engine::Incident> resume_closed;  // incidents of outbox entries that are no longer open

  std::atomic<int> pending_commits{0};

  // Alerts waiting for the engine loop. A burst is taken in one turn: the
  // first alert of a batch posts the turn, later ones join it, and the loop
  // ingests them all and hands their commits to the writer back to back, so
  // one transaction (one fsync) serves the batch.
  struct QueuedAlert {
    engine::Alert alert;
    std::function<void(Result<IngestOutcome>)> done;
    std::chrono::steady_clock::time_point received;
  };
  std::mutex intake_mutex;
  std::vector<QueuedAlert> intake;
  std::atomic<bool> started{false};
  std::atomic<bool> stopped{false};

  // A failed commit: the engine holds a change the disk does not. From then on
  // changes are refused (503) and internal events wait in `deferred`, until a
  // probe write succeeds and the engine is rebuilt from what is committed.
  std::uint64_t clock_watch = 0;  // clock.watch(): re-arm the timer when a test moves the clock
  std::atomic<bool> degraded{false};
  std::atomic<std::uint64_t> recoveries{0};
  bool recovering = false;  // loop thread
  engine::Millis probe_backoff{100};
  std::chrono::steady_clock::time_point last_probe_log{};
  net::steady_timer recovery_timer{loop};
  std::vector<std::function<void()>> deferred;  // loop thread
  std::uint64_t deferred_dropped = 0;

  // Incidents whose pages are no longer wanted (acknowledged or resolved): the
  // dispatcher drops their queued pages and retries before the next attempt.
  // Updated once a change is committed; bounded (oldest first out).
  std::mutex quiet_mutex;
  std::unordered_set<std::int64_t> quiet;
  std::deque<std::int64_t> quiet_order;
  static constexpr std::size_t kMaxQuiet = 200'000;

  void set_quiet(std::int64_t number, bool is_quiet) {
    std::lock_guard lock(quiet_mutex);
    if (!is_quiet) {
      quiet.erase(number);
      return;
    }
    if (!quiet.insert(number).second) return;
    quiet_order.push_back(number);
    while (quiet_order.size() > kMaxQuiet) {
      quiet.erase(quiet_order.front());
      quiet_order.pop_front();
    }
  }

  bool page_wanted(const integrations::Delivery& d) {
    if (not_owner()) return false;  // the owner's successor sends what is pending
    if (d.notification.kind != engine::NotificationKind::page) return true;
    std::lock_guard lock(quiet_mutex);
    return !quiet.contains(d.notification.incident);
  }

  // High availability (enable_cluster, docs/architecture.md "High availability"):
  // the engine runs only while `owner`; the lease keeper's changes and the
  // inbox rows come to the loop thread as posts.
  bool ha = false;
  ClusterOptions cluster;
  std::atomic<bool> owner{false};
  std::atomic<std::int64_t> epoch{0};       // ours while owner (loop thread writes)
  std::atomic<std::int64_t> epoch_seen{0};  // the lease's as last seen
  std::atomic<std::uint64_t> generation{0};  // ownership stints; loop thread writes
  std::atomic<std::uint64_t> takeovers{0};
  std::atomic<std::uint64_t> key_seq{0};
  std::unique_ptr<storage::LeaseKeeper> lease;
  std::unique_ptr<storage::InboxListener> inbox;

  bool not_owner() const { return ha && !owner; }

  static Error not_owner_error() {
    return Error{ErrorKind::transient,
                 "this instance does not run the engine now (another one does); nothing was changed, retry",
                 std::chrono::seconds(1)};
  }

  // Time to first page: notification id -> when the alert that caused it arrived.
  std::mutex first_page_mutex;
  std::unordered_map<std::int64_t, std::chrono::steady_clock::time_point> first_page;

  Impl(const engine::Clock& clk, Queries& q, Metrics& m) : clock(clk), queries(q), metrics(m) {}
  ~Impl() {
    // Normally stopped by stop_loop(); this only covers a start() without a stop.
    if (lease) lease->stop(false);
    if (inbox) inbox->stop();
    work.reset();
    loop.stop();
    if (loop_thread.joinable()) loop_thread.join();
  }

  engine::DirectoryPtr current_directory() const {
    std::lock_guard lock(directory_mutex);
    return directory;
  }

  template <typename F>
  void post(F&& f) {
    net::post(loop, std::forward<F>(f));
  }

  /// Runs `f` on the loop thread and waits for it (before start: inline).
  template <typename F>
  auto run_sync(F&& f) -> decltype(f()) {
    if (!started || std::this_thread::get_id() == loop_thread.get_id()) return f();
    std::packaged_task<decltype(f())()> task(std::forward<F>(f));
    auto future = task.get_future();
    post([&task] { task(); });
    return future.get();
  }

  /// The person as channels need them (a learned Teams user id).
  engine::Person for_channels(const engine::Person& p) const { return people ? people->with_teams_id(p) : p; }

  std::vector<integrations::Delivery> deliveries_for(const engine::Effects& fx) {
    return integrations::deliveries_for(*engine, fx, [this](const engine::Person& p) { return for_channels(p); });
  }

  /// Persists `fx` (and outbox updates) through the group-commit writer, then
  /// sends its notifications. Loop thread only.
  /// `urgency` soon: nobody waits for it and it pages nobody (a delivery's
  /// outcome), so it may ride along with the next commit (storage::Urgency).
  void commit(engine::Effects fx, std::vector<storage::OutboxUpdate> updates, std::function<void(Result<void>)> after,
              std::optional<std::chrono::steady_clock::time_point> received = {},
              storage::Urgency urgency = storage::Urgency::now, std::vector<std::int64_t> consumed_inbox = {}) {
    if (!fx.notifications.empty()) urgency = storage::Urgency::now;  // pages go out after their commit
    auto deliveries = deliveries_for(fx);
    if (received) {
      std::lock_guard lock(first_page_mutex);
      for (const auto& d : deliveries)
        if (d.notification.kind == engine::NotificationKind::page && first_page.size() < 1'000'000)
          first_page.emplace(d.notification.id, *received);
    }
    for (const auto& inc : fx.incidents)
      if (inc.state == engine::IncidentState::resolved) metrics.resolved.fetch_add(1);
    // Acknowledgements, for baton_time_to_acknowledge_seconds once committed.
    std::vector<std::tuple<std::string, std::string, double>> acks;
    for (const auto& e : fx.timeline)
      if (e.kind == engine::TimelineKind::acknowledged)
        for (const auto& inc : fx.incidents)
          if (inc.number == e.incident)
            acks.emplace_back(inc.service_id, engine::to_string(e.channel),
                              std::chrono::duration<double>(e.at - inc.created_at).count());
    ++pending_commits;
    // Timeline rows that no page update announces (state changes are the
    // notifiers' own lines) go to the sink, e.g. the incident's Slack channel.
    std::vector<engine::TimelineEvent> lines;
    if (lines_sink)
      for (const auto& e : fx.timeline)
        if (e.kind != engine::TimelineKind::acknowledged && e.kind != engine::TimelineKind::resolved &&
            e.kind != engine::TimelineKind::escalated && e.kind != engine::TimelineKind::reassigned &&
            e.kind != engine::TimelineKind::triggered)
          lines.push_back(e);
    std::vector<std::pair<std::int64_t, bool>> states;  // incident, no longer triggered
    for (const auto& inc : fx.incidents) states.emplace_back(inc.number, inc.state != engine::IncidentState::triggered);
    const bool pages = received && std::any_of(deliveries.begin(), deliveries.end(), [](const auto& d) {
      return d.notification.kind == engine::NotificationKind::page;
    });
    auto on_done = [this, deliveries = std::move(deliveries), after = std::move(after), lines = std::move(lines),
                    states = std::move(states), since = pages ? received : std::nullopt,
                    acks = std::move(acks)](Result<void> r) mutable {
      if (r && since)
        metrics.time_to_commit.observe(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - *since).count());
      if (r) {
        for (const auto& [service, channel, seconds] : acks) metrics.observe_time_to_acknowledge(service, channel, seconds);
        for (const auto& [number, is_quiet] : states) set_quiet(number, is_quiet);
        for (auto& d : deliveries) dispatcher->submit(std::move(d));
        if (!lines.empty()) lines_sink(std::move(lines));
      } else {
        spdlog::error("commit failed: {} (the change was not acknowledged to its sender)", r.error().message);
      }
      --pending_commits;
      if (after) after(r);
    };
    if (!consumed_inbox.empty()) {
      writer->submit_consumed(std::move(fx), std::move(consumed_inbox), std::move(on_done));
      if (!updates.empty()) writer->submit_updates(std::move(updates), {});
    } else if (updates.empty()) {
      writer->submit(std::move(fx), std::move(on_done), urgency);
    } else if (fx.empty()) {
      writer->submit_updates(std::move(updates), std::move(on_done), urgency);
    } else {
      writer->submit(std::move(fx), {}, urgency);
      writer->submit_updates(std::move(updates), std::move(on_done), urgency);
    }
    rearm();
  }

  void rearm() {
    auto next = engine->next_wakeup();
    if (!next) return;
    if (armed_for && *armed_for <= *next) return;
    armed_for = next;
    auto wait = *next - clock.now();
    if (wait < engine::Millis{0}) wait = engine::Millis{0};
    // A clock that jumps by itself (a test's) is watched; the cap bounds how
    // late a step of the wall clock (NTP) is noticed, at one wake-up a minute.
    if (wait > engine::Millis{60'000}) wait = engine::Millis{60'000};
    timer.expires_after(wait);
    timer.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      armed_for.reset();
      fire();
    });
  }

  void fire() {
    if (degraded) return;  // timers fire again once the engine is rebuilt
    if (not_owner()) return;
    auto fx = engine->tick(clock.now());
    if (!fx.empty()) {
      commit(std::move(fx), {}, {});
    } else {
      rearm();
    }
  }

  void on_outcome(const integrations::DispatchOutcome& o) {
    using Kind = integrations::DispatchOutcome::Kind;
    if (not_owner()) return;  // not ours to record: the owner's successor resends what is pending
    const char* result = o.kind == Kind::delivered   ? "delivered"
                         : o.kind == Kind::retry     ? "retry"
                         : o.kind == Kind::cancelled ? "cancelled"
                                                     : "failed";
    metrics.count_notification(engine::to_string(o.notification.method), result);
    if (o.kind == Kind::delivered && o.notification.kind == engine::NotificationKind::page) {
      std::lock_guard lock(first_page_mutex);
      if (auto it = first_page.find(o.notification.id); it != first_page.end()) {
        metrics.time_to_first_page.observe(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - it->second).count());
        first_page.erase(it);
      }
    } else if (o.kind == Kind::failed || o.kind == Kind::cancelled) {
      std::lock_guard lock(first_page_mutex);
      first_page.erase(o.notification.id);
    }
    storage::OutboxUpdate update;
    update.id = o.notification.id;
    update.state = o.kind == Kind::delivered ? storage::OutboxState::delivered
                   : o.kind == Kind::retry   ? storage::OutboxState::pending
                                             : storage::OutboxState::failed;
    update.attempts = o.attempts;
    update.next_attempt = o.next_attempt;
    update.error = o.detail;
    update.at = clock.now();
    // A page's failed attempt goes to the engine at once, so the next contact
    // method starts while this one retries; an update's retries are bookkeeping.
    if (o.kind == Kind::cancelled || (o.kind == Kind::retry && o.notification.kind != engine::NotificationKind::page)) {
      writer->submit_updates({update}, {}, storage::Urgency::soon);
      return;
    }
    post([this, o, update] { apply_outcome(o, update); });
  }

  /// Loop thread. The engine's part of a final delivery outcome; kept for
  /// later when the change cannot be committed now.
  void apply_outcome(integrations::DispatchOutcome o, storage::OutboxUpdate update) {
    using Kind = integrations::DispatchOutcome::Kind;
    if (degraded) return defer([this, o, update] { apply_outcome(o, update); });
    auto fx = engine->delivery_result(o.notification,
                                      o.kind == Kind::delivered ? engine::DeliveryStatus::delivered
                                      : o.kind == Kind::retry   ? engine::DeliveryStatus::retrying
                                                                : engine::DeliveryStatus::failed,
                                      o.detail, clock.now());
    commit(
        std::move(fx), {update},
        [this, o, update](Result<void> r) {
          if (!r) post([this, o, update] { defer([this, o, update] { apply_outcome(o, update); }); });
        },
        {}, storage::Urgency::soon);
  }

  /// Loop thread. Holds an internal event (a delivery outcome, a channel's
  /// note) until the engine is rebuilt; bounded.
  void defer(std::function<void()> fn) {
    if (deferred.size() >= kMaxDeferred) {
      if (deferred_dropped++ % 1000 == 0)
        spdlog::error("{} internal events dropped while the database fails writes", deferred_dropped);
      return;
    }
    deferred.push_back(std::move(fn));
  }
  static constexpr std::size_t kMaxDeferred = 100'000;

  /// Writer thread: a commit failed and the writer refuses everything after it.
  void on_commit_failure(const Error& e) {
    degraded = true;
    if (ha) {
      const auto stint = generation.load();
      return post([this, e, stint] { cluster_commit_failed(e, stint); });
    }
    post([this, e] { begin_recovery(e); });
  }

  // ---- high availability (loop thread) ----

  /// A commit of this owner failed (fenced, or the database failed): the
  /// engine holds changes the database may not. Instead of probing, give up
  /// the engine and take the lease again under a new epoch, which reloads the
  /// state from the database (as a takeover does).
  void cluster_commit_failed(const Error& e, std::uint64_t stint);

  void on_lease(const storage::LeaseStatus& s);

  /// Restores every open incident, arms every timer (overdue ones fire now),
  /// resumes the outbox and starts consuming the inbox, as at start-up.
  void become_owner(std::int64_t new_epoch);

  /// Stops running the engine: no timers, no commits, no outcomes recorded;
  /// the in-memory state is dropped (the next owner loads it from the database).
  void lose_owner();

  /// Inbox rows (alerts and commands another instance took), applied through
  /// the engine; each row is deleted in the transaction of its effects.
  std::function<void(const std::vector<std::int64_t>&)> takeover_hook;  // set before start()
  void apply_inbox(const storage::InboxRow& row, std::uint64_t stint);

  /// A non-owner's alert: one inbox row, committed before `done` hears of it,
  /// or none for a repeat of an open incident's key (InboxEntry::probe_*).
  void queue_alert(engine::Alert alert, std::function<void(Result<IngestOutcome>)> done);

  void queue(const char* kind, std::string payload, std::function<void(Result<void>)> done);
  void queue_row(storage::InboxEntry row, std::function<void(Result<void>)> done);
  /// Non-owner: the open incidents `person` owns, as committed (this
  /// instance's engine is idle). Reads the database on the caller's thread.
  std::vector<engine::Incident> committed_open_for(const std::string& person) {
    std::vector<engine::Incident> out;
    for (auto state : {engine::IncidentState::triggered, engine::IncidentState::acknowledged}) {
      storage::IncidentQuery q;
      q.state = state;
      q.limit = 10000;
      auto found = queries.list_incidents(q);
      if (!found) {
        spdlog::warn("open incidents of {} could not be read: {}", person, found.error().message);
        continue;
      }
      for (auto& inc : *found)
        if (inc.owner == person) out.push_back(std::move(inc));
    }
    return out;
  }
  /// Non-owner: an override was stored (or deleted) here; the owner's engine
  /// learns of it through the inbox. Blocks on the database, as overrides do.
  Result<void> tell_owner_about_override(const char* what, const engine::Override& o);
  /// Owner: what an inbox command asks of the engine.
  Result<engine::Effects> apply_command(const storage::InboxCommand& c, engine::TimePoint now);

  /// Loop thread, once the engine was (re)built from the database: the
  /// restart rule for heartbeats, new heartbeats, holds whose maintenance ended
  /// (Engine::resume), committed like any change.
  void resume_engine() {
    auto fx = engine->resume(clock.now());
    if (!fx.empty()) commit(std::move(fx), {}, {});
  }

  /// One-off maintenance windows as the engine knows them (owner), or as
  /// stored and not over at `now` (an instance that does not run the engine).
  /// Blocks on the database on a non-owner (the caller's thread).
  Result<std::vector<engine::MaintenanceWindow>> current_windows(engine::TimePoint now) {
    if (not_owner()) {
      Result<std::vector<engine::MaintenanceWindow>> stored = std::vector<engine::MaintenanceWindow>{};
      writer->with_store([&](storage::Store& s) { stored = s.list_maintenance(now); });
      return stored;
    }
    return run_sync([this] {
      std::vector<engine::MaintenanceWindow> out;
      for (const auto& [id, w] : engine->maintenance_windows()) out.push_back(w);
      return out;
    });
  }

  /// Hands the undelivered notifications to the dispatcher, fires overdue
  /// timers and arms the next (start-up and takeover).
  void resume() {
    resume_engine();
    for (auto& e : resume_outbox) {
      integrations::Delivery del;
      del.notification = e.notification;
      del.attempts = e.attempts;
      const engine::Incident* inc = engine->find(e.notification.incident);
      for (const auto& c : resume_closed)
        if (!inc && c.number == e.notification.incident) inc = &c;
      if (!inc) continue;
      if (inc->state != engine::IncidentState::triggered) set_quiet(inc->number, true);
      del.incident = *inc;
      const auto& dir = engine->directory();
      if (const auto* p = dir->person(e.notification.person)) del.person = for_channels(*p);
      if (const auto* s = dir->service(inc->service_id)) del.service_name = s->name;
      dispatcher->submit(std::move(del), e.next_attempt);
    }
    resume_outbox.clear();
    resume_closed.clear();
    fire();
  }

  /// Loop thread.
  void begin_recovery(const Error& e);

  void schedule_probe(engine::Millis delay);

  /// Loop thread. Probes the disk; once it takes a write, rebuilds the engine
  /// from the committed state (the failed changes were never answered 2xx, so
  /// their senders retry), lifts the barrier and replays deferred events.
  void try_recover();

  static Error refused_while_failing() {
    return Error{ErrorKind::transient, "the database is failing writes; nothing was changed, retry later",
                 std::chrono::seconds(1)};
  }
};

}  // namespace baton::bot
