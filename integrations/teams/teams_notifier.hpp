#pragma once
// The Teams channel (MethodKind::teams): the page as an Adaptive Card in the
// owner's 1:1 chat and as a thread in the service's channel, incident channels
// through Graph, and updates that PUT the new card over every card posted
// (Bot Connector REST API and Microsoft Graph on learn.microsoft.com). The clients live in connector.hpp and graph.hpp.
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "engine/time.hpp"
#include "integrations/chat_refs.hpp"
#include "integrations/notifier.hpp"
#include "integrations/teams/teams_config.hpp"

namespace baton::teams {

class BotConnector;
class GraphClient;
class ConversationLimiter;

struct TeamsNotifierConfig {
  TeamsConfig teams;       ///< connector_service_url is where every conversation lives
  std::string public_url;  ///< base of the incident link on the card
  /// service id -> Teams channel id ("19:...@thread.tacv2"): pages also start a thread there, once per incident.
  std::map<std::string, std::string> service_channels;
  /// service id -> team (M365 group) id: open_channel creates the incident channel there.
  std::map<std::string, std::string> service_teams;
};

/// Thread-safe; send() blocks on the Bot Connector and Graph. ChatRef kinds:
/// "teams-channel-thread" (conversation = the thread's conversation id
/// "19:..;messageid=..", message_id = the root activity id), "teams-dm"
/// (conversation = the 1:1 chat "a:..", message_id = the card's activity id,
/// person), "teams-incident-channel" (conversation = the channel id, no
/// message) and "teams-incident-card" (the card's thread in that channel).
/// - page (to a person): the service channel's thread with the card, once per
///   incident, best effort (failures logged: the service channel is not the
///   person); then, when person.teams_user_id is empty, permanent "no Teams
///   user for <name>"; else create_personal + send of the card (once per
///   notification, so a retry does not DM again; errors returned); then, best
///   effort, the card in the incident channel if there is one and it has none.
/// - update: the new card PUT over the addressee's DMs (all DMs without an
///   addressee); a DM whose activity is gone (not_found) gets the card anew.
///   Once per incident change (the snapshot's updated_at): PUT over the channel
///   thread root and the incident channel's card, and a reply in those threads
///   ("Acknowledged by Bob", "Resolved", "Now paging Bob").
/// - open_channel (no person): only for services with a team and a GraphClient,
///   else a no-op success. GraphClient::create_channel with
///   teams_channel_name(n, summary, attempt), attempts 0..5 while the name is
///   taken (conflict), then permanent; ref "teams-incident-channel"; then the
///   card as a new thread there (ref "teams-incident-card"). Idempotent on retry.
/// Errors are the clients': a Teams outage is transient (or rate_limited) so
/// the Dispatcher retries and finally fails the delivery, moving the chain on.
class TeamsNotifier final : public integrations::Notifier {
 public:
  /// std::invalid_argument without a connector or a ChatRefs store. `graph`
  /// may be null (no incident channels), `limiter` too (no pacing).
  TeamsNotifier(TeamsNotifierConfig config, std::shared_ptr<BotConnector> connector,
                std::shared_ptr<GraphClient> graph, std::shared_ptr<integrations::ChatRefs> refs,
                std::shared_ptr<ConversationLimiter> limiter);
  ~TeamsNotifier() override;

  engine::MethodKind method() const override { return engine::MethodKind::teams; }

  /// Paces through the ConversationLimiter per conversation: pages by the
  /// service channel (while the incident has no thread there), by the
  /// person's 1:1 chat (by user while it is not known yet) and by the incident
  /// channel (while it has no card); updates by the addressee's DMs and, once
  /// per change, by the channel threads. The first busy key's time is returned
  /// (slots already taken for earlier keys are kept).
  std::optional<engine::TimePoint> reserve(const integrations::Delivery& delivery, engine::TimePoint now) override;
  Result<void> send(const integrations::Delivery& delivery) override;

  /// The display name of a person, for the owner on cards (learned from pages). Thread-safe.
  void remember_person(const std::string& person_id, const std::string& name);

 private:
  Result<void> page(const integrations::Delivery& d);
  Result<void> update(const integrations::Delivery& d);
  Result<void> open_channel(const integrations::Delivery& d);
  Result<void> post_service_thread(const integrations::Delivery& d, const std::string& activity);
  Result<void> post_incident_card(const integrations::Delivery& d, const std::string& channel,
                                  const std::string& activity);
  std::optional<std::string> incident_channel(std::int64_t incident);
  std::string owner_display(const integrations::Delivery& d) const;
  std::string activity(const integrations::Delivery& d) const;

  TeamsNotifierConfig config_;
  std::shared_ptr<BotConnector> connector_;
  std::shared_ptr<GraphClient> graph_;
  std::shared_ptr<integrations::ChatRefs> refs_;
  std::shared_ptr<ConversationLimiter> limiter_;

  mutable std::mutex mutex_;
  std::map<std::string, std::string, std::less<>> names_;           // person id -> display name
  std::map<std::string, std::string, std::less<>> dm_by_user_;      // Teams user -> 1:1 conversation id
  std::map<std::string, std::vector<std::string>, std::less<>> dms_by_person_;  // person id -> conversations
  std::set<std::int64_t> dm_posted_;                                // notification ids whose DM went out
  std::map<std::int64_t, std::string> service_threads_;             // incident -> thread conversation ("" = claimed)
  std::map<std::int64_t, std::string> incident_channels_;           // incident -> channel id
  std::map<std::int64_t, std::string> incident_cards_;              // incident -> card thread conversation ("" = claimed)
  std::set<std::pair<std::int64_t, std::int64_t>> announced_;       // (incident, updated_at ms) done or in flight
  std::set<std::pair<std::string, std::int64_t>> replied_;          // (thread, updated_at ms) whose line went out
};

}  // namespace baton::teams
