#pragma once
// The one writer of incident state. The engine runs on its own single-threaded
// loop (`baton-engine`, with the engine's timer); every change is committed
// through the group-commit writer (`baton-writer`) before its sender hears
// back, and only then are its notifications handed to the dispatcher (on
// `baton-net`), whose delivery outcomes come back here. After a failed commit
// it refuses changes until the engine is rebuilt from the database (degraded
// mode, docs/architecture.md "Durability"). Every inbound transport turns its
// input into one of the commands below. Thread-safe: commands may come from
// any thread; their callbacks run on the writer or engine thread. No Asio
// here (pimpl).
#include <cstdint>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bot/config.hpp"
#include "engine/engine.hpp"
#include "engine/time.hpp"
#include "storage/store.hpp"

namespace boost::asio {
class io_context;
}

namespace baton::integrations {
class Notifier;
}

namespace baton::storage {
class GroupCommitWriter;
}

namespace baton::bot {

class Metrics;
class Queries;
class StoredChatRefs;
struct RuntimeState;

enum class Command { acknowledge, resolve, escalate };

/// What an accepted alert did.
struct IngestOutcome {
  std::string dedup_key;
  std::optional<std::int64_t> incident;
};

/// High availability (PostgreSQL, docs/architecture.md "High availability").
struct ClusterOptions {
  std::string uri;          ///< the PostgreSQL URI of storage.path
  std::string instance_id;  ///< unique per process
  std::string address;      ///< shown by GET /api/v1/cluster
  engine::Millis lease_ttl{3000};
  engine::Millis lease_renew{1000};
};

/// This instance's part in the cluster, for /metrics and GET /api/v1/cluster.
struct ClusterStatus {
  bool enabled = false;
  std::string instance_id;
  bool owner = false;           ///< runs the engine now
  std::int64_t epoch = 0;       ///< the lease epoch this instance last saw (its own while owner)
  std::uint64_t takeovers = 0;  ///< times this instance became owner
  double inbox_lag_seconds = 0;
  bool database_reachable = true;
};

/// A command taken by an instance that does not own the engine is queued in the
/// inbox: its `done` gets an Incident with only `number` set, for which this
/// is true (answer 202 "queued").
bool is_queued(const engine::Incident& incident);

/// What a heartbeat's beat did.
struct BeatOutcome {
  std::string service;
  std::string heartbeat;
  std::optional<std::int64_t> resolved;  ///< the "no heartbeat" incident it resolved
  bool queued = false;  ///< taken by an instance that does not run the engine: in the inbox
};

/// A configured heartbeat as /metrics and the API show it.
struct HeartbeatStatus {
  std::string service;
  std::string name;
  std::optional<engine::TimePoint> last_beat;
  std::optional<engine::TimePoint> due;  ///< unset while its incident is open
  std::int64_t incident = 0;             ///< its open "no heartbeat" incident; 0 = none
};

/// A service's maintenance: whether it is in maintenance now, its one-off
/// windows not over yet, and its configured weekly ones with the occurrence in
/// force or next.
struct MaintenanceStatus {
  std::optional<engine::ActiveMaintenance> active;
  std::vector<engine::MaintenanceWindow> windows;
  struct Configured {
    engine::MaintenanceRule rule;
    std::optional<engine::MaintenanceOccurrence> current_or_next;
  };
  std::vector<Configured> configured;
};

/// One schedule's current on-call person.
struct OnCallEntry {
  std::string schedule_id;
  std::string schedule_name;
  std::string person;  ///< empty = nobody
  std::optional<engine::TimePoint> until;
};

class Incidents {
 public:
  /// Restores every open incident, pending timer and undelivered notification
  /// of `state` (loaded from `store`) and takes `store` for the writer.
  /// `queries` and `metrics` must outlive this object. Does not run yet.
  static std::unique_ptr<Incidents> create(const Config& config, const engine::Clock& clock,
                                           std::unique_ptr<storage::Store> store, storage::LoadedState state,
                                           Queries& queries, Metrics& metrics);
  ~Incidents();
  Incidents(const Incidents&) = delete;
  Incidents& operator=(const Incidents&) = delete;

  // Wiring, before start().
  /// The group-commit writer, for other owners' small writes (Store access between commits).
  storage::GroupCommitWriter& writer();
  /// Deliveries go to `notifiers` through a dispatcher on `net_loop` (which
  /// must outlive this object); the people paged get their Teams user ids from `people`.
  void connect_channels(boost::asio::io_context& net_loop, std::vector<std::shared_ptr<integrations::Notifier>> notifiers,
                        const DispatchConfig& dispatch, std::shared_ptr<const StoredChatRefs> people);
  /// Called on the writer thread, once committed, with the timeline rows that
  /// no page update announces (notes, delivery failures...), e.g. for the
  /// incident's Slack channel. Must not block.
  void on_committed_lines(std::function<void(std::vector<engine::TimelineEvent>)> sink);
  /// PostgreSQL with several instances: the engine runs only while this
  /// instance holds the lease (created with an empty state, it loads the
  /// database when it becomes owner); otherwise alerts and commands go to the
  /// inbox. Before start().
  void enable_cluster(ClusterOptions options);
  /// Called on the engine loop when this instance takes the engine over, with
  /// the open incidents and those with undelivered notifications, before the
  /// outbox is resumed (e.g. to load the chat references the last owner saved).
  void on_takeover(std::function<void(const std::vector<std::int64_t>&)> hook);
  ClusterStatus cluster_status() const;
  /// For tests: stop renewing the lease without giving it up, as a killed
  /// process would (the lease expires after its TTL and another instance takes over).
  void abandon_lease_for_test();

  // Life, driven by App::start and App::stop (in this order).
  /// Starts the engine loop, resumes undelivered notifications, fires overdue timers.
  void start();
  /// Not ready from now on; false when stopping had already begun.
  bool begin_stop();
  /// Commits everything the loop accepted, stops the dispatcher, calls
  /// `cancel_sends` (sends still in flight stay pending in the outbox), waits
  /// for the dispatcher and commits the outcomes of the last sends.
  void finish(const std::function<void()>& cancel_sends);
  /// Stops the engine loop and flushes the writer.
  void stop_loop();
  /// Reload: the engine uses `directory` from now on; running escalations keep their snapshots.
  void set_directory(engine::DirectoryPtr directory);

  // Commands. `done` runs once the outcome is durable (or failed).
  void ingest(engine::Alert alert, std::function<void(Result<IngestOutcome>)> done);
  void command(std::int64_t number, Command command, engine::Actor actor,
               std::function<void(Result<engine::Incident>)> done);
  /// Opens an incident by hand; with `assignee`, that person is paged first.
  void create(std::string service, std::string summary, engine::Severity severity, engine::Actor actor,
              std::optional<std::string> assignee, std::function<void(Result<engine::Incident>)> done);
  /// Makes `person` the owner and pages them.
  void reassign(std::int64_t number, std::string person, engine::Actor actor,
                std::function<void(Result<engine::Incident>)> done);
  /// Adds a line to an incident's timeline (e.g. a channel's status report).
  void note(std::int64_t number, std::string message, engine::Actor actor);
  /// A channel learned after the fact that a notification failed (e.g. an SMS
  /// status callback): the contact chain moves on as for any failure.
  void delivery_failed(engine::Notification notification, std::string detail);
  /// Marks a single-use token (an action link, a Slack event id, an SMS sid)
  /// as used; conflict when it already was.
  Result<void> consume_token(const std::string& token_id);
  /// The same without waiting: `done` runs on the writer thread once it is
  /// committed (or refused: conflict when the token was already used).
  void consume_token_async(std::string token_id, std::function<void(Result<void>)> done);

  // Heartbeats and maintenance windows (README "Heartbeats", "Maintenance
  // windows"). Chat commands (`/baton maintenance ...`, the `oncall` answer)
  // call these too.
  /// A beat of the heartbeat whose key is `key`, from `via` (api). not_found
  /// for an unknown key, and nothing changes; `done` runs once it is committed.
  void beat(std::string key, engine::Source via, std::function<void(Result<BeatOutcome>)> done);
  /// Every configured heartbeat, by service then name.
  std::vector<HeartbeatStatus> heartbeats();
  /// Puts `service` in maintenance from now until `until` (stored at once;
  /// incidents its alerts open meanwhile page nobody until it ends). not_found
  /// for an unknown service, invalid_request when `until` is not in the future
  /// or more than a year away; transient (503) while the database fails.
  /// Blocks on the database, as overrides do.
  Result<engine::MaintenanceWindow> start_maintenance(std::string service, engine::TimePoint until,
                                                      std::string reason, engine::Actor actor);
  /// Ends `service`'s one-off window `window` early, or all of them when
  /// unset; the incidents they held are paged now. Returns the windows ended.
  /// not_found for an unknown service or window, or when none is in force;
  /// conflict for a window already over. Configured weekly windows are not
  /// ended this way.
  Result<std::vector<engine::MaintenanceWindow>> end_maintenance(std::string service,
                                                                 std::optional<std::int64_t> window,
                                                                 engine::Actor actor);
  /// Whether `service` is in maintenance now (until when, why); nullopt if not.
  std::optional<engine::ActiveMaintenance> active_maintenance(const std::string& service);
  /// What GET /api/v1/services/{id}/maintenance shows. not_found for an unknown service.
  Result<MaintenanceStatus> maintenance(const std::string& service);

  // The engine's state (current, not only committed).
  /// Open incidents owned by `person`, most recently paged first.
  std::vector<engine::Incident> open_for_person(const std::string& person);
  std::vector<OnCallEntry> on_call(std::optional<std::string> schedule, engine::TimePoint at);
  /// Runtime overrides (kept in the database, applied to the engine at once).
  Result<engine::Override> add_override(engine::Override o);
  Result<void> remove_override(std::int64_t id);
  std::vector<engine::Override> overrides();

  /// Started, not stopping, and the database takes writes (see storage_failing).
  bool ready() const;
  /// A commit failed and the disk has not taken a write since: changes are
  /// refused with 503 (transient, Retry-After) until the state is rebuilt.
  bool storage_failing() const;
  /// Fills in the engine's and the writer's part of /metrics.
  void fill_metrics(RuntimeState& state);

  // For tests with a fake clock.
  void poke();   ///< fire due timers now
  void drain();  ///< wait until the engine loop, the writer and the sends already due are idle

 private:
  struct Impl;
  explicit Incidents(std::unique_ptr<Impl> impl);
  /// Loop thread: one alert of an intake batch.
  void ingest_now(engine::Alert alert, std::function<void(Result<IngestOutcome>)> done,
                  std::chrono::steady_clock::time_point received);
  std::unique_ptr<Impl> impl_;
};

}  // namespace baton::bot
