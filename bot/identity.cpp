#include "bot/identity.hpp"

#include <spdlog/spdlog.h>

#include "bot/app.hpp"
#include "bot/background.hpp"
#include "integrations/common/text.hpp"

namespace baton::bot {
using integrations::lower;
namespace {

std::string cache_key(const ChannelUser& user) { return std::string(engine::to_string(user.channel)) + ":" + user.id; }

}  // namespace

// Network callbacks hold this, never the Identities object: they hand their
// answers to the worker through `worker`, which is null once closed.
struct Identities::Shared {
  struct Cached {
    std::optional<std::string> person;
    engine::TimePoint expires;
  };
  using Waiter = std::function<void(std::optional<std::string>)>;

  std::mutex mutex;
  Background* worker = nullptr;
  std::map<std::string, Cached> cache;                     ///< "<channel>:<id>" -> person
  std::map<std::string, std::vector<Waiter>> in_flight;    ///< one look-up per user
};

Identities::Identities(App& app, Background& worker) : app_(app), shared_(std::make_shared<Shared>()) {
  shared_->worker = &worker;
}

Identities::~Identities() { close(); }

void Identities::close() {
  std::lock_guard lock(shared_->mutex);
  shared_->worker = nullptr;
  shared_->in_flight.clear();  // late answers are dropped
}

std::optional<std::string> Identities::person_by_email(const std::string& email) const {
  if (email.empty()) return std::nullopt;
  const auto wanted = lower(email);
  auto cfg = app_.config();
  for (const auto& [id, p] : cfg->directory->people)
    if (!p.email.empty() && lower(p.email) == wanted) return id;
  return std::nullopt;
}

std::optional<std::optional<std::string>> Identities::known(const ChannelUser& user, bool has_lookup) {
  if (user.id.empty() && user.email.empty()) return std::optional<std::string>{};
  {
    auto cfg = app_.config();
    for (const auto& [id, p] : cfg->directory->people) {
      const std::string* own = nullptr;
      switch (user.channel) {
        case engine::Source::slack: own = &p.slack_user_id; break;
        case engine::Source::teams: own = &p.teams_user_id; break;
        case engine::Source::sms:
        case engine::Source::voice: own = &p.phone; break;
        default: break;
      }
      if (own && !own->empty() && *own == user.id) return std::optional<std::string>{id};
      if (user.channel == engine::Source::email && !p.email.empty() && lower(p.email) == lower(user.id))
        return std::optional<std::string>{id};
    }
  }
  if (auto by_email = person_by_email(user.email)) return std::optional<std::string>{by_email};
  if (!has_lookup || user.id.empty()) return std::optional<std::string>{};
  const auto now = app_.clock().now();
  std::lock_guard lock(shared_->mutex);
  if (auto it = shared_->cache.find(cache_key(user)); it != shared_->cache.end() && now < it->second.expires)
    return it->second.person;
  return std::nullopt;
}

void Identities::resolve(const ChannelUser& user, EmailLookup lookup,
                         std::function<void(std::optional<std::string>)> done) {
  if (auto k = known(user, static_cast<bool>(lookup))) return done(*k);
  const std::string key = cache_key(user);
  {
    std::lock_guard lock(shared_->mutex);
    if (!shared_->worker) return;  // closing: nobody is left to answer
    auto& waiting = shared_->in_flight[key];
    if (waiting.size() >= kMaxWaiters) {
      // Not queued: answered below as unknown, outside the lock.
    } else {
      waiting.push_back(std::move(done));
      if (waiting.size() > 1) return;  // a look-up for this user is on its way
      done = nullptr;
    }
  }
  if (done) return done(std::nullopt);
  // The look-up answers on a network thread: the rest runs on the worker.
  lookup([shared = shared_, this, key](Result<std::string> email) {
    std::lock_guard lock(shared->mutex);
    if (!shared->worker) return;
    shared->worker->post([shared, this, key, email = std::move(email)] {
      // The worker runs only while this object exists (Commands owns both).
      std::optional<std::string> found;
      engine::Millis ttl = kNotFoundFor;
      if (!email) {
        spdlog::warn("identity: look-up of {} failed: {}", key, email.error().message);
        ttl = kFailedFor;
      } else if ((found = person_by_email(*email))) {
        ttl = kFoundFor;
      }
      const auto now = app_.clock().now();
      std::vector<Shared::Waiter> waiting;
      {
        std::lock_guard inner(shared->mutex);
        if (shared->cache.size() >= kMaxCached)
          std::erase_if(shared->cache, [&](const auto& e) { return e.second.expires <= now; });
        if (shared->cache.size() < kMaxCached * 2) shared->cache[key] = Shared::Cached{found, now + ttl};
        if (auto it = shared->in_flight.find(key); it != shared->in_flight.end()) {
          waiting = std::move(it->second);
          shared->in_flight.erase(it);
        }
      }
      for (auto& w : waiting) w(found);
    });
  });
}

}  // namespace baton::bot
