#pragma once
// A clock tests move by hand: advance(30min) and the engine sees it. Watchers
// (the App's timer, the dispatcher) are told of every move, so nothing has to
// poll to notice one.
#include <atomic>
#include <map>
#include <mutex>

#include "engine/time.hpp"

namespace baton::test {

class FakeClock final : public engine::Clock {
 public:
  explicit FakeClock(engine::TimePoint start = engine::from_ms(1'767'225'600'000))  // 2026-01-01T00:00Z
      : now_ms_(engine::to_ms(start)) {}
  engine::TimePoint now() const override { return engine::from_ms(now_ms_.load()); }
  void set(engine::TimePoint t) {
    now_ms_.store(engine::to_ms(t));
    notify();
  }
  template <typename Rep, typename Period>
  void advance(std::chrono::duration<Rep, Period> d) {
    now_ms_.fetch_add(std::chrono::duration_cast<engine::Millis>(d).count());
    notify();
  }

  std::uint64_t watch(std::function<void()> fn) const override {
    std::lock_guard lock(mutex_);
    watchers_.emplace(++next_id_, std::move(fn));
    return next_id_;
  }
  void unwatch(std::uint64_t id) const override {
    std::lock_guard lock(mutex_);
    watchers_.erase(id);
  }

 private:
  void notify() const {
    std::lock_guard lock(mutex_);  // held while calling: unwatch() waits for a call in progress
    for (auto& [id, fn] : watchers_) fn();
  }

  std::atomic<std::int64_t> now_ms_;
  mutable std::mutex mutex_;
  mutable std::map<std::uint64_t, std::function<void()>> watchers_;
  mutable std::uint64_t next_id_ = 0;
};

}  // namespace baton::test
