// Who may run the engine (see incidents_impl.hpp). With SQLite: after a failed
// commit, refuse changes, probe the disk and rebuild the engine from what is
// committed (docs/architecture.md, "Durability"). With PostgreSQL: the lease
// keeper's verdicts, taking over (load, arm timers, resume the outbox), giving
// the engine up, and the inbox that carries other instances' intake
// (docs/architecture.md, "High availability"). Everything here runs on the
// engine loop (`baton-engine`) unless it says otherwise.
#include "bot/incidents_impl.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

namespace baton::bot {

void Incidents::Impl::begin_recovery(const Error& e) {
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

void Incidents::Impl::schedule_probe(engine::Millis delay) {
  recovery_timer.expires_after(delay);
  recovery_timer.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) try_recover();
  });
}

void Incidents::Impl::try_recover() {
  writer->flush();  // everything submitted before the failure has failed by now
  auto probe = writer->probe(clock.now());
  Result<storage::LoadedState> state = probe ? Result<storage::LoadedState>{} : tl::unexpected(probe.error());
  if (probe) writer->with_store([&](storage::Store& s) { state = s.load(clock.now()); });
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
  detail::restore_watch_state(*fresh, *state);
  engine = std::move(fresh);
  writer->reset_failure();
  recovering = false;
  degraded = false;
  ++recoveries;
  spdlog::warn("the database takes writes again; state rebuilt from it ({} open incidents), taking changes",
               engine->open_count());
  resume_engine();
  auto held = std::move(deferred);
  deferred.clear();
  for (auto& fn : held) fn();
  fire();
}

void Incidents::Impl::cluster_commit_failed(const Error& e, std::uint64_t stint) {
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

void Incidents::Impl::on_lease(const storage::LeaseStatus& s) {
  if (stopped) return;
  epoch_seen = s.epoch;
  if (s.owner && (!owner || s.epoch != epoch)) return become_owner(s.epoch);
  if (!s.owner && owner) lose_owner();
}

void Incidents::Impl::become_owner(std::int64_t new_epoch) {
  if (owner) lose_owner();
  writer->flush();  // the previous stint's commits are over
  Result<storage::LoadedState> state = fail(ErrorKind::transient, "not loaded");
  writer->with_store([&](storage::Store& s) {
    s.set_fence(storage::Fence{cluster.instance_id, new_epoch});
    state = s.load(clock.now());
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
  detail::restore_watch_state(*fresh, *state);
  engine = std::move(fresh);
  resume_outbox = std::move(state->pending_outbox);
  resume_closed.clear();
  for (const auto& e : resume_outbox) {
    if (engine->find(e.notification.incident)) continue;
    auto closed = queries.get_incident(e.notification.incident);
    if (closed && *closed) resume_closed.push_back(**closed);
  }
  if (takeover_hook) {
    std::vector<std::int64_t> numbers;
    for (const auto& [n, inc] : engine->open_incidents()) numbers.push_back(n);
    for (const auto& e : resume_outbox) numbers.push_back(e.notification.incident);
    std::sort(numbers.begin(), numbers.end());
    numbers.erase(std::unique(numbers.begin(), numbers.end()), numbers.end());
    takeover_hook(numbers);
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

void Incidents::Impl::lose_owner() {
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

void Incidents::Impl::apply_inbox(const storage::InboxRow& row, std::uint64_t stint) {
  if (!owner || stint != generation || degraded) return;  // a later stint hands them over again
  const auto now = clock.now();
  Result<engine::Effects> fx = engine::Effects{};
  if (row.kind == "alert") {
    auto alert = storage::decode_inbox_alert(row.payload);
    if (!alert) {
      fx = tl::unexpected(alert.error());
    } else {
      detail::repair_text(*alert);
      fx = engine->ingest(*alert, now);
    }
  } else {
    auto c = storage::decode_inbox_command(row.payload);
    fx = c ? apply_command(*c, now) : tl::unexpected(c.error());
  }
  if (!fx) {
    // Its sender was answered when it was queued; what it asked for does not
    // apply (e.g. an unknown incident). The row is consumed all the same.
    spdlog::warn("inbox row {} ({}) not applied: {}", row.id, row.kind, fx.error().message);
    fx = engine::Effects{};
  }
  commit(std::move(*fx), {}, {}, std::chrono::steady_clock::now(), storage::Urgency::now, {row.id});
}

Result<engine::Effects> Incidents::Impl::apply_command(const storage::InboxCommand& c, engine::TimePoint now) {
  const auto& k = c.command;
  if (k == "acknowledge") return engine->acknowledge(c.incident, c.actor, now);
  if (k == "resolve") return engine->resolve(c.incident, c.actor, now);
  if (k == "escalate") return engine->escalate(c.incident, c.actor, now);
  if (k == "reassign") return engine->reassign(c.incident, c.text, c.actor, now);
  if (k == "create") return engine->create(c.service, c.text, c.severity, c.actor, now, c.assignee);
  engine::Effects fx;
  if (k == "note") {
    fx.timeline.push_back(
        engine::TimelineEvent{c.incident, now, engine::TimelineKind::note, c.actor.id, c.actor.channel, c.text});
  } else if (k == "delivery_failed") {
    fx = engine->delivery_result(c.notification, engine::DeliveryStatus::failed, c.text, now);
  } else if (k == "heartbeat") {
    return engine->beat(c.text, now, c.actor.channel);
  } else if (k == "maintenance_added") {
    fx = engine->add_maintenance(c.maintenance, now);
  } else if (k == "maintenance_ended") {
    fx = engine->end_maintenance(c.maintenance, c.actor, now);
  } else if (k == "override_added" || k == "override_removed") {
    auto all = engine->overrides();
    std::erase_if(all, [&](const engine::Override& o) { return o.id == c.override_.id; });
    if (k == "override_added") all.push_back(c.override_);
    engine->set_overrides(std::move(all));
  }
  return fx;
}

Result<void> Incidents::Impl::tell_owner_about_override(const char* what, const engine::Override& o) {
  storage::InboxCommand c;
  c.command = what;
  c.actor = engine::Actor{"api", engine::Source::api};
  c.override_ = o;
  Result<std::int64_t> id = 0;
  writer->with_store([&](storage::Store& s) { id = s.add_inbox("command", storage::encode_inbox_command(c), cluster.instance_id); });
  if (!id) {
    spdlog::error("override {} is {} in the database but the owner was not told ({}); it applies from the next takeover",
                  o.id, std::string(what) == "override_added" ? "stored" : "deleted", id.error().message);
    return tl::unexpected(id.error());
  }
  return {};
}

void Incidents::Impl::queue_alert(engine::Alert alert, std::function<void(Result<IngestOutcome>)> done) {
  // A trigger with the sender's own key and no group alerts (Events v2) changes
  // nothing when that key's incident is open: the writer may answer it with a
  // read instead of an inbox row (storage::InboxEntry::probe_*).
  std::string probe_service;
  if (alert.action == engine::AlertAction::trigger && alert.group.empty() && !alert.dedup_key.empty())
    if (const auto* svc = current_directory()->service_by_key(alert.integration_key)) probe_service = svc->id;
  if (alert.dedup_key.empty() && alert.action == engine::AlertAction::trigger)
    alert.dedup_key = "baton-" + cluster.instance_id + "-" + std::to_string(engine::to_ms(clock.now())) + "-" +
                      std::to_string(++key_seq);
  IngestOutcome outcome{alert.dedup_key, {}};
  storage::InboxEntry row{"alert", storage::encode_inbox_alert(alert), cluster.instance_id, {}, {}};
  if (!probe_service.empty()) {
    row.probe_service = std::move(probe_service);
    row.probe_dedup_key = alert.dedup_key;
  }
  queue_row(std::move(row), [done = std::move(done), outcome](Result<void> r) {
    if (!r) return done(tl::unexpected(r.error()));
    done(outcome);
  });
}

void Incidents::Impl::queue(const char* kind, std::string payload, std::function<void(Result<void>)> done) {
  queue_row(storage::InboxEntry{kind, std::move(payload), cluster.instance_id, {}, {}}, std::move(done));
}

void Incidents::Impl::queue_row(storage::InboxEntry row, std::function<void(Result<void>)> done) {
  writer->submit_inbox(std::move(row),
                       [done = std::move(done)](Result<void> r) {
                         if (!r && r.error().kind == ErrorKind::transient) {
                           auto e = r.error();
                           e.retry_after = std::chrono::seconds(1);
                           return done(tl::unexpected(std::move(e)));
                         }
                         done(std::move(r));
                       });
}

}  // namespace baton::bot
