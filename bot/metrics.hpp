#pragma once
// Counters and the time-to-first-page histogram behind GET /metrics
// (Prometheus text exposition format 0.0.4). Thread-safe.
#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

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

/// Gauges and counters owned elsewhere, read when /metrics is asked for.
struct RuntimeState {
  std::uint64_t triggered = 0;      ///< open incidents by state (the engine)
  std::uint64_t acknowledged = 0;
  std::uint64_t commits = 0;        ///< the group-commit writer
  std::uint64_t committed_items = 0;
  std::uint64_t failed_items = 0;
  std::uint64_t commit_failures = 0;  ///< times the writer went into the failed state
  bool storage_failing = false;       ///< failed now: changes are refused (503), /readyz 503
  std::uint64_t storage_recoveries = 0;
  // The HTTP server's accept loop.
  std::uint64_t accept_errors = 0;
  std::uint64_t fd_exhausted = 0;  ///< accepts that failed for lack of descriptors (EMFILE/ENFILE)
  bool accept_backing_off = false;
  std::uint64_t connections_open = 0;
  // High availability (PostgreSQL); rendered only when `cluster` is set.
  bool cluster = false;
  bool cluster_owner = false;
  std::int64_t cluster_epoch = 0;
  std::uint64_t cluster_takeovers = 0;
  double inbox_lag_seconds = 0;
  // Heartbeats and maintenance (Incidents::fill_metrics).
  struct HeartbeatGauge {
    std::string service;
    std::string name;
    std::optional<double> last_beat_age_seconds;  ///< unset: never beaten
    bool missing = false;                         ///< its "no heartbeat" incident is open
  };
  std::vector<HeartbeatGauge> heartbeats;
  std::vector<std::pair<std::string, bool>> maintenance_active;  ///< service id -> in maintenance now
};

class Metrics {
 public:
  void count_event(const std::string& source);
  void count_rejected(const std::string& source);
  void count_notification(const std::string& channel, const std::string& result);
  /// baton_time_to_acknowledge_seconds{service,channel}: from an incident's
  /// creation to its acknowledgement through `channel` (docs/reports.md).
  void observe_time_to_acknowledge(const std::string& service, const std::string& channel, double seconds);
  /// Its bucket bounds, in seconds.
  static constexpr std::array<double, 12> kAckBounds{5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400};
  /// Renders everything, with the state owned by the engine, writer and server.
  std::string render(const RuntimeState& state) const;

  std::atomic<std::uint64_t> resolved{0};
  Histogram time_to_first_page;
  /// The part of it spent before the commit of the incident that pages.
  Histogram time_to_commit;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::uint64_t> events_;
  std::map<std::string, std::uint64_t> rejected_;
  std::map<std::pair<std::string, std::string>, std::uint64_t> notifications_;
  struct AckHistogram {
    std::array<std::uint64_t, kAckBounds.size() + 1> buckets{};
    std::uint64_t count = 0;
    double sum = 0;
  };
  std::map<std::pair<std::string, std::string>, AckHistogram> time_to_acknowledge_;  ///< (service, channel)
};

}  // namespace baton::bot
