#pragma once
// The interface every outbound channel implements (webhook, Slack, Teams,
// email, SMS). The Dispatcher calls it; the bot wires one per configured method.
#include <functional>
#include <optional>
#include <string>

#include "engine/incident.hpp"
#include "engine/model.hpp"
#include "engine/result.hpp"
#include "engine/time.hpp"

namespace baton::integrations {

/// One notification to deliver, with what a channel needs to render it.
struct Delivery {
  engine::Notification notification;
  engine::Incident incident;             ///< snapshot when the notification was made
  std::optional<engine::Person> person;  ///< the addressee; empty for service-level ones
  std::string service_name;
  int attempts = 0;  ///< attempts made before this one
};

/// The line chat channels (Slack, Teams) post beside an incident's messages when
/// it changes: "Acknowledged by <owner>" ("someone" when empty), "Resolved",
/// "Now paging <owner>" or "Nobody could be paged". `owner` as displayed
/// (already escaped for the channel's markup).
inline std::string change_line(engine::IncidentState state, const std::string& owner) {
  switch (state) {
    case engine::IncidentState::acknowledged: return "Acknowledged by " + (owner.empty() ? "someone" : owner);
    case engine::IncidentState::resolved: return "Resolved";
    case engine::IncidentState::triggered:
      return owner.empty() ? std::string("Nobody could be paged") : "Now paging " + owner;
  }
  return {};
}

class Notifier {
 public:
  virtual ~Notifier() = default;

  /// The contact method this channel serves.
  virtual engine::MethodKind method() const = 0;

  /// The earliest time this delivery may be sent; nullopt (or a time not after
  /// `now`) = now, and the slot is taken. A later time takes nothing: the
  /// Dispatcher re-queues the delivery for then, without counting an attempt
  /// or reporting an outcome. Used to honour a provider's rate limits. Called
  /// under the Dispatcher's lock, in its order (pages first), just before
  /// send(): it must be quick, must not block or call the Dispatcher, and must
  /// be thread-safe.
  virtual std::optional<engine::TimePoint> reserve(const Delivery& /*delivery*/, engine::TimePoint /*now*/) {
    return std::nullopt;
  }

  /// Blocking; called on a dispatcher worker thread, possibly concurrently:
  /// implementations are thread-safe. Errors use the taxonomy: retryable ones
  /// (transient, rate_limited with retry_after) are retried by the Dispatcher,
  /// others fail the delivery at once. Success means the peer accepted it.
  virtual Result<void> send(const Delivery& delivery) = 0;

  /// True when the channel sends without blocking (send_async()): the
  /// Dispatcher then starts its deliveries and moves on, up to its per-channel
  /// in-flight limit, instead of holding a worker for each round trip.
  virtual bool is_async() const { return false; }

  /// Starts the send and returns at once; `done` is called exactly once, from
  /// any thread, with what send() would return. Only called when is_async().
  virtual void send_async(const Delivery& delivery, std::function<void(Result<void>)> done) {
    done(send(delivery));
  }
};

}  // namespace baton::integrations
