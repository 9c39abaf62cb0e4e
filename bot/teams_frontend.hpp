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
#include "engine/result.hpp"
#include "engine/time.hpp"

namespace baton::teams {
class JwtValidator;
class BotConnector;
struct TeamsActivity;
}  // namespace baton::teams

namespace baton::bot {

class App;

class TeamsFrontend {
 public:
  /// A roster answer that named nobody (or failed) is asked again after this.
  static constexpr engine::Millis kNegativeLookupTtl = std::chrono::minutes(5);
  /// A roster answer that named a person is asked again after this.
  static constexpr engine::Millis kPositiveLookupTtl = std::chrono::hours(1);

  /// `validator` may be null only in the loopback-only unauthenticated mode.
  TeamsFrontend(App& app, std::shared_ptr<teams::JwtValidator> validator,
                std::shared_ptr<teams::BotConnector> connector);
  /// Requests still waiting for their token's keys are answered 503 from then on.
  ~TeamsFrontend();

  /// Called on an HTTP thread; never blocks it on the network. The token is
  /// checked without waiting (JwtValidator::validate_async); work that needs a
  /// key fetch or a roster lookup continues on this frontend's worker thread,
  /// and `respond` is called from there. A refused token is answered 401.
  void handle(const Request& request, Responder respond);

  /// The person whose teams_user_id is the sender's AAD object id, else the
  /// person whose email Teams reports for the sender (roster lookup, cached
  /// for the TTLs above). Blocks on the roster: not for an HTTP thread.
  std::optional<std::string> person_for(const teams::TeamsActivity& activity);

 private:
  struct Life;  ///< lets late validator callbacks see that this frontend is gone
  struct Lookup {
    std::optional<std::string> person;
    engine::TimePoint expires;
  };

  /// The person when known without the network; nullopt when a roster lookup is needed.
  std::optional<std::optional<std::string>> known_person(const teams::TeamsActivity& activity);
  void checked(teams::TeamsActivity activity, Responder respond, Result<void> verdict, bool on_worker);
  void act(const teams::TeamsActivity& activity, const Responder& respond, const std::optional<std::string>& person);
  void reply(const teams::TeamsActivity& to, std::string text);

  App& app_;
  std::shared_ptr<teams::JwtValidator> validator_;
  std::shared_ptr<teams::BotConnector> connector_;
  std::shared_ptr<Life> life_;
  std::mutex mutex_;
  std::map<std::string, Lookup> by_email_;  ///< AAD object id -> person (roster lookups)
  Background background_{"baton-teams"};  ///< last member: its thread stops first
};

}  // namespace baton::bot
