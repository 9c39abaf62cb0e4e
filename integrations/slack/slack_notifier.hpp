#pragma once
// The Slack channel (MethodKind::slack): pages as direct messages with Block
// Kit buttons, a post in the service's channel, incident channels, and updates
// that edit every message in place (chat.update).
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "engine/time.hpp"
#include "integrations/chat_refs.hpp"
#include "integrations/notifier.hpp"
#include "integrations/slack/web_api.hpp"

namespace boost::asio {
class io_context;
}
namespace baton::integrations {
class AsyncHttpClient;
}

namespace baton::slack {

struct SlackNotifierConfig {
  SlackConfig api;
  std::string public_url;  ///< base of the incident link in the blocks
  /// Slack channel id per service id: pages are also posted there, once per incident.
  std::map<std::string, std::string> service_channels;
  bool open_incident_channels = false;  ///< open_channel notifications are served only when true
  bool archive_on_resolve = false;      ///< archive the incident channel on resolve
};

/// Thread-safe and asynchronous (is_async()): send_async() chains the Web API
/// calls below as callbacks on the AsyncHttpClient, so no thread waits on Slack;
/// `done` runs on the client's network thread. ChatRefs are read once, on the
/// calling thread, when a send starts. What each notification does:
/// - page (to a person): the Slack user is person.slack_user_id, else
///   users.lookupByEmail(person.email) (cached); none -> permanent "no Slack
///   user for <person>". conversations.open, chat.postMessage of page_blocks()
///   (ref "slack-dm", saved), then best effort (failures logged, not returned,
///   since the person was reached): the service channel's post once per
///   incident (ref "slack-channel-post"; a failure that no retry can mend, such
///   as not_in_channel, also goes to the incident's timeline through
///   Workspace::note, once), and an invite of the person into the
///   incident channel (ref "slack-incident-channel") if one exists. A retry
///   after a later step failed does not post the DM again.
/// - update: chat.update of the addressee's DMs (the latest per conversation),
///   and once per incident change (the snapshot's updated_at) the service
///   channel post, a line in the incident channel ("Acknowledged by Bob"), and
///   on resolve the archive of the incident channel (archive_on_resolve).
///   message_not_found -> a new message is posted and its ref saved.
/// - open_channel (no person): conversations.create with
///   incident_channel_name() (name_taken -> attempts 1..5, then permanent),
///   ref "slack-incident-channel", conversations.setTopic ("#42 CRITICAL:
///   summary — owner"), and an invite of the owner when their Slack user is
///   known (a person paged through this notifier before). Idempotent on retry.
/// Errors are the Web API's (web_api.hpp): a Slack outage comes back as
/// transient or rate_limited so the Dispatcher retries, and finally reports a
/// failure that moves the contact chain on.
class SlackNotifier final : public integrations::Notifier {
 public:
  /// std::invalid_argument without a bot token, a ChatRefs store or an
  /// AsyncHttpClient, or with a rate that is not positive. `io` is the
  /// io_context `http` runs on; `clock` times the workspace's budgets (the
  /// Dispatcher's clock).
  SlackNotifier(SlackNotifierConfig config, std::shared_ptr<integrations::ChatRefs> refs,
                std::shared_ptr<integrations::AsyncHttpClient> http, boost::asio::io_context& io,
                const engine::Clock& clock = system_clock());
  ~SlackNotifier() override;

  engine::MethodKind method() const override { return engine::MethodKind::slack; }

  /// Takes, through the Workspace (shared with every Slack client of the
  /// token), the slots the send will need: those of the rate tiers of its Web
  /// API calls (an open_channel's conversations.create, setTopic and the
  /// owner's invite; an update's chat.update and archive; a page's
  /// conversations.open or users.lookupByEmail when not known yet), all or
  /// none and only when no post must wait; and chat.postMessage's pace per
  /// conversation: pages by the addressee's Slack user (the DM channel is not
  /// known yet) and by the service channel while the incident has no post
  /// there; updates by the incident channel when known (the same pace as the
  /// timeline lines posted there). A post slot taken for one key while another
  /// is busy is kept (it delays that key's next message by at most one
  /// interval). A delivery that must wait is re-queued by the Dispatcher: it
  /// holds no thread and no connection, and the wait is no failed attempt.
  std::optional<engine::TimePoint> reserve(const integrations::Delivery& delivery, engine::TimePoint now) override;

  bool is_async() const override { return true; }
  /// Starts the send and returns; `done` gets the outcome once, on the
  /// AsyncHttpClient's thread (or at once for a delivery it cannot send).
  void send_async(const integrations::Delivery& delivery, std::function<void(Result<void>)> done) override;
  /// send_async() and a wait for its outcome, for callers that want one. The
  /// Dispatcher never calls it (is_async()); never call it on `io`'s thread.
  Result<void> send(const integrations::Delivery& delivery) override;

  /// The display name and Slack user of a person, for invites and texts
  /// (learned from pages; the bot may seed it). Thread-safe.
  void remember_person(const std::string& person_id, const std::string& name, const std::string& slack_user_id);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace baton::slack
