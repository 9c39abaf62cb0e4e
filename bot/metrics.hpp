#pragma once
// Counters and the time-to-first-page histogram behind GET /metrics
// (Prometheus text exposition format 0.0.4). Thread-safe.
#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace baton::bot {

class Histogram {
 public:
  static constexpr std::array<double, 14> kBounds{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                  0.1,    0.25,  0.5,    1,     2.5,  5,     10};
  void observe(double seconds);
  std::string render(const std::string& name, const std::string& help) const;

 private:
  std::array<std::atomic<std::uint64_t>, kBounds.size() + 1> buckets_{};
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_micros_{0};
};

class Metrics {
 public:
  void count_event(const std::string& source);
  void count_rejected(const std::string& source);
  void count_notification(const std::string& channel, const std::string& result);
  /// Renders everything; open incident counts come from the engine.
  std::string render(std::uint64_t triggered, std::uint64_t acknowledged, std::uint64_t commits,
                     std::uint64_t committed_items) const;

  std::atomic<std::uint64_t> resolved{0};
  Histogram time_to_first_page;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::uint64_t> events_;
  std::map<std::string, std::uint64_t> rejected_;
  std::map<std::pair<std::string, std::string>, std::uint64_t> notifications_;
};

}  // namespace baton::bot
