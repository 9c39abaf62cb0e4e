// The Engine's heartbeats (rules in engine/heartbeats.hpp) and the start-up
// sweep that also covers maintenance holds.
#include <algorithm>
#include <cstdio>

#include "engine/engine.hpp"

namespace baton::engine {
namespace {

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string heartbeat_details(const Heartbeat& hb, const HeartbeatState& st) {
  return "{\"heartbeat\":" + json_string(hb.name) +
         ",\"interval_seconds\":" + std::to_string(std::chrono::duration_cast<Seconds>(hb.interval).count()) +
         ",\"grace_seconds\":" + std::to_string(std::chrono::duration_cast<Seconds>(hb.grace).count()) +
         ",\"last_beat\":" + (st.last_beat ? json_string(format_iso8601(*st.last_beat)) : std::string("null")) + "}";
}

}  // namespace

void Engine::put_heartbeat(Effects& fx, const HeartbeatState& state) {
  for (auto& h : fx.heartbeats)
    if (h.service_id == state.service_id && h.name == state.name) {
      h = state;
      return;
    }
  fx.heartbeats.push_back(state);
}

void Engine::restore_heartbeat(HeartbeatState state) {
  state.not_before.reset();
  const auto id = heartbeat_id(state.service_id, state.name);
  if (state.incident != 0 && open_.contains(state.incident)) heartbeat_incidents_[state.incident] = id;
  heartbeats_.insert_or_assign(id, std::move(state));
}

Effects Engine::sync_heartbeats(TimePoint now) {
  Effects fx;
  for (const auto& [sid, service] : directory_->services)
    for (const auto& hb : service.heartbeats) {
      auto [it, inserted] = heartbeats_.try_emplace(heartbeat_id(sid, hb.name));
      if (!inserted) continue;
      // Never beaten: it counts from when baton first saw it configured.
      it->second = HeartbeatState{sid, hb.name, now, std::nullopt, now, 0, std::nullopt};
      put_heartbeat(fx, it->second);
    }
  return fx;
}

Effects Engine::resume(TimePoint now) {
  Effects fx = sync_heartbeats(now);
  for (auto& [id, st] : heartbeats_) {
    if (st.incident != 0) {
      if (open_.contains(st.incident)) continue;
      // Its incident is no longer open: count again from now.
      heartbeat_incidents_.erase(st.incident);
      st.incident = 0;
      st.since = now;
      put_heartbeat(fx, st);
    }
    const Service* service = directory_->service(st.service_id);
    const Heartbeat* hb = service ? service->heartbeat(st.name) : nullptr;
    // Beats sent while baton was down were lost: none is due before start + grace.
    if (hb) st.not_before = now + hb->grace;
  }
  for (auto& [number, inc] : open_) {
    if (inc.state != IncidentState::triggered || !inc.suppressed_until) continue;
    auto m = maintenance(inc.service_id, now);
    if (!m) {
      inc.suppressed_until = now;  // ended (early, or while baton was down): due at once
    } else if (m->until != *inc.suppressed_until) {
      inc.suppressed_until = m->until;
      inc.suppressed_reason = m->reason;
      snapshot(inc, fx);
    }
    schedule_timer(inc);
  }
  return fx;
}

Result<Effects> Engine::beat(std::string_view key, TimePoint now, Source via) {
  auto [service, hb] = directory_->heartbeat_by_key(key);
  if (!service || !hb) return fail(ErrorKind::not_found, "unknown heartbeat key");
  auto [it, inserted] = heartbeats_.try_emplace(heartbeat_id(service->id, hb->name));
  if (inserted) it->second = HeartbeatState{service->id, hb->name, now, std::nullopt, now, 0, std::nullopt};
  Effects fx;
  beat_state(it->second, now, via, fx);
  return fx;
}

void Engine::beat_state(HeartbeatState& st, TimePoint now, Source via, Effects& fx) {
  st.last_beat = now;
  st.since = now;
  st.not_before.reset();
  if (st.incident != 0) {
    const auto number = st.incident;
    const Actor actor{"heartbeat:" + st.name, via};
    if (auto it = open_.find(number); it != open_.end()) {
      note(it->second, TimelineKind::note, actor,
           "Heartbeat from " + st.name + " received at " + format_iso8601(now) + ": resolving", now, fx);
      if (auto resolved = resolve(number, actor, now)) fx.merge(std::move(*resolved));
    }
    heartbeat_incidents_.erase(number);
    st.incident = 0;
  }
  put_heartbeat(fx, st);
}

void Engine::heartbeat_incident_closed(std::int64_t number, TimePoint now, Effects& fx) {
  auto link = heartbeat_incidents_.find(number);
  if (link == heartbeat_incidents_.end()) return;
  auto it = heartbeats_.find(link->second);
  heartbeat_incidents_.erase(link);
  if (it == heartbeats_.end()) return;
  // Resolved (by hand, while beats may still be missing): count again from now
  // instead of paging again at once.
  it->second.incident = 0;
  it->second.since = now;
  it->second.not_before.reset();
  put_heartbeat(fx, it->second);
}

std::optional<TimePoint> Engine::next_heartbeat_due() const {
  std::optional<TimePoint> next;
  for (const auto& [id, st] : heartbeats_) {
    if (st.incident != 0) continue;
    const Service* service = directory_->service(st.service_id);
    const Heartbeat* hb = service ? service->heartbeat(st.name) : nullptr;
    if (!hb) continue;
    const auto due = st.due(*hb);
    if (!next || due < *next) next = due;
  }
  return next;
}

void Engine::fire_heartbeats(TimePoint now, Effects& fx) {
  for (auto& [id, st] : heartbeats_) {
    if (st.incident != 0) continue;
    const Service* service = directory_->service(st.service_id);
    const Heartbeat* hb = service ? service->heartbeat(st.name) : nullptr;
    if (!hb || st.due(*hb) > now) continue;
    Alert alert;
    alert.source = Source::engine;
    alert.dedup_key = heartbeat_dedup_key(hb->name);
    alert.summary = "No heartbeat from " + hb->name + " since " + format_iso8601(st.last_beat.value_or(st.first_seen));
    alert.source_name = hb->name;
    alert.severity = Severity::critical;  // a dead pipeline is the outage nobody else pages for
    alert.client = "baton";
    alert.details_json = heartbeat_details(*hb, st);
    if (const Incident* open = find_by_dedup(service->id, alert.dedup_key)) {
      st.incident = open->number;  // one is open already (resolved state lost): it is the one
    } else {
      const Actor actor{"heartbeat:" + hb->name, Source::engine};
      st.incident = open_incident(*service, alert, Source::engine, actor, now, fx).number;
    }
    st.not_before.reset();
    heartbeat_incidents_[st.incident] = id;
    put_heartbeat(fx, st);
  }
}

}  // namespace baton::engine
