#pragma once
// The running service: the engine on its own single-threaded loop (the one
// writer of incident state), the group-commit writer, the outbox dispatcher,
// and a read-only store for queries. Every inbound transport turns its input
// into one of the commands below. Thread-safe: commands may come from any
// thread; their callbacks run on the writer or engine thread.
#include <array>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bot/config.hpp"
#include "bot/http_types.hpp"
#include "engine/engine.hpp"
#include "engine/time.hpp"
#include "storage/store.hpp"

namespace baton::bot {

class SlackFrontend;
class TeamsFrontend;

enum class Command { acknowledge, resolve, escalate };

/// What an accepted alert did.
struct IngestOutcome {
  std::string dedup_key;
  std::optional<std::int64_t> incident;
};

/// One schedule's current on-call person.
struct OnCallEntry {
  std::string schedule_id;
  std::string schedule_name;
  std::string person;  ///< empty = nobody
  std::optional<engine::TimePoint> until;
};

class App {
 public:
  /// Opens the database (running migrations), restores every open incident,
  /// pending timer and undelivered notification. Does not listen yet.
  static Result<std::unique_ptr<App>> create(Config config, const engine::Clock& clock);
  ~App();

  /// Starts the engine loop, the dispatcher and the HTTP server; returns the port.
  Result<std::uint16_t> start();
  /// Graceful: stop accepting, answer in-flight requests, commit everything,
  /// stop the dispatcher (undelivered notifications stay in the outbox).
  void stop();

  /// Validated config swap (SIGHUP). People, schedules, policies and services
  /// change at once; running escalations keep their snapshots.
  void reload(Config config);

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
  /// The incident whose chat channel is `conversation` (e.g. a Slack incident channel).
  std::optional<std::int64_t> incident_for_conversation(const std::string& conversation);

  /// Remembers a Teams user's Bot Framework id ("29:...") for their AAD object
  /// id, learned from their activities; 1:1 pages need it. Persisted.
  void remember_teams_user(const std::string& aad_object_id, const std::string& teams_id);

  /// Remembers a Teams channel baton was added to; lists them for admins.
  void remember_teams_channel(const std::string& team_id, const std::string& channel_id, const std::string& service_url);
  std::vector<std::array<std::string, 3>> teams_channels();

  /// Adds a line to an incident's timeline (e.g. a channel's status report).
  void note(std::int64_t number, std::string message, engine::Actor actor);
  /// A channel learned after the fact that a notification failed (e.g. an SMS
  /// status callback): the contact chain moves on as for any failure.
  void delivery_failed(engine::Notification notification, std::string detail);

  // Queries (committed state).
  Result<std::vector<engine::Incident>> list_incidents(const storage::IncidentQuery& q);
  Result<std::optional<engine::Incident>> get_incident(std::int64_t number);
  Result<std::vector<engine::TimelineEvent>> timeline(std::int64_t number);
  Result<std::vector<storage::OutboxEntry>> outbox(std::int64_t number);
  /// Open incidents owned by `person`, most recently paged first.
  std::vector<engine::Incident> open_for_person(const std::string& person);
  std::vector<OnCallEntry> on_call(std::optional<std::string> schedule, engine::TimePoint at);
  /// Runtime overrides (kept in the database, applied to the engine at once).
  Result<engine::Override> add_override(engine::Override o);
  Result<void> remove_override(std::int64_t id);
  std::vector<engine::Override> overrides();
  /// Marks a single-use action token as used; conflict when it already was.
  Result<void> consume_token(const std::string& token_id);
  std::string metrics_text();
  /// Counts a refused alert request for /metrics.
  void count_rejected(const std::string& source);
  /// Started, not stopping, and the database takes writes (see storage_failing).
  bool ready() const;
  /// A commit failed and the disk has not taken a write since: changes are
  /// refused with 503 (transient, Retry-After) until the state is rebuilt.
  bool storage_failing() const;

  /// Slack's inbound side, or null when Slack is not configured.
  SlackFrontend* slack();
  /// The Bot Framework endpoint's handler, or null when Teams is not configured.
  TeamsFrontend* teams();

  std::shared_ptr<const Config> config() const;
  const engine::Clock& clock() const;
  /// The request handler (router) used by the HTTP server; tests call it directly.
  Handler handler();

  // For tests with a fake clock.
  void poke();   ///< fire due timers now
  void drain();  ///< wait until the engine loop, the writer and the sends already due are idle

  struct Impl;  ///< defined in app.cpp

 private:
  explicit App(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace baton::bot

