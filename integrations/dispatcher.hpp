#pragma once
// Drains the outbox: hands deliveries to notifiers on worker threads, retries
// retryable failures with capped exponential backoff, and reports every
// attempt's outcome. The outbox (storage) stays the durable record.
#include <chrono>
#include <condition_variable>
#include <deque>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <string>
#include <thread>
#include <vector>

#include "engine/time.hpp"
#include "integrations/notifier.hpp"

namespace baton::integrations {

struct DispatchOutcome {
  engine::Notification notification;
  /// cancelled: not sent, because `still_wanted` said so (e.g. the page of an
  /// incident acknowledged meanwhile); it costs no attempt.
  enum class Kind { delivered, retry, failed, cancelled } kind = Kind::failed;
  int attempts = 0;                  ///< total attempts so far, this one included
  engine::TimePoint next_attempt{};  ///< Kind::retry: when the next attempt is due
  std::string detail;                ///< "<error kind>: <message>" unless delivered
};

class Dispatcher {
 public:
  struct Options {
    int workers = 4;
    int max_attempts = 6;  ///< attempts in total before a retryable error fails
    std::chrono::milliseconds base_backoff{1000};
    std::chrono::milliseconds max_backoff{std::chrono::minutes(5)};
    /// Asked on a worker thread right before each attempt (retries included);
    /// false drops the delivery with Kind::cancelled. Empty = always wanted.
    std::function<bool(const Delivery&)> still_wanted;
    /// Deliveries of one asynchronous channel in flight at once; more wait
    /// their turn in the queue, holding no thread.
    std::size_t max_in_flight_per_channel = 256;
    /// How long stop() waits for asynchronous sends in flight to finish.
    std::chrono::milliseconds stop_grace{std::chrono::seconds(5)};
  };

  /// At most one notifier per method (std::invalid_argument otherwise, or for a
  /// null notifier or workers < 1). `on_outcome` is called on worker threads,
  /// once per attempt, before any retry is queued; it must not call stop().
  /// Due times are compared with `clock`, which must outlive the Dispatcher.
  Dispatcher(std::vector<std::shared_ptr<Notifier>> notifiers, const engine::Clock& clock,
             Options options, std::function<void(const DispatchOutcome&)> on_outcome);
  ~Dispatcher();  ///< stop()
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  /// Thread-safe; never blocks on I/O. Sent as soon as clock.now() >= not_before
  /// (at once when absent). When several are due, pages go first, then by due time.
  /// Before each send the notifier's reserve() may defer the delivery to a
  /// later time; that costs no attempt and reports no outcome.
  void submit(Delivery delivery, std::optional<engine::TimePoint> not_before = {});

  /// Wakes and joins the workers (waiting for sends in flight; asynchronous
  /// ones up to stop_grace). Queued deliveries are dropped: they are durable in
  /// the outbox. Idempotent. Asynchronous sends still in flight afterwards
  /// (their channel is to cancel them) report outcomes until wait_idle().
  void stop();
  /// Blocks until no asynchronous send is in flight.
  void wait_idle();
  /// For tests: waits (up to `timeout`) until nothing is due, parked or being
  /// sent; deliveries due later may wait. True when that was reached.
  bool wait_quiet(std::chrono::milliseconds timeout);

  /// Deliveries waiting (due or not), not counting those being sent.
  std::size_t queued() const;

 private:
  struct Entry {
    engine::TimePoint due;
    int priority;  // 0 for pages, 1 otherwise
    std::uint64_t seq;
    std::shared_ptr<Delivery> delivery;
    // When it was first due; a pacing deferral moves `due` but not this, so
    // due entries keep their order however late a worker gets to them.
    engine::TimePoint first_due;
  };
  struct LaterDue {
    bool operator()(const Entry& a, const Entry& b) const;
  };
  struct LowerPriority {
    bool operator()(const Entry& a, const Entry& b) const;
  };

  void run();
  void process(Delivery& delivery);
  /// True (and nothing else done) when `still_wanted` drops the delivery.
  bool cancelled(const Delivery& delivery);
  /// The outcome of an attempt: reported, and a retry queued when due.
  void conclude(Delivery& delivery, Result<void> result);
  void finish_async(engine::MethodKind method, std::shared_ptr<Delivery> delivery, Result<void> result);
  /// The notifier's reserve(), with mutex_ held: a time after `now`, or nullopt to send now.
  std::optional<engine::TimePoint> reserve_slot(const Delivery& delivery, engine::TimePoint now);
  void enqueue(Delivery delivery, engine::TimePoint due);
  std::chrono::milliseconds backoff(int attempts, std::chrono::milliseconds retry_after) const;

  std::map<engine::MethodKind, std::shared_ptr<Notifier>> notifiers_;
  const engine::Clock& clock_;
  Options options_;
  std::function<void(const DispatchOutcome&)> on_outcome_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::priority_queue<Entry, std::vector<Entry>, LaterDue> pending_;     // not yet due
  std::priority_queue<Entry, std::vector<Entry>, LowerPriority> ready_;  // due
  std::uint64_t next_seq_ = 0;
  std::uint64_t changes_ = 0;   // submissions and clock jumps: what a sleeping worker waits for
  // Asynchronous channels: sends in flight, and due entries parked at the limit.
  std::map<engine::MethodKind, std::size_t> in_flight_;
  std::map<engine::MethodKind, std::deque<Entry>> parked_;
  std::size_t in_flight_total_ = 0;
  int busy_workers_ = 0;  // workers inside a blocking send
  std::condition_variable idle_;
  std::uint64_t watch_id_ = 0;  // clock_.watch()
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace baton::integrations
