// Chat references and Teams identities kept in SQLite (see chat_refs.hpp).
#include "bot/chat_refs.hpp"

#include <pthread.h>

#include <algorithm>

#include <spdlog/spdlog.h>

#include "storage/group_commit.hpp"

namespace baton::bot {

StoredChatRefs::StoredChatRefs(storage::GroupCommitWriter& writer, const engine::Clock& clock,
                               const std::vector<std::int64_t>& preload)
    : writer_(writer), clock_(clock), max_incidents_(kMaxCachedIncidents + preload.size()) {
  const auto refs = load(preload);
  if (!preload.empty())
    spdlog::info("loaded {} chat message references of {} incidents", refs, cache_.size());
}

std::size_t StoredChatRefs::load(const std::vector<std::int64_t>& incidents) {
  std::map<std::string, std::string> users;
  std::map<std::int64_t, std::vector<integrations::ChatRef>> loaded;
  std::size_t refs = 0;
  writer_.with_store([&](storage::Store& s) {
    if (auto stored = s.teams_users())
      for (auto& [aad, id] : *stored) users.emplace(std::move(aad), std::move(id));
    for (const auto number : incidents) {
      auto rows = s.chat_messages(number);
      if (!rows) {
        spdlog::warn("could not load the chat messages of incident #{}: {} (updates post new messages)", number,
                     rows.error().message);
        continue;
      }
      if (rows->empty()) continue;
      auto& into = loaded[number];
      for (auto& m : *rows) into.push_back({m.incident, m.kind, m.conversation, m.message_id, m.person});
      refs += rows->size();
    }
  });
  {
    std::lock_guard lock(teams_users_mutex_);
    for (auto& [aad, id] : users) teams_users_.insert_or_assign(aad, std::move(id));
  }
  std::lock_guard lock(mutex_);
  for (auto& [number, from_db] : loaded) {
    // What this instance saved itself stays; the database adds what others saved.
    auto& cached = cache_[number];
    for (auto& ref : from_db) {
      const bool known = std::any_of(cached.begin(), cached.end(), [&](const integrations::ChatRef& c) {
        return c.kind == ref.kind && c.conversation == ref.conversation && c.message_id == ref.message_id;
      });
      if (!known) cached.push_back(std::move(ref));
    }
  }
  while (cache_.size() > max_incidents_) cache_.erase(cache_.begin());
  return refs;
}

void StoredChatRefs::reload(const std::vector<std::int64_t>& incidents) {
  const auto refs = load(incidents);
  if (incidents.empty()) return;
  spdlog::info("cluster: loaded {} chat message references of {} incidents from the previous owner", refs,
               incidents.size());
}

StoredChatRefs::~StoredChatRefs() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (worker_.joinable()) worker_.join();  // pending refs are written before we go
}

void StoredChatRefs::save(const integrations::ChatRef& ref) {
  {
    std::lock_guard lock(mutex_);
    cache_[ref.incident].push_back(ref);
    // Bounded: the oldest incidents are forgotten (their updates post anew).
    while (cache_.size() > max_incidents_) cache_.erase(cache_.begin());
    pending_.push_back({ref.incident, ref.kind, ref.conversation, ref.message_id, ref.person});
    if (!worker_.joinable() && !stopping_)
      worker_ = std::thread([this] {
        pthread_setname_np(pthread_self(), "baton-chatrefs");
        run();
      });
  }
  wake_.notify_one();
}

std::vector<integrations::ChatRef> StoredChatRefs::find(std::int64_t incident) {
  std::lock_guard lock(mutex_);
  if (auto it = cache_.find(incident); it != cache_.end()) return it->second;
  return {};
}

void StoredChatRefs::run() {
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
    if (pending_.empty()) return;
    auto batch = std::move(pending_);
    pending_.clear();
    lock.unlock();
    Result<void> r;
    writer_.with_store([&](storage::Store& s) { r = s.add_chat_messages(batch, clock_.now()); });
    if (!r) spdlog::warn("could not remember {} chat message(s): {}", batch.size(), r.error().message);
    lock.lock();
  }
}

void StoredChatRefs::remember_teams_user(const std::string& aad_object_id, const std::string& teams_id) {
  if (aad_object_id.empty() || !teams_id.starts_with("29:")) return;
  {
    std::lock_guard lock(teams_users_mutex_);
    auto [it, inserted] = teams_users_.try_emplace(aad_object_id, teams_id);
    if (!inserted && it->second == teams_id) return;
    it->second = teams_id;
  }
  Result<void> r;
  writer_.with_store([&](storage::Store& s) { r = s.save_teams_user(aad_object_id, teams_id, clock_.now()); });
  if (!r) spdlog::warn("could not remember a Teams user id: {}", r.error().message);
}

engine::Person StoredChatRefs::with_teams_id(engine::Person p) const {
  if (p.teams_user_id.empty() || p.teams_user_id.starts_with("29:")) return p;
  std::lock_guard lock(teams_users_mutex_);
  if (auto it = teams_users_.find(p.teams_user_id); it != teams_users_.end()) p.teams_user_id = it->second;
  return p;
}

void StoredChatRefs::remember_teams_channel(const std::string& team_id, const std::string& channel_id,
                                            const std::string& service_url) {
  Result<void> r;
  writer_.with_store(
      [&](storage::Store& s) { r = s.save_teams_channel(team_id, channel_id, service_url, clock_.now()); });
  if (!r) spdlog::warn("could not remember a Teams channel: {}", r.error().message);
}

}  // namespace baton::bot
