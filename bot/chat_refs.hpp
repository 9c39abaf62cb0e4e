#pragma once
// What baton remembers about chats: the messages it posted per incident (Slack
// ts, Teams activity ids) so that updates edit them in place, the Teams user
// id learned for each AAD object id (1:1 pages need it), and the Teams
// channels baton was added to. Kept in SQLite through the group-commit
// writer's Store; thread-safe.
//
// find() never reads the database: it is called on `baton-net` (the Slack and
// Teams notifiers) and on `baton-writer` (incident-channel lines), which must
// not wait on the disk. The references of every open incident (and of those
// with undelivered notifications) are loaded once at start-up; saves go to
// memory at once and to the database in batches on `baton-chatrefs`. Memory
// keeps at most max_incidents() incidents, dropping the lowest (oldest)
// numbers first: an update for an incident whose references were dropped (or
// were never loaded) posts a new message instead of editing the old one.
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/model.hpp"
#include "engine/time.hpp"
#include "integrations/chat_refs.hpp"
#include "storage/store.hpp"

namespace baton::storage {
class GroupCommitWriter;
}

namespace baton::bot {

class StoredChatRefs final : public integrations::ChatRefs {
 public:
  /// Incidents kept in memory besides those loaded at start-up.
  static constexpr std::size_t kMaxCachedIncidents = 50'000;

  /// Loads the remembered Teams users and the chat references of `preload`
  /// (incident numbers) through `writer`'s Store, in one pass before the
  /// service starts. `writer` and `clock` must outlive this object.
  StoredChatRefs(storage::GroupCommitWriter& writer, const engine::Clock& clock,
                 const std::vector<std::int64_t>& preload);
  /// References saved but not yet written are written before it returns.
  ~StoredChatRefs() override;
  StoredChatRefs(const StoredChatRefs&) = delete;
  StoredChatRefs& operator=(const StoredChatRefs&) = delete;

  /// Another instance ran the engine until now (PostgreSQL, docs/architecture.md
  /// "High availability"): loads the references of `incidents` that it saved,
  /// and the Teams users learned since, next to what this instance has. Reads
  /// the database on the caller's thread.
  void reload(const std::vector<std::int64_t>& incidents);
  /// Write-through: find() sees it at once; the database write is batched.
  void save(const integrations::ChatRef& ref) override;
  /// Every reference of `incident` in memory, in the order saved. Never reads the disk.
  std::vector<integrations::ChatRef> find(std::int64_t incident) override;
  std::size_t max_incidents() const { return max_incidents_; }

  /// Remembers a Teams user's Bot Framework id ("29:...") for their AAD object
  /// id, learned from their activities; 1:1 pages need it. Persisted (a write
  /// on the caller's thread when it is new).
  void remember_teams_user(const std::string& aad_object_id, const std::string& teams_id);
  /// The person as channels need them: a configured AAD object id is replaced
  /// by the Teams user id learned for it (Teams opens 1:1 chats by that id).
  engine::Person with_teams_id(engine::Person p) const;
  /// Remembers a Teams channel baton was added to (a write on the caller's thread).
  void remember_teams_channel(const std::string& team_id, const std::string& channel_id,
                              const std::string& service_url);

 private:
  void run();
  /// Reads the Teams users and the references of `incidents` from the database;
  /// returns how many references were read. Takes the locks itself.
  std::size_t load(const std::vector<std::int64_t>& incidents);

  storage::GroupCommitWriter& writer_;
  const engine::Clock& clock_;
  std::size_t max_incidents_;

  mutable std::mutex teams_users_mutex_;
  std::map<std::string, std::string> teams_users_;  ///< AAD object id -> Teams user id ("29:...")

  std::mutex mutex_;
  std::condition_variable wake_;
  std::map<std::int64_t, std::vector<integrations::ChatRef>> cache_;  ///< by incident number
  std::vector<storage::ChatMessage> pending_;  ///< saved, not yet written
  bool stopping_ = false;
  std::thread worker_;  ///< `baton-chatrefs`, started by the first save
};

}  // namespace baton::bot
