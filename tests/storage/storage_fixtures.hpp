#pragma once
// Builders shared by the storage tests: a per-test temp directory and
// engine values with every field set.
#include <atomic>
#include <filesystem>
#include <random>
#include <string>

#include "engine/engine.hpp"
#include "storage/store.hpp"

namespace baton::test {

/// A fresh directory under the system temp dir, removed at scope exit.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("baton-storage-" + std::to_string(rd()) + "-" + std::to_string(counter++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name = "baton.db") const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline engine::TimePoint t0() { return engine::from_ms(1'767'225'600'000); }  // 2026-01-01T00:00Z

inline engine::PolicySnapshotPtr make_policy() {
  auto p = std::make_shared<engine::PolicySnapshot>();
  p->policy_id = "primary";
  p->repeat = 2;
  p->steps.push_back({{{engine::Target::Kind::schedule, "ops"}, {engine::Target::Kind::person, "alice"}},
                      engine::Seconds{300}});
  p->steps.push_back({{{engine::Target::Kind::person, "bob"}}, engine::Seconds{900}});
  return p;
}

/// A triggered incident mid-escalation: step 1, deadline and contact timer pending.
inline engine::Incident make_incident(std::int64_t number, engine::PolicySnapshotPtr policy = make_policy()) {
  using namespace std::chrono_literals;
  engine::Incident inc;
  inc.number = number;
  inc.service_id = "payments";
  inc.dedup_key = "dedup-" + std::to_string(number);
  inc.summary = "Disk full on \"db-1\" — ünïcode";
  inc.source_name = "db-1";
  inc.severity = engine::Severity::critical;
  inc.state = engine::IncidentState::triggered;
  inc.created_by = engine::Source::alertmanager;
  inc.created_at = t0() + std::chrono::seconds(number);
  inc.updated_at = inc.created_at + 5s;
  inc.owner = "alice";
  inc.details_json = R"({"disk":"/var","pct":99})";
  inc.alert_count = 3;
  inc.group_alert_keys = {"fp1|2026-01-01T00:00:00Z|firing", "fp2|2026-01-01T00:01:00Z|firing"};
  inc.policy = std::move(policy);
  inc.escalation = {1, 1, true, inc.created_at + 300s};
  inc.contact.person = "alice";
  inc.contact.page_started = inc.created_at;
  inc.contact.next_rule = 1;
  inc.contact.chain = {{engine::MethodKind::slack, 0s}, {engine::MethodKind::sms, 60s},
                       {engine::MethodKind::email, 120s}};
  inc.contact.next_at = inc.created_at + 60s;
  inc.notified = {{"alice", engine::MethodKind::slack}, {"bob", engine::MethodKind::teams}};
  return inc;
}

inline engine::Notification make_notification(std::int64_t id, std::int64_t incident) {
  engine::Notification n;
  n.id = id;
  n.incident = incident;
  n.person = "alice";
  n.method = engine::MethodKind::sms;
  n.kind = engine::NotificationKind::page;
  n.step = 1;
  n.created_at = t0() + std::chrono::milliseconds(id);
  n.idempotency_key = "inc-" + std::to_string(incident) + "-n-" + std::to_string(id);
  return n;
}

inline engine::TimelineEvent make_event(std::int64_t incident, engine::TimePoint at, engine::TimelineKind kind,
                                        std::string message) {
  return {incident, at, kind, "integration:payments", engine::Source::alertmanager, std::move(message)};
}

/// What the engine returns when it opens incident `number`: snapshot, events,
/// one page, the alert.
inline engine::Effects make_trigger_effects(std::int64_t number, std::int64_t notification_id) {
  engine::Effects fx;
  fx.incidents.push_back(make_incident(number));
  const auto& inc = fx.incidents.back();
  fx.timeline.push_back(make_event(number, inc.created_at, engine::TimelineKind::triggered, "triggered"));
  fx.timeline.push_back(make_event(number, inc.created_at, engine::TimelineKind::paged, "paged alice"));
  fx.notifications.push_back(make_notification(notification_id, number));
  engine::Alert a;
  a.source = engine::Source::alertmanager;
  a.integration_key = "key-1";
  a.dedup_key = inc.dedup_key;
  a.summary = inc.summary;
  a.group.push_back({"fp1", true, "2026-01-01T00:00:00Z", "disk"});
  fx.alerts.push_back(a);
  fx.touched.push_back(number);
  return fx;
}

/// Applies one Effects (test convenience).
inline Result<void> apply_one(storage::Store& store, const engine::Effects& fx) {
  const engine::Effects* p[] = {&fx};
  return store.apply(p, {});
}

inline Result<void> apply_updates(storage::Store& store, std::vector<storage::OutboxUpdate> updates) {
  return store.apply({}, updates);
}

}  // namespace baton::test
