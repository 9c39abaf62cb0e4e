#pragma once
// The Bot Framework messaging endpoint (POST /api/messages): every activity's
// JWT is validated, then @mention commands, Action.Submit and Action.Execute
// become commands of the one command layer (bot/commands.hpp) with the Teams
// user's person as the actor; answers go back as text replies or, for
// Action.Execute, the refreshed card. Only transport and rendering live here.
// Thread-safe.
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "bot/background.hpp"
#include "bot/http_types.hpp"
#include "engine/result.hpp"

namespace baton::teams {
class JwtValidator;
class BotConnector;
struct TeamsActivity;
}  // namespace baton::teams

namespace baton::bot {

class App;

class TeamsFrontend {
 public:
  /// `validator` may be null only in the loopback-only unauthenticated mode;
  /// then activities whose serviceUrl is not loopback are answered 401.
  TeamsFrontend(App& app, std::shared_ptr<teams::JwtValidator> validator,
                std::shared_ptr<teams::BotConnector> connector);
  /// Requests still waiting for their token's keys are answered 503 from then on.
  ~TeamsFrontend();

  /// Called on an HTTP thread; never blocks it on the network. The token is
  /// checked without waiting (JwtValidator::validate_async). Work that waited
  /// for a key fetch continues on this frontend's worker thread ("baton-teams");
  /// commands run on the command layer's worker, and `respond` is called from
  /// there. Roster lookups (Identities) and replies go through the
  /// non-blocking BotConnector: no thread waits on the network. A refused
  /// token is answered 401.
  void handle(const Request& request, Responder respond);

 private:
  struct Life;  ///< lets late validator callbacks see that this frontend is gone

  void checked(teams::TeamsActivity activity, Responder respond, Result<void> verdict);

  App& app_;
  std::shared_ptr<teams::JwtValidator> validator_;
  std::shared_ptr<teams::BotConnector> connector_;
  std::shared_ptr<Life> life_;
  /// Runs what follows a late verdict, off the network threads. Never waits on the network.
  Background background_{"baton-teams"};  ///< last member: its thread stops first
};

}  // namespace baton::bot
