#pragma once
// The Bot Framework messaging endpoint (POST /api/messages): every activity's
// JWT is validated, then @mention commands, Action.Submit and Action.Execute
// become App commands with the Teams user's person as the actor. Thread-safe.
#include <map>
#include <memory>
#include <mutex>
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

  /// The person whose teams_user_id is the sender's AAD object id, else the
  /// person whose email Teams reports for the sender (roster lookup, cached).
  std::optional<std::string> person_for(const teams::TeamsActivity& activity);

 private:
  void reply(const teams::TeamsActivity& to, std::string text);

  App& app_;
  std::shared_ptr<teams::JwtValidator> validator_;
  std::shared_ptr<teams::BotConnector> connector_;
  std::mutex mutex_;
  std::map<std::string, std::optional<std::string>> by_email_;  ///< AAD object id -> person (roster lookups)
  Background background_;  ///< last member: its thread stops first
};

}  // namespace baton::bot
