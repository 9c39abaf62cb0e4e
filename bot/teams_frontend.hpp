#pragma once
// The Bot Framework messaging endpoint (POST /api/messages): every activity's
// JWT is validated, then @mention commands, Action.Submit and Action.Execute
// become Incidents commands with the Teams user's person as the actor. Thread-safe.
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

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

  /// `validator` may be null only in the loopback-only unauthenticated mode;
  /// then activities whose serviceUrl is not loopback are answered 401.
  TeamsFrontend(App& app, std::shared_ptr<teams::JwtValidator> validator,
                std::shared_ptr<teams::BotConnector> connector);
  /// Requests still waiting for their token's keys are answered 503 from then on.
  ~TeamsFrontend();

  /// Called on an HTTP thread; never blocks it on the network. The token is
  /// checked without waiting (JwtValidator::validate_async). Work that waited
  /// for a key fetch or a roster lookup continues on this frontend's worker
  /// thread ("baton-teams"), and `respond` is called from there. Roster
  /// lookups and replies go through the non-blocking BotConnector: no thread
  /// waits on the network. A refused token is answered 401.
  void handle(const Request& request, Responder respond);

 private:
  struct Life;  ///< lets late validator and connector callbacks see that this frontend is gone
  struct Lookup {
    std::optional<std::string> person;
    engine::TimePoint expires;
  };
  /// A roster answer: `alive` false when the frontend went away meanwhile.
  using PersonDone = std::function<void(bool alive, std::optional<std::string> person)>;
  /// Waiting for one roster lookup of a user; more are answered as unknown at once.
  static constexpr std::size_t kMaxLookupWaiters = 256;

  /// The person when known without the network; nullopt when a roster lookup is needed.
  std::optional<std::optional<std::string>> known_person(const teams::TeamsActivity& activity);
  /// The person whose email Teams reports for the sender (GET members, one
  /// lookup per user in flight, cached for the TTLs above). `done` runs on the
  /// connector's network thread (or at once), under Life's lock: it must be short.
  void lookup_person(const teams::TeamsActivity& activity, PersonDone done);
  void checked(teams::TeamsActivity activity, Responder respond, Result<void> verdict);
  void act(const teams::TeamsActivity& activity, const Responder& respond, const std::optional<std::string>& person);
  void reply(const teams::TeamsActivity& to, std::string text);

  App& app_;
  std::shared_ptr<teams::JwtValidator> validator_;
  std::shared_ptr<teams::BotConnector> connector_;
  std::shared_ptr<Life> life_;
  std::mutex mutex_;
  std::map<std::string, Lookup> by_email_;  ///< AAD object id -> person (roster lookups)
  /// Runs what follows a late verdict or a roster answer (engine commands and
  /// queries, store reads), off the network threads. Never waits on the network.
  Background background_{"baton-teams"};  ///< last member: its thread stops first
};

}  // namespace baton::bot
