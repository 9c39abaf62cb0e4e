// Heartbeats and maintenance windows (see incidents.hpp): the commands and
// reads behind /api/v1/heartbeats, /api/v1/services/{id}/maintenance, /metrics
// and the chat commands. Beats go through the engine loop and answer once
// committed. Maintenance windows are stored by the instance that takes them
// (as overrides are) and then handed to the engine, which holds and releases
// incidents; on an instance that does not run the engine, the owner hears of
// them through the inbox.
#include "bot/incidents_impl.hpp"

#include "engine/maintenance.hpp"
#include "integrations/common/utf8.hpp"

namespace baton::bot {

namespace {

constexpr auto kMaxMaintenance = std::chrono::hours{24 * 366};

}  // namespace

void Incidents::beat(std::string key, engine::Source via, std::function<void(Result<BeatOutcome>)> done) {
  auto& d = *impl_;
  auto directory = d.current_directory();
  auto [service, hb] = directory->heartbeat_by_key(key);
  if (!service || !hb) return done(fail(ErrorKind::not_found, "unknown heartbeat key"));
  BeatOutcome outcome{service->id, hb->name, std::nullopt, false};
  if (d.degraded) return done(tl::unexpected(Impl::refused_while_failing()));
  d.post([&d, key = std::move(key), via, outcome = std::move(outcome), done = std::move(done)]() mutable {
    if (d.degraded) return done(tl::unexpected(Impl::refused_while_failing()));
    if (d.not_owner()) {
      storage::InboxCommand queued;
      queued.command = "heartbeat";
      queued.text = key;
      queued.actor = engine::Actor{"heartbeat:" + outcome.heartbeat, via};
      outcome.queued = true;
      return d.queue("command", storage::encode_inbox_command(queued),
                     [done = std::move(done), outcome = std::move(outcome)](Result<void> r) {
                       if (!r) return done(tl::unexpected(r.error()));
                       done(outcome);
                     });
    }
    auto fx = d.engine->beat(key, d.clock.now(), via);
    if (!fx) return done(tl::unexpected(fx.error()));
    for (const auto& inc : fx->incidents)
      if (inc.state == engine::IncidentState::resolved) outcome.resolved = inc.number;
    d.commit(std::move(*fx), {}, [done = std::move(done), outcome = std::move(outcome)](Result<void> r) {
      if (!r) return done(tl::unexpected(r.error()));
      done(outcome);
    });
  });
}

std::vector<HeartbeatStatus> Incidents::heartbeats() {
  auto& d = *impl_;
  auto directory = d.current_directory();
  std::map<std::string, engine::HeartbeatState> states;
  if (d.not_owner()) {
    // This instance's engine is idle; the owner's states are in the database.
    Result<std::vector<engine::HeartbeatState>> stored = std::vector<engine::HeartbeatState>{};
    d.writer->with_store([&](storage::Store& s) { stored = s.list_heartbeats(); });
    if (!stored) spdlog::warn("heartbeats could not be read: {}", stored.error().message);
    else
      for (auto& h : *stored) states.emplace(engine::heartbeat_id(h.service_id, h.name), std::move(h));
  } else {
    states = d.run_sync([&d] { return d.engine->heartbeats(); });
  }
  std::vector<HeartbeatStatus> out;
  for (const auto& [sid, service] : directory->services)
    for (const auto& hb : service.heartbeats) {
      HeartbeatStatus st{sid, hb.name, std::nullopt, std::nullopt, 0};
      if (auto it = states.find(engine::heartbeat_id(sid, hb.name)); it != states.end()) {
        st.last_beat = it->second.last_beat;
        st.incident = it->second.incident;
        if (st.incident == 0) st.due = it->second.due(hb);
      }
      out.push_back(std::move(st));
    }
  return out;
}

namespace {

/// The one-off windows of `service` that are not over at `now`.
std::vector<engine::MaintenanceWindow> in_force(std::vector<engine::MaintenanceWindow> all, const std::string& service,
                                                engine::TimePoint now) {
  std::erase_if(all, [&](const engine::MaintenanceWindow& w) { return w.service_id != service || w.effective_end() <= now; });
  return all;
}

}  // namespace

Result<engine::MaintenanceWindow> Incidents::start_maintenance(std::string service, engine::TimePoint until,
                                                               std::string reason, engine::Actor actor) {
  auto& d = *impl_;
  if (!d.current_directory()->service(service)) return fail(ErrorKind::not_found, "unknown service '" + service + "'");
  const auto now = d.clock.now();
  if (until <= now) return fail(ErrorKind::invalid_request, "'until' must be in the future");
  if (until - now > kMaxMaintenance) return fail(ErrorKind::invalid_request, "'until' must be within a year");
  if (d.degraded) return tl::unexpected(Impl::refused_while_failing());
  integrations::repair_utf8_in_place(reason);
  integrations::repair_utf8_in_place(actor.id);
  if (reason.empty()) reason = "maintenance";
  engine::MaintenanceWindow w;
  w.service_id = service;
  w.start = now;
  w.end = until;
  w.reason = std::move(reason);
  w.created_by = actor.id;
  Result<std::int64_t> id = 0;
  d.writer->with_store([&](storage::Store& s) { id = s.add_maintenance(w); });
  if (!id) return tl::unexpected(id.error());
  w.id = *id;
  spdlog::info("maintenance window {} for service {} until {} ({}) set by {}", w.id, service,
               engine::format_iso8601(until), w.reason, actor.id);
  if (d.not_owner()) {
    // Stored; the owner hears of it through the inbox (a successor loads it anyway).
    storage::InboxCommand c;
    c.command = "maintenance_added";
    c.actor = actor;
    c.maintenance = w;
    Result<std::int64_t> queued = 0;
    d.writer->with_store([&](storage::Store& s) {
      queued = s.add_inbox("command", storage::encode_inbox_command(c), d.cluster.instance_id);
    });
    if (!queued) {
      d.writer->with_store([&](storage::Store& s) { (void)s.end_maintenance(w.id, now, "baton"); });
      return tl::unexpected(queued.error());
    }
    return w;
  }
  d.run_sync([&d, w, now] {
    auto fx = d.engine->add_maintenance(w, now);
    if (!fx.empty()) d.commit(std::move(fx), {}, {});
    return 0;
  });
  return w;
}

Result<std::vector<engine::MaintenanceWindow>> Incidents::end_maintenance(std::string service,
                                                                         std::optional<std::int64_t> window,
                                                                         engine::Actor actor) {
  auto& d = *impl_;
  if (!d.current_directory()->service(service)) return fail(ErrorKind::not_found, "unknown service '" + service + "'");
  if (d.degraded) return tl::unexpected(Impl::refused_while_failing());
  integrations::repair_utf8_in_place(actor.id);
  const auto now = d.clock.now();
  auto windows = d.current_windows(now);
  if (!windows) return tl::unexpected(windows.error());
  std::vector<std::int64_t> ids;
  if (window) {
    auto it = std::find_if(windows->begin(), windows->end(), [&](const engine::MaintenanceWindow& w) {
      return w.id == *window && w.service_id == service;
    });
    if (it == windows->end())
      return fail(ErrorKind::not_found, "service '" + service + "' has no maintenance window " + std::to_string(*window));
    if (it->effective_end() <= now)
      return fail(ErrorKind::conflict, "maintenance window " + std::to_string(*window) + " is already over");
    ids.push_back(*window);
  } else {
    for (const auto& w : in_force(std::move(*windows), service, now)) ids.push_back(w.id);
    if (ids.empty()) return fail(ErrorKind::not_found, "service '" + service + "' has no maintenance window in force");
  }
  std::vector<engine::MaintenanceWindow> ended;
  for (const auto id : ids) {
    Result<engine::MaintenanceWindow> r = fail(ErrorKind::transient, "not run");
    d.writer->with_store([&](storage::Store& s) { r = s.end_maintenance(id, now, actor.id); });
    if (!r) {
      if (ended.empty()) return tl::unexpected(r.error());
      spdlog::warn("maintenance window {} could not be ended: {}", id, r.error().message);
      continue;
    }
    ended.push_back(std::move(*r));
  }
  for (const auto& w : ended)
    spdlog::info("maintenance window {} for service {} ended early by {}", w.id, service, actor.id);
  if (d.not_owner()) {
    for (const auto& w : ended) {
      storage::InboxCommand c;
      c.command = "maintenance_ended";
      c.actor = actor;
      c.maintenance = w;
      Result<std::int64_t> queued = 0;
      d.writer->with_store([&](storage::Store& s) {
        queued = s.add_inbox("command", storage::encode_inbox_command(c), d.cluster.instance_id);
      });
      // The window is over in the database either way; a successor pages what it held.
      if (!queued)
        spdlog::error("maintenance window {} ended but the owner was not told ({}); its incidents are paged at "
                      "their hold's end or the next takeover",
                      w.id, queued.error().message);
    }
    return ended;
  }
  d.run_sync([&d, &ended, &actor, now] {
    engine::Effects fx;
    for (const auto& w : ended) fx.merge(d.engine->end_maintenance(w, actor, now));
    if (!fx.empty()) d.commit(std::move(fx), {}, {});
    return 0;
  });
  return ended;
}

std::optional<engine::ActiveMaintenance> Incidents::active_maintenance(const std::string& service) {
  auto& d = *impl_;
  const auto now = d.clock.now();
  if (!d.not_owner()) return d.run_sync([&d, &service, now] { return d.engine->maintenance(service, now); });
  auto directory = d.current_directory();
  const auto* s = directory->service(service);
  if (!s) return std::nullopt;
  auto windows = d.current_windows(now);
  if (!windows) {
    spdlog::warn("maintenance windows could not be read ({}); answering from the configuration", windows.error().message);
    windows = std::vector<engine::MaintenanceWindow>{};
  }
  return engine::maintenance_at(*s, *windows, now);
}

Result<MaintenanceStatus> Incidents::maintenance(const std::string& service) {
  auto& d = *impl_;
  auto directory = d.current_directory();
  const auto* s = directory->service(service);
  if (!s) return fail(ErrorKind::not_found, "unknown service '" + service + "'");
  const auto now = d.clock.now();
  auto windows = d.current_windows(now);
  if (!windows) return tl::unexpected(windows.error());
  MaintenanceStatus st;
  st.windows = in_force(std::move(*windows), service, now);
  st.active = engine::maintenance_at(*s, st.windows, now);
  for (const auto& rule : s->maintenance) st.configured.push_back({rule, engine::current_or_next(rule, now)});
  return st;
}

}  // namespace baton::bot
