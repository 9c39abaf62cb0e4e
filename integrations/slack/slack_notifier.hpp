#pragma once
// The Slack channel (MethodKind::slack): pages as direct messages with Block
// Kit buttons, a post in the service's channel, incident channels, and updates
// that edit every message in place (chat.update).
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "engine/time.hpp"
#include "integrations/chat_refs.hpp"
#include "integrations/notifier.hpp"
#include "integrations/slack/web_api.hpp"
#include "integrations/sms/send_pacer.hpp"

namespace baton::slack {

struct SlackNotifierConfig {
  SlackConfig api;
  std::string public_url;  ///< base of the incident link in the blocks
  /// Slack channel id per service id: pages are also posted there, once per incident.
  std::map<std::string, std::string> service_channels;
  bool open_incident_channels = false;  ///< open_channel notifications are served only when true
  bool archive_on_resolve = false;      ///< archive the incident channel on resolve
  double messages_per_second_per_channel = 1.0;  ///< chat.postMessage pacing
};

/// Thread-safe; send() blocks on the Web API. What each notification does:
/// - page (to a person): the Slack user is person.slack_user_id, else
///   users.lookupByEmail(person.email) (cached); none -> permanent "no Slack
///   user for <person>". conversations.open, chat.postMessage of page_blocks()
///   (ref "slack-dm", saved), then best effort (failures logged, not returned,
///   since the person was reached): the service channel's post once per
///   incident (ref "slack-channel-post"), and an invite of the person into the
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
  /// std::invalid_argument without a bot token or with a rate that is not positive.
  SlackNotifier(SlackNotifierConfig config, std::shared_ptr<integrations::ChatRefs> refs);

  engine::MethodKind method() const override { return engine::MethodKind::slack; }

  /// Paces chat.postMessage per target: pages by the addressee's Slack user
  /// (the DM channel is not known yet) and by the service channel while the
  /// incident has no post there; updates by the incident channel when known.
  /// A slot taken for one key while another is busy is kept (it delays that
  /// key's next message by at most one interval).
  std::optional<engine::TimePoint> reserve(const integrations::Delivery& delivery, engine::TimePoint now) override;
  Result<void> send(const integrations::Delivery& delivery) override;

  /// The display name and Slack user of a person, for invites and texts
  /// (learned from pages; the bot may seed it). Thread-safe.
  void remember_person(const std::string& person_id, const std::string& name, const std::string& slack_user_id);

 private:
  struct Known {
    std::string name;
    std::string slack_user;
  };

  Result<void> page(const integrations::Delivery& d);
  Result<void> update(const integrations::Delivery& d);
  Result<void> open_channel(const integrations::Delivery& d);
  Result<std::string> slack_user(const engine::Person& person);
  std::string owner_display(const integrations::Delivery& d) const;
  std::string blocks(const integrations::Delivery& d) const;
  std::string text(const integrations::Delivery& d) const;
  std::optional<std::string> incident_channel(std::int64_t incident);
  std::string service_channel(const integrations::Delivery& d) const;

  SlackNotifierConfig config_;
  std::shared_ptr<integrations::ChatRefs> refs_;
  SlackWebApi api_;
  integrations::SendPacer pacer_;

  mutable std::mutex mutex_;
  std::map<std::string, Known, std::less<>> people_;             // person id -> what we know
  std::map<std::string, std::string, std::less<>> email_users_;  // email -> Slack user id
  std::map<std::string, std::string, std::less<>> dm_channels_;  // Slack user id -> DM channel (conversations.open)
  std::set<std::int64_t> dm_posted_;                             // notification ids whose DM went out
  std::set<std::int64_t> service_posted_;                        // incidents with a service channel post
  std::map<std::int64_t, std::string> incident_channels_;        // incident -> channel id
  std::set<std::pair<std::int64_t, std::int64_t>> announced_;    // (incident, updated_at ms) done or in flight
};

}  // namespace baton::slack
