#pragma once
// Time in baton: every instant is a UTC time point with millisecond precision.
// The engine never reads a clock itself; callers pass `now` or a Clock&.
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace baton::engine {

using Millis = std::chrono::milliseconds;
using Seconds = std::chrono::seconds;
using TimePoint = std::chrono::sys_time<Millis>;

inline std::int64_t to_ms(TimePoint t) { return t.time_since_epoch().count(); }
inline TimePoint from_ms(std::int64_t ms) { return TimePoint{Millis{ms}}; }

/// Source of the current time. Production uses the system clock; tests use a
/// fake clock they advance by hand. Implementations must be thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;

  /// Registers `fn`, called (on the thread that moved the clock) whenever the
  /// clock jumps, e.g. a test's advance(). Waiters that sleep for a computed
  /// duration re-read now() then, instead of polling on an interval. The real
  /// clock never jumps this way: registering does nothing. Returns an id for
  /// unwatch(). Thread-safe.
  virtual std::uint64_t watch(std::function<void()> /*fn*/) const { return 0; }
  virtual void unwatch(std::uint64_t /*id*/) const {}
};

/// The real wall clock.
class SystemClock final : public Clock {
 public:
  TimePoint now() const override {
    return std::chrono::time_point_cast<Millis>(std::chrono::system_clock::now());
  }
};

/// "2026-11-25T11:04:47.123Z"
std::string format_iso8601(TimePoint t);

}  // namespace baton::engine
