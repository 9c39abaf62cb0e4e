#include "integrations/slack/workspace.hpp"

#include <algorithm>
#include <cmath>
#include <tuple>

#include "integrations/common/send_pacer.hpp"

namespace baton::slack {
namespace {

// A slot taken ahead that no call used within this long is given up.
constexpr engine::Millis kReservedFor{60'000};

}  // namespace

int slack_tier_per_minute(std::string_view method) {
  // Slack's documented tiers (api.slack.com/apis/rate-limits and each method's
  // page): Tier 2 "20+ per minute", Tier 3 "50+", Tier 4 "100+".
  static const std::map<std::string_view, int> kTiers{
      {"conversations.create", 20}, {"conversations.invite", 50}, {"conversations.setTopic", 20},
      {"conversations.archive", 20}, {"conversations.open", 50},  {"users.lookupByEmail", 50},
      {"chat.update", 50},           {"chat.postEphemeral", 100}, {"users.info", 100},
      {"auth.test", 100}};
  auto it = kTiers.find(method);
  return it == kTiers.end() ? 0 : it->second;
}

const engine::Clock& system_clock() {
  static const engine::SystemClock clock;
  return clock;
}

std::shared_ptr<Workspace> Workspace::of(std::string_view base_url, std::string_view token, const engine::Clock& clock,
                                         double messages_per_second_per_channel) {
  using Key = std::tuple<std::string, std::string, const engine::Clock*>;
  static std::mutex mutex;
  static std::map<Key, std::weak_ptr<Workspace>> all;
  std::lock_guard lock(mutex);
  std::erase_if(all, [](const auto& kv) { return kv.second.expired(); });
  auto& slot = all[Key{std::string(base_url), std::string(token), &clock}];
  auto workspace = slot.lock();
  if (!workspace) {
    workspace = std::make_shared<Workspace>(clock, messages_per_second_per_channel);
    slot = workspace;
  }
  return workspace;
}

Workspace::Workspace(const engine::Clock& clock, double messages_per_second_per_channel)
    : clock_(clock), posts_(std::make_unique<integrations::SendPacer>(messages_per_second_per_channel)) {}

Workspace::~Workspace() = default;

// A token bucket per method: a burst of one minute's allowance, refilled
// evenly, as Slack's "N+ per minute" tiers tolerate short bursts.
Workspace::Bucket& Workspace::bucket(std::string_view method, int per_minute, engine::TimePoint now) {
  auto [it, fresh] = buckets_.try_emplace(std::string(method), Bucket{double(per_minute), now});
  auto& b = it->second;
  const double elapsed_ms = double(std::max<std::int64_t>(0, (now - b.refilled).count()));
  b.tokens = std::min<double>(per_minute, b.tokens + elapsed_ms * per_minute / 60'000.0);
  b.refilled = std::max(b.refilled, now);
  return b;
}

Result<engine::Millis> Workspace::take(std::string_view method, engine::Millis max_wait, bool use_reserved) {
  const int per_minute = slack_tier_per_minute(method);
  if (per_minute <= 0) return engine::Millis::zero();
  const auto now = clock_.now();
  std::lock_guard lock(mutex_);
  if (auto it = reserved_.find(method); use_reserved && it != reserved_.end()) {
    std::erase_if(it->second, [&](engine::TimePoint expiry) { return expiry <= now; });
    if (!it->second.empty()) {
      it->second.pop_back();
      return engine::Millis::zero();
    }
  }
  auto& b = bucket(method, per_minute, now);
  const auto wait = engine::Millis(static_cast<std::int64_t>(std::ceil((1.0 - b.tokens) * 60'000.0 / per_minute)));
  if (b.tokens < 1.0 && wait > max_wait) {
    return tl::unexpected(Error{ErrorKind::rate_limited,
                                "slack " + std::string(method) + ": paced to its rate tier (" +
                                    std::to_string(per_minute) + "/min)",
                                wait});
  }
  // The slot is taken now; the bucket going below zero puts the next caller's
  // slot one interval later.
  b.tokens -= 1.0;
  return b.tokens >= 0.0 ? engine::Millis::zero() : wait;
}

std::optional<engine::TimePoint> Workspace::reserve_calls(const std::vector<std::string>& methods,
                                                          engine::TimePoint now, bool take) {
  std::map<std::string_view, int> counts;  // calls per paced method, at most a bucketful
  for (const auto& m : methods)
    if (const int per_minute = slack_tier_per_minute(m); per_minute > 0) counts[m] = std::min(counts[m] + 1, per_minute);
  std::lock_guard lock(mutex_);
  engine::Millis wait{0};
  for (const auto& [method, n] : counts) {
    const int per_minute = slack_tier_per_minute(method);
    const auto& b = bucket(method, per_minute, now);
    if (b.tokens < n) {
      wait = std::max(wait, engine::Millis(static_cast<std::int64_t>(std::ceil((n - b.tokens) * 60'000.0 / per_minute))));
    }
  }
  if (wait > engine::Millis::zero()) return now + wait;
  if (!take) return std::nullopt;
  for (const auto& [method, n] : counts) {
    buckets_.find(method)->second.tokens -= n;
    auto& slots = reserved_[std::string(method)];
    slots.insert(slots.end(), static_cast<std::size_t>(n), now + kReservedFor);
  }
  return std::nullopt;
}

std::optional<engine::TimePoint> Workspace::reserve_post(const std::string& conversation, engine::TimePoint now) {
  return posts_->reserve(conversation, now);
}

void Workspace::set_note_sink(NoteSink sink) {
  std::lock_guard lock(mutex_);
  note_sink_ = std::move(sink);
}

bool Workspace::note(std::int64_t incident, std::string text) {
  NoteSink sink;
  {
    std::lock_guard lock(mutex_);
    sink = note_sink_;
  }
  if (!sink) return false;
  sink(incident, std::move(text));
  return true;
}

}  // namespace baton::slack
