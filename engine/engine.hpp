#pragma once
// The escalation engine: open incidents, their escalation and contact chains.
// Pure logic: every call takes `now`, returns what changed as Effects, and
// never sleeps, polls or performs I/O. Not thread-safe: one owner (the bot's
// engine strand) calls it.
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/heartbeats.hpp"
#include "engine/incident.hpp"
#include "engine/maintenance.hpp"
#include "engine/model.hpp"
#include "engine/result.hpp"

namespace baton::engine {

/// What one engine call changed. Storage persists it in one transaction
/// before anyone is told (HTTP 2xx) and before notifications go out.
struct Effects {
  std::vector<Incident> incidents;  ///< full snapshots of changed incidents
  std::vector<TimelineEvent> timeline;
  std::vector<Notification> notifications;  ///< new outbox entries
  std::vector<Alert> alerts;                ///< alerts to record (state-changing ones)
  std::vector<HeartbeatState> heartbeats;   ///< heartbeat states to store (upserts, in order)
  /// Incident numbers the call touched (for answers such as the dedup key).
  std::vector<std::int64_t> touched;

  bool empty() const {
    return incidents.empty() && timeline.empty() && notifications.empty() && alerts.empty() && heartbeats.empty();
  }
  void merge(Effects&& other);
};

/// Who did something, and through which channel.
struct Actor {
  std::string id;  ///< person id, "api:<name>", "integration:<service>"...
  Source channel = Source::api;
};

/// The counters the engine keeps for /metrics.
struct EngineStats {
  std::uint64_t alerts_received = 0;
  std::uint64_t alerts_deduplicated = 0;
  std::uint64_t incidents_triggered = 0;
};

class Engine {
 public:
  /// `next_incident` and `next_notification` continue numbering after a restart.
  explicit Engine(DirectoryPtr directory, std::int64_t next_incident = 1,
                  std::int64_t next_notification = 1);

  /// Swaps the configuration. Running escalations keep their snapshots.
  void set_directory(DirectoryPtr directory);
  const DirectoryPtr& directory() const { return directory_; }

  /// Overrides added at run time (from storage); the schedule's own still apply.
  void set_overrides(std::vector<Override> overrides);
  const std::vector<Override>& overrides() const { return overrides_; }

  /// Restores an open incident loaded from storage (after a restart).
  void restore(Incident incident);
  /// Restores a heartbeat's state and a one-off maintenance window (after the
  /// open incidents, before resume()).
  void restore_heartbeat(HeartbeatState state);
  void restore_maintenance(MaintenanceWindow window);
  /// After a start, a takeover or a rebuild, once everything is restored: no
  /// heartbeat is due before now + its grace; heartbeats configured but never
  /// seen start counting now (their new states are in the Effects); held
  /// incidents whose maintenance has ended (early, while baton was down) are
  /// due now. Also the first call for a fresh engine.
  Effects resume(TimePoint now);
  /// After set_directory(): heartbeats that are new in the configuration
  /// start counting now.
  Effects sync_heartbeats(TimePoint now);

  /// An alert from any source. invalid_request for an unknown integration key.
  /// An Alertmanager group's alerts whose alertname is a heartbeat's
  /// `alertname` on that service beat it (when firing) and open nothing; the
  /// rest of the group goes on as usual. While the service is in maintenance,
  /// a new incident is held (recorded, nobody paged) until it ends.
  Result<Effects> ingest(const Alert& alert, TimePoint now);

  /// A beat of the heartbeat whose key is `key` (not_found when no heartbeat
  /// has it): it counts from now, and its open incident is resolved with a
  /// timeline note. `via` is where it came from (api, alertmanager).
  Result<Effects> beat(std::string_view key, TimePoint now, Source via = Source::api);
  /// Heartbeat states by heartbeat_id(), configured or not (a heartbeat removed
  /// from the configuration keeps its stored state but has no deadline).
  const std::map<std::string, HeartbeatState>& heartbeats() const { return heartbeats_; }

  /// A one-off window, already stored with its id: held incidents of its
  /// service are held until the new end of the maintenance.
  Effects add_maintenance(MaintenanceWindow window, TimePoint now);
  /// The stored window `window` (same id) was ended early at window.ended_at:
  /// held incidents of its service whose maintenance is over now start their
  /// escalation (an id not seen before is taken as it is).
  Effects end_maintenance(MaintenanceWindow window, const Actor& actor, TimePoint now);
  /// One-off windows by id (ended ones included until the next restart).
  const std::map<std::int64_t, MaintenanceWindow>& maintenance_windows() const { return windows_; }
  /// Whether `service_id` is in maintenance at `at`; nullopt when it is not
  /// (or the service is unknown).
  std::optional<ActiveMaintenance> maintenance(std::string_view service_id, TimePoint at) const;

  Result<Effects> acknowledge(std::int64_t number, const Actor& actor, TimePoint now);
  Result<Effects> resolve(std::int64_t number, const Actor& actor, TimePoint now);
  /// Moves to the next step now (re-triggers an acknowledged incident).
  Result<Effects> escalate(std::int64_t number, const Actor& actor, TimePoint now);
  /// Makes `person` the owner and pages them; the current step's timer restarts.
  Result<Effects> reassign(std::int64_t number, const std::string& person, const Actor& actor,
                           TimePoint now);
  /// Creates an incident by hand (API, chat commands). With `assignee`, that
  /// person is paged instead of step 1's owner; escalation then goes on from
  /// step 1's timeout as usual.
  Result<Effects> create(const std::string& service_id, const std::string& summary,
                         Severity severity, const Actor& actor, TimePoint now,
                         const std::optional<std::string>& assignee = std::nullopt);

  /// A channel's report about a notification. The first failure of a page
  /// (`retrying` or `failed`, whichever comes first) moves the owner's contact
  /// chain to its next method at once; the failed method may go on retrying,
  /// and its later failures only go on the timeline.
  Effects delivery_result(const Notification& notification, DeliveryStatus status,
                          const std::string& detail, TimePoint now);

  /// Fires every timer due at or before `now`.
  Effects tick(TimePoint now);
  /// The earliest pending timer, or nullopt when none is pending.
  std::optional<TimePoint> next_wakeup() const;

  /// Open (triggered or acknowledged) incidents, by number.
  const Incident* find(std::int64_t number) const;
  const std::map<std::int64_t, Incident>& open_incidents() const { return open_; }
  std::size_t open_count() const { return open_.size(); }
  std::int64_t next_incident_number() const { return next_incident_; }
  const EngineStats& stats() const { return stats_; }

  /// Who is on call for a schedule at `at`, with the runtime overrides.
  std::optional<std::string> on_call(const Schedule& schedule, TimePoint at) const;

 private:
  Incident& open_incident(const Service& service, const Alert& alert, Source created_by,
                          const Actor& actor, TimePoint now, Effects& fx,
                          const std::optional<std::string>& assignee = std::nullopt, bool may_hold = true);
  void start_step(Incident& inc, TimePoint now, Effects& fx, const Actor& actor);
  void page(Incident& inc, const std::string& person, TimePoint now, Effects& fx);
  void fire_contact_rules(Incident& inc, TimePoint now, Effects& fx);
  void stop_escalation(Incident& inc);
  void emit_updates(Incident& inc, TimePoint now, Effects& fx);
  Notification& add_notification(Incident& inc, const std::string& person, MethodKind method,
                                 NotificationKind kind, TimePoint now, Effects& fx);
  void note(Incident& inc, TimelineKind kind, const Actor& actor, std::string message,
            TimePoint now, Effects& fx);
  void schedule_timer(Incident& inc);
  void snapshot(const Incident& inc, Effects& fx);
  void close(std::int64_t number);
  Result<Effects> ingest_alert(const Alert& alert, const Service& service, TimePoint now);
  /// Opens the channels a new incident gets and starts its escalation, unless
  /// the service is in maintenance (may_hold): then the incident is held.
  void start_incident(Incident& inc, const Service& service, const Actor& actor, TimePoint now, Effects& fx,
                      bool may_hold, const std::optional<std::string>& assignee);
  void open_channels(Incident& inc, const Service& service, TimePoint now, Effects& fx);
  /// A held incident's maintenance may have ended: start its escalation, or
  /// hold it until the maintenance now ends.
  void review_hold(Incident& inc, TimePoint now, Effects& fx, const std::string& why);
  void clear_hold(Incident& inc);
  void beat_state(HeartbeatState& state, TimePoint now, Source via, Effects& fx);
  void fire_heartbeats(TimePoint now, Effects& fx);
  void heartbeat_incident_closed(std::int64_t number, TimePoint now, Effects& fx);
  std::optional<TimePoint> next_heartbeat_due() const;
  static void put_heartbeat(Effects& fx, const HeartbeatState& state);
  std::vector<MaintenanceWindow> windows_of(std::string_view service_id) const;
  std::vector<ContactRule> chain_for(const Incident& inc, const std::string& person) const;
  PolicySnapshotPtr snapshot_policy(const EscalationPolicy& policy);

  DirectoryPtr directory_;
  std::vector<Override> overrides_;
  std::map<std::int64_t, Incident> open_;
  /// hash(service id, dedup key) -> incident number, open incidents only. A
  /// hash key instead of the joined strings saves ~50 bytes per open incident;
  /// collisions are resolved by comparing the incident's own fields.
  std::unordered_multimap<std::uint64_t, std::int64_t> by_dedup_;
  Incident* find_by_dedup(std::string_view service, std::string_view dedup_key);
  void index_dedup(const Incident& inc);
  void unindex_dedup(const Incident& inc);
  /// deadline -> incident; stale entries are skipped when they fire
  std::multimap<TimePoint, std::int64_t> timers_;
  std::map<std::string, std::weak_ptr<const PolicySnapshot>> snapshots_;
  std::int64_t next_incident_;
  std::int64_t next_notification_;
  std::map<std::string, HeartbeatState> heartbeats_;  ///< by heartbeat_id()
  std::map<std::int64_t, std::string> heartbeat_incidents_;  ///< open incident -> heartbeat_id()
  std::map<std::int64_t, MaintenanceWindow> windows_;
  EngineStats stats_;
};

}  // namespace baton::engine
