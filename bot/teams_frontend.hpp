#pragma once
// The Bot Framework messaging endpoint (POST /api/messages): every activity's
// JWT is validated, then @mention commands, Action.Submit and Action.Execute
// become App commands with the Teams user's person as the actor. Thread-safe.
#include <memory>
#include <optional>
#include <string>

#include "bot/background.hpp"
#include "bot/http_types.hpp"

namespace baton::teams {
class JwtValidator;
class BotConnector;
struct TeamsActivity;
}  // namespace baton::teams

namespace baton::bot {

class App;

class TeamsFrontend {
 public:
  /// `validator` may be null only in the loopback-only unauthenticated mode.
  TeamsFrontend(App& app, std::shared_ptr<teams::JwtValidator> validator,
                std::shared_ptr<teams::BotConnector> connector);
  ~TeamsFrontend();

  void handle(const Request& request, Responder respond);

  /// The person whose teams_user_id is this AAD object id.
  std::optional<std::string> person_for(const std::string& aad_object_id) const;

 private:
  void reply(const teams::TeamsActivity& to, std::string text);

  App& app_;
  std::shared_ptr<teams::JwtValidator> validator_;
  std::shared_ptr<teams::BotConnector> connector_;
  Background background_;  ///< last member: its thread stops first
};

}  // namespace baton::bot
