#include "integrations/slack/slack_notifier.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <tuple>

#include "integrations/slack/blocks.hpp"
#include "integrations/slack/channel_name.hpp"

namespace baton::slack {
namespace {

using integrations::ChatRef;
using integrations::Delivery;

constexpr const char* kDm = "slack-dm";
constexpr const char* kChannelPost = "slack-channel-post";
constexpr const char* kIncidentChannel = "slack-incident-channel";
constexpr int kMaxNameAttempts = 5;   // retries after name_taken
constexpr std::size_t kTopicMax = 250;  // conversations.setTopic limit

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}


tl::unexpected<Error> unexpected(Error e) { return tl::unexpected<Error>(std::move(e)); }

}  // namespace

SlackNotifier::SlackNotifier(SlackNotifierConfig config, std::shared_ptr<integrations::ChatRefs> refs)
    : config_(std::move(config)),
      refs_(std::move(refs)),
      api_(config_.api),
      pacer_(config_.messages_per_second_per_channel) {
  if (config_.api.bot_token.empty()) throw std::invalid_argument("slack: bot_token is required");
  if (!refs_) throw std::invalid_argument("slack: a ChatRefs store is required");
}

void SlackNotifier::remember_person(const std::string& person_id, const std::string& name,
                                    const std::string& slack_user_id) {
  std::lock_guard lock(mutex_);
  auto& known = people_[person_id];
  if (!name.empty()) known.name = name;
  if (!slack_user_id.empty()) known.slack_user = slack_user_id;
}

std::optional<engine::TimePoint> SlackNotifier::reserve(const Delivery& d, engine::TimePoint now) {
  std::vector<std::string> keys;
  const auto number = d.incident.number;
  {
    std::lock_guard lock(mutex_);
    if (d.notification.kind == engine::NotificationKind::page && d.person) {
      std::string user = d.person->slack_user_id;
      if (user.empty()) {
        if (auto it = email_users_.find(d.person->email); it != email_users_.end()) user = it->second;
      }
      // The shared channel first: when it is busy, the person's slot is not taken in vain.
      if (auto it = config_.service_channels.find(d.incident.service_id);
          it != config_.service_channels.end() && !service_posted_.contains(number)) {
        keys.push_back("channel:" + it->second);
      }
      if (!dm_posted_.contains(d.notification.id)) keys.push_back(user.empty() ? "person:" + d.person->id : "user:" + user);
    } else if (d.notification.kind == engine::NotificationKind::update) {
      auto it = incident_channels_.find(number);
      if (it != incident_channels_.end() && !announced_.contains({number, engine::to_ms(d.incident.updated_at)})) {
        keys.push_back("channel:" + it->second);
      }
    }
  }
  for (const auto& key : keys) {
    if (auto later = pacer_.reserve(key, now)) return later;
  }
  return std::nullopt;
}

Result<void> SlackNotifier::send(const Delivery& d) {
  switch (d.notification.kind) {
    case engine::NotificationKind::page: return page(d);
    case engine::NotificationKind::update: return update(d);
    case engine::NotificationKind::open_channel: return open_channel(d);
  }
  return fail(ErrorKind::invalid_request, "slack: unknown notification kind");
}

Result<std::string> SlackNotifier::slack_user(const engine::Person& person) {
  if (!person.slack_user_id.empty()) return person.slack_user_id;
  const std::string who = person.name.empty() ? person.id : person.name;
  if (person.email.empty()) return fail(ErrorKind::permanent, "no Slack user for " + who);
  {
    std::lock_guard lock(mutex_);
    if (auto it = email_users_.find(person.email); it != email_users_.end()) return it->second;
  }
  auto found = api_.lookup_user_by_email(person.email);
  if (!found) {
    if (found.error().kind == ErrorKind::not_found) {
      return fail(ErrorKind::permanent, "no Slack user for " + who + " (" + found.error().message + ")");
    }
    return unexpected(found.error());
  }
  std::lock_guard lock(mutex_);
  email_users_[person.email] = *found;
  return *found;
}

std::string SlackNotifier::owner_display(const Delivery& d) const {
  const auto& owner = d.incident.owner;
  if (owner.empty()) return {};
  if (d.person && d.person->id == owner && !d.person->name.empty()) return d.person->name;
  std::lock_guard lock(mutex_);
  if (auto it = people_.find(owner); it != people_.end() && !it->second.name.empty()) return it->second.name;
  return owner;
}

std::string SlackNotifier::blocks(const Delivery& d) const {
  return page_blocks(d.incident, d.service_name, owner_display(d), config_.public_url);
}

std::string SlackNotifier::text(const Delivery& d) const {
  return page_text(d.incident, d.service_name, owner_display(d));
}

std::string SlackNotifier::service_channel(const Delivery& d) const {
  auto it = config_.service_channels.find(d.incident.service_id);
  return it == config_.service_channels.end() ? std::string() : it->second;
}

std::optional<std::string> SlackNotifier::incident_channel(std::int64_t incident) {
  {
    std::lock_guard lock(mutex_);
    if (auto it = incident_channels_.find(incident); it != incident_channels_.end()) return it->second;
  }
  const auto refs = integrations::latest_refs(refs_->find(incident), kIncidentChannel);
  if (refs.empty()) return std::nullopt;
  std::lock_guard lock(mutex_);
  incident_channels_[incident] = refs.back().conversation;
  return refs.back().conversation;
}

Result<void> SlackNotifier::page(const Delivery& d) {
  if (!d.person) return fail(ErrorKind::permanent, "slack: the page has no addressee");
  const auto& person = *d.person;
  const auto& inc = d.incident;
  auto user = slack_user(person);
  if (!user) return unexpected(user.error());
  // Before the channel check below, so an open_channel running at the same time sees one or the other.
  remember_person(person.id, person.name, *user);

  const std::string text = this->text(d);
  const std::string blocks = this->blocks(d);
  bool dm_done = false;
  {
    std::lock_guard lock(mutex_);
    dm_done = dm_posted_.contains(d.notification.id);
  }
  if (!dm_done) {
    // conversations.open is Tier 3: ask once per user, then reuse the channel.
    std::string dm_channel;
    {
      std::lock_guard lock(mutex_);
      if (auto it = dm_channels_.find(*user); it != dm_channels_.end()) dm_channel = it->second;
    }
    if (dm_channel.empty()) {
      auto dm = api_.open_dm(*user);
      if (!dm) return unexpected(dm.error());
      dm_channel = *dm;
      std::lock_guard lock(mutex_);
      dm_channels_[*user] = dm_channel;
    }
    auto posted = api_.post_message(dm_channel, text, blocks);
    if (!posted) return unexpected(posted.error());
    refs_->save(ChatRef{inc.number, kDm, posted->channel, posted->ts, person.id});
    std::lock_guard lock(mutex_);
    dm_posted_.insert(d.notification.id);
  }

  // Best effort from here: the person has the page.
  if (const auto channel = service_channel(d); !channel.empty()) {
    bool claimed = false;
    {
      std::lock_guard lock(mutex_);
      claimed = service_posted_.insert(inc.number).second;
    }
    if (claimed && !integrations::latest_refs(refs_->find(inc.number), kChannelPost).empty()) claimed = false;  // posted before a restart
    if (claimed) {
      auto posted = api_.post_message(channel, text, blocks);
      if (posted) {
        refs_->save(ChatRef{inc.number, kChannelPost, posted->channel, posted->ts, {}});
      } else {
        spdlog::warn("slack: incident #{}: post in service channel {} failed: {}", inc.number, channel,
                     posted.error().message);
        std::lock_guard lock(mutex_);
        service_posted_.erase(inc.number);
      }
    }
  }
  if (auto channel = incident_channel(inc.number)) {
    auto invited = api_.invite(*channel, {*user});
    if (!invited && invited.error().kind != ErrorKind::conflict) {
      spdlog::warn("slack: incident #{}: invite of {} into {} failed: {}", inc.number, person.id, *channel,
                   invited.error().message);
    }
  }
  return {};
}

Result<void> SlackNotifier::update(const Delivery& d) {
  const auto& inc = d.incident;
  const auto refs = refs_->find(inc.number);
  const std::string text = this->text(d);
  const std::string blocks = this->blocks(d);

  // Edits a message in place, or posts it again when Slack no longer has it.
  auto refresh = [&](const ChatRef& ref) -> Result<void> {
    auto updated = api_.update_message(ref.conversation, ref.message_id, text, blocks);
    if (updated) return {};
    if (updated.error().kind != ErrorKind::not_found || slack_error_code(updated.error()) != "message_not_found") {
      return unexpected(updated.error());
    }
    auto posted = api_.post_message(ref.conversation, text, blocks);
    if (!posted) return unexpected(posted.error());
    refs_->save(ChatRef{inc.number, ref.kind, posted->channel, posted->ts, ref.person});
    return {};
  };

  for (const auto& ref : integrations::latest_refs(refs, kDm)) {
    if (d.person && ref.person != d.person->id) continue;
    if (auto r = refresh(ref); !r) return r;
  }

  // Once per change of the incident, whichever addressee's update comes first.
  const std::pair<std::int64_t, std::int64_t> change{inc.number, engine::to_ms(inc.updated_at)};
  {
    std::lock_guard lock(mutex_);
    if (!announced_.insert(change).second) return {};
  }
  auto shared = [&]() -> Result<void> {
    for (const auto& ref : integrations::latest_refs(refs, kChannelPost)) {
      if (auto r = refresh(ref); !r) return r;
    }
    auto channel = incident_channel(inc.number);
    if (!channel) return {};
    const std::string owner = escape_mrkdwn(owner_display(d));
    std::string line;
    switch (inc.state) {
      case engine::IncidentState::acknowledged: line = "Acknowledged by " + (owner.empty() ? "someone" : owner); break;
      case engine::IncidentState::resolved: line = "Resolved"; break;
      case engine::IncidentState::triggered:
        line = owner.empty() ? std::string("Nobody could be paged") : "Now paging " + owner;
        break;
    }
    auto posted = api_.post_message(*channel, line, "");
    if (!posted) {
      if (posted.error().retryable()) return unexpected(posted.error());
      spdlog::warn("slack: incident #{}: line in {} failed: {}", inc.number, *channel, posted.error().message);
    }
    if (inc.state == engine::IncidentState::resolved && config_.archive_on_resolve) {
      auto archived = api_.archive(*channel);
      if (!archived && archived.error().kind != ErrorKind::conflict) return unexpected(archived.error());
    }
    return {};
  };
  auto result = shared();
  if (!result) {
    std::lock_guard lock(mutex_);
    announced_.erase(change);
  }
  return result;
}

Result<void> SlackNotifier::open_channel(const Delivery& d) {
  const auto& inc = d.incident;
  if (!config_.open_incident_channels) {
    spdlog::debug("slack: incident #{}: incident channels are off", inc.number);
    return {};
  }
  std::string channel;
  if (auto existing = incident_channel(inc.number)) {
    channel = *existing;
  } else {
    for (int attempt = 0; attempt <= kMaxNameAttempts && channel.empty(); ++attempt) {
      auto created = api_.create_channel(incident_channel_name(inc.number, inc.summary, attempt));
      if (created) {
        channel = *created;
      } else if (slack_error_code(created.error()) != "name_taken") {
        return unexpected(created.error());
      }
    }
    if (channel.empty()) {
      return fail(ErrorKind::permanent, "slack: no free channel name for incident #" + std::to_string(inc.number));
    }
    refs_->save(ChatRef{inc.number, kIncidentChannel, channel, {}, {}});
    std::lock_guard lock(mutex_);
    incident_channels_[inc.number] = channel;
  }

  const std::string owner = owner_display(d);
  std::string topic = "#" + std::to_string(inc.number) + " " + upper(engine::to_string(inc.severity)) + ": " + inc.summary;
  const std::string tail = owner.empty() ? std::string() : " \u2014 " + owner;
  topic = utf8_prefix(topic, kTopicMax - std::min(tail.size(), kTopicMax)) + tail;
  topic = utf8_prefix(topic, kTopicMax);
  if (auto r = api_.set_topic(channel, topic); !r) {
    if (r.error().retryable()) return r;
    spdlog::warn("slack: incident #{}: topic of {} not set: {}", inc.number, channel, r.error().message);
  }

  std::string owner_user;
  {
    std::lock_guard lock(mutex_);
    if (auto it = people_.find(inc.owner); it != people_.end()) owner_user = it->second.slack_user;
  }
  if (!owner_user.empty()) {
    auto invited = api_.invite(channel, {owner_user});
    if (!invited && invited.error().kind != ErrorKind::conflict) {
      if (invited.error().retryable()) return invited;
      spdlog::warn("slack: incident #{}: invite of {} into {} failed: {}", inc.number, inc.owner, channel,
                   invited.error().message);
    }
  }
  return {};
}

}  // namespace baton::slack
