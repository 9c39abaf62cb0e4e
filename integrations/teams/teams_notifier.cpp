#include "integrations/teams/teams_notifier.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <vector>

#include "integrations/common/text.hpp"
#include "integrations/teams/activities.hpp"
#include "integrations/teams/async_wait.hpp"
#include "integrations/teams/cards.hpp"
#include "integrations/teams/connector.hpp"
#include "integrations/teams/graph.hpp"

namespace baton::teams {
namespace {

// One change of an incident: its time and the state it reached. Two changes
// within one millisecond (an acknowledge and a resolve) are two changes.
std::int64_t change_key(const engine::Incident& inc) {
  return engine::to_ms(inc.updated_at) * 4 + static_cast<std::int64_t>(inc.state);
}

using integrations::ChatRef;
using integrations::Delivery;

constexpr const char* kChannelThread = "teams-channel-thread";
constexpr const char* kDm = "teams-dm";
constexpr const char* kIncidentChannel = "teams-incident-channel";
constexpr const char* kIncidentCard = "teams-incident-card";
constexpr int kMaxNameAttempts = 5;           // retries after a taken channel name
constexpr std::size_t kDescriptionMax = 1000;  // Graph allows 1024 characters


using integrations::upper;

std::string utf8_cut(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  std::size_t end = max_bytes;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xc0) == 0x80) --end;
  return std::string(text.substr(0, end));
}

tl::unexpected<Error> unexpected(Error e) { return tl::unexpected<Error>(std::move(e)); }

using Done = std::function<void(Result<void>)>;
using DeliveryPtr = std::shared_ptr<const Delivery>;

// Runs step(i, next) for i = 0..n-1, one after the other: each step calls
// next exactly once, and the first error ends the run. Then `finish`.
void for_each_async(std::size_t n, std::function<void(std::size_t, Done)> step, Done finish) {
  struct Run {
    std::size_t n;
    std::function<void(std::size_t, Done)> step;
    Done finish;
  };
  auto run = std::make_shared<Run>(Run{n, std::move(step), std::move(finish)});
  auto go = std::make_shared<std::function<void(std::size_t)>>();
  *go = [run, weak = std::weak_ptr<std::function<void(std::size_t)>>(go)](std::size_t i) {
    if (i >= run->n) return run->finish({});
    auto self = weak.lock();
    run->step(i, [run, self, i](Result<void> r) {
      if (!r) return run->finish(std::move(r));
      (*self)(i + 1);
    });
  };
  (*go)(0);
}

}  // namespace

struct TeamsNotifier::Impl : std::enable_shared_from_this<TeamsNotifier::Impl> {
  TeamsNotifierConfig config;
  std::shared_ptr<BotConnector> connector;
  std::shared_ptr<GraphClient> graph;
  std::shared_ptr<integrations::ChatRefs> refs;
  std::shared_ptr<ConversationLimiter> limiter;

  mutable std::mutex mutex;
  std::map<std::string, std::string, std::less<>> names;           // person id -> display name
  std::map<std::string, std::string, std::less<>> dm_by_user;      // Teams user -> 1:1 conversation id
  std::map<std::string, std::vector<std::string>, std::less<>> dms_by_person;  // person id -> conversations
  std::set<std::int64_t> dm_posted;                                // notification ids whose DM went out
  std::map<std::int64_t, std::string> service_threads;             // incident -> thread conversation ("" = claimed)
  std::map<std::int64_t, std::string> incident_channels;           // incident -> channel id
  std::map<std::int64_t, std::string> incident_cards;              // incident -> card thread conversation ("" = claimed)
  std::set<std::pair<std::int64_t, std::int64_t>> announced;       // (incident, change_key) done or in flight
  std::set<std::pair<std::string, std::int64_t>> replied;          // (thread, change_key) whose line went out

  void remember_person(const std::string& person_id, const std::string& name) {
    if (name.empty()) return;
    std::lock_guard lock(mutex);
    names[person_id] = name;
  }

  std::string owner_display(const Delivery& d) const {
    const auto& owner = d.incident.owner;
    if (owner.empty()) return {};
    if (d.person && d.person->id == owner && !d.person->name.empty()) return d.person->name;
    std::lock_guard lock(mutex);
    if (auto it = names.find(owner); it != names.end()) return it->second;
    return owner;
  }

  // The page: the card and its notification text.
  std::string activity(const Delivery& d) const {
    const std::string owner = owner_display(d);
    return card_activity(incident_card(d.incident, d.service_name, owner, config.public_url),
                         incident_text(d.incident, d.service_name, owner));
  }

  // An update: the card alone. The card says all the text did, and the Agents
  // Playground refuses to update a message into text and a card (400 BadSyntax
  // "Activity resulted into multiple skype activities").
  std::string update_activity(const Delivery& d) const {
    return card_activity(incident_card(d.incident, d.service_name, owner_display(d), config.public_url), "");
  }

  // The incident channel, from memory or from the refs read when the send started.
  std::optional<std::string> incident_channel(std::int64_t incident, const std::vector<ChatRef>& saved) {
    std::lock_guard lock(mutex);
    if (auto it = incident_channels.find(incident); it != incident_channels.end()) return it->second;
    const auto found = integrations::latest_refs(saved, kIncidentChannel);
    if (found.empty()) return std::nullopt;
    incident_channels[incident] = found.back().conversation;
    return found.back().conversation;
  }

  void post_service_thread(const DeliveryPtr& d, const std::string& act, const std::vector<ChatRef>& saved, Done done) {
    auto it = config.service_channels.find(d->incident.service_id);
    if (it == config.service_channels.end()) return done({});
    const auto number = d->incident.number;
    bool needed = false;
    {
      std::lock_guard lock(mutex);
      if (service_threads.emplace(number, std::string()).second) {
        if (const auto found = integrations::latest_refs(saved, kChannelThread); !found.empty()) {  // posted before a restart
          service_threads[number] = found.back().conversation;
        } else {
          needed = true;
        }
      }
    }
    if (!needed) return done({});  // claimed by another send, or posted before
    connector->create_channel_thread_async(
        config.teams.connector_service_url, it->second, act,
        [self = shared_from_this(), number, done = std::move(done)](Result<ConversationRef> created) {
          if (!created) {
            {
              std::lock_guard lock(self->mutex);
              self->service_threads.erase(number);
            }
            return done(unexpected(created.error()));
          }
          self->refs->save(ChatRef{number, kChannelThread, created->conversation_id, created->activity_id, {}});
          {
            std::lock_guard lock(self->mutex);
            self->service_threads[number] = created->conversation_id;
          }
          done({});
        });
  }

  void post_incident_card(const DeliveryPtr& d, const std::string& channel, const std::string& act,
                          const std::vector<ChatRef>& saved, Done done) {
    const auto number = d->incident.number;
    bool needed = false;
    {
      std::lock_guard lock(mutex);
      if (incident_cards.emplace(number, std::string()).second) {
        if (const auto found = integrations::latest_refs(saved, kIncidentCard); !found.empty()) {
          incident_cards[number] = found.back().conversation;
        } else {
          needed = true;
        }
      }
    }
    if (!needed) return done({});
    connector->create_channel_thread_async(
        config.teams.connector_service_url, channel, act,
        [self = shared_from_this(), number, done = std::move(done)](Result<ConversationRef> created) {
          if (!created) {
            {
              std::lock_guard lock(self->mutex);
              self->incident_cards.erase(number);
            }
            return done(unexpected(created.error()));
          }
          self->refs->save(ChatRef{number, kIncidentCard, created->conversation_id, created->activity_id, {}});
          {
            std::lock_guard lock(self->mutex);
            self->incident_cards[number] = created->conversation_id;
          }
          done({});
        });
  }

  // --- page: service thread -> (1:1 chat) -> DM card -> incident channel card

  void page(const DeliveryPtr& d, Done done) {
    if (!d->person) return done(fail(ErrorKind::permanent, "teams: the page has no addressee"));
    remember_person(d->person->id, d->person->name);
    auto act = std::make_shared<const std::string>(activity(*d));
    auto saved = std::make_shared<const std::vector<ChatRef>>(refs->find(d->incident.number));
    // The service's thread does not depend on the person being reachable here.
    post_service_thread(d, *act, *saved,
                        [self = shared_from_this(), d, act, saved, done = std::move(done)](Result<void> r) mutable {
                          if (!r) {
                            spdlog::warn("teams: incident #{}: thread in the service channel failed: {}",
                                         d->incident.number, r.error().message);
                          }
                          self->page_dm(d, act, saved, std::move(done));
                        });
  }

  void page_dm(const DeliveryPtr& d, std::shared_ptr<const std::string> act,
               std::shared_ptr<const std::vector<ChatRef>> saved, Done done) {
    const auto& person = *d->person;
    if (person.teams_user_id.empty()) {
      return done(fail(ErrorKind::permanent, "no Teams user for " + (person.name.empty() ? person.id : person.name)));
    }
    bool dm_done = false;
    std::string conversation;
    {
      std::lock_guard lock(mutex);
      dm_done = dm_posted.contains(d->notification.id);
      if (auto it = dm_by_user.find(person.teams_user_id); it != dm_by_user.end()) conversation = it->second;
    }
    if (dm_done) return page_incident_card(d, act, saved, std::move(done));
    if (!conversation.empty()) return send_dm(d, std::move(conversation), act, saved, std::move(done));
    connector->create_personal_async(
        config.teams.connector_service_url, person.teams_user_id,
        [self = shared_from_this(), d, act, saved, done = std::move(done)](Result<ConversationRef> created) mutable {
          if (!created) return done(unexpected(created.error()));
          {
            std::lock_guard lock(self->mutex);
            self->dm_by_user[d->person->teams_user_id] = created->conversation_id;
          }
          self->send_dm(d, created->conversation_id, act, saved, std::move(done));
        });
  }

  void send_dm(const DeliveryPtr& d, std::string conversation, std::shared_ptr<const std::string> act,
               std::shared_ptr<const std::vector<ChatRef>> saved, Done done) {
    connector->send_async(
        config.teams.connector_service_url, conversation, *act,
        [self = shared_from_this(), d, conversation, act, saved, done = std::move(done)](Result<std::string> sent) mutable {
          if (!sent) return done(unexpected(sent.error()));
          const auto& person = *d->person;
          self->refs->save(ChatRef{d->incident.number, kDm, conversation, *sent, person.id});
          {
            std::lock_guard lock(self->mutex);
            self->dm_posted.insert(d->notification.id);
            auto& mine = self->dms_by_person[person.id];
            if (std::find(mine.begin(), mine.end(), conversation) == mine.end()) mine.push_back(conversation);
          }
          self->page_incident_card(d, act, saved, std::move(done));
        });
  }

  // Best effort: the person has the page.
  void page_incident_card(const DeliveryPtr& d, const std::shared_ptr<const std::string>& act,
                          const std::shared_ptr<const std::vector<ChatRef>>& saved, Done done) {
    const auto channel = incident_channel(d->incident.number, *saved);
    if (!channel) return done({});
    post_incident_card(d, *channel, *act, *saved, [number = d->incident.number, done = std::move(done)](Result<void> r) {
      if (!r) spdlog::warn("teams: incident #{}: card in the incident channel failed: {}", number, r.error().message);
      done({});
    });
  }

  // --- update: every DM card, then once per change the channel cards and a line

  void update(const DeliveryPtr& d, Done done) {
    auto saved = std::make_shared<const std::vector<ChatRef>>(refs->find(d->incident.number));
    auto act = std::make_shared<const std::string>(update_activity(*d));
    std::vector<ChatRef> dms;
    for (auto& ref : integrations::latest_refs(*saved, kDm)) {
      if (d->person && ref.person != d->person->id) continue;
      dms.push_back(std::move(ref));
    }
    auto list = std::make_shared<const std::vector<ChatRef>>(std::move(dms));
    const auto& service_url = config.teams.connector_service_url;
    auto self = shared_from_this();
    for_each_async(
        list->size(),
        [self, d, act, list, service_url](std::size_t i, Done next) {
          const auto& ref = (*list)[i];
          // Post the card anew and edit that one from now on: when the page's
          // post named no id (a 2xx without one), or the card is gone (deleted by the user).
          auto repost = [self, d, act, ref, service_url](Done next) {
            self->connector->send_async(service_url, ref.conversation, *act,
                                        [self, d, ref, next = std::move(next)](Result<std::string> sent) {
                                          if (!sent) return next(unexpected(sent.error()));
                                          self->refs->save(
                                              ChatRef{d->incident.number, kDm, ref.conversation, *sent, ref.person});
                                          next({});
                                        });
          };
          if (ref.message_id.empty()) return repost(std::move(next));
          self->connector->update_async(
              service_url, ref.conversation, ref.message_id, *act,
              [repost, next = std::move(next)](Result<void> updated) mutable {
                if (updated) return next({});
                if (updated.error().kind != ErrorKind::not_found) return next(std::move(updated));
                repost(std::move(next));
              });
        },
        [self, d, act, saved, done = std::move(done)](Result<void> r) mutable {
          if (!r) return done(std::move(r));
          self->announce(d, act, saved, std::move(done));
        });
  }

  // Once per change of the incident, whichever addressee's update comes first.
  void announce(const DeliveryPtr& d, const std::shared_ptr<const std::string>& act,
                const std::shared_ptr<const std::vector<ChatRef>>& saved, Done done) {
    const auto& inc = d->incident;
    const std::int64_t changed_at = change_key(inc);
    const std::pair<std::int64_t, std::int64_t> change{inc.number, changed_at};
    bool first = false;
    {
      std::lock_guard lock(mutex);
      first = announced.insert(change).second;
    }
    if (!first) return done({});
    const std::string owner = owner_display(*d);
    const std::string line = integrations::change_line(inc.state, owner);
    auto reply = std::make_shared<const std::string>(text_activity(line));
    auto threads = integrations::latest_refs(*saved, kChannelThread);
    const auto cards = integrations::latest_refs(*saved, kIncidentCard);
    threads.insert(threads.end(), cards.begin(), cards.end());
    auto list = std::make_shared<const std::vector<ChatRef>>(std::move(threads));
    const auto& service_url = config.teams.connector_service_url;
    auto self = shared_from_this();
    const auto number = inc.number;
    for_each_async(
        list->size(),
        [self, act, reply, list, service_url, number, changed_at](std::size_t i, Done next) {
          const auto& ref = (*list)[i];
          auto line = [self, reply, ref, service_url, number, changed_at](Done next) {
            bool done_before = false;
            {
              std::lock_guard lock(self->mutex);
              done_before = self->replied.contains({ref.conversation, changed_at});
            }
            if (done_before) return next({});
            auto answered = [self, ref, number, changed_at, next = std::move(next)](Result<std::string> replied) {
              if (!replied) {
                if (replied.error().retryable()) return next(unexpected(replied.error()));
                spdlog::warn("teams: incident #{}: line in {} failed: {}", number, ref.conversation,
                             replied.error().message);
              }
              {
                std::lock_guard lock(self->mutex);
                self->replied.insert({ref.conversation, changed_at});
              }
              next({});
            };
            // A thread whose root has no known id: the line goes to the conversation itself.
            if (ref.message_id.empty())
              return self->connector->send_async(service_url, ref.conversation, *reply, std::move(answered));
            self->connector->reply_async(service_url, ref.conversation, ref.message_id, *reply, std::move(answered));
          };
          if (ref.message_id.empty()) return line(std::move(next));
          self->connector->update_async(
              service_url, ref.conversation, ref.message_id, *act,
              [line, ref, number, next = std::move(next)](Result<void> updated) mutable {
                if (!updated) {
                  if (updated.error().retryable()) return next(std::move(updated));
                  spdlog::warn("teams: incident #{}: card in {} not updated: {}", number, ref.conversation,
                               updated.error().message);
                }
                line(std::move(next));
              });
        },
        [self, change, done = std::move(done)](Result<void> r) {
          if (!r) {
            std::lock_guard lock(self->mutex);
            self->announced.erase(change);
          }
          done(std::move(r));
        });
  }

  // --- open_channel: Graph channel (next name while taken) -> the card there

  void open_channel(const DeliveryPtr& d, Done done) {
    const auto& inc = d->incident;
    auto team = config.service_teams.find(inc.service_id);
    if (team == config.service_teams.end()) {
      spdlog::debug("teams: incident #{}: service {} has no team for incident channels", inc.number, inc.service_id);
      return done({});
    }
    if (!graph) {
      spdlog::warn("teams: incident #{}: no Graph client, so no incident channel", inc.number);
      return done({});
    }
    auto saved = std::make_shared<const std::vector<ChatRef>>(refs->find(inc.number));
    if (auto existing = incident_channel(inc.number, *saved)) {
      return post_incident_card(d, *existing, activity(*d), *saved, std::move(done));
    }
    auto description = std::make_shared<const std::string>(
        utf8_cut(upper(engine::to_string(inc.severity)) + ": " + inc.summary, kDescriptionMax));
    create_channel(d, team->second, description, saved, 0, std::move(done));
  }

  void create_channel(const DeliveryPtr& d, std::string team, std::shared_ptr<const std::string> description,
                      std::shared_ptr<const std::vector<ChatRef>> saved, int attempt, Done done) {
    const auto& inc = d->incident;
    graph->create_channel_async(
        team, teams_channel_name(inc.number, inc.summary, attempt), *description,
        [self = shared_from_this(), d, team, description, saved, attempt,
         done = std::move(done)](Result<std::string> created) mutable {
          const auto number = d->incident.number;
          if (!created) {
            if (created.error().kind != ErrorKind::conflict) return done(unexpected(created.error()));
            if (attempt >= kMaxNameAttempts) {
              return done(fail(ErrorKind::permanent, "teams: no free channel name for incident #" + std::to_string(number)));
            }
            return self->create_channel(d, std::move(team), std::move(description), std::move(saved), attempt + 1,
                                        std::move(done));
          }
          self->refs->save(ChatRef{number, kIncidentChannel, *created, {}, {}});
          {
            std::lock_guard lock(self->mutex);
            self->incident_channels[number] = *created;
          }
          self->post_incident_card(d, *created, self->activity(*d), *saved, std::move(done));
        });
  }
};

TeamsNotifier::TeamsNotifier(TeamsNotifierConfig config, std::shared_ptr<BotConnector> connector,
                             std::shared_ptr<GraphClient> graph, std::shared_ptr<integrations::ChatRefs> refs,
                             std::shared_ptr<ConversationLimiter> limiter)
    : impl_(std::make_shared<Impl>()) {
  if (!connector) throw std::invalid_argument("teams: a Bot Connector client is required");
  if (!refs) throw std::invalid_argument("teams: a ChatRefs store is required");
  impl_->config = std::move(config);
  impl_->connector = std::move(connector);
  impl_->graph = std::move(graph);
  impl_->refs = std::move(refs);
  impl_->limiter = std::move(limiter);
}

TeamsNotifier::~TeamsNotifier() = default;

void TeamsNotifier::remember_person(const std::string& person_id, const std::string& name) {
  impl_->remember_person(person_id, name);
}

std::optional<engine::TimePoint> TeamsNotifier::reserve(const Delivery& d, engine::TimePoint now) {
  auto& m = *impl_;
  if (!m.limiter) return std::nullopt;
  std::vector<std::string> keys;
  const auto number = d.incident.number;
  {
    std::lock_guard lock(m.mutex);
    if (d.notification.kind == engine::NotificationKind::page && d.person) {
      // The shared channel first: when it is busy, the person's slot is not taken in vain.
      if (auto it = m.config.service_channels.find(d.incident.service_id);
          it != m.config.service_channels.end() && !m.service_threads.contains(number)) {
        keys.push_back(it->second);
      }
      const auto& user = d.person->teams_user_id;
      if (!user.empty() && !m.dm_posted.contains(d.notification.id)) {
        auto it = m.dm_by_user.find(user);
        keys.push_back(it == m.dm_by_user.end() ? "user:" + user : it->second);
      }
      if (auto it = m.incident_channels.find(number);
          it != m.incident_channels.end() && !m.incident_cards.contains(number)) {
        keys.push_back(it->second);
      }
    } else if (d.notification.kind == engine::NotificationKind::update) {
      for (const auto& [person, conversations] : m.dms_by_person) {
        if (d.person && person != d.person->id) continue;
        keys.insert(keys.end(), conversations.begin(), conversations.end());
      }
      if (!m.announced.contains({number, change_key(d.incident)})) {
        if (auto it = m.service_threads.find(number); it != m.service_threads.end() && !it->second.empty()) {
          keys.push_back(it->second);
        }
        if (auto it = m.incident_cards.find(number); it != m.incident_cards.end() && !it->second.empty()) {
          keys.push_back(it->second);
        }
      }
    }
  }
  for (const auto& key : keys) {
    if (auto later = m.limiter->reserve(key, now)) return later;
  }
  return std::nullopt;
}

void TeamsNotifier::send_async(const Delivery& delivery, std::function<void(Result<void>)> done) {
  auto d = std::make_shared<const Delivery>(delivery);
  switch (d->notification.kind) {
    case engine::NotificationKind::page: return impl_->page(d, std::move(done));
    case engine::NotificationKind::update: return impl_->update(d, std::move(done));
    case engine::NotificationKind::open_channel: return impl_->open_channel(d, std::move(done));
  }
  done(fail(ErrorKind::invalid_request, "teams: unknown notification kind"));
}

Result<void> TeamsNotifier::send(const Delivery& delivery) {
  return detail::wait_for<void>([&](Done done) { send_async(delivery, std::move(done)); });
}

}  // namespace baton::teams
