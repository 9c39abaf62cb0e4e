#pragma once
// The Teams channel (MethodKind::teams): the page as an Adaptive Card in the
// owner's 1:1 chat and as a thread in the service's channel, incident channels
// through Graph, and updates that PUT the new card over every card posted
// (Bot Connector REST API and Microsoft Graph on learn.microsoft.com). The clients live in connector.hpp and graph.hpp.
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

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

/// Thread-safe and non-blocking: is_async(), and send_async() chains the Bot
/// Connector and Graph calls as callbacks on the AsyncHttpClient the clients
/// share (send() waits for it: tests and tools only). The incident's chat
/// references are read once when the send starts, on the caller's thread;
/// callbacks only touch memory and ChatRefs::save(). ChatRef kinds:
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
/// - update: the new card (alone, without the page's text) PUT over the
///   addressee's DMs (all DMs without an addressee); a DM whose activity is
///   gone (not_found), or whose post was answered with no id (a 2xx without
///   one is a delivery all the same), gets the card anew, and that one is
///   edited from then on. Once per incident change (the snapshot's
///   updated_at): PUT over the channel thread root and the incident channel's
///   card, and a reply in those threads ("Acknowledged by Bob", "Resolved",
///   "Now paging Bob"); a thread whose root has no known id gets only the line,
///   posted to its conversation.
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
  /// (slots already taken for earlier keys are kept). A delivery told to wait
  /// is re-queued by the Dispatcher: it holds no thread and no connection.
  std::optional<engine::TimePoint> reserve(const integrations::Delivery& delivery, engine::TimePoint now) override;
  /// send_async() waited for: never on the AsyncHttpClient's thread.
  Result<void> send(const integrations::Delivery& delivery) override;
  bool is_async() const override { return true; }
  /// Never blocks on the network; `done` runs once, on the client's thread
  /// (or at once on the caller's when no request is needed).
  void send_async(const integrations::Delivery& delivery, std::function<void(Result<void>)> done) override;

  /// The display name of a person, for the owner on cards (learned from pages). Thread-safe.
  void remember_person(const std::string& person_id, const std::string& name);

  struct Impl;  ///< opaque: shared with callbacks in flight

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace baton::teams
