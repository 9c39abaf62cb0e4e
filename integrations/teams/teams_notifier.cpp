#include "integrations/teams/teams_notifier.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include "integrations/teams/activities.hpp"
#include "integrations/teams/cards.hpp"
#include "integrations/teams/connector.hpp"
#include "integrations/teams/graph.hpp"

namespace baton::teams {
namespace {

using integrations::ChatRef;
using integrations::Delivery;

constexpr const char* kChannelThread = "teams-channel-thread";
constexpr const char* kDm = "teams-dm";
constexpr const char* kIncidentChannel = "teams-incident-channel";
constexpr const char* kIncidentCard = "teams-incident-card";
constexpr int kMaxNameAttempts = 5;           // retries after a taken channel name
constexpr std::size_t kDescriptionMax = 1000;  // Graph allows 1024 characters


std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string utf8_cut(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  std::size_t end = max_bytes;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xc0) == 0x80) --end;
  return std::string(text.substr(0, end));
}

tl::unexpected<Error> unexpected(Error e) { return tl::unexpected<Error>(std::move(e)); }

}  // namespace

TeamsNotifier::TeamsNotifier(TeamsNotifierConfig config, std::shared_ptr<BotConnector> connector,
                             std::shared_ptr<GraphClient> graph, std::shared_ptr<integrations::ChatRefs> refs,
                             std::shared_ptr<ConversationLimiter> limiter)
    : config_(std::move(config)),
      connector_(std::move(connector)),
      graph_(std::move(graph)),
      refs_(std::move(refs)),
      limiter_(std::move(limiter)) {
  if (!connector_) throw std::invalid_argument("teams: a Bot Connector client is required");
  if (!refs_) throw std::invalid_argument("teams: a ChatRefs store is required");
}

TeamsNotifier::~TeamsNotifier() = default;

void TeamsNotifier::remember_person(const std::string& person_id, const std::string& name) {
  if (name.empty()) return;
  std::lock_guard lock(mutex_);
  names_[person_id] = name;
}

std::optional<engine::TimePoint> TeamsNotifier::reserve(const Delivery& d, engine::TimePoint now) {
  if (!limiter_) return std::nullopt;
  std::vector<std::string> keys;
  const auto number = d.incident.number;
  {
    std::lock_guard lock(mutex_);
    if (d.notification.kind == engine::NotificationKind::page && d.person) {
      // The shared channel first: when it is busy, the person's slot is not taken in vain.
      if (auto it = config_.service_channels.find(d.incident.service_id);
          it != config_.service_channels.end() && !service_threads_.contains(number)) {
        keys.push_back(it->second);
      }
      const auto& user = d.person->teams_user_id;
      if (!user.empty() && !dm_posted_.contains(d.notification.id)) {
        auto it = dm_by_user_.find(user);
        keys.push_back(it == dm_by_user_.end() ? "user:" + user : it->second);
      }
      if (auto it = incident_channels_.find(number); it != incident_channels_.end() && !incident_cards_.contains(number)) {
        keys.push_back(it->second);
      }
    } else if (d.notification.kind == engine::NotificationKind::update) {
      for (const auto& [person, conversations] : dms_by_person_) {
        if (d.person && person != d.person->id) continue;
        keys.insert(keys.end(), conversations.begin(), conversations.end());
      }
      if (!announced_.contains({number, engine::to_ms(d.incident.updated_at)})) {
        if (auto it = service_threads_.find(number); it != service_threads_.end() && !it->second.empty()) {
          keys.push_back(it->second);
        }
        if (auto it = incident_cards_.find(number); it != incident_cards_.end() && !it->second.empty()) {
          keys.push_back(it->second);
        }
      }
    }
  }
  for (const auto& key : keys) {
    if (auto later = limiter_->reserve(key, now)) return later;
  }
  return std::nullopt;
}

Result<void> TeamsNotifier::send(const Delivery& d) {
  switch (d.notification.kind) {
    case engine::NotificationKind::page: return page(d);
    case engine::NotificationKind::update: return update(d);
    case engine::NotificationKind::open_channel: return open_channel(d);
  }
  return fail(ErrorKind::invalid_request, "teams: unknown notification kind");
}

std::string TeamsNotifier::owner_display(const Delivery& d) const {
  const auto& owner = d.incident.owner;
  if (owner.empty()) return {};
  if (d.person && d.person->id == owner && !d.person->name.empty()) return d.person->name;
  std::lock_guard lock(mutex_);
  if (auto it = names_.find(owner); it != names_.end()) return it->second;
  return owner;
}

std::string TeamsNotifier::activity(const Delivery& d) const {
  const std::string owner = owner_display(d);
  return card_activity(incident_card(d.incident, d.service_name, owner, config_.public_url),
                       incident_text(d.incident, d.service_name, owner));
}

std::optional<std::string> TeamsNotifier::incident_channel(std::int64_t incident) {
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

Result<void> TeamsNotifier::post_service_thread(const Delivery& d, const std::string& act) {
  auto it = config_.service_channels.find(d.incident.service_id);
  if (it == config_.service_channels.end()) return {};
  const auto number = d.incident.number;
  {
    std::lock_guard lock(mutex_);
    if (!service_threads_.emplace(number, std::string()).second) return {};
  }
  if (const auto saved = integrations::latest_refs(refs_->find(number), kChannelThread); !saved.empty()) {  // posted before a restart
    std::lock_guard lock(mutex_);
    service_threads_[number] = saved.back().conversation;
    return {};
  }
  auto created = connector_->create_channel_thread(config_.teams.connector_service_url, it->second, act);
  if (!created) {
    std::lock_guard lock(mutex_);
    service_threads_.erase(number);
    return unexpected(created.error());
  }
  refs_->save(ChatRef{number, kChannelThread, created->conversation_id, created->activity_id, {}});
  std::lock_guard lock(mutex_);
  service_threads_[number] = created->conversation_id;
  return {};
}

Result<void> TeamsNotifier::post_incident_card(const Delivery& d, const std::string& channel, const std::string& act) {
  const auto number = d.incident.number;
  {
    std::lock_guard lock(mutex_);
    if (!incident_cards_.emplace(number, std::string()).second) return {};
  }
  if (const auto saved = integrations::latest_refs(refs_->find(number), kIncidentCard); !saved.empty()) {
    std::lock_guard lock(mutex_);
    incident_cards_[number] = saved.back().conversation;
    return {};
  }
  auto created = connector_->create_channel_thread(config_.teams.connector_service_url, channel, act);
  if (!created) {
    std::lock_guard lock(mutex_);
    incident_cards_.erase(number);
    return unexpected(created.error());
  }
  refs_->save(ChatRef{number, kIncidentCard, created->conversation_id, created->activity_id, {}});
  std::lock_guard lock(mutex_);
  incident_cards_[number] = created->conversation_id;
  return {};
}

Result<void> TeamsNotifier::page(const Delivery& d) {
  if (!d.person) return fail(ErrorKind::permanent, "teams: the page has no addressee");
  const auto& person = *d.person;
  const auto& inc = d.incident;
  const auto& service_url = config_.teams.connector_service_url;
  remember_person(person.id, person.name);
  const std::string act = activity(d);

  // The service's thread does not depend on the person being reachable here.
  if (auto r = post_service_thread(d, act); !r) {
    spdlog::warn("teams: incident #{}: thread in the service channel failed: {}", inc.number, r.error().message);
  }

  if (person.teams_user_id.empty()) {
    return fail(ErrorKind::permanent, "no Teams user for " + (person.name.empty() ? person.id : person.name));
  }
  bool dm_done = false;
  std::string conversation;
  {
    std::lock_guard lock(mutex_);
    dm_done = dm_posted_.contains(d.notification.id);
    if (auto it = dm_by_user_.find(person.teams_user_id); it != dm_by_user_.end()) conversation = it->second;
  }
  if (!dm_done) {
    if (conversation.empty()) {
      auto created = connector_->create_personal(service_url, person.teams_user_id);
      if (!created) return unexpected(created.error());
      conversation = created->conversation_id;
      std::lock_guard lock(mutex_);
      dm_by_user_[person.teams_user_id] = conversation;
    }
    auto sent = connector_->send(service_url, conversation, act);
    if (!sent) return unexpected(sent.error());
    refs_->save(ChatRef{inc.number, kDm, conversation, *sent, person.id});
    std::lock_guard lock(mutex_);
    dm_posted_.insert(d.notification.id);
    auto& mine = dms_by_person_[person.id];
    if (std::find(mine.begin(), mine.end(), conversation) == mine.end()) mine.push_back(conversation);
  }

  // Best effort from here: the person has the page.
  if (auto channel = incident_channel(inc.number)) {
    if (auto r = post_incident_card(d, *channel, act); !r) {
      spdlog::warn("teams: incident #{}: card in the incident channel failed: {}", inc.number, r.error().message);
    }
  }
  return {};
}

Result<void> TeamsNotifier::update(const Delivery& d) {
  const auto& inc = d.incident;
  const auto& service_url = config_.teams.connector_service_url;
  const auto refs = refs_->find(inc.number);
  const std::string act = activity(d);

  for (const auto& ref : integrations::latest_refs(refs, kDm)) {
    if (d.person && ref.person != d.person->id) continue;
    auto updated = connector_->update(service_url, ref.conversation, ref.message_id, act);
    if (updated) continue;
    if (updated.error().kind != ErrorKind::not_found) return updated;
    // The card is gone (deleted by the user): post it again and edit that one from now on.
    auto sent = connector_->send(service_url, ref.conversation, act);
    if (!sent) return unexpected(sent.error());
    refs_->save(ChatRef{inc.number, kDm, ref.conversation, *sent, ref.person});
  }

  // Once per change of the incident, whichever addressee's update comes first.
  const std::int64_t changed_at = engine::to_ms(inc.updated_at);
  const std::pair<std::int64_t, std::int64_t> change{inc.number, changed_at};
  {
    std::lock_guard lock(mutex_);
    if (!announced_.insert(change).second) return {};
  }
  const std::string owner = owner_display(d);
  std::string line;
  switch (inc.state) {
    case engine::IncidentState::acknowledged: line = "Acknowledged by " + (owner.empty() ? "someone" : owner); break;
    case engine::IncidentState::resolved: line = "Resolved"; break;
    case engine::IncidentState::triggered:
      line = owner.empty() ? std::string("Nobody could be paged") : "Now paging " + owner;
      break;
  }
  const std::string reply = text_activity(line);

  auto shared = [&]() -> Result<void> {
    auto threads = integrations::latest_refs(refs, kChannelThread);
    const auto cards = integrations::latest_refs(refs, kIncidentCard);
    threads.insert(threads.end(), cards.begin(), cards.end());
    for (const auto& ref : threads) {
      auto updated = connector_->update(service_url, ref.conversation, ref.message_id, act);
      if (!updated) {
        if (updated.error().retryable()) return updated;
        spdlog::warn("teams: incident #{}: card in {} not updated: {}", inc.number, ref.conversation,
                     updated.error().message);
      }
      {
        std::lock_guard lock(mutex_);
        if (replied_.contains({ref.conversation, changed_at})) continue;
      }
      auto replied = connector_->reply(service_url, ref.conversation, ref.message_id, reply);
      if (!replied) {
        if (replied.error().retryable()) return unexpected(replied.error());
        spdlog::warn("teams: incident #{}: line in {} failed: {}", inc.number, ref.conversation,
                     replied.error().message);
      }
      std::lock_guard lock(mutex_);
      replied_.insert({ref.conversation, changed_at});
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

Result<void> TeamsNotifier::open_channel(const Delivery& d) {
  const auto& inc = d.incident;
  auto team = config_.service_teams.find(inc.service_id);
  if (team == config_.service_teams.end()) {
    spdlog::debug("teams: incident #{}: service {} has no team for incident channels", inc.number, inc.service_id);
    return {};
  }
  if (!graph_) {
    spdlog::warn("teams: incident #{}: no Graph client, so no incident channel", inc.number);
    return {};
  }
  std::string channel;
  if (auto existing = incident_channel(inc.number)) {
    channel = *existing;
  } else {
    const std::string description =
        utf8_cut(upper(engine::to_string(inc.severity)) + ": " + inc.summary, kDescriptionMax);
    for (int attempt = 0; attempt <= kMaxNameAttempts && channel.empty(); ++attempt) {
      auto created = graph_->create_channel(team->second, teams_channel_name(inc.number, inc.summary, attempt),
                                            description);
      if (created) {
        channel = *created;
      } else if (created.error().kind != ErrorKind::conflict) {
        return unexpected(created.error());
      }
    }
    if (channel.empty()) {
      return fail(ErrorKind::permanent, "teams: no free channel name for incident #" + std::to_string(inc.number));
    }
    refs_->save(ChatRef{inc.number, kIncidentChannel, channel, {}, {}});
    std::lock_guard lock(mutex_);
    incident_channels_[inc.number] = channel;
  }
  return post_incident_card(d, channel, activity(d));
}

}  // namespace baton::teams
