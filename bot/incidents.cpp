// The one writer of incident state (see incidents.hpp). Threads: the engine
// loop (`baton-engine`: every engine call, its timer, recovery after a failed
// commit); commit callbacks on the group-commit writer (`baton-writer`);
// delivery outcomes from the dispatcher on `baton-net`.
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

namespace {
constexpr const char* kQueuedMarker = "\x01queued";
// The last line of defence for text from outside: everything the engine keeps
// and storage serves as JSON must be UTF-8 (transports repair their own input;
// this catches any that did not).
void repair_text(engine::Alert& a) {
  for (std::string* s : {&a.integration_key, &a.dedup_key, &a.summary, &a.source_name, &a.client, &a.client_url})
    integrations::repair_utf8_in_place(*s);
  for (auto& g : a.group)
    for (std::string* s : {&g.fingerprint, &g.starts_at, &g.summary}) integrations::repair_utf8_in_place(*s);
  if (integrations::repair_utf8_in_place(a.details_json)) a.details_json = "{}";  // never stored half-valid
}
}  // namespace

bool is_queued(const engine::Incident& incident) { return incident.dedup_key == kQueuedMarker; }

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
    auto on_done = [this, deliveries = std::move(deliveries), after = std::move(after), lines = std::move(lines),
                    states = std::move(states)](Result<void> r) mutable {
      if (r) {
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
  void cluster_commit_failed(const Error& e, std::uint64_t stint) {
    if (!owner || stint != generation) {
      degraded = false;
      return;
    }
    spdlog::error("a commit failed ({}); this instance stops running the engine and takes the lease again under a "
                  "new epoch (reloading from the database)",
                  e.message);
    lose_owner();
    if (lease) lease->renew_epoch();
  }

  void on_lease(const storage::LeaseStatus& s) {
    if (stopped) return;
    epoch_seen = s.epoch;
    if (s.owner && (!owner || s.epoch != epoch)) return become_owner(s.epoch);
    if (!s.owner && owner) lose_owner();
  }

  /// Restores every open incident, arms every timer (overdue ones fire now),
  /// resumes the outbox and starts consuming the inbox, as at start-up.
  void become_owner(std::int64_t new_epoch) {
    if (owner) lose_owner();
    writer->flush();  // the previous stint's commits are over
    Result<storage::LoadedState> state = fail(ErrorKind::transient, "not loaded");
    writer->with_store([&](storage::Store& s) {
      s.set_fence(storage::Fence{cluster.instance_id, new_epoch});
      state = s.load();
    });
    if (!state) {
      spdlog::error("cluster: cannot load the state as the new owner ({}); trying again", state.error().message);
      if (lease) lease->renew_epoch();
      return;
    }
    writer->reset_failure();
    auto fresh = std::make_unique<engine::Engine>(current_directory(), state->next_incident, state->next_notification);
    fresh->set_overrides(std::move(state->overrides));
    for (auto& inc : state->open_incidents) fresh->restore(std::move(inc));
    engine = std::move(fresh);
    resume_outbox = std::move(state->pending_outbox);
    resume_closed.clear();
    for (const auto& e : resume_outbox) {
      if (engine->find(e.notification.incident)) continue;
      auto closed = queries.get_incident(e.notification.incident);
      if (closed && *closed) resume_closed.push_back(**closed);
    }
    epoch = new_epoch;
    ++generation;
    ++takeovers;
    deferred.clear();
    recovering = false;
    degraded = false;
    owner = true;
    spdlog::info("cluster: {} runs the engine (epoch {}): {} open incidents, {} undelivered notifications",
                 cluster.instance_id, new_epoch, engine->open_count(), resume_outbox.size());
    resume();
    if (inbox) inbox->activate(generation);
  }

  /// Stops running the engine: no timers, no commits, no outcomes recorded;
  /// the in-memory state is dropped (the next owner loads it from the database).
  void lose_owner() {
    owner = false;
    ++generation;
    if (inbox) inbox->deactivate();
    timer.cancel();
    armed_for.reset();
    engine = std::make_unique<engine::Engine>(current_directory(), 1, 1);
    deferred.clear();
    resume_outbox.clear();
    resume_closed.clear();
    degraded = false;
    spdlog::warn("cluster: {} no longer runs the engine", cluster.instance_id);
  }

  /// Inbox rows (alerts and commands another instance took), applied through
  /// the engine; each row is deleted in the transaction of its effects.
  void apply_inbox(const storage::InboxRow& row, std::uint64_t stint) {
    if (!owner || stint != generation || degraded) return;  // a later stint hands them over again
    const auto now = clock.now();
    Result<engine::Effects> fx = engine::Effects{};
    if (row.kind == "alert") {
      auto alert = storage::decode_inbox_alert(row.payload);
      if (!alert) {
        fx = tl::unexpected(alert.error());
      } else {
        repair_text(*alert);
        fx = engine->ingest(*alert, now);
      }
    } else {
      auto c = storage::decode_inbox_command(row.payload);
      if (!c) fx = tl::unexpected(c.error());
      else if (c->command == "acknowledge") fx = engine->acknowledge(c->incident, c->actor, now);
      else if (c->command == "resolve") fx = engine->resolve(c->incident, c->actor, now);
      else fx = engine->escalate(c->incident, c->actor, now);
    }
    if (!fx) {
      // Its sender was answered when it was queued; what it asked for does not
      // apply (e.g. an unknown incident). The row is consumed all the same.
      spdlog::warn("inbox row {} ({}) not applied: {}", row.id, row.kind, fx.error().message);
      fx = engine::Effects{};
    }
    commit(std::move(*fx), {}, {}, std::chrono::steady_clock::now(), storage::Urgency::now, {row.id});
  }

  /// A non-owner's alert: one inbox row, committed before `done` hears of it.
  void queue_alert(engine::Alert alert, std::function<void(Result<IngestOutcome>)> done) {
    if (alert.dedup_key.empty() && alert.action == engine::AlertAction::trigger)
      alert.dedup_key = "baton-" + cluster.instance_id + "-" + std::to_string(engine::to_ms(clock.now())) + "-" +
                        std::to_string(++key_seq);
    IngestOutcome outcome{alert.dedup_key, {}};
    queue("alert", storage::encode_inbox_alert(alert), [done = std::move(done), outcome](Result<void> r) {
      if (!r) return done(tl::unexpected(r.error()));
      done(outcome);
    });
  }

  void queue(const char* kind, std::string payload, std::function<void(Result<void>)> done) {
    writer->submit_write(
        [kind, payload = std::move(payload), origin = cluster.instance_id](storage::Store& s) -> Result<void> {
          auto id = s.add_inbox(kind, payload, origin);
          if (!id) {
            auto e = id.error();
            if (e.kind == ErrorKind::transient) e.retry_after = std::chrono::seconds(1);
            return tl::unexpected(std::move(e));
          }
          return {};
        },
        std::move(done));
  }

  /// Hands the undelivered notifications to the dispatcher, fires overdue
  /// timers and arms the next (start-up and takeover).
  void resume() {
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
  void begin_recovery(const Error& e) {
    if (recovering) return;
    recovering = true;
    spdlog::error("a commit failed ({}); refusing changes (503) and answering /readyz 503 until the database "
                  "takes writes again",
                  e.message);
    timer.cancel();
    armed_for.reset();
    probe_backoff = engine::Millis{100};
    last_probe_log = std::chrono::steady_clock::now();
    schedule_probe(engine::Millis{0});
  }

  void schedule_probe(engine::Millis delay) {
    recovery_timer.expires_after(delay);
    recovery_timer.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) try_recover();
    });
  }

  /// Loop thread. Probes the disk; once it takes a write, rebuilds the engine
  /// from the committed state (the failed changes were never answered 2xx, so
  /// their senders retry), lifts the barrier and replays deferred events.
  void try_recover() {
    writer->flush();  // everything submitted before the failure has failed by now
    auto probe = writer->probe(clock.now());
    Result<storage::LoadedState> state = probe ? Result<storage::LoadedState>{} : tl::unexpected(probe.error());
    if (probe) writer->with_store([&](storage::Store& s) { state = s.load(); });
    if (!state) {
      const auto now = std::chrono::steady_clock::now();
      if (now - last_probe_log >= std::chrono::seconds(30)) {
        spdlog::error("the database still fails writes: {}", state.error().message);
        last_probe_log = now;
      }
      probe_backoff = std::min(probe_backoff * 2, engine::Millis{2000});
      return schedule_probe(probe_backoff);
    }
    auto fresh = std::make_unique<engine::Engine>(engine->directory(), state->next_incident, state->next_notification);
    fresh->set_overrides(std::move(state->overrides));
    for (auto& inc : state->open_incidents) fresh->restore(std::move(inc));
    engine = std::move(fresh);
    writer->reset_failure();
    recovering = false;
    degraded = false;
    ++recoveries;
    spdlog::warn("the database takes writes again; state rebuilt from it ({} open incidents), taking changes",
                 engine->open_count());
    auto held = std::move(deferred);
    deferred.clear();
    for (auto& fn : held) fn();
    fire();
  }

  static Error refused_while_failing() {
    return Error{ErrorKind::transient, "the database is failing writes; nothing was changed, retry later",
                 std::chrono::seconds(1)};
  }
};

Incidents::Incidents(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Incidents::~Incidents() = default;

std::unique_ptr<Incidents> Incidents::create(const Config& config, const engine::Clock& clock,
                                             std::unique_ptr<storage::Store> store, storage::LoadedState state,
                                             Queries& queries, Metrics& metrics) {
  auto impl = std::make_unique<Impl>(clock, queries, metrics);
  impl->directory = config.directory;
  impl->engine = std::make_unique<engine::Engine>(config.directory, state.next_incident, state.next_notification);
  impl->engine->set_overrides(std::move(state.overrides));
  for (auto& inc : state.open_incidents) impl->engine->restore(std::move(inc));
  impl->resume_outbox = std::move(state.pending_outbox);
  for (const auto& e : impl->resume_outbox) {
    if (impl->engine->find(e.notification.incident)) continue;
    auto closed = queries.get_incident(e.notification.incident);
    if (closed && *closed) impl->resume_closed.push_back(**closed);
  }
  {
    auto* raw = impl.get();
    impl->writer = std::make_unique<storage::GroupCommitWriter>(
        std::move(store), 4096, [raw](const Error& e) { raw->on_commit_failure(e); });
  }
  spdlog::info("restored {} open incidents and {} undelivered notifications from {}", impl->engine->open_count(),
               impl->resume_outbox.size(), storage::redact_uri(config.storage.path));
  return std::unique_ptr<Incidents>(new Incidents(std::move(impl)));
}

storage::GroupCommitWriter& Incidents::writer() { return *impl_->writer; }

void Incidents::connect_channels(boost::asio::io_context& net_loop,
                                 std::vector<std::shared_ptr<integrations::Notifier>> notifiers,
                                 const DispatchConfig& dispatch, std::shared_ptr<const StoredChatRefs> people) {
  auto* raw = impl_.get();
  raw->people = std::move(people);
  integrations::Dispatcher::Options dopt;
  dopt.max_attempts = dispatch.max_attempts;
  dopt.base_backoff = dispatch.base_backoff;
  dopt.max_in_flight_per_channel = static_cast<std::size_t>(dispatch.max_in_flight_per_channel);
  dopt.still_wanted = [raw](const integrations::Delivery& d) { return raw->page_wanted(d); };
  raw->dispatcher = std::make_unique<integrations::Dispatcher>(
      net_loop, std::move(notifiers), raw->clock, dopt, [raw](const integrations::DispatchOutcome& o) { raw->on_outcome(o); });
}

void Incidents::on_committed_lines(std::function<void(std::vector<engine::TimelineEvent>)> sink) {
  impl_->lines_sink = std::move(sink);
}

void Incidents::start() {
  auto& d = *impl_;
  d.work.emplace(d.loop.get_executor());
  d.clock_watch = d.clock.watch([&d] {
    d.post([&d] {
      d.timer.cancel();
      d.armed_for.reset();
      d.fire();
    });
  });
  d.loop_thread = std::thread([&d] {
    pthread_setname_np(pthread_self(), "baton-engine");
    d.loop.run();
  });
  d.started = true;
  if (d.ha) {
    // The engine starts when the lease is ours (become_owner).
    d.inbox->start();
    d.lease->start();
    return;
  }
  // Resume undelivered notifications, then fire overdue timers and arm the next.
  d.post([&d] { d.resume(); });
}

void Incidents::enable_cluster(ClusterOptions options) {
  auto& d = *impl_;
  d.ha = true;
  d.cluster = std::move(options);
  storage::LeaseOptions lo;
  lo.uri = d.cluster.uri;
  lo.instance_id = d.cluster.instance_id;
  lo.address = d.cluster.address;
  lo.ttl = d.cluster.lease_ttl;
  lo.renew_every = d.cluster.lease_renew;
  d.lease = std::make_unique<storage::LeaseKeeper>(
      lo, [&d](const storage::LeaseStatus& s) { d.post([&d, s] { d.on_lease(s); }); });
  d.inbox = std::make_unique<storage::InboxListener>(
      d.cluster.uri, [&d](std::vector<storage::InboxRow> rows, std::uint64_t stint) {
        d.post([&d, rows = std::move(rows), stint] {
          for (const auto& row : rows) d.apply_inbox(row, stint);
        });
      });
}

ClusterStatus Incidents::cluster_status() const {
  const auto& d = *impl_;
  ClusterStatus st;
  if (!d.ha) return st;
  st.enabled = true;
  st.instance_id = d.cluster.instance_id;
  st.owner = d.owner;
  st.epoch = d.owner ? d.epoch.load() : d.epoch_seen.load();
  st.takeovers = d.takeovers;
  st.inbox_lag_seconds = d.inbox ? d.inbox->lag_seconds() : 0;
  st.database_reachable = d.lease ? d.lease->status().reachable : true;
  return st;
}

void Incidents::abandon_lease_for_test() {
  auto& d = *impl_;
  if (d.lease) d.lease->stop(false);
  if (d.inbox) d.inbox->stop();
}

bool Incidents::begin_stop() {
  auto& d = *impl_;
  if (d.stopped.exchange(true)) return false;
  d.clock.unwatch(d.clock_watch);
  return true;
}

void Incidents::finish(const std::function<void()>& cancel_sends) {
  auto& d = *impl_;
  if (d.started) {
    // Everything the loop accepted is committed before we go.
    d.run_sync([&d] {
      d.timer.cancel();
      d.recovery_timer.cancel();
      return 0;
    });
    d.writer->flush();
    d.run_sync([] { return 0; });  // outcomes posted by the last commits
    d.writer->flush();
  }
  if (d.dispatcher) d.dispatcher->stop();
  // Sends still in flight after the dispatcher's grace are cancelled: they stay
  // pending in the outbox and go out after the restart.
  if (cancel_sends) cancel_sends();
  if (d.dispatcher) d.dispatcher->wait_idle();
  if (d.started) {
    // Sends that were in flight posted their outcomes to the loop: commit them,
    // or a page delivered just now would be sent again after the restart.
    d.run_sync([] { return 0; });
    d.writer->flush();
  }
}

void Incidents::stop_loop() {
  auto& d = *impl_;
  // Everything was committed (finish): hand the lease over now rather than
  // after its TTL.
  if (d.lease) d.lease->stop(true);
  if (d.inbox) d.inbox->stop();
  if (d.started) {
    d.work.reset();
    d.loop.stop();
    if (d.loop_thread.joinable()) d.loop_thread.join();
  }
  if (d.writer) d.writer->flush();
}

void Incidents::set_directory(engine::DirectoryPtr directory) {
  {
    std::lock_guard lock(impl_->directory_mutex);
    impl_->directory = directory;
  }
  impl_->run_sync([this, dir = std::move(directory)] {
    impl_->engine->set_directory(dir);
    return 0;
  });
}

void Incidents::ingest(engine::Alert alert, std::function<void(Result<IngestOutcome>)> done) {
  auto received = std::chrono::steady_clock::now();
  impl_->metrics.count_event(engine::to_string(alert.source));
  if (impl_->degraded) return done(tl::unexpected(Impl::refused_while_failing()));
  repair_text(alert);
  bool first;
  {
    std::lock_guard lock(impl_->intake_mutex);
    first = impl_->intake.empty();
    impl_->intake.push_back({std::move(alert), std::move(done), received});
  }
  if (!first) return;  // the turn already posted takes this one too
  impl_->post([this] {
    std::vector<Impl::QueuedAlert> batch;
    {
      std::lock_guard lock(impl_->intake_mutex);
      batch.swap(impl_->intake);
    }
    for (auto& q : batch) ingest_now(std::move(q.alert), std::move(q.done), q.received);
  });
}

void Incidents::ingest_now(engine::Alert alert, std::function<void(Result<IngestOutcome>)> done,
                           std::chrono::steady_clock::time_point received) {
  {
    auto& d = *impl_;
    if (d.degraded) return done(tl::unexpected(Impl::refused_while_failing()));
    if (d.not_owner()) return d.queue_alert(std::move(alert), std::move(done));
    if (alert.dedup_key.empty() && alert.action == engine::AlertAction::trigger) {
      // PagerDuty generates a key when the sender gives none; ours is unique per event.
      alert.dedup_key = "baton-" + std::to_string(engine::to_ms(d.clock.now())) + "-" +
                        std::to_string(d.engine->next_incident_number());
    }
    auto fx = d.engine->ingest(alert, d.clock.now());
    if (!fx) return done(tl::unexpected(fx.error()));
    IngestOutcome outcome{alert.dedup_key, {}};
    if (!fx->touched.empty()) outcome.incident = fx->touched.front();
    if (fx->empty()) {
      // Nothing new to write. If an earlier change is still on its way to the
      // disk, answer after it so a 2xx never precedes durability.
      if (d.pending_commits.load() == 0) return done(outcome);
      return d.commit(std::move(*fx), {}, [done = std::move(done), outcome](Result<void> r) {
        if (!r) return done(tl::unexpected(r.error()));
        done(outcome);
      });
    }
    d.commit(std::move(*fx), {},
             [done = std::move(done), outcome](Result<void> r) {
               if (!r) return done(tl::unexpected(r.error()));
               done(outcome);
             },
             received);
  }
}

void Incidents::command(std::int64_t number, Command command, engine::Actor actor,
                        std::function<void(Result<engine::Incident>)> done) {
  if (impl_->degraded) return done(tl::unexpected(Impl::refused_while_failing()));
  impl_->post([this, number, command, actor = std::move(actor), done = std::move(done)]() mutable {
    auto& d = *impl_;
    if (d.degraded) return done(tl::unexpected(Impl::refused_while_failing()));
    if (d.not_owner()) {
      const char* name = command == Command::acknowledge ? "acknowledge"
                         : command == Command::resolve   ? "resolve"
                                                         : "escalate";
      return d.queue("command", storage::encode_inbox_command(storage::InboxCommand{number, name, actor}),
                     [done = std::move(done), number](Result<void> r) {
                       if (!r) return done(tl::unexpected(r.error()));
                       engine::Incident queued;
                       queued.number = number;
                       queued.dedup_key = kQueuedMarker;
                       done(queued);
                     });
    }
    const auto now = d.clock.now();
    Result<engine::Effects> fx = command == Command::acknowledge ? d.engine->acknowledge(number, actor, now)
                                 : command == Command::resolve   ? d.engine->resolve(number, actor, now)
                                                                 : d.engine->escalate(number, actor, now);
    if (!fx) {
      if (fx.error().kind == ErrorKind::not_found) {
        auto stored = d.queries.get_incident(number);
        if (stored && *stored && (**stored).state == engine::IncidentState::resolved)
          return done(fail(ErrorKind::conflict, "incident #" + std::to_string(number) + " is already resolved"));
        return done(fail(ErrorKind::not_found, "no incident #" + std::to_string(number)));
      }
      return done(tl::unexpected(fx.error()));
    }
    engine::Incident snapshot = fx->incidents.empty() ? engine::Incident{} : fx->incidents.back();
    d.commit(std::move(*fx), {}, [done = std::move(done), snapshot = std::move(snapshot)](Result<void> r) {
      if (!r) return done(tl::unexpected(r.error()));
      done(snapshot);
    });
  });
}

namespace {
// Runs an engine call that returns Effects on the loop, commits it, and hands
// back the snapshot of the incident it touched.
template <typename Impl, typename Call>
void run_command(Impl& d, Call call, std::function<void(Result<engine::Incident>)> done) {
  if (d.degraded) return done(tl::unexpected(Impl::refused_while_failing()));
  d.post([&d, call = std::move(call), done = std::move(done)]() mutable {
    if (d.degraded) return done(tl::unexpected(Impl::refused_while_failing()));
    if (d.not_owner()) return done(tl::unexpected(Impl::not_owner_error()));
    Result<engine::Effects> fx = call(*d.engine, d.clock.now());
    if (!fx) return done(tl::unexpected(fx.error()));
    engine::Incident snapshot = fx->incidents.empty() ? engine::Incident{} : fx->incidents.back();
    d.commit(std::move(*fx), {}, [done = std::move(done), snapshot = std::move(snapshot)](Result<void> r) {
      if (!r) return done(tl::unexpected(r.error()));
      done(snapshot);
    });
  });
}
}  // namespace

void Incidents::create(std::string service, std::string summary, engine::Severity severity, engine::Actor actor,
                       std::optional<std::string> assignee, std::function<void(Result<engine::Incident>)> done) {
  integrations::repair_utf8_in_place(summary);
  run_command(
      *impl_,
      [=](engine::Engine& e, engine::TimePoint now) { return e.create(service, summary, severity, actor, now, assignee); },
      std::move(done));
}

void Incidents::reassign(std::int64_t number, std::string person, engine::Actor actor,
                         std::function<void(Result<engine::Incident>)> done) {
  run_command(
      *impl_, [=](engine::Engine& e, engine::TimePoint now) { return e.reassign(number, person, actor, now); },
      std::move(done));
}

void Incidents::note(std::int64_t number, std::string message, engine::Actor actor) {
  integrations::repair_utf8_in_place(message);
  integrations::repair_utf8_in_place(actor.id);
  impl_->post([this, number, message = std::move(message), actor = std::move(actor)]() mutable {
    auto& d = *impl_;
    if (d.not_owner()) return spdlog::warn("note on #{} dropped: this instance does not run the engine", number);
    if (d.degraded) {
      return d.defer([this, number, message = std::move(message), actor = std::move(actor)]() mutable {
        note(number, std::move(message), std::move(actor));
      });
    }
    engine::Effects fx;
    fx.timeline.push_back(engine::TimelineEvent{number, d.clock.now(), engine::TimelineKind::note, actor.id,
                                                actor.channel, std::move(message)});
    d.commit(std::move(fx), {}, {});
  });
}

void Incidents::delivery_failed(engine::Notification notification, std::string detail) {
  impl_->metrics.count_notification(engine::to_string(notification.method), "failed_later");
  integrations::repair_utf8_in_place(detail);
  impl_->post([this, notification = std::move(notification), detail = std::move(detail)]() mutable {
    auto& d = *impl_;
    if (d.not_owner())
      return spdlog::warn("failure of notification {} dropped: this instance does not run the engine", notification.id);
    if (d.degraded) {
      return d.defer([this, notification = std::move(notification), detail = std::move(detail)]() mutable {
        delivery_failed(std::move(notification), std::move(detail));
      });
    }
    auto fx = d.engine->delivery_result(notification, engine::DeliveryStatus::failed, detail, d.clock.now());
    d.commit(std::move(fx), {}, {});
  });
}

Result<void> Incidents::consume_token(const std::string& token_id) {
  Result<void> result;
  impl_->writer->with_store([&](storage::Store& s) { result = s.consume_token(token_id, impl_->clock.now()); });
  return result;
}

std::vector<engine::Incident> Incidents::open_for_person(const std::string& person) {
  auto out = impl_->run_sync([this, &person] {
    std::vector<engine::Incident> v;
    for (const auto& [n, inc] : impl_->engine->open_incidents())
      if (inc.owner == person) v.push_back(inc);
    return v;
  });
  std::sort(out.begin(), out.end(), [](const engine::Incident& a, const engine::Incident& b) {
    return std::tie(a.contact.page_started, a.number) > std::tie(b.contact.page_started, b.number);
  });
  return out;
}

std::vector<OnCallEntry> Incidents::on_call(std::optional<std::string> schedule, engine::TimePoint at) {
  auto directory = impl_->current_directory();
  auto overrides = impl_->run_sync([this] { return impl_->engine->overrides(); });
  std::vector<OnCallEntry> out;
  for (const auto& [id, s] : directory->schedules) {
    if (schedule && *schedule != id) continue;
    OnCallEntry e{id, s.name, engine::on_call_at(s, overrides, at).value_or(""), std::nullopt};
    auto next = engine::next_handoffs(s, overrides, at, 1);
    if (!next.empty()) e.until = next.front().start;
    out.push_back(std::move(e));
  }
  return out;
}

Result<engine::Override> Incidents::add_override(engine::Override o) {
  auto& d = *impl_;
  auto directory = d.current_directory();
  if (!directory->schedule(o.schedule_id)) return fail(ErrorKind::not_found, "unknown schedule '" + o.schedule_id + "'");
  if (!directory->person(o.person)) return fail(ErrorKind::not_found, "unknown person '" + o.person + "'");
  if (o.end <= o.start) return fail(ErrorKind::invalid_request, "an override must end after it starts");
  if (d.not_owner()) return tl::unexpected(Impl::not_owner_error());
  Result<std::int64_t> id = 0;
  d.writer->with_store([&](storage::Store& s) { id = s.add_override(o, d.clock.now()); });
  if (!id) return tl::unexpected(id.error());
  o.id = *id;
  d.run_sync([&d, o] {
    auto all = d.engine->overrides();
    all.push_back(o);
    d.engine->set_overrides(std::move(all));
    return 0;
  });
  return o;
}

Result<void> Incidents::remove_override(std::int64_t id) {
  auto& d = *impl_;
  if (d.not_owner()) return tl::unexpected(Impl::not_owner_error());
  Result<void> r;
  d.writer->with_store([&](storage::Store& s) { r = s.remove_override(id); });
  if (!r) return r;
  d.run_sync([&d, id] {
    auto all = d.engine->overrides();
    std::erase_if(all, [id](const engine::Override& o) { return o.id == id; });
    d.engine->set_overrides(std::move(all));
    return 0;
  });
  return {};
}

std::vector<engine::Override> Incidents::overrides() {
  return impl_->run_sync([this] { return impl_->engine->overrides(); });
}

bool Incidents::ready() const {
  const auto& d = *impl_;
  if (!d.started || d.stopped || d.degraded) return false;
  // In a cluster: ready while the database answers the lease keeper.
  return !d.ha || d.lease->status().reachable;
}

bool Incidents::storage_failing() const {
  const auto& d = *impl_;
  return d.degraded || (d.ha && d.started && !d.lease->status().reachable);
}

void Incidents::fill_metrics(RuntimeState& st) {
  auto& d = *impl_;
  auto counts = d.run_sync([&d] {
    std::pair<std::uint64_t, std::uint64_t> c{0, 0};
    for (const auto& [n, inc] : d.engine->open_incidents())
      (inc.state == engine::IncidentState::triggered ? c.first : c.second)++;
    return c;
  });
  auto stats = d.writer->stats();
  st.triggered = counts.first;
  st.acknowledged = counts.second;
  st.commits = stats.commits;
  st.committed_items = stats.items;
  st.failed_items = stats.failed_items;
  st.commit_failures = stats.failures;
  st.storage_failing = d.degraded;
  st.storage_recoveries = d.recoveries;
}

void Incidents::poke() {
  impl_->run_sync([this] {
    impl_->fire();
    return 0;
  });
}

void Incidents::drain() {
  for (int i = 0; i < 3; ++i) {
    impl_->run_sync([] { return 0; });
    impl_->writer->flush();
    // Sends already due go out (their outcomes are drained by the next round).
    if (impl_->dispatcher) impl_->dispatcher->wait_quiet(std::chrono::seconds(10));
  }
  impl_->run_sync([] { return 0; });
  impl_->writer->flush();
}

}  // namespace baton::bot
