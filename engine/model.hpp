#pragma once
// The configured world: people, schedules, escalation policies and services.
// Plain values, built by the config loader (bot/config) and read by the engine.
// A Directory is immutable once built; a reload builds a new one and swaps it.
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/time.hpp"

namespace baton::engine {

/// How a person can be reached. Each kind is served by one notifier in integrations/.
enum class MethodKind { webhook, slack, teams, email, sms, voice };
const char* to_string(MethodKind m);
std::optional<MethodKind> parse_method(std::string_view s);

/// One link of a contact chain: use `method` this long after the page starts.
struct ContactRule {
  MethodKind method = MethodKind::webhook;
  Seconds delay{0};
};

struct Person {
  std::string id;  ///< config key, e.g. "alice"
  std::string name;
  std::string email;
  std::string phone;          ///< E.164, e.g. "+15551234567"
  std::string slack_user_id;  ///< "U0123ABC"
  std::string teams_user_id;  ///< AAD object id
  std::string time_zone = "UTC";
  /// Ordered by delay. Empty means: use the service's default chain.
  std::vector<ContactRule> contact_chain;
  /// Daily quiet hours in the person's time zone: [start, end) minutes after
  /// local midnight; end <= start wraps past midnight. Pages of low urgency
  /// (warning, info) wait until they end; critical and error pages do not.
  struct QuietHours {
    int start_minute = 0;
    int end_minute = 0;
  };
  std::optional<QuietHours> quiet_hours;
};

/// A weekly window in which a layer applies, in the layer's time zone.
/// `days` holds ISO weekdays 1 (Mon) .. 7 (Sun); [start, end) are minutes
/// after local midnight; end <= start wraps past midnight.
struct Restriction {
  std::vector<int> days;
  int start_minute = 0;
  int end_minute = 0;
};

/// A rotation: participants take turns, each for `shift_length` units.
/// Daily and weekly units are calendar units in `time_zone` (a handoff at 09:00
/// stays at 09:00 local across DST); hourly units are exact durations.
enum class ShiftUnit { hours, days, weeks };

struct Layer {
  std::string name;
  std::vector<std::string> participants;  ///< person ids, in rotation order
  ShiftUnit unit = ShiftUnit::weeks;
  int shift_length = 1;  ///< number of units per shift
  /// Local date-time of the first handoff (participants[0] starts then),
  /// e.g. "2026-01-05T09:00" — it also fixes the daily handoff time.
  std::string start_local;
  std::string time_zone = "UTC";       ///< the handoff time zone
  std::vector<Restriction> restrictions;  ///< empty = always active
};

/// A temporary replacement: `person` is on call for `schedule_id` in [start, end).
struct Override {
  std::int64_t id = 0;  ///< storage id; 0 for overrides from the config file
  std::string schedule_id;
  std::string person;
  TimePoint start;
  TimePoint end;
};

struct Schedule {
  std::string id;
  std::string name;
  std::string time_zone = "UTC";  ///< display zone
  /// Later layers are higher: the highest layer with someone on call wins.
  std::vector<Layer> layers;
  std::vector<Override> overrides;  ///< from the config; storage adds more
};

struct Target {
  enum class Kind { person, schedule };
  Kind kind = Kind::person;
  std::string id;
};

struct EscalationStep {
  /// Tried in order: the first target that resolves to someone on call is the
  /// step's one owner.
  std::vector<Target> targets;
  Seconds timeout{300};
};

struct EscalationPolicy {
  std::string id;
  std::string name;
  std::vector<EscalationStep> steps;
  int repeat = 0;  ///< how many extra rounds after the last step
};

/// A heartbeat a service expects: a cron job or a pipeline that calls
/// `POST/GET /api/v1/heartbeats/{key}`, or an always-firing Alertmanager alert
/// (the Prometheus operator's `Watchdog`). No beat for interval + grace opens
/// an incident on the service (engine/heartbeats.hpp).
struct Heartbeat {
  std::string name;       ///< unique within its service
  Millis interval{0};     ///< > 0: how often it beats
  Millis grace{0};        ///< >= 0: how late a beat may be
  std::string key;        ///< the credential of its URL; unique in the whole configuration
  std::string alertname;  ///< an Alertmanager alertname that also beats it; empty = none
};

/// A weekly maintenance window from the configuration: on each of `days`, at
/// `start_minute` local time in `time_zone` (DST-correct: 02:00 stays 02:00
/// local; a start inside a spring-forward gap begins when the gap ends), for
/// `duration` of real time. See engine/maintenance.hpp.
struct MaintenanceRule {
  std::vector<int> days;  ///< ISO weekdays 1 (Mon) .. 7 (Sun) on which a window starts
  int start_minute = 0;   ///< minutes after local midnight, 0..1439
  Millis duration{0};     ///< > 0, at most 7 days
  std::string time_zone = "UTC";
  std::string reason;     ///< shown on the timeline; empty = "scheduled maintenance"
};

struct Service {
  std::string id;
  std::string name;
  std::string escalation_policy;  ///< policy id
  std::vector<std::string> integration_keys;
  /// Used for people whose own chain is empty.
  std::vector<ContactRule> default_contact_chain;
  bool open_incident_channel = false;
  /// Slack channel id (C0123...) where this service's pages are also posted; empty = none.
  std::string slack_channel;
  /// Teams channel id ("19:...@thread.tacv2") for this service's cards; empty = none.
  std::string teams_channel;
  /// Teams team (group) id where incident channels are created; empty = none.
  std::string teams_team;
  std::vector<Heartbeat> heartbeats;
  std::vector<MaintenanceRule> maintenance;

  const Heartbeat* heartbeat(std::string_view name) const;
};

/// Everything configured, indexed by id. Immutable once built.
struct Directory {
  std::map<std::string, Person, std::less<>> people;
  std::map<std::string, Schedule, std::less<>> schedules;
  std::map<std::string, EscalationPolicy, std::less<>> policies;
  std::map<std::string, Service, std::less<>> services;
  /// integration key -> service id
  std::map<std::string, std::string, std::less<>> integration_keys;
  /// heartbeat key -> (service id, heartbeat name)
  std::map<std::string, std::pair<std::string, std::string>, std::less<>> heartbeat_keys;
  /// The contact methods that have a configured channel. Contact-chain links
  /// using any other method are skipped. Empty = every method is available.
  std::vector<MethodKind> channels;

  bool has_channel(MethodKind m) const;

  const Person* person(std::string_view id) const;
  const Schedule* schedule(std::string_view id) const;
  const EscalationPolicy* policy(std::string_view id) const;
  const Service* service(std::string_view id) const;
  const Service* service_by_key(std::string_view key) const;
  /// The service and heartbeat of a heartbeat key; {nullptr, nullptr} when unknown.
  std::pair<const Service*, const Heartbeat*> heartbeat_by_key(std::string_view key) const;
};

using DirectoryPtr = std::shared_ptr<const Directory>;

}  // namespace baton::engine
