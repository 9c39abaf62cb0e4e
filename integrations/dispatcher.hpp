#pragma once
// Drains the outbox: starts each delivery on its notifier without waiting for
// the network, retries retryable failures with capped exponential backoff, and
// reports every attempt's outcome. The outbox (storage) stays the durable record.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "engine/time.hpp"
#include "integrations/notifier.hpp"

namespace boost::asio {
class io_context;
}

namespace baton::engine {
class Engine;
struct Effects;
}  // namespace baton::engine

namespace baton::integrations {

/// The Deliveries for `fx`'s notifications, as the bot submits them: each with its
/// incident as `fx` last left it (else as `eng` holds it; a notification of
/// neither is skipped), its addressee from `eng`'s directory passed through
/// `person` when given (the bot adds learned chat ids), and the service's name.
std::vector<Delivery> deliveries_for(const engine::Engine& eng, const engine::Effects& fx,
                                     const std::function<engine::Person(const engine::Person&)>& person = {});

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
    int max_attempts = 6;  ///< attempts in total before a retryable error fails
    std::chrono::milliseconds base_backoff{1000};
    std::chrono::milliseconds max_backoff{std::chrono::minutes(5)};
    /// Asked on the dispatcher's loop right before each attempt (retries
    /// included); false drops the delivery with Kind::cancelled. Empty = always wanted.
    std::function<bool(const Delivery&)> still_wanted;
    /// Deliveries of one channel in flight at once; more wait their turn in
    /// the queue, holding no thread and no connection.
    std::size_t max_in_flight_per_channel = 256;
    /// How long stop() waits for sends in flight to finish.
    std::chrono::milliseconds stop_grace{std::chrono::seconds(5)};
  };

  /// Runs on a strand of `io` with one timer (for the earliest due time): no
  /// thread of its own. Sends start on that strand through each notifier's
  /// send_async(); a notifier that is not is_async() is called inline there and
  /// must not block (in-memory test channels). At most one notifier per method
  /// (std::invalid_argument otherwise, or for a null notifier). `on_outcome` is
  /// called once per attempt, from the strand or from a notifier's completion
  /// thread, before any retry is queued; it must not call stop(). Due times are
  /// compared with `clock`, which must outlive the Dispatcher.
  Dispatcher(boost::asio::io_context& io, std::vector<std::shared_ptr<Notifier>> notifiers,
             const engine::Clock& clock, Options options, std::function<void(const DispatchOutcome&)> on_outcome);
  /// The same on a loop of its own (one `baton-dispatch` thread): for tests and tools.
  Dispatcher(std::vector<std::shared_ptr<Notifier>> notifiers, const engine::Clock& clock, Options options,
             std::function<void(const DispatchOutcome&)> on_outcome);
  ~Dispatcher();  ///< stop(), and joins its own loop if it has one
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  /// Thread-safe; never blocks. Sent as soon as clock.now() >= not_before
  /// (at once when absent). When several are due, pages go first, then by due time.
  /// Before each send the notifier's reserve() may defer the delivery to a
  /// later time; that costs no attempt and reports no outcome.
  void submit(Delivery delivery, std::optional<engine::TimePoint> not_before = {});

  /// Stops starting sends and waits up to stop_grace for those in flight.
  /// Queued deliveries are dropped: they are durable in the outbox. Idempotent.
  /// Sends still in flight afterwards (their channel is to cancel them) report
  /// outcomes until wait_idle().
  void stop();
  /// Blocks until no send is in flight.
  void wait_idle();
  /// For tests: waits (up to `timeout`) until nothing is due, parked or being
  /// sent; deliveries due later may wait. True when that was reached.
  bool wait_quiet(std::chrono::milliseconds timeout);

  /// Deliveries waiting (due or not), not counting those being sent.
  std::size_t queued() const;

 private:
  struct Core;
  void init(boost::asio::io_context& io, std::vector<std::shared_ptr<Notifier>> notifiers,
            const engine::Clock& clock, Options options, std::function<void(const DispatchOutcome&)> on_outcome);

  std::unique_ptr<boost::asio::io_context> own_io_;  // the second constructor's loop; outlives core_
  std::shared_ptr<Core> core_;
  std::uint64_t watch_id_ = 0;  // clock.watch()
  std::thread own_thread_;
};

}  // namespace baton::integrations
