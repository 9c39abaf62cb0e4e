#pragma once
// A clock tests move by hand: advance(30min) and the engine sees it.
#include <atomic>

#include "engine/time.hpp"


namespace baton::test {

class FakeClock final : public engine::Clock {
 public:
  explicit FakeClock(engine::TimePoint start = engine::from_ms(1'767'225'600'000))  // 2026-01-01T00:00Z
      : now_ms_(engine::to_ms(start)) {}
  engine::TimePoint now() const override { return engine::from_ms(now_ms_.load()); }
  void set(engine::TimePoint t) { now_ms_.store(engine::to_ms(t)); }
  template <typename Rep, typename Period>
  void advance(std::chrono::duration<Rep, Period> d) {
    now_ms_.fetch_add(std::chrono::duration_cast<engine::Millis>(d).count());
  }

 private:
  std::atomic<std::int64_t> now_ms_;
};

}  // namespace baton::test
