#pragma once
// The response report's hand-computed scenario (docs/reports.md), shared by the
// storage tests (both back ends) and the API and CLI tests. Times are UTC;
// alice is in Europe/Berlin (UTC+1 in November), bob in America/New_York
// (UTC-5); working hours are the default Mon-Fri 09:00-18:00 local.
//
//  #1 payments, created Mon 2026-11-02 10:00:00Z (= the report's `from`):
//     +0 page alice/slack (Berlin 11:00, in hours), delivered +2 s;
//     +300 s escalated (timeout), page bob/sms (New York 05:05: out of hours),
//     delivered +303 s; +420 s acknowledged by bob via sms.
//  #2 payments, created Mon 2026-11-02 12:00:00Z: +0 page alice/slack (13:00
//     Berlin), delivered +1 s; +300 s escalated, page bob/sms (07:05 New York:
//     out of hours), delivered +301 s; never acknowledged; resolved by the API
//     at +3600 s.
//  #3 search, created Tue 2026-11-03 02:00:00Z: +0 page alice/voice (03:00
//     Berlin: out of hours), delivered +5 s; +60 s acknowledged by alice via voice.
//  #4 payments, created 2026-11-10T00:00:00Z (= the report's `to`): outside.
//  #5 payments, created 2026-11-02T09:59:59.999Z (just before `from`): outside.
#include <chrono>
#include <vector>

#include "engine/engine.hpp"
#include "engine/oncall.hpp"
#include "storage/store.hpp"

namespace baton::test::report {

using namespace std::chrono_literals;

inline engine::TimePoint at(const char* iso) { return *engine::parse_iso8601(iso); }
inline engine::TimePoint from() { return at("2026-11-02T10:00:00Z"); }
inline engine::TimePoint to() { return at("2026-11-10T00:00:00Z"); }

/// Writes the five incidents through Store::apply, as the engine would have.
inline Result<void> seed(storage::Store& store) {
  std::int64_t next_id = 1;
  std::vector<storage::OutboxUpdate> delivered;
  auto incident = [&](std::int64_t number, const char* service, engine::TimePoint created) {
    engine::Incident inc;
    inc.number = number;
    inc.service_id = service;
    inc.dedup_key = "report-" + std::to_string(number);
    inc.summary = "scenario incident";
    inc.created_by = engine::Source::events_v2;
    inc.created_at = created;
    inc.updated_at = created;
    inc.details_json = "{}";
    inc.policy = std::make_shared<const engine::PolicySnapshot>(engine::PolicySnapshot{"primary", {}, 0});
    return inc;
  };
  auto event = [](std::int64_t n, engine::TimePoint t, engine::TimelineKind k, std::string actor, engine::Source s) {
    return engine::TimelineEvent{n, t, k, std::move(actor), s, std::string(engine::to_string(k))};
  };
  auto page = [&](engine::Effects& fx, std::int64_t n, const char* person, engine::MethodKind m, engine::TimePoint t,
                  engine::Millis delivered_after) {
    engine::Notification note;
    note.id = next_id++;
    note.incident = n;
    note.person = person;
    note.method = m;
    note.kind = engine::NotificationKind::page;
    note.created_at = t;
    note.idempotency_key = "report-" + std::to_string(note.id);
    fx.notifications.push_back(note);
    fx.timeline.push_back(event(n, t, engine::TimelineKind::paged, "baton", engine::Source::engine));
    storage::OutboxUpdate u;
    u.id = note.id;
    u.state = storage::OutboxState::delivered;
    u.attempts = 1;
    u.at = t + delivered_after;
    delivered.push_back(u);
  };
  auto update = [&](engine::Effects& fx, std::int64_t n, const char* person, engine::MethodKind m, engine::TimePoint t) {
    engine::Notification note;  // an update to a page shown before: not a page
    note.id = next_id++;
    note.incident = n;
    note.person = person;
    note.method = m;
    note.kind = engine::NotificationKind::update;
    note.created_at = t;
    note.idempotency_key = "report-" + std::to_string(note.id);
    fx.notifications.push_back(note);
  };
  using K = engine::TimelineKind;
  using S = engine::Source;
  using M = engine::MethodKind;
  std::vector<engine::Effects> all;
  {
    engine::Effects fx;
    const auto c = at("2026-11-02T10:00:00Z");
    auto inc = incident(1, "payments", c);
    fx.timeline.push_back(event(1, c, K::triggered, "integration:payments", S::events_v2));
    page(fx, 1, "alice", M::slack, c, 2s);
    fx.timeline.push_back(event(1, c + 300s, K::escalated, "baton", S::engine));
    update(fx, 1, "alice", M::slack, c + 300s);
    page(fx, 1, "bob", M::sms, c + 300s, 3s);
    fx.timeline.push_back(event(1, c + 420s, K::acknowledged, "bob", S::sms));
    update(fx, 1, "bob", M::sms, c + 420s);
    inc.state = engine::IncidentState::acknowledged;
    inc.acknowledged_at = c + 420s;
    inc.owner = "bob";
    fx.incidents.push_back(inc);
    all.push_back(std::move(fx));
  }
  {
    engine::Effects fx;
    const auto c = at("2026-11-02T12:00:00Z");
    auto inc = incident(2, "payments", c);
    fx.timeline.push_back(event(2, c, K::triggered, "integration:payments", S::events_v2));
    page(fx, 2, "alice", M::slack, c, 1s);
    fx.timeline.push_back(event(2, c + 300s, K::escalated, "baton", S::engine));
    page(fx, 2, "bob", M::sms, c + 300s, 1s);
    fx.timeline.push_back(event(2, c + 3600s, K::resolved, "api:ops", S::api));
    inc.state = engine::IncidentState::resolved;
    inc.resolved_at = c + 3600s;
    fx.incidents.push_back(inc);
    all.push_back(std::move(fx));
  }
  {
    engine::Effects fx;
    const auto c = at("2026-11-03T02:00:00Z");
    auto inc = incident(3, "search", c);
    fx.timeline.push_back(event(3, c, K::triggered, "integration:search", S::events_v2));
    page(fx, 3, "alice", M::voice, c, 5s);
    fx.timeline.push_back(event(3, c + 60s, K::acknowledged, "alice", S::voice));
    inc.state = engine::IncidentState::acknowledged;
    inc.acknowledged_at = c + 60s;
    fx.incidents.push_back(inc);
    all.push_back(std::move(fx));
  }
  for (auto [number, created] : {std::pair<std::int64_t, const char*>{4, "2026-11-10T00:00:00Z"},
                                 std::pair<std::int64_t, const char*>{5, "2026-11-02T09:59:59.999Z"}}) {
    engine::Effects fx;
    const auto c = at(created);
    fx.incidents.push_back(incident(number, "payments", c));
    fx.timeline.push_back(event(number, c, K::triggered, "integration:payments", S::events_v2));
    page(fx, number, "alice", M::slack, c, 1s);
    fx.timeline.push_back(event(number, c + 10s, K::acknowledged, "alice", S::slack));
    all.push_back(std::move(fx));
  }
  std::vector<const engine::Effects*> ptrs;
  for (const auto& fx : all) ptrs.push_back(&fx);
  if (auto r = store.apply(ptrs, {}); !r) return r;
  return store.apply({}, delivered);
}

/// The configured people and services of the scenario.
inline storage::ReportQuery query() {
  storage::ReportQuery q;
  q.from = from();
  q.to = to();
  q.people["alice"] = storage::ReportPerson{"Europe/Berlin", {}};
  q.people["bob"] = storage::ReportPerson{"America/New_York", {}};
  q.services = {"payments", "search", "web"};
  return q;
}

}  // namespace baton::test::report
