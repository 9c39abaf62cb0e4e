#pragma once
// A per-sender rate limit (messages per second per sending number for SMS and
// voice, per conversation for Slack's posts), in the shape of
// Notifier::reserve(). Pure apart from its mutex.
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "engine/time.hpp"

namespace baton::integrations {

/// A token bucket per sender key (GCRA form): `rate` messages per second,
/// bursts of up to `burst` messages. Thread-safe.
class SendPacer {
 public:
  /// std::invalid_argument unless rate > 0 and burst >= 1.
  explicit SendPacer(double rate, int burst = 1);

  /// nullopt: a message from `sender` may go at `now`, and the slot is taken.
  /// Otherwise the earliest time one may go; nothing is taken, so a caller
  /// asks again at (or after) that time.
  std::optional<engine::TimePoint> reserve(const std::string& sender, engine::TimePoint now);

 private:
  engine::Millis interval_;
  engine::Millis tolerance_;  // (burst - 1) * interval
  std::mutex mutex_;
  std::map<std::string, engine::TimePoint, std::less<>> next_free_;  // theoretical arrival time per sender
};

}  // namespace baton::integrations
