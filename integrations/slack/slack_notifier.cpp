#include "integrations/slack/slack_notifier.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <future>
#include <mutex>
#include <set>
#include <stdexcept>
#include <tuple>
#include <utility>
#include <vector>

#include "integrations/common/text.hpp"
#include "integrations/slack/blocks.hpp"
#include "integrations/slack/channel_name.hpp"

namespace baton::slack {
namespace {

using integrations::ChatRef;
using integrations::Delivery;
using Done = std::function<void(Result<void>)>;

constexpr const char* kDm = "slack-dm";
constexpr const char* kChannelPost = "slack-channel-post";
constexpr const char* kIncidentChannel = "slack-incident-channel";
constexpr int kMaxNameAttempts = 5;     // retries after name_taken
constexpr std::size_t kTopicMax = 250;  // conversations.setTopic limit

using integrations::upper;

tl::unexpected<Error> unexpected(Error e) { return tl::unexpected<Error>(std::move(e)); }

}  // namespace

// Every step of a send is a callback of the one before (a Web API answer on the
// AsyncHttpClient's thread); nothing waits. The state below is shared by the
// sends in flight, under `mutex` (never held across a call).
struct SlackNotifier::Impl : std::enable_shared_from_this<SlackNotifier::Impl> {
  Impl(SlackNotifierConfig c, std::shared_ptr<integrations::ChatRefs> r,
       std::shared_ptr<integrations::AsyncHttpClient> http, boost::asio::io_context& io, const engine::Clock& clock)
      : config(std::move(c)),
        refs(std::move(r)),
        api(config.api, std::move(http), io, clock),
        paced(api.using_reserved_slots()) {}

  struct Known {
    std::string name;
    std::string slack_user;
  };

  // One send in progress: what its steps share.
  struct Op {
    std::shared_ptr<Impl> self;
    Delivery d;
    Done done;
    std::vector<ChatRef> refs;  // the incident's refs when the send started
    std::string text;
    std::string blocks;
    std::string user;  // pages: the addressee's Slack user

    void finish(Result<void> result) {
      auto fn = std::move(done);
      done = nullptr;
      if (fn) fn(std::move(result));
    }
  };
  using OpPtr = std::shared_ptr<Op>;

  SlackNotifierConfig config;
  std::shared_ptr<integrations::ChatRefs> refs;
  SlackWebApi api;    // its Workspace paces the tiers and the posts per conversation
  SlackWebApi paced;  // the same, for the calls whose tier slots reserve() took

  std::mutex mutex;
  std::map<std::string, Known, std::less<>> people;             // person id -> what we know
  std::map<std::string, std::string, std::less<>> email_users;  // email -> Slack user id
  std::map<std::string, std::string, std::less<>> dm_channels;  // Slack user id -> DM channel (conversations.open)
  // Sends waiting for a conversations.open / users.lookupByEmail already in
  // flight for the same user: a burst of pages to one person asks Slack once.
  std::map<std::string, std::vector<OpPtr>, std::less<>> dm_opening;
  std::map<std::string, std::vector<OpPtr>, std::less<>> email_lookups;
  std::set<std::int64_t> dm_posted;                             // notification ids whose DM went out
  std::set<std::int64_t> service_posted;                        // incidents with a service channel post
  std::map<std::int64_t, std::string> incident_channels;        // incident -> channel id
  std::set<std::pair<std::int64_t, std::int64_t>> announced;    // (incident, updated_at ms) done or in flight
  std::set<std::pair<std::int64_t, std::string>> noted;         // (incident, channel) problems on the timeline

  void remember_person(const std::string& person_id, const std::string& name, const std::string& slack_user_id) {
    std::lock_guard lock(mutex);
    auto& known = people[person_id];
    if (!name.empty()) known.name = name;
    if (!slack_user_id.empty()) known.slack_user = slack_user_id;
  }

  std::string owner_display(const Delivery& d) {
    const auto& owner = d.incident.owner;
    if (owner.empty()) return {};
    if (d.person && d.person->id == owner && !d.person->name.empty()) return d.person->name;
    std::lock_guard lock(mutex);
    if (auto it = people.find(owner); it != people.end() && !it->second.name.empty()) return it->second.name;
    return owner;
  }

  std::string service_channel(const Delivery& d) const {
    auto it = config.service_channels.find(d.incident.service_id);
    return it == config.service_channels.end() ? std::string() : it->second;
  }

  // Known in memory (this process created it, or saw it before), else from the
  // refs read when the send started.
  std::optional<std::string> incident_channel(const Op& op) {
    const auto number = op.d.incident.number;
    std::lock_guard lock(mutex);
    if (auto it = incident_channels.find(number); it != incident_channels.end()) return it->second;
    const auto found = integrations::latest_refs(op.refs, kIncidentChannel);
    if (found.empty()) return std::nullopt;
    incident_channels[number] = found.back().conversation;
    return found.back().conversation;
  }

  // On the caller's thread: the only ChatRefs read (it may touch the database).
  void start(const Delivery& d, Done done) {
    auto op = std::make_shared<Op>();
    op->self = shared_from_this();
    op->d = d;
    op->done = std::move(done);
    const auto owner = owner_display(d);
    op->text = page_text(d.incident, d.service_name, owner);
    op->blocks = page_blocks(d.incident, d.service_name, owner, config.public_url);
    switch (d.notification.kind) {
      case engine::NotificationKind::page:
        op->refs = refs->find(d.incident.number);
        return page(op);
      case engine::NotificationKind::update:
        op->refs = refs->find(d.incident.number);
        return update(op);
      case engine::NotificationKind::open_channel:
        if (config.open_incident_channels) op->refs = refs->find(d.incident.number);
        return open_channel(op);
    }
    op->finish(fail(ErrorKind::invalid_request, "slack: unknown notification kind"));
  }

  // ---- page: user -> conversations.open -> chat.postMessage -> service channel -> invite

  void page(OpPtr op) {
    if (!op->d.person) return op->finish(fail(ErrorKind::permanent, "slack: the page has no addressee"));
    const auto& person = *op->d.person;
    if (!person.slack_user_id.empty()) return page_as(op, person.slack_user_id);
    std::string who = person.name.empty() ? person.id : person.name;
    if (person.email.empty()) return op->finish(fail(ErrorKind::permanent, "no Slack user for " + who));
    std::string user;
    {
      std::lock_guard lock(mutex);
      if (auto it = email_users.find(person.email); it != email_users.end()) user = it->second;
    }
    if (!user.empty()) return page_as(op, user);
    {
      std::lock_guard lock(mutex);
      auto& waiting = email_lookups[person.email];
      waiting.push_back(op);
      if (waiting.size() > 1) return;  // the lookup in flight answers this page too
    }
    paced.lookup_user_by_email_async(person.email, [self = op->self, email = person.email](Result<std::string> found) {
      std::vector<OpPtr> waiting;
      {
        std::lock_guard lock(self->mutex);
        if (found) self->email_users[email] = *found;
        waiting = std::move(self->email_lookups[email]);
        self->email_lookups.erase(email);
      }
      for (auto& w : waiting) {
        if (found) {
          self->page_as(w, *found);
          continue;
        }
        const auto& p = *w->d.person;
        std::string who = p.name.empty() ? p.id : p.name;
        if (found.error().kind == ErrorKind::not_found) {
          w->finish(fail(ErrorKind::permanent, "no Slack user for " + who + " (" + found.error().message + ")"));
        } else {
          w->finish(unexpected(found.error()));
        }
      }
    });
  }

  void page_as(OpPtr op, std::string user) {
    op->user = std::move(user);
    const auto& person = *op->d.person;
    // Before the incident channel is looked at (invite_person), so an
    // open_channel running at the same time sees one or the other.
    remember_person(person.id, person.name, op->user);
    bool dm_done = false;
    std::string dm_channel;
    {
      std::lock_guard lock(mutex);
      dm_done = dm_posted.contains(op->d.notification.id);  // a retry after a later step failed
      if (auto it = dm_channels.find(op->user); it != dm_channels.end()) dm_channel = it->second;
    }
    if (dm_done) return after_dm(op);
    if (!dm_channel.empty()) return post_dm(op, dm_channel);
    // conversations.open is Tier 3: ask once per user (pages arriving while
    // that call is in flight wait for its answer), then reuse the channel.
    {
      std::lock_guard lock(mutex);
      auto& waiting = dm_opening[op->user];
      waiting.push_back(op);
      if (waiting.size() > 1) return;
    }
    paced.open_dm_async(op->user, [self = op->self, user = op->user](Result<std::string> dm) {
      std::vector<OpPtr> waiting;
      {
        std::lock_guard lock(self->mutex);
        if (dm) self->dm_channels[user] = *dm;
        waiting = std::move(self->dm_opening[user]);
        self->dm_opening.erase(user);
      }
      for (auto& w : waiting) {
        if (dm) {
          self->post_dm(w, *dm);
        } else {
          w->finish(unexpected(dm.error()));
        }
      }
    });
  }

  void post_dm(OpPtr op, std::string channel) {
    api.post_message_async(std::move(channel), op->text, op->blocks, [op](Result<MessageTs> posted) {
      if (!posted) return op->finish(unexpected(posted.error()));
      auto& self = *op->self;
      self.refs->save(ChatRef{op->d.incident.number, kDm, posted->channel, posted->ts, op->d.person->id});
      {
        std::lock_guard lock(self.mutex);
        self.dm_posted.insert(op->d.notification.id);
      }
      self.after_dm(op);
    });
  }

  // Best effort from here: the person has the page.
  void after_dm(OpPtr op) {
    const auto number = op->d.incident.number;
    const auto channel = service_channel(op->d);
    if (channel.empty()) return invite_person(op);
    bool claimed = false;
    {
      std::lock_guard lock(mutex);
      claimed = service_posted.insert(number).second;
    }
    if (claimed && !integrations::latest_refs(op->refs, kChannelPost).empty()) claimed = false;  // posted before a restart
    if (!claimed) return invite_person(op);
    api.post_message_async(channel, op->text, op->blocks, [op, channel](Result<MessageTs> posted) {
      auto& self = *op->self;
      const auto number = op->d.incident.number;
      if (posted) {
        self.refs->save(ChatRef{number, kChannelPost, posted->channel, posted->ts, {}});
      } else {
        spdlog::warn("slack: incident #{}: post in service channel {} failed: {}", number, channel,
                     posted.error().message);
        {
          std::lock_guard lock(self.mutex);
          self.service_posted.erase(number);
        }
        if (!posted.error().retryable()) self.note_channel_problem(number, channel, posted.error());
      }
      self.invite_person(op);
    });
  }

  // A channel baton cannot post in is a configuration problem the incident's
  // people must see: on its timeline (once per incident and channel), not only in the log.
  void note_channel_problem(std::int64_t number, const std::string& channel, const Error& error) {
    {
      std::lock_guard lock(mutex);
      if (!noted.emplace(number, channel).second) return;
    }
    const auto code = slack_error_code(error);
    std::string text = "Slack: the page was not posted in the service's channel " + channel + ": " +
                       (code.empty() ? error.message : code);
    if (code == "not_in_channel") {
      text += " (invite the baton app to the channel; in a public channel the chat:write.public scope is enough)";
    }
    api.workspace().note(number, std::move(text));
  }

  void invite_person(OpPtr op) {
    auto channel = incident_channel(*op);
    if (!channel) return op->finish({});
    api.invite_async(*channel, {op->user}, [op, channel = *channel](Result<void> invited) {
      if (!invited && invited.error().kind != ErrorKind::conflict) {
        spdlog::warn("slack: incident #{}: invite of {} into {} failed: {}", op->d.incident.number,
                     op->d.person->id, channel, invited.error().message);
      }
      op->finish({});
    });
  }

  // ---- update: chat.update of the DMs -> (once per change) channel posts, a line, archive

  // Edits a message in place, or posts it again when Slack no longer has it.
  void refresh(OpPtr op, ChatRef ref, Done next) {
    paced.update_message_async(ref.conversation, ref.message_id, op->text, op->blocks,
                             [op, ref, next](Result<void> updated) {
                               if (updated) return next({});
                               if (updated.error().kind != ErrorKind::not_found ||
                                   slack_error_code(updated.error()) != "message_not_found") {
                                 return next(unexpected(updated.error()));
                               }
                               op->self->api.post_message_async(
                                   ref.conversation, op->text, op->blocks, [op, ref, next](Result<MessageTs> posted) {
                                     if (!posted) return next(unexpected(posted.error()));
                                     op->self->refs->save(ChatRef{op->d.incident.number, ref.kind, posted->channel,
                                                                  posted->ts, ref.person});
                                     next({});
                                   });
                             });
  }

  // One after the other, stopping at the first error.
  void refresh_each(OpPtr op, std::vector<ChatRef> list, std::size_t i, Done then) {
    if (i == list.size()) return then({});
    auto ref = list[i];
    refresh(op, std::move(ref), [op, list = std::move(list), i, then = std::move(then)](Result<void> r) mutable {
      if (!r) return then(std::move(r));
      op->self->refresh_each(op, std::move(list), i + 1, std::move(then));
    });
  }

  void update(OpPtr op) {
    std::vector<ChatRef> dms;
    for (const auto& ref : integrations::latest_refs(op->refs, kDm)) {
      if (op->d.person && ref.person != op->d.person->id) continue;
      dms.push_back(ref);
    }
    refresh_each(op, std::move(dms), 0, [op](Result<void> r) {
      if (!r) return op->finish(std::move(r));
      op->self->announce(op);
    });
  }

  // Once per change of the incident, whichever addressee's update comes first.
  void announce(OpPtr op) {
    const std::pair<std::int64_t, std::int64_t> change{op->d.incident.number, engine::to_ms(op->d.incident.updated_at)};
    {
      std::lock_guard lock(mutex);
      if (!announced.insert(change).second) return op->finish({});
    }
    Done finish = [op, change](Result<void> r) {
      if (!r) {
        std::lock_guard lock(op->self->mutex);
        op->self->announced.erase(change);
      }
      op->finish(std::move(r));
    };
    refresh_each(op, integrations::latest_refs(op->refs, kChannelPost), 0, [op, finish](Result<void> r) {
      if (!r) return finish(std::move(r));
      op->self->incident_line(op, finish);
    });
  }

  void incident_line(OpPtr op, Done finish) {
    auto channel = incident_channel(*op);
    if (!channel) return finish({});
    const auto& inc = op->d.incident;
    const std::string owner = escape_mrkdwn(owner_display(op->d));
    const std::string line = integrations::change_line(inc.state, owner);
    api.post_message_async(*channel, line, "", [op, channel = *channel, finish](Result<MessageTs> posted) {
      if (!posted) {
        if (posted.error().retryable()) return finish(unexpected(posted.error()));
        spdlog::warn("slack: incident #{}: line in {} failed: {}", op->d.incident.number, channel,
                     posted.error().message);
      }
      if (op->d.incident.state != engine::IncidentState::resolved || !op->self->config.archive_on_resolve) {
        return finish({});
      }
      op->self->paced.archive_async(channel, [finish](Result<void> archived) {
        if (!archived && archived.error().kind != ErrorKind::conflict) return finish(unexpected(archived.error()));
        finish({});
      });
    });
  }

  // ---- open_channel: conversations.create (name_taken: next name) -> setTopic -> invite the owner

  void open_channel(OpPtr op) {
    if (!config.open_incident_channels) {
      spdlog::debug("slack: incident #{}: incident channels are off", op->d.incident.number);
      return op->finish({});
    }
    if (auto existing = incident_channel(*op)) return channel_ready(op, *existing);
    create_channel(op, 0);
  }

  void create_channel(OpPtr op, int attempt) {
    const auto& inc = op->d.incident;
    if (attempt > kMaxNameAttempts) {
      return op->finish(
          fail(ErrorKind::permanent, "slack: no free channel name for incident #" + std::to_string(inc.number)));
    }
    paced.create_channel_async(incident_channel_name(inc.number, inc.summary, attempt), false,
                             [op, attempt](Result<std::string> created) {
                               auto& self = *op->self;
                               if (!created) {
                                 if (slack_error_code(created.error()) != "name_taken") {
                                   return op->finish(unexpected(created.error()));
                                 }
                                 return self.create_channel(op, attempt + 1);
                               }
                               const auto number = op->d.incident.number;
                               self.refs->save(ChatRef{number, kIncidentChannel, *created, {}, {}});
                               {
                                 std::lock_guard lock(self.mutex);
                                 self.incident_channels[number] = *created;
                               }
                               self.channel_ready(op, *created);
                             });
  }

  void channel_ready(OpPtr op, std::string channel) {
    const auto& inc = op->d.incident;
    const std::string owner = owner_display(op->d);
    std::string topic =
        "#" + std::to_string(inc.number) + " " + upper(engine::to_string(inc.severity)) + ": " + inc.summary;
    const std::string tail = owner.empty() ? std::string() : " \u2014 " + owner;
    topic = utf8_prefix(topic, kTopicMax - std::min(tail.size(), kTopicMax)) + tail;
    topic = utf8_prefix(topic, kTopicMax);
    paced.set_topic_async(channel, topic, [op, channel](Result<void> r) {
      if (!r) {
        if (r.error().retryable()) return op->finish(std::move(r));
        spdlog::warn("slack: incident #{}: topic of {} not set: {}", op->d.incident.number, channel, r.error().message);
      }
      op->self->invite_owner(op, channel);
    });
  }

  void invite_owner(OpPtr op, std::string channel) {
    std::string owner_user;
    {
      std::lock_guard lock(mutex);
      if (auto it = people.find(op->d.incident.owner); it != people.end()) owner_user = it->second.slack_user;
    }
    if (owner_user.empty()) return op->finish({});
    paced.invite_async(channel, {owner_user}, [op, channel](Result<void> invited) {
      if (!invited && invited.error().kind != ErrorKind::conflict) {
        if (invited.error().retryable()) return op->finish(std::move(invited));
        spdlog::warn("slack: incident #{}: invite of {} into {} failed: {}", op->d.incident.number,
                     op->d.incident.owner, channel, invited.error().message);
      }
      op->finish({});
    });
  }
};

SlackNotifier::SlackNotifier(SlackNotifierConfig config, std::shared_ptr<integrations::ChatRefs> refs,
                             std::shared_ptr<integrations::AsyncHttpClient> http, boost::asio::io_context& io,
                             const engine::Clock& clock) {
  if (config.api.bot_token.empty()) throw std::invalid_argument("slack: bot_token is required");
  if (!refs) throw std::invalid_argument("slack: a ChatRefs store is required");
  if (!http) throw std::invalid_argument("slack: an AsyncHttpClient is required");
  if (!(config.api.messages_per_second_per_channel > 0))
    throw std::invalid_argument("slack: messages_per_second_per_channel must be positive");
  impl_ = std::make_shared<Impl>(std::move(config), std::move(refs), std::move(http), io, clock);
}

SlackNotifier::~SlackNotifier() = default;  // sends in flight keep what they need

void SlackNotifier::remember_person(const std::string& person_id, const std::string& name,
                                    const std::string& slack_user_id) {
  impl_->remember_person(person_id, name, slack_user_id);
}

std::optional<engine::TimePoint> SlackNotifier::reserve(const Delivery& d, engine::TimePoint now) {
  auto& s = *impl_;
  std::vector<std::string> calls;  // the tier-paced Web API calls the send will make
  std::vector<std::string> posts;  // the conversations it will post in
  const auto number = d.incident.number;
  {
    std::lock_guard lock(s.mutex);
    switch (d.notification.kind) {
      case engine::NotificationKind::page: {
        if (!d.person) break;
        std::string user = d.person->slack_user_id;
        if (user.empty()) {
          if (auto it = s.email_users.find(d.person->email); it != s.email_users.end()) {
            user = it->second;
          } else if (!d.person->email.empty()) {
            calls.push_back("users.lookupByEmail");
          }
        }
        // The shared channel first: when it is busy, the person's slot is not taken in vain.
        if (auto it = s.config.service_channels.find(d.incident.service_id);
            it != s.config.service_channels.end() && !s.service_posted.contains(number)) {
          posts.push_back(it->second);
        }
        if (!s.dm_posted.contains(d.notification.id)) {
          posts.push_back(user.empty() ? "person:" + d.person->id : "user:" + user);
          if (user.empty() || !s.dm_channels.contains(user)) calls.push_back("conversations.open");
        }
        break;
      }
      case engine::NotificationKind::update: {
        if (d.person) calls.push_back("chat.update");  // the addressee's DM
        if (s.announced.contains({number, engine::to_ms(d.incident.updated_at)})) break;
        if (s.config.service_channels.contains(d.incident.service_id)) calls.push_back("chat.update");
        if (auto it = s.incident_channels.find(number); it != s.incident_channels.end()) {
          posts.push_back(it->second);
          if (d.incident.state == engine::IncidentState::resolved && s.config.archive_on_resolve)
            calls.push_back("conversations.archive");
        }
        break;
      }
      case engine::NotificationKind::open_channel: {
        if (!s.config.open_incident_channels) break;
        if (!s.incident_channels.contains(number)) calls.push_back("conversations.create");
        calls.push_back("conversations.setTopic");
        if (auto it = s.people.find(d.incident.owner); it != s.people.end() && !it->second.slack_user.empty())
          calls.push_back("conversations.invite");
        break;
      }
    }
  }
  // Waiting here for a tier's slot costs the delivery no attempt (Notifier::reserve).
  // The tiers are asked first and their slots taken last, so a delivery told
  // to wait holds none of them.
  auto& workspace = s.api.workspace();
  if (auto later = workspace.reserve_calls(calls, now, false)) return later;
  for (const auto& key : posts) {
    if (auto later = workspace.reserve_post(key, now)) return later;
  }
  return workspace.reserve_calls(calls, now);
}

void SlackNotifier::send_async(const Delivery& delivery, std::function<void(Result<void>)> done) {
  impl_->start(delivery, std::move(done));
}

Result<void> SlackNotifier::send(const Delivery& delivery) {
  auto promise = std::make_shared<std::promise<Result<void>>>();
  auto outcome = promise->get_future();
  send_async(delivery, [promise](Result<void> r) { promise->set_value(std::move(r)); });
  return outcome.get();
}

}  // namespace baton::slack
