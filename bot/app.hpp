#pragma once
// The running service, composed of a few owners with one job each:
//   Incidents       the one writer of incident state (engine loop, group-commit
//                   writer, dispatcher, degraded mode) and the commands;
//   Queries         reads of committed state (read-only Store);
//   StoredChatRefs  chat message references and Teams identities;
//   Channels        the notifiers and Slack/Teams clients built from the Config.
// App builds them, starts and stops them in order, swaps the config on reload,
// serves HTTP and /metrics. Callers use the owners directly (app.incidents(),
// app.queries(), ...). See docs/architecture.md, "Owners in bot/".
#include <memory>

#include "bot/config.hpp"
#include "bot/http_types.hpp"
#include "bot/incidents.hpp"
#include "engine/time.hpp"

namespace baton::bot {

class Commands;
class Queries;
class SlackFrontend;
class StoredChatRefs;
class TeamsFrontend;

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

  /// Validated config swap (SIGHUP; bot/config_reload.hpp loads the file).
  /// Every section applies at once: people, schedules, policies and services
  /// (running escalations keep their snapshots), and the channels whose
  /// settings changed are rebuilt (sends in flight finish on the old ones).
  /// What only a restart applies (server.listen, storage, dispatch, Slack's
  /// Socket Mode connection) keeps its running value and is logged as "needs a
  /// restart". Every change is logged per section, secrets masked. An error
  /// (a channel that cannot be built) changes nothing.
  Result<void> reload(Config config);

  /// Commands and the engine's state.
  Incidents& incidents();
  /// The chat command layer (bot/commands.hpp): every channel's verbs.
  Commands& commands();
  /// Reads of committed state.
  Queries& queries();
  /// Chat message references and Teams identities.
  StoredChatRefs& chat_refs();
  /// Slack's inbound side, or null when Slack is not configured.
  SlackFrontend* slack();
  /// The Bot Framework endpoint's handler, or null when Teams is not configured.
  TeamsFrontend* teams();

  std::shared_ptr<const Config> config() const;
  const engine::Clock& clock() const;

  std::string metrics_text();
  /// Counts a refused alert request for /metrics.
  void count_rejected(const std::string& source);
  /// The request handler (router) used by the HTTP server; tests call it directly.
  Handler handler();

 private:
  struct Impl;  ///< defined in app.cpp
  explicit App(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace baton::bot
