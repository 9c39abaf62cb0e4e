#pragma once
// What every Slack client of one workspace shares. Slack's limits belong to the
// workspace, not to a client object (api.slack.com/apis/rate-limits): each Web
// API method has a rate tier per workspace, and a channel takes about one
// message per second. So every SlackWebApi with the same bot token (the
// notifier's, the frontend's, the identity lookups') uses one Workspace: one set
// of tier buckets and one pace per conversation. Pure apart from its mutex.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/result.hpp"
#include "engine/time.hpp"

namespace baton::integrations {
class SendPacer;
}

namespace baton::slack {

class Workspace {
 public:
  /// The one Workspace of `token` at `base_url` (without trailing '/') timed by
  /// `clock`, made on first use with `messages_per_second_per_channel` (> 0;
  /// later callers share it as it is). It lives while a caller holds it;
  /// `clock` must outlive it. Thread-safe.
  static std::shared_ptr<Workspace> of(std::string_view base_url, std::string_view token, const engine::Clock& clock,
                                       double messages_per_second_per_channel);

  Workspace(const engine::Clock& clock, double messages_per_second_per_channel);
  ~Workspace();

  const engine::Clock& clock() const { return clock_; }

  /// One call of `method` now (tiers: slack_tier_per_minute()): zero to go at
  /// once, or the wait for its slot (the slot is taken) when that is at most
  /// `max_wait`; longer, rate_limited with retry_after and nothing taken. With
  /// `use_reserved`, a slot taken ahead by reserve_calls() is used first; other
  /// calls never take those.
  Result<engine::Millis> take(std::string_view method, engine::Millis max_wait, bool use_reserved = false);

  /// For Notifier::reserve(): a send that will call each of `methods` (one
  /// entry per call). nullopt: every slot is free now and, with `take`, taken
  /// and kept for those calls (for a minute); otherwise the earliest time they
  /// could all go, and nothing is taken. Waiting for such a time is not a
  /// failed attempt. The calls use them through SlackWebApi::using_reserved_slots().
  std::optional<engine::TimePoint> reserve_calls(const std::vector<std::string>& methods, engine::TimePoint now,
                                                 bool take = true);

  /// chat.postMessage into `conversation` (a channel id; a DM not opened yet as
  /// "user:<id>"): nullopt when it may go at `now` (the slot is taken), else
  /// the earliest time it may (nothing taken). Everything that posts in a
  /// channel asks here, so a channel has one pace, however many posters.
  std::optional<engine::TimePoint> reserve_post(const std::string& conversation, engine::TimePoint now);

  /// Where problems that belong on an incident's timeline go (e.g. baton may
  /// not post in a service channel: not_in_channel), besides the log. The bot
  /// sets it; note() returns false while none is set.
  using NoteSink = std::function<void(std::int64_t incident, std::string text)>;
  void set_note_sink(NoteSink sink);
  bool note(std::int64_t incident, std::string text);

 private:
  struct Bucket {
    double tokens = 0;
    engine::TimePoint refilled{};
  };
  /// With mutex_ held: `method`'s bucket refilled up to `now`.
  Bucket& bucket(std::string_view method, int per_minute, engine::TimePoint now);

  const engine::Clock& clock_;
  std::unique_ptr<integrations::SendPacer> posts_;
  std::mutex mutex_;
  std::map<std::string, Bucket, std::less<>> buckets_;
  std::map<std::string, std::vector<engine::TimePoint>, std::less<>> reserved_;  ///< expiry of each slot taken ahead
  NoteSink note_sink_;
};

/// Calls per minute Slack allows a method (its rate tier), or 0 when baton does
/// not pace it by tier (chat.postMessage is paced per conversation instead;
/// apps.connections.open by Socket Mode's own backoff).
int slack_tier_per_minute(std::string_view method);

/// The system clock, for clients not given one.
const engine::Clock& system_clock();

}  // namespace baton::slack
