#pragma once
// Incidents and everything the engine records about them: alerts, the
// append-only timeline, and the notification intents it asks channels to send.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/model.hpp"
#include "engine/time.hpp"

namespace baton::engine {

enum class Severity { critical, error, warning, info };
const char* to_string(Severity s);
std::optional<Severity> parse_severity(std::string_view s);

enum class IncidentState { triggered, acknowledged, resolved };
const char* to_string(IncidentState s);
std::optional<IncidentState> parse_incident_state(std::string_view s);

enum class AlertAction { trigger, acknowledge, resolve };
const char* to_string(AlertAction a);

/// Where a command or alert came from.
enum class Source { events_v2, alertmanager, api, cli, webhook, slack, teams, email, sms, voice, engine, console };
const char* to_string(Source s);
std::optional<Source> parse_source(std::string_view s);

/// One alert instance inside an Alertmanager group (identity: fingerprint).
struct GroupAlert {
  std::string fingerprint;
  bool firing = true;
  std::string starts_at;  ///< as sent (RFC 3339)
  std::string summary;
  std::string alertname;  ///< labels.alertname; feeds a heartbeat of that alertname
};

/// A normalized alert from any source, ready for the engine.
struct Alert {
  Source source = Source::events_v2;
  std::string integration_key;
  AlertAction action = AlertAction::trigger;
  std::string dedup_key;
  std::string summary;
  std::string source_name;  ///< payload.source: the affected host or service
  Severity severity = Severity::error;
  std::string client;
  std::string client_url;
  std::string details_json;  ///< free-form details, JSON text, stored as-is
  std::vector<GroupAlert> group;  ///< Alertmanager: the group's alerts
};

/// The policy copied onto an incident when it triggers, with people and
/// schedules as they were named then. Shared between identical snapshots.
struct PolicySnapshot {
  std::string policy_id;
  std::vector<EscalationStep> steps;
  int repeat = 0;
};
using PolicySnapshotPtr = std::shared_ptr<const PolicySnapshot>;

/// Where the escalation of an incident stands. Deadlines are timers: the
/// engine fires them from tick(now); storage persists them with the incident.
struct EscalationState {
  int step = 0;   ///< index into the snapshot's steps
  int round = 0;  ///< 0 = first pass; repeats count up to policy.repeat
  bool active = false;
  TimePoint step_deadline{};  ///< when the current step times out
};

/// Where the contact chain of the current owner stands.
struct ContactState {
  std::string person;       ///< who is being paged (the owner)
  TimePoint page_started{};  ///< when this person's page began
  int next_rule = 0;        ///< index of the next rule in `chain` to fire
  std::vector<ContactRule> chain;
  TimePoint next_at{};  ///< when rule next_rule fires (valid if next_rule < chain.size())
  /// Pages of this chain whose failure already moved it on: a page that fails
  /// again (a retry, then the final failure) moves it no further.
  std::vector<std::int64_t> moved_on;
};

struct Incident {
  std::int64_t number = 0;
  std::string service_id;
  std::string dedup_key;
  std::string summary;
  std::string source_name;
  Severity severity = Severity::error;
  IncidentState state = IncidentState::triggered;
  Source created_by = Source::events_v2;
  TimePoint created_at{};
  TimePoint updated_at{};
  std::optional<TimePoint> acknowledged_at;
  std::optional<TimePoint> resolved_at;
  std::string owner;  ///< person id of the one owner; empty if nobody could be paged
  std::string details_json;
  int alert_count = 1;
  /// Alertmanager groups: identities of the alerts seen (fingerprint|startsAt|status).
  std::vector<std::string> group_alert_keys;
  PolicySnapshotPtr policy;
  EscalationState escalation;
  ContactState contact;
  /// Every (person, method) a page went to, so updates reach the same places.
  std::vector<std::pair<std::string, MethodKind>> notified;
  /// Maintenance: a triggered incident opened while its service was in a
  /// maintenance window is held, nobody paged, until this time; then its
  /// escalation starts (engine/maintenance.hpp). Unset = not suppressed.
  std::optional<TimePoint> suppressed_until;
  std::string suppressed_reason;  ///< the window's reason, while suppressed
  /// Engine bookkeeping, not persisted: the deadline its timer entry is armed for.
  std::optional<TimePoint> armed;

  /// The earliest pending timer, if any.
  std::optional<TimePoint> next_deadline() const;
};

enum class TimelineKind {
  triggered, alert, acknowledged, resolved, escalated, reassigned, paged,
  step_skipped, policy_exhausted, notification_sent, notification_failed, note
};
const char* to_string(TimelineKind k);

struct TimelineEvent {
  std::int64_t incident = 0;
  TimePoint at{};
  TimelineKind kind = TimelineKind::note;
  std::string actor;  ///< person id, "integration:<service>", "api:<token name>", "baton"
  Source channel = Source::engine;
  std::string message;
};

enum class NotificationKind {
  page,          ///< ask the person to take the incident
  update,        ///< the incident changed: refresh what this channel showed
  open_channel,  ///< open an incident channel (chat channels)
};
const char* to_string(NotificationKind k);

/// An intent for a channel. Storage keeps it in the outbox until delivered.
struct Notification {
  std::int64_t id = 0;  ///< assigned by the engine, unique and increasing
  std::int64_t incident = 0;
  std::string person;  ///< empty for service-level notifications
  MethodKind method = MethodKind::webhook;
  NotificationKind kind = NotificationKind::page;
  int step = 0;
  TimePoint created_at{};
  /// Stable across retries and restarts: channels pass it to peers that dedupe.
  std::string idempotency_key;
};

/// A channel's report on a notification: delivered; failed for good; or an
/// attempt failed and the channel retries it in the background.
enum class DeliveryStatus { delivered, failed, retrying };

}  // namespace baton::engine
