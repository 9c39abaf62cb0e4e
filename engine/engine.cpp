#include "engine/engine.hpp"

#include <algorithm>

#include "engine/oncall.hpp"
#include "engine/quiet_hours.hpp"

namespace baton::engine {
namespace {

// FNV-1a over service, a separator and the dedup key.
std::uint64_t dedup_hash(std::string_view service, std::string_view dedup_key) {
  std::uint64_t h = 1469598103934665603ull;
  auto mix = [&h](std::string_view s) {
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  };
  mix(service);
  h = (h ^ 0x1f) * 1099511628211ull;
  mix(dedup_key);
  return h;
}

const Actor kEngineActor{"baton", Source::engine};

std::string describe_duration(Seconds s) {
  auto n = s.count();
  if (n % 3600 == 0 && n >= 3600) return std::to_string(n / 3600) + "h";
  if (n % 60 == 0 && n >= 60) return std::to_string(n / 60) + "m";
  return std::to_string(n) + "s";
}

std::string group_key(const GroupAlert& a) {
  return a.fingerprint + '|' + a.starts_at + '|' + (a.firing ? "firing" : "resolved");
}

}  // namespace

void Effects::merge(Effects&& other) {
  auto move_all = [](auto& into, auto& from) {
    into.insert(into.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
  };
  move_all(incidents, other.incidents);
  move_all(timeline, other.timeline);
  move_all(notifications, other.notifications);
  move_all(alerts, other.alerts);
  move_all(heartbeats, other.heartbeats);
  move_all(touched, other.touched);
}

std::optional<TimePoint> Incident::next_deadline() const {
  if (state != IncidentState::triggered) return std::nullopt;
  std::optional<TimePoint> due = suppressed_until;  // held: nothing else runs meanwhile
  if (escalation.active && (!due || escalation.step_deadline < *due)) due = escalation.step_deadline;
  if (contact.next_rule < static_cast<int>(contact.chain.size()) && (!due || contact.next_at < *due))
    due = contact.next_at;
  return due;
}

Engine::Engine(DirectoryPtr directory, std::int64_t next_incident, std::int64_t next_notification)
    : directory_(std::move(directory)),
      next_incident_(std::max<std::int64_t>(1, next_incident)),
      next_notification_(std::max<std::int64_t>(1, next_notification)) {}

void Engine::set_directory(DirectoryPtr directory) { directory_ = std::move(directory); }

void Engine::set_overrides(std::vector<Override> overrides) { overrides_ = std::move(overrides); }

std::optional<std::string> Engine::on_call(const Schedule& schedule, TimePoint at) const {
  return on_call_at(schedule, overrides_, at);
}

void Engine::restore(Incident incident) {
  if (incident.state == IncidentState::resolved) return;
  next_incident_ = std::max(next_incident_, incident.number + 1);
  const auto number = incident.number;
  incident.armed.reset();
  auto [it, inserted] = open_.insert_or_assign(number, std::move(incident));
  (void)inserted;
  index_dedup(it->second);
  schedule_timer(it->second);
}

Incident* Engine::find_by_dedup(std::string_view service, std::string_view dedup_key) {
  auto [lo, hi] = by_dedup_.equal_range(dedup_hash(service, dedup_key));
  for (auto it = lo; it != hi; ++it) {
    auto inc = open_.find(it->second);
    if (inc != open_.end() && inc->second.service_id == service && inc->second.dedup_key == dedup_key)
      return &inc->second;
  }
  return nullptr;
}

void Engine::index_dedup(const Incident& inc) {
  by_dedup_.emplace(dedup_hash(inc.service_id, inc.dedup_key), inc.number);
}

void Engine::unindex_dedup(const Incident& inc) {
  auto [lo, hi] = by_dedup_.equal_range(dedup_hash(inc.service_id, inc.dedup_key));
  for (auto it = lo; it != hi; ++it)
    if (it->second == inc.number) {
      by_dedup_.erase(it);
      return;
    }
}

const Incident* Engine::find(std::int64_t number) const {
  auto it = open_.find(number);
  return it == open_.end() ? nullptr : &it->second;
}

PolicySnapshotPtr Engine::snapshot_policy(const EscalationPolicy& policy) {
  // Identical snapshots are shared so a hundred thousand open incidents of one
  // service cost one copy of their policy, not one each.
  auto& slot = snapshots_[policy.id];
  if (auto existing = slot.lock()) {
    bool same = existing->repeat == policy.repeat && existing->steps.size() == policy.steps.size();
    for (std::size_t i = 0; same && i < policy.steps.size(); ++i) {
      const auto& a = existing->steps[i];
      const auto& b = policy.steps[i];
      same = a.timeout == b.timeout && a.targets.size() == b.targets.size();
      for (std::size_t t = 0; same && t < a.targets.size(); ++t)
        same = a.targets[t].kind == b.targets[t].kind && a.targets[t].id == b.targets[t].id;
    }
    if (same) return existing;
  }
  auto snap = std::make_shared<const PolicySnapshot>(PolicySnapshot{policy.id, policy.steps, policy.repeat});
  slot = snap;
  return snap;
}

std::vector<ContactRule> Engine::chain_for(const Incident& inc, const std::string& person) const {
  // A link whose method has no channel is left out rather than failing on
  // every page; if nothing is left, the first available channel pages at once.
  auto usable = [this](const std::vector<ContactRule>& chain) {
    std::vector<ContactRule> out;
    for (const auto& r : chain)
      if (directory_->has_channel(r.method)) out.push_back(r);
    return out;
  };
  std::vector<ContactRule> chain;
  if (const Person* p = directory_->person(person); p && !p->contact_chain.empty()) chain = usable(p->contact_chain);
  if (chain.empty())
    if (const Service* s = directory_->service(inc.service_id); s && !s->default_contact_chain.empty())
      chain = usable(s->default_contact_chain);
  if (chain.empty())
    chain = {ContactRule{directory_->channels.empty() ? MethodKind::webhook : directory_->channels.front(), Seconds{0}}};
  return chain;
}

void Engine::note(Incident& inc, TimelineKind kind, const Actor& actor, std::string message, TimePoint now,
                  Effects& fx) {
  fx.timeline.push_back(TimelineEvent{inc.number, now, kind, actor.id, actor.channel, std::move(message)});
  inc.updated_at = now;
}

Notification& Engine::add_notification(Incident& inc, const std::string& person, MethodKind method,
                                       NotificationKind kind, TimePoint now, Effects& fx) {
  Notification n;
  n.id = next_notification_++;
  n.incident = inc.number;
  n.person = person;
  n.method = method;
  n.kind = kind;
  n.step = inc.escalation.step;
  n.created_at = now;
  n.idempotency_key = "baton-" + std::to_string(inc.number) + "-" + std::to_string(n.id);
  if (kind == NotificationKind::page) {
    auto channel = std::make_pair(person, method);
    if (std::find(inc.notified.begin(), inc.notified.end(), channel) == inc.notified.end())
      inc.notified.push_back(std::move(channel));
  }
  fx.notifications.push_back(std::move(n));
  return fx.notifications.back();
}

void Engine::snapshot(const Incident& inc, Effects& fx) {
  if (!fx.incidents.empty() && fx.incidents.back().number == inc.number) {
    fx.incidents.back() = inc;
  } else {
    fx.incidents.push_back(inc);
  }
}

void Engine::schedule_timer(Incident& inc) {
  const auto due = inc.next_deadline();
  if (inc.armed) {
    if (due && *inc.armed == *due) return;
    auto [lo, hi] = timers_.equal_range(*inc.armed);
    for (auto it = lo; it != hi; ++it)
      if (it->second == inc.number) {
        timers_.erase(it);
        break;
      }
    inc.armed.reset();
  }
  if (due) {
    timers_.emplace(*due, inc.number);
    inc.armed = due;
  }
}

void Engine::fire_contact_rules(Incident& inc, TimePoint now, Effects& fx) {
  auto& c = inc.contact;
  const int size = static_cast<int>(c.chain.size());
  if (c.next_rule < size && c.page_started + c.chain[c.next_rule].delay <= now && is_low_urgency(inc.severity)) {
    if (const Person* p = directory_->person(c.person))
      if (auto until = quiet_until(*p, now)) {
        c.next_at = *until;  // the rest of the chain waits for the end of quiet hours
        return;
      }
  }
  while (c.next_rule < size && c.page_started + c.chain[c.next_rule].delay <= now) {
    add_notification(inc, c.person, c.chain[c.next_rule].method, NotificationKind::page, now, fx);
    ++c.next_rule;
  }
  if (c.next_rule < size) c.next_at = std::max(now, c.page_started + c.chain[c.next_rule].delay);
}

void Engine::page(Incident& inc, const std::string& person, TimePoint now, Effects& fx) {
  inc.owner = person;
  inc.contact = ContactState{person, now, 0, chain_for(inc, person), now};
  const Person* p = directory_->person(person);
  const std::string who = p && !p->name.empty() ? p->name : person;
  note(inc, TimelineKind::paged, kEngineActor, "Paging " + who + " (step " + std::to_string(inc.escalation.step + 1) + ")",
       now, fx);
  if (p && is_low_urgency(inc.severity)) {
    if (auto until = quiet_until(*p, now)) {
      // Quiet hours are not silence: a low-urgency page waits for their end, and
      // the step's timeout counts from then; critical and error pages never wait.
      auto& c = inc.contact;
      c.page_started = *until;
      if (!c.chain.empty()) c.next_at = *until + c.chain.front().delay;
      if (inc.escalation.active) inc.escalation.step_deadline = *until + (inc.escalation.step_deadline - now);
      note(inc, TimelineKind::note, kEngineActor,
           who + " is in quiet hours: this " + to_string(inc.severity) + " page waits until " + format_iso8601(*until),
           now, fx);
      return;
    }
  }
  fire_contact_rules(inc, now, fx);
}

void Engine::stop_escalation(Incident& inc) {
  inc.escalation.active = false;
  inc.contact.next_rule = static_cast<int>(inc.contact.chain.size());
}

void Engine::start_step(Incident& inc, TimePoint now, Effects& fx, const Actor&) {
  const auto& steps = inc.policy ? inc.policy->steps : std::vector<EscalationStep>{};
  const int repeat = inc.policy ? inc.policy->repeat : 0;
  if (steps.empty()) {
    inc.escalation.active = false;
    note(inc, TimelineKind::policy_exhausted, kEngineActor, "The escalation policy has no steps: nobody paged",
         now, fx);
    return;
  }
  auto& esc = inc.escalation;
  while (true) {
    if (esc.step >= static_cast<int>(steps.size())) {
      if (esc.round < repeat) {
        ++esc.round;
        esc.step = 0;
        note(inc, TimelineKind::note, kEngineActor,
             "Repeating the escalation policy (round " + std::to_string(esc.round + 1) + " of " +
                 std::to_string(repeat + 1) + ")",
             now, fx);
      } else {
        esc.active = false;
        esc.step = static_cast<int>(steps.size()) - 1;
        note(inc, TimelineKind::policy_exhausted, kEngineActor,
             "Escalation policy exhausted without acknowledgement" +
                 (inc.owner.empty() ? std::string(": nobody could be paged") : "; " + inc.owner + " stays owner"),
             now, fx);
        return;
      }
    }
    const EscalationStep& step = steps[esc.step];
    std::optional<std::string> owner;
    std::string why;
    for (const Target& t : step.targets) {
      if (t.kind == Target::Kind::person) {
        if (directory_->person(t.id)) {
          owner = t.id;
          break;
        }
        why += (why.empty() ? "" : "; ") + ("person '" + t.id + "' is no longer configured");
      } else {
        const Schedule* s = directory_->schedule(t.id);
        if (!s) {
          why += (why.empty() ? "" : "; ") + ("schedule '" + t.id + "' is no longer configured");
          continue;
        }
        if (auto who = on_call_at(*s, overrides_, now); who && directory_->person(*who)) {
          owner = *who;
          break;
        }
        why += (why.empty() ? "" : "; ") + ("nobody is on call for schedule '" + t.id + "'");
      }
    }
    if (!owner) {
      note(inc, TimelineKind::step_skipped, kEngineActor,
           "Step " + std::to_string(esc.step + 1) + " skipped: " + (why.empty() ? "it has no targets" : why),
           now, fx);
      ++esc.step;
      continue;
    }
    esc.active = true;
    esc.step_deadline = now + step.timeout;
    page(inc, *owner, now, fx);
    return;
  }
}

void Engine::emit_updates(Incident& inc, TimePoint now, Effects& fx) {
  // Copy: add_notification may append to `notified` for pages (not updates).
  const auto targets = inc.notified;
  for (const auto& [person, method] : targets)
    add_notification(inc, person, method, NotificationKind::update, now, fx);
}

Incident& Engine::open_incident(const Service& service, const Alert& alert, Source created_by,
                                const Actor& actor, TimePoint now, Effects& fx,
                                const std::optional<std::string>& assignee, bool may_hold) {
  Incident inc;
  inc.number = next_incident_++;
  inc.service_id = service.id;
  inc.dedup_key = alert.dedup_key.empty() ? "baton-" + std::to_string(inc.number) : alert.dedup_key;
  inc.summary = alert.summary;
  inc.source_name = alert.source_name;
  inc.severity = alert.severity;
  inc.state = IncidentState::triggered;
  inc.created_by = created_by;
  inc.created_at = now;
  inc.updated_at = now;
  inc.details_json = alert.details_json;
  inc.alert_count = 1;
  if (!alert.group.empty()) {
    inc.alert_count = static_cast<int>(alert.group.size());
    for (const auto& a : alert.group) inc.group_alert_keys.push_back(group_key(a));
  }
  if (const EscalationPolicy* policy = directory_->policy(service.escalation_policy))
    inc.policy = snapshot_policy(*policy);
  else
    inc.policy = std::make_shared<const PolicySnapshot>(PolicySnapshot{service.escalation_policy, {}, 0});

  auto [it, inserted] = open_.emplace(inc.number, std::move(inc));
  (void)inserted;
  Incident& ref = it->second;
  index_dedup(ref);
  ++stats_.incidents_triggered;
  fx.touched.push_back(ref.number);

  note(ref, TimelineKind::triggered, actor,
       "Triggered: " + ref.summary + " [" + to_string(ref.severity) + ", " + service.name + "]", now, fx);
  start_incident(ref, service, actor, now, fx, may_hold, assignee);
  snapshot(ref, fx);
  schedule_timer(ref);
  return ref;
}

void Engine::open_channels(Incident& inc, const Service& service, TimePoint now, Effects& fx) {
  if (!service.open_incident_channel) return;
  if (directory_->has_channel(MethodKind::slack))
    add_notification(inc, "", MethodKind::slack, NotificationKind::open_channel, now, fx);
  if (!service.teams_team.empty() && !directory_->channels.empty() && directory_->has_channel(MethodKind::teams))
    add_notification(inc, "", MethodKind::teams, NotificationKind::open_channel, now, fx);
}

void Engine::start_incident(Incident& inc, const Service& service, const Actor& actor, TimePoint now, Effects& fx,
                            bool may_hold, const std::optional<std::string>& assignee) {
  if (may_hold && !assignee) {
    if (auto m = maintenance(service.id, now)) {
      // Recorded and visible, but nobody is paged until the maintenance ends.
      inc.suppressed_until = m->until;
      inc.suppressed_reason = m->reason;
      note(inc, TimelineKind::note, kEngineActor,
           "Suppressed by maintenance (" + m->reason + ") until " + format_iso8601(m->until) +
               ": nobody is paged until then",
           now, fx);
      return;
    }
  }
  open_channels(inc, service, now, fx);
  if (assignee) {
    const auto& steps = inc.policy->steps;
    if (!steps.empty()) {
      inc.escalation.active = true;
      inc.escalation.step_deadline = now + steps.front().timeout;
    }
    page(inc, *assignee, now, fx);
  } else {
    start_step(inc, now, fx, actor);
  }
}

void Engine::clear_hold(Incident& inc) {
  inc.suppressed_until.reset();
  inc.suppressed_reason.clear();
}

void Engine::review_hold(Incident& inc, TimePoint now, Effects& fx, const std::string& why) {
  if (!inc.suppressed_until) return;
  if (auto m = maintenance(inc.service_id, now); m && m->until > now) {
    if (*inc.suppressed_until != m->until) {
      inc.suppressed_until = m->until;
      inc.suppressed_reason = m->reason;
      note(inc, TimelineKind::note, kEngineActor,
           "Still suppressed by maintenance (" + m->reason + ") until " + format_iso8601(m->until), now, fx);
    }
    return;
  }
  clear_hold(inc);
  note(inc, TimelineKind::note, kEngineActor, why + ": paging now", now, fx);
  if (const Service* service = directory_->service(inc.service_id)) open_channels(inc, *service, now, fx);
  start_step(inc, now, fx, kEngineActor);
}

Result<Effects> Engine::ingest(const Alert& alert, TimePoint now) {
  ++stats_.alerts_received;
  const Service* service = directory_->service_by_key(alert.integration_key);
  if (!service) return fail(ErrorKind::invalid_request, "unknown integration key");
  const bool feeds_heartbeats =
      alert.source == Source::alertmanager && !alert.group.empty() &&
      std::any_of(service->heartbeats.begin(), service->heartbeats.end(), [](const Heartbeat& h) { return !h.alertname.empty(); });
  if (!feeds_heartbeats) return ingest_alert(alert, *service, now);

  // The group's heartbeat alerts (an always-firing Watchdog) beat their
  // heartbeats and open nothing; the other alerts of the group go on as usual.
  Alert rest = alert;
  rest.group.clear();
  std::vector<const Heartbeat*> beaten;
  for (const auto& g : alert.group) {
    const Heartbeat* hb = nullptr;
    for (const auto& h : service->heartbeats)
      if (!h.alertname.empty() && h.alertname == g.alertname) hb = &h;
    if (!hb) {
      rest.group.push_back(g);
      continue;
    }
    if (g.firing && alert.action == AlertAction::trigger && std::find(beaten.begin(), beaten.end(), hb) == beaten.end())
      beaten.push_back(hb);
  }
  if (rest.group.size() == alert.group.size()) return ingest_alert(alert, *service, now);
  Effects beats;
  for (const Heartbeat* hb : beaten) {
    auto [it, inserted] = heartbeats_.try_emplace(heartbeat_id(service->id, hb->name));
    if (inserted) it->second = HeartbeatState{service->id, hb->name, now, std::nullopt, now, 0, std::nullopt};
    beat_state(it->second, now, Source::alertmanager, beats);
  }
  if (rest.group.empty()) return beats;
  auto fx = ingest_alert(rest, *service, now);
  if (fx) fx->merge(std::move(beats));
  return fx;
}

Result<Effects> Engine::ingest_alert(const Alert& alert, const Service& service_ref, TimePoint now) {
  const Service* service = &service_ref;
  const Actor actor{"integration:" + service->id, alert.source};
  Effects fx;

  Incident* found = alert.dedup_key.empty() ? nullptr : find_by_dedup(service->id, alert.dedup_key);
  if (!found) {
    if (alert.action != AlertAction::trigger) {
      ++stats_.alerts_deduplicated;
      return fx;  // acknowledging or resolving nothing open is not an error
    }
    open_incident(*service, alert, alert.source, actor, now, fx);
    fx.alerts.push_back(alert);
    return fx;
  }

  Incident& inc = *found;
  fx.touched.push_back(inc.number);
  switch (alert.action) {
    case AlertAction::trigger: {
      // A repeat of what is already known changes nothing and costs no write.
      int added = 0;
      std::string added_names;
      for (const auto& a : alert.group) {
        auto key = group_key(a);
        if (std::find(inc.group_alert_keys.begin(), inc.group_alert_keys.end(), key) != inc.group_alert_keys.end())
          continue;
        inc.group_alert_keys.push_back(std::move(key));
        ++added;
        if (added <= 3) added_names += (added_names.empty() ? "" : ", ") + (a.summary.empty() ? a.fingerprint : a.summary) +
                                       (a.firing ? "" : " (resolved)");
      }
      if (added == 0) {
        ++stats_.alerts_deduplicated;
        return fx;
      }
      inc.alert_count += added;
      note(inc, TimelineKind::alert, actor,
           std::to_string(added) + " alert change(s) in the group: " + added_names + (added > 3 ? ", ..." : ""), now,
           fx);
      fx.alerts.push_back(alert);
      snapshot(inc, fx);
      return fx;
    }
    case AlertAction::acknowledge: {
      if (inc.state != IncidentState::triggered) return fx;
      auto r = acknowledge(inc.number, actor, now);
      if (r) {
        r->alerts.push_back(alert);
        r->touched = fx.touched;
      }
      return r;
    }
    case AlertAction::resolve: {
      auto number = inc.number;
      auto r = resolve(number, actor, now);
      if (r) {
        r->alerts.push_back(alert);
        r->touched = fx.touched;
      }
      return r;
    }
  }
  return fx;
}

Result<Effects> Engine::acknowledge(std::int64_t number, const Actor& actor, TimePoint now) {
  auto it = open_.find(number);
  if (it == open_.end()) return fail(ErrorKind::not_found, "incident #" + std::to_string(number) + " is not open");
  Incident& inc = it->second;
  if (inc.state == IncidentState::acknowledged)
    return fail(ErrorKind::conflict, "incident #" + std::to_string(number) + " is already acknowledged");
  Effects fx;
  fx.touched.push_back(number);
  inc.state = IncidentState::acknowledged;
  inc.acknowledged_at = now;
  clear_hold(inc);  // someone took it: nothing to page when the maintenance ends
  stop_escalation(inc);
  // Whoever acknowledges owns the incident: one named person.
  if (directory_->person(actor.id)) inc.owner = actor.id;
  note(inc, TimelineKind::acknowledged, actor,
       "Acknowledged by " + actor.id + " via " + to_string(actor.channel), now, fx);
  emit_updates(inc, now, fx);
  snapshot(inc, fx);
  schedule_timer(inc);
  return fx;
}

Result<Effects> Engine::resolve(std::int64_t number, const Actor& actor, TimePoint now) {
  auto it = open_.find(number);
  if (it == open_.end()) return fail(ErrorKind::not_found, "incident #" + std::to_string(number) + " is not open");
  Incident& inc = it->second;
  Effects fx;
  fx.touched.push_back(number);
  inc.state = IncidentState::resolved;
  inc.resolved_at = now;
  stop_escalation(inc);
  clear_hold(inc);
  note(inc, TimelineKind::resolved, actor, "Resolved by " + actor.id + " via " + to_string(actor.channel), now, fx);
  emit_updates(inc, now, fx);
  snapshot(inc, fx);
  close(number);
  heartbeat_incident_closed(number, now, fx);
  return fx;
}

Result<Effects> Engine::escalate(std::int64_t number, const Actor& actor, TimePoint now) {
  auto it = open_.find(number);
  if (it == open_.end()) return fail(ErrorKind::not_found, "incident #" + std::to_string(number) + " is not open");
  Incident& inc = it->second;
  Effects fx;
  fx.touched.push_back(number);
  const auto previous = inc.owner;
  if (inc.state == IncidentState::acknowledged) {
    inc.state = IncidentState::triggered;
    inc.acknowledged_at.reset();
  }
  note(inc, TimelineKind::escalated, actor,
       "Escalated by " + actor.id + " via " + to_string(actor.channel) + " from step " +
           std::to_string(inc.escalation.step + 1),
       now, fx);
  emit_updates(inc, now, fx);
  if (inc.suppressed_until) {
    // Held by maintenance, nobody paged yet: escalating asks for step 1 now.
    clear_hold(inc);
    if (const Service* service = directory_->service(inc.service_id)) open_channels(inc, *service, now, fx);
  } else {
    ++inc.escalation.step;
  }
  start_step(inc, now, fx, actor);
  snapshot(inc, fx);
  schedule_timer(inc);
  return fx;
}

Result<Effects> Engine::reassign(std::int64_t number, const std::string& person, const Actor& actor,
                                 TimePoint now) {
  auto it = open_.find(number);
  if (it == open_.end()) return fail(ErrorKind::not_found, "incident #" + std::to_string(number) + " is not open");
  if (!directory_->person(person)) return fail(ErrorKind::not_found, "unknown person '" + person + "'");
  Incident& inc = it->second;
  Effects fx;
  fx.touched.push_back(number);
  note(inc, TimelineKind::reassigned, actor,
       "Reassigned from " + (inc.owner.empty() ? std::string("nobody") : inc.owner) + " to " + person + " by " +
           actor.id,
       now, fx);
  emit_updates(inc, now, fx);
  if (inc.suppressed_until) {
    clear_hold(inc);  // a person asked for this page
    if (const Service* service = directory_->service(inc.service_id)) open_channels(inc, *service, now, fx);
  }
  inc.state = IncidentState::triggered;
  inc.acknowledged_at.reset();
  const auto& steps = inc.policy ? inc.policy->steps : std::vector<EscalationStep>{};
  if (!steps.empty()) {
    inc.escalation.step = std::min<int>(inc.escalation.step, static_cast<int>(steps.size()) - 1);
    inc.escalation.active = true;
    inc.escalation.step_deadline = now + steps[inc.escalation.step].timeout;
  }
  page(inc, person, now, fx);
  snapshot(inc, fx);
  schedule_timer(inc);
  return fx;
}

Result<Effects> Engine::create(const std::string& service_id, const std::string& summary, Severity severity,
                               const Actor& actor, TimePoint now, const std::optional<std::string>& assignee) {
  const Service* service = directory_->service(service_id);
  if (!service) return fail(ErrorKind::not_found, "unknown service '" + service_id + "'");
  if (summary.empty()) return fail(ErrorKind::invalid_request, "the summary is empty");
  if (assignee && !directory_->person(*assignee)) return fail(ErrorKind::not_found, "unknown person '" + *assignee + "'");
  Alert alert;
  alert.source = actor.channel;
  alert.summary = summary;
  alert.severity = severity;
  alert.details_json = "{}";
  Effects fx;
  // An incident opened by hand is never held by maintenance: a person asked for it.
  open_incident(*service, alert, actor.channel, actor, now, fx, assignee, /*may_hold=*/false);
  return fx;
}

Effects Engine::delivery_result(const Notification& n, DeliveryStatus status, const std::string& detail,
                                TimePoint now) {
  Effects fx;
  const Person* p = directory_->person(n.person);
  const std::string who = n.person.empty() ? std::string("the service") : (p && !p->name.empty() ? p->name : n.person);
  const std::string what = std::string(n.kind == NotificationKind::page ? "Page" : n.kind == NotificationKind::update ? "Update" : "Incident channel") +
                           " to " + who + " via " + to_string(n.method);
  auto it = open_.find(n.incident);
  if (it == open_.end()) {
    // The incident is resolved; the outcome still belongs on its timeline.
    if (status == DeliveryStatus::failed || n.kind == NotificationKind::page)
      fx.timeline.push_back(TimelineEvent{n.incident, now,
                                          status == DeliveryStatus::delivered ? TimelineKind::notification_sent
                                                                              : TimelineKind::notification_failed,
                                          "baton", Source::engine,
                                          what + (status == DeliveryStatus::delivered ? " delivered" : " failed: " + detail)});
    return fx;
  }
  Incident& inc = it->second;
  if (status == DeliveryStatus::delivered) {
    if (n.kind != NotificationKind::update)
      note(inc, TimelineKind::notification_sent, kEngineActor, what + " delivered", now, fx);
    return fx;  // the timeline row is the only change; the incident row is untouched
  }
  const bool retrying = status == DeliveryStatus::retrying;
  note(inc, TimelineKind::notification_failed, kEngineActor,
       what + (retrying ? " failed, retrying: " : " failed: ") + detail, now, fx);
  auto& c = inc.contact;
  const bool moved_on = std::find(c.moved_on.begin(), c.moved_on.end(), n.id) != c.moved_on.end();
  if (n.kind == NotificationKind::page && inc.state == IncidentState::triggered && c.person == n.person &&
      !moved_on && c.next_rule < static_cast<int>(c.chain.size())) {
    c.moved_on.push_back(n.id);
    // Do not wait out the delay: the channel told us it cannot reach them.
    const auto method = c.chain[c.next_rule].method;
    note(inc, TimelineKind::note, kEngineActor,
         "Trying the next contact method for " + who + " now: " + to_string(method), now, fx);
    add_notification(inc, c.person, method, NotificationKind::page, now, fx);
    ++c.next_rule;
    if (c.next_rule < static_cast<int>(c.chain.size()))
      c.next_at = std::max(now, c.page_started + c.chain[c.next_rule].delay);
    snapshot(inc, fx);
    schedule_timer(inc);
  } else if (n.kind == NotificationKind::page) {
    snapshot(inc, fx);
  }
  return fx;
}

Effects Engine::tick(TimePoint now) {
  Effects fx;
  fire_heartbeats(now, fx);
  while (!timers_.empty() && timers_.begin()->first <= now) {
    const auto number = timers_.begin()->second;
    timers_.erase(timers_.begin());
    auto it = open_.find(number);
    if (it == open_.end()) continue;
    Incident& inc = it->second;
    inc.armed.reset();
    if (inc.state != IncidentState::triggered) continue;
    if (inc.suppressed_until && *inc.suppressed_until <= now)
      review_hold(inc, now, fx, "Maintenance (" + inc.suppressed_reason + ") ended");
    auto& c = inc.contact;
    if (c.next_rule < static_cast<int>(c.chain.size()) && c.next_at <= now) fire_contact_rules(inc, now, fx);
    if (inc.escalation.active && inc.escalation.step_deadline <= now) {
      const auto& steps = inc.policy->steps;
      note(inc, TimelineKind::escalated, kEngineActor,
           "Not acknowledged within " + describe_duration(steps[inc.escalation.step].timeout) + ": escalating from step " +
               std::to_string(inc.escalation.step + 1),
           now, fx);
      // Pages already shown (chat messages, cards) say who is paged now.
      emit_updates(inc, now, fx);
      ++inc.escalation.step;
      start_step(inc, now, fx, kEngineActor);
    }
    fx.touched.push_back(number);
    snapshot(inc, fx);
    schedule_timer(inc);
  }
  return fx;
}

std::optional<TimePoint> Engine::next_wakeup() const {
  std::optional<TimePoint> next = next_heartbeat_due();
  if (!timers_.empty() && (!next || timers_.begin()->first < *next)) next = timers_.begin()->first;
  return next;
}

void Engine::close(std::int64_t number) {
  auto it = open_.find(number);
  if (it == open_.end()) return;
  Incident& inc = it->second;
  unindex_dedup(inc);
  if (inc.armed) {
    auto [lo, hi] = timers_.equal_range(*inc.armed);
    for (auto t = lo; t != hi; ++t)
      if (t->second == number) {
        timers_.erase(t);
        break;
      }
  }
  open_.erase(it);
}

}  // namespace baton::engine
