#pragma once
// Where chat channels remember the messages they posted for an incident, so
// that updates edit them in place (Slack chat.update, Teams activity update).
// The bot implements ChatRefs over SQLite's `chat_messages` table.
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace baton::integrations {

struct ChatRef {
  std::int64_t incident = 0;
  std::string kind;  ///< "slack-dm", "slack-channel-post", "slack-incident-channel"
  std::string conversation;  ///< channel or conversation id
  std::string message_id;    ///< Slack: the message ts; empty for a channel itself
  std::string person;        ///< person id for direct messages, else empty
};

/// Implementations are thread-safe; storage failures are logged by the
/// implementation, not reported (a lost ref only means a later update posts a
/// new message instead of editing the old one).
/// The refs of one kind, the latest per conversation and person (a message
/// posted again after the old one vanished supersedes it).
inline std::vector<ChatRef> latest_refs(const std::vector<ChatRef>& refs, std::string_view kind) {
  std::vector<ChatRef> out;
  for (const auto& r : refs) {
    if (r.kind != kind) continue;
    bool replaced = false;
    for (auto& o : out)
      if (o.conversation == r.conversation && o.person == r.person) o = r, replaced = true;
    if (!replaced) out.push_back(r);
  }
  return out;
}

class ChatRefs {
 public:
  virtual ~ChatRefs() = default;
  virtual void save(const ChatRef& ref) = 0;
  /// Every ref of `incident`, in the order saved.
  virtual std::vector<ChatRef> find(std::int64_t incident) = 0;
};

/// In memory, for tests. Thread-safe.
class MemoryChatRefs final : public ChatRefs {
 public:
  void save(const ChatRef& ref) override {
    std::lock_guard lock(mutex_);
    refs_.push_back(ref);
  }
  std::vector<ChatRef> find(std::int64_t incident) override {
    std::lock_guard lock(mutex_);
    std::vector<ChatRef> out;
    for (const auto& r : refs_) {
      if (r.incident == incident) out.push_back(r);
    }
    return out;
  }
  std::vector<ChatRef> all() const {
    std::lock_guard lock(mutex_);
    return refs_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<ChatRef> refs_;
};

}  // namespace baton::integrations
