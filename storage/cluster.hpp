#pragma once
// High availability on PostgreSQL (docs/architecture.md, "High availability"):
// several `baton serve` processes share one database; one of them, the holder
// of the lease row in cluster_lease, owns the engine.
//   LeaseKeeper    takes and renews the lease on its own connection, timed by
//                  the database server's clock, and heartbeats this instance
//                  into the instances table;
//   InboxListener  on the owner: LISTENs for baton_inbox and hands the inbox
//                  rows (alerts and commands taken by other instances) over;
//   inbox payloads JSON for an alert or a command in the inbox table.
// libpq stays in storage/*.cpp.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/engine.hpp"
#include "engine/incident.hpp"
#include "engine/result.hpp"
#include "engine/time.hpp"

namespace baton::storage {

struct LeaseOptions {
  std::string uri;          ///< libpq connection URI (postgres:// or postgresql://)
  std::string instance_id;  ///< unique per process (new_instance_id())
  std::string address;      ///< shown by GET /api/v1/cluster
  engine::Millis ttl{3000};         ///< a lease not renewed for this long may be taken over
  engine::Millis renew_every{1000};
};

struct LeaseStatus {
  bool reachable = false;  ///< the last round reached the database
  bool owner = false;      ///< we hold the lease
  std::int64_t epoch = 0;  ///< ours while owner; else the lease's as last seen
};

/// A random id for this process: "<hostname>-<pid>-<random hex>".
std::string new_instance_id();

class LeaseKeeper {
 public:
  /// Called on the keeper's thread (`baton-lease`) whenever `owner` or `epoch`
  /// changes. Must not block; post to your own executor.
  using OnChange = std::function<void(const LeaseStatus&)>;
  LeaseKeeper(LeaseOptions options, OnChange on_change);
  /// stop(false).
  ~LeaseKeeper();
  LeaseKeeper(const LeaseKeeper&) = delete;
  LeaseKeeper& operator=(const LeaseKeeper&) = delete;

  /// Runs a round every renew_every on its own thread.
  void start();
  /// Stops the thread. With `release`, gives up a lease we hold (expires it
  /// now: another instance takes over at its next round, not after the TTL) and
  /// removes our heartbeat row. Idempotent.
  void stop(bool release);
  LeaseStatus status() const;
  /// The next round (within renew_every) takes a new epoch even if we hold the lease (after a
  /// failed commit the owner reloads from the database under a fresh epoch).
  void renew_epoch();
  /// One round now on the caller's thread (tests; do not mix with start()):
  /// heartbeat, then take or renew the lease. Without the database for longer
  /// than 3/4 of the TTL since the last renewal, we are no longer owner.
  LeaseStatus round();
  const LeaseOptions& options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// One inbox row.
struct InboxRow {
  std::int64_t id = 0;
  std::string kind;     ///< "alert" or "command"
  std::string payload;  ///< encode_inbox_alert / encode_inbox_command
};

class InboxListener {
 public:
  /// Called on the listener's thread (`baton-inbox`) with rows not handed over
  /// before in this generation, by id. Must not block.
  using OnRows = std::function<void(std::vector<InboxRow>, std::uint64_t generation)>;
  InboxListener(std::string uri, OnRows on_rows);
  ~InboxListener();
  InboxListener(const InboxListener&) = delete;
  InboxListener& operator=(const InboxListener&) = delete;

  void start();
  void stop();
  /// Hands every row over again from the first unconsumed one, tagged with
  /// `generation` (the owner's state was (re)loaded); then new ones as they
  /// are notified (and every 5 s, in case a notification was missed).
  void activate(std::uint64_t generation);
  void deactivate();
  /// How long the oldest unconsumed row has waited, in seconds (database
  /// clock), as of the last look; 0 when the inbox is empty.
  double lag_seconds() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

std::string encode_inbox_alert(const engine::Alert& alert);
Result<engine::Alert> decode_inbox_alert(const std::string& payload);

/// A change asked of an instance that does not run the engine, for the owner
/// to apply. `command` says which fields matter:
/// - "acknowledge", "resolve", "escalate": incident, actor;
/// - "reassign": incident, actor, text (the new owner);
/// - "create": actor, service, text (the summary), severity, assignee;
/// - "note": incident, actor, text (the line);
/// - "delivery_failed": notification, text (the detail);
/// - "override_added": override_ (already stored, with its id);
/// - "override_removed": override_.id (already deleted);
/// - "heartbeat": text (the heartbeat key), actor.channel (where the beat came from);
/// - "maintenance_added", "maintenance_ended": maintenance (already stored,
///   with its id; ended: with ended_at and ended_by), actor.
struct InboxCommand {
  std::int64_t incident = 0;
  std::string command;
  engine::Actor actor;
  std::string text;
  std::string service;
  engine::Severity severity = engine::Severity::error;
  std::optional<std::string> assignee;
  engine::Notification notification;
  engine::Override override_;
  engine::MaintenanceWindow maintenance;
};
std::string encode_inbox_command(const InboxCommand& command);
Result<InboxCommand> decode_inbox_command(const std::string& payload);

}  // namespace baton::storage
