// The one writer of incident state (see incidents.hpp). Threads: the engine
// loop (`baton-engine`: every engine call, its timer, recovery after a failed
// commit); commit callbacks on the group-commit writer (`baton-writer`);
// delivery outcomes from the dispatcher on `baton-net`.
#include "bot/incidents_impl.hpp"

namespace baton::bot {

namespace {
constexpr const char* kQueuedMarker = "\x01queued";
}  // namespace

namespace detail {
void repair_text(engine::Alert& a) {
  for (std::string* s : {&a.integration_key, &a.dedup_key, &a.summary, &a.source_name, &a.client, &a.client_url})
    integrations::repair_utf8_in_place(*s);
  for (auto& g : a.group)
    for (std::string* s : {&g.fingerprint, &g.starts_at, &g.summary}) integrations::repair_utf8_in_place(*s);
  if (integrations::repair_utf8_in_place(a.details_json)) a.details_json = "{}";  // never stored half-valid
}
}  // namespace detail

using detail::repair_text;

bool is_queued(const engine::Incident& incident) { return incident.dedup_key == kQueuedMarker; }

static engine::Incident queued_incident(std::int64_t number) {
  engine::Incident queued;
  queued.number = number;
  queued.dedup_key = kQueuedMarker;
  return queued;
}


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
  detail::restore_watch_state(*impl->engine, state);
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

void Incidents::on_takeover(std::function<void(const std::vector<std::int64_t>&)> hook) {
  impl_->takeover_hook = std::move(hook);
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
    auto& d = *impl_;
    d.engine->set_directory(dir);
    if (d.not_owner() || d.degraded) return 0;  // the owner (or the rebuild) syncs heartbeats
    // Heartbeats new in the configuration count from now; changed intervals move deadlines.
    auto fx = d.engine->sync_heartbeats(d.clock.now());
    if (!fx.empty()) d.commit(std::move(fx), {}, {});
    else d.rearm();
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
                       done(queued_incident(number));
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
// back the snapshot of the incident it touched. On an instance that does not
// run the engine, `queued` goes to the inbox instead (answered as queued).
template <typename Impl, typename Call>
void run_command(Impl& d, Call call, storage::InboxCommand queued, std::function<void(Result<engine::Incident>)> done) {
  if (d.degraded) return done(tl::unexpected(Impl::refused_while_failing()));
  d.post([&d, call = std::move(call), queued = std::move(queued), done = std::move(done)]() mutable {
    if (d.degraded) return done(tl::unexpected(Impl::refused_while_failing()));
    if (d.not_owner()) {
      const auto number = queued.incident;
      return d.queue("command", storage::encode_inbox_command(queued), [done = std::move(done), number](Result<void> r) {
        if (!r) return done(tl::unexpected(r.error()));
        done(queued_incident(number));
      });
    }
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
  if (impl_->not_owner()) {
    // Checked here so that the sender hears of a mistake the owner would refuse.
    auto directory = impl_->current_directory();
    if (!directory->service(service)) return done(fail(ErrorKind::not_found, "unknown service '" + service + "'"));
    if (assignee && !directory->person(*assignee))
      return done(fail(ErrorKind::not_found, "unknown person '" + *assignee + "'"));
  }
  storage::InboxCommand queued;
  queued.command = "create";
  queued.actor = actor;
  queued.service = service;
  queued.text = summary;
  queued.severity = severity;
  queued.assignee = assignee;
  run_command(
      *impl_,
      [=](engine::Engine& e, engine::TimePoint now) { return e.create(service, summary, severity, actor, now, assignee); },
      std::move(queued), std::move(done));
}

void Incidents::reassign(std::int64_t number, std::string person, engine::Actor actor,
                         std::function<void(Result<engine::Incident>)> done) {
  if (impl_->not_owner() && !impl_->current_directory()->person(person))
    return done(fail(ErrorKind::not_found, "unknown person '" + person + "'"));
  storage::InboxCommand queued;
  queued.command = "reassign";
  queued.incident = number;
  queued.actor = actor;
  queued.text = person;
  run_command(
      *impl_, [=](engine::Engine& e, engine::TimePoint now) { return e.reassign(number, person, actor, now); },
      std::move(queued), std::move(done));
}

void Incidents::note(std::int64_t number, std::string message, engine::Actor actor) {
  integrations::repair_utf8_in_place(message);
  integrations::repair_utf8_in_place(actor.id);
  impl_->post([this, number, message = std::move(message), actor = std::move(actor)]() mutable {
    auto& d = *impl_;
    if (d.not_owner()) {
      storage::InboxCommand queued;
      queued.command = "note";
      queued.incident = number;
      queued.actor = std::move(actor);
      queued.text = std::move(message);
      return d.queue("command", storage::encode_inbox_command(queued), [number](Result<void> r) {
        if (!r) spdlog::error("note on #{} lost: the inbox did not take it ({})", number, r.error().message);
      });
    }
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
    if (d.not_owner()) {
      storage::InboxCommand queued;
      queued.command = "delivery_failed";
      queued.notification = std::move(notification);
      queued.text = std::move(detail);
      const auto id = queued.notification.id;
      return d.queue("command", storage::encode_inbox_command(queued), [id](Result<void> r) {
        if (!r) spdlog::error("failure of notification {} lost: the inbox did not take it ({})", id, r.error().message);
      });
    }
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

void Incidents::consume_token_async(std::string token_id, std::function<void(Result<void>)> done) {
  impl_->writer->submit_write(
      [this, token_id = std::move(token_id)](storage::Store& s) { return s.consume_token(token_id, impl_->clock.now()); },
      std::move(done));
}

std::vector<engine::Incident> Incidents::open_for_person(const std::string& person) {
  auto out = impl_->not_owner() ? impl_->committed_open_for(person) : impl_->run_sync([this, &person] {
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
  auto overrides = this->overrides();
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
  Result<std::int64_t> id = 0;
  d.writer->with_store([&](storage::Store& s) { id = s.add_override(o, d.clock.now()); });
  if (!id) return tl::unexpected(id.error());
  o.id = *id;
  if (d.not_owner()) {
    // Stored; the owner hears of it through the inbox (a successor loads it anyway).
    if (auto told = d.tell_owner_about_override("override_added", o); !told) {
      d.writer->with_store([&](storage::Store& s) { (void)s.remove_override(o.id); });
      return tl::unexpected(told.error());
    }
    return o;
  }
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
  Result<void> r;
  d.writer->with_store([&](storage::Store& s) { r = s.remove_override(id); });
  if (!r) return r;
  if (d.not_owner()) {
    engine::Override removed;
    removed.id = id;
    return d.tell_owner_about_override("override_removed", removed);
  }
  d.run_sync([&d, id] {
    auto all = d.engine->overrides();
    std::erase_if(all, [id](const engine::Override& o) { return o.id == id; });
    d.engine->set_overrides(std::move(all));
    return 0;
  });
  return {};
}

std::vector<engine::Override> Incidents::overrides() {
  if (impl_->not_owner()) {
    // This instance's engine is idle; the database has what the owner applies.
    // Overrides from the config file come with the directory, as in the engine.
    auto stored = impl_->queries.overrides();
    if (!stored) {
      spdlog::warn("overrides could not be read ({}); answering without them", stored.error().message);
      return {};
    }
    return std::move(*stored);
  }
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
  // Heartbeats and maintenance: from the engine (owner) or the database (others).
  const auto now = d.clock.now();
  for (const auto& h : heartbeats()) {
    RuntimeState::HeartbeatGauge g{h.service, h.name, std::nullopt, h.incident != 0};
    if (h.last_beat) g.last_beat_age_seconds = std::chrono::duration<double>(now - *h.last_beat).count();
    st.heartbeats.push_back(std::move(g));
  }
  auto directory = d.current_directory();
  auto windows = d.current_windows(now);
  if (!windows) spdlog::warn("maintenance windows could not be read for /metrics: {}", windows.error().message);
  for (const auto& [id, service] : directory->services) {
    const bool active = windows ? engine::maintenance_at(service, *windows, now).has_value()
                                : engine::maintenance_at(service, {}, now).has_value();
    st.maintenance_active.emplace_back(id, active);
  }
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
