#include "integrations/dispatcher.hpp"

#include <pthread.h>

#include <algorithm>
#include <random>
#include <stdexcept>

namespace baton::integrations {
namespace {

// Waits are computed from the clock; a clock that jumps (a test's FakeClock)
// signals through Clock::watch. The cap only bounds how late a step of the
// wall clock (NTP) is noticed: an idle dispatcher wakes once a minute.
constexpr std::chrono::milliseconds kMaxWait{60'000};

std::mt19937_64& rng() {
  thread_local std::mt19937_64 engine{std::random_device{}()};
  return engine;
}

std::string describe(const Error& error) {
  return std::string(to_string(error.kind)) + ": " + error.message;
}

}  // namespace

bool Dispatcher::LaterDue::operator()(const Entry& a, const Entry& b) const {
  if (a.due != b.due) return a.due > b.due;
  return a.seq > b.seq;
}

bool Dispatcher::LowerPriority::operator()(const Entry& a, const Entry& b) const {
  if (a.priority != b.priority) return a.priority > b.priority;
  if (a.first_due != b.first_due) return a.first_due > b.first_due;
  return a.seq > b.seq;
}

Dispatcher::Dispatcher(std::vector<std::shared_ptr<Notifier>> notifiers, const engine::Clock& clock,
                       Options options, std::function<void(const DispatchOutcome&)> on_outcome)
    : clock_(clock), options_(options), on_outcome_(std::move(on_outcome)) {
  if (options_.workers < 1) throw std::invalid_argument("dispatcher needs at least one worker");
  if (options_.max_attempts < 1) throw std::invalid_argument("max_attempts must be at least 1");
  for (auto& notifier : notifiers) {
    if (!notifier) throw std::invalid_argument("null notifier");
    auto method = notifier->method();
    if (!notifiers_.emplace(method, std::move(notifier)).second) {
      throw std::invalid_argument(std::string("two notifiers for ") + engine::to_string(method));
    }
  }
  watch_id_ = clock_.watch([this] {
    {
      std::lock_guard lock(mutex_);
      ++changes_;
    }
    wake_.notify_all();
  });
  workers_.reserve(static_cast<std::size_t>(options_.workers));
  for (int i = 0; i < options_.workers; ++i)
    workers_.emplace_back([this] {
      pthread_setname_np(pthread_self(), "baton-send");
      run();
    });
}

Dispatcher::~Dispatcher() { stop(); }

void Dispatcher::submit(Delivery delivery, std::optional<engine::TimePoint> not_before) {
  enqueue(std::move(delivery), not_before.value_or(engine::TimePoint{}));
}

void Dispatcher::enqueue(Delivery delivery, engine::TimePoint due) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    const int priority = delivery.notification.kind == engine::NotificationKind::page ? 0 : 1;
    pending_.push(Entry{due, priority, next_seq_++, std::make_shared<Delivery>(std::move(delivery)), due});
    ++changes_;
  }
  wake_.notify_one();
}

void Dispatcher::stop() {
  clock_.unwatch(watch_id_);
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& worker : workers_) {
    if (worker.joinable()) worker.join();
  }
  std::unique_lock lock(mutex_);
  idle_.wait_for(lock, options_.stop_grace, [this] { return in_flight_total_ == 0; });
  pending_ = {};
  ready_ = {};
  parked_.clear();
}

void Dispatcher::wait_idle() {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [this] { return in_flight_total_ == 0; });
}

bool Dispatcher::wait_quiet(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return idle_.wait_for(lock, timeout, [this] {
    if (!ready_.empty() || in_flight_total_ > 0 || busy_workers_ > 0) return false;
    for (const auto& [method, q] : parked_)
      if (!q.empty()) return false;
    return pending_.empty() || pending_.top().due > clock_.now();
  });
}

std::size_t Dispatcher::queued() const {
  std::lock_guard lock(mutex_);
  std::size_t parked = 0;
  for (const auto& [method, q] : parked_) parked += q.size();
  return pending_.size() + ready_.size() + parked;
}

void Dispatcher::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    const auto now = clock_.now();
    while (!pending_.empty() && pending_.top().due <= now) {
      ready_.push(pending_.top());
      pending_.pop();
    }
    if (!ready_.empty()) {
      auto entry = ready_.top();
      ready_.pop();
      const auto method = entry.delivery->notification.method;
      auto it = notifiers_.find(method);
      const bool async = it != notifiers_.end() && it->second->is_async();
      // A non-blocking channel at its in-flight limit: park the delivery (no
      // thread, no pacing slot taken) until one of its sends finishes.
      if (async && in_flight_[method] >= options_.max_in_flight_per_channel) {
        parked_[method].push_back(std::move(entry));
        continue;
      }
      // Asked under the lock so that reservations follow the queue's order:
      // a page is never paced out by an update popped at the same moment.
      if (auto later = reserve_slot(*entry.delivery, now)) {
        entry.due = *later;
        pending_.push(std::move(entry));
        continue;
      }
      if (async) {
        // Start the send and move on: the worker never waits on the network.
        ++in_flight_[method];
        ++in_flight_total_;
        auto delivery = std::move(entry.delivery);
        auto notifier = it->second;
        lock.unlock();
        if (cancelled(*delivery)) {
          finish_async(method, nullptr, {});
        } else {
          notifier->send_async(*delivery, [this, method, delivery](Result<void> r) {
            finish_async(method, delivery, std::move(r));
          });
        }
        lock.lock();
        continue;
      }
      auto delivery = std::move(entry.delivery);
      // Another due entry may be waiting for a worker: pass the baton on.
      if (!ready_.empty()) wake_.notify_one();
      ++busy_workers_;
      lock.unlock();
      process(*delivery);
      lock.lock();
      --busy_workers_;
      idle_.notify_all();
      continue;
    }
    // Sleep until the earliest due time, a submission, a clock jump or stop.
    const auto seen = changes_;
    auto changed = [&] { return stopping_ || changes_ != seen; };
    if (pending_.empty()) {
      wake_.wait_for(lock, kMaxWait, changed);
    } else {
      auto wait = std::clamp(pending_.top().due - now, std::chrono::milliseconds(0), kMaxWait);
      wake_.wait_for(lock, wait, changed);
    }
  }
}

std::optional<engine::TimePoint> Dispatcher::reserve_slot(const Delivery& delivery, engine::TimePoint now) {
  auto it = notifiers_.find(delivery.notification.method);
  if (it == notifiers_.end()) return std::nullopt;
  std::optional<engine::TimePoint> at;
  try {
    at = it->second->reserve(delivery, now);
  } catch (const std::exception&) {
    return std::nullopt;  // send() then reports whatever is wrong with the channel
  }
  if (at && *at > now) return at;
  return std::nullopt;
}

std::chrono::milliseconds Dispatcher::backoff(int attempts, std::chrono::milliseconds retry_after) const {
  // Full jitter: uniform in [0, min(max, base * 2^(attempts-1))].
  const auto base = std::max<std::int64_t>(0, options_.base_backoff.count());
  const auto cap_max = std::max<std::int64_t>(0, options_.max_backoff.count());
  std::int64_t cap = base;
  for (int i = 1; i < attempts && cap < cap_max; ++i) cap *= 2;
  cap = std::min(cap, cap_max);
  std::uniform_int_distribution<std::int64_t> pick(0, cap);
  return std::max(retry_after, std::chrono::milliseconds(pick(rng())));
}

bool Dispatcher::cancelled(const Delivery& delivery) {
  if (!options_.still_wanted || options_.still_wanted(delivery)) return false;
  DispatchOutcome outcome;
  outcome.notification = delivery.notification;
  outcome.kind = DispatchOutcome::Kind::cancelled;
  outcome.attempts = delivery.attempts;
  outcome.detail = "cancelled: no longer needed";
  if (on_outcome_) on_outcome_(outcome);
  return true;
}

void Dispatcher::process(Delivery& delivery) {
  if (cancelled(delivery)) return;
  Result<void> result;
  auto it = notifiers_.find(delivery.notification.method);
  if (it == notifiers_.end()) {
    result = fail(ErrorKind::permanent,
                  std::string("no channel configured for ") + engine::to_string(delivery.notification.method));
  } else {
    try {
      result = it->second->send(delivery);
    } catch (const std::exception& e) {
      // A bug in a channel must not take the dispatcher (and every other page) down.
      result = fail(ErrorKind::permanent, std::string("notifier threw: ") + e.what());
    }
  }
  conclude(delivery, std::move(result));
}

void Dispatcher::finish_async(engine::MethodKind method, std::shared_ptr<Delivery> delivery, Result<void> result) {
  if (delivery) conclude(*delivery, std::move(result));  // null: cancelled, already reported
  std::lock_guard lock(mutex_);
  auto& n = in_flight_[method];
  if (n > 0) --n;
  // A slot is free: the oldest parked delivery of this channel goes back to the queue.
  if (auto p = parked_.find(method); p != parked_.end() && !p->second.empty() && !stopping_) {
    ready_.push(std::move(p->second.front()));
    p->second.pop_front();
  }
  if (in_flight_total_ > 0) --in_flight_total_;
  ++changes_;
  wake_.notify_one();
  idle_.notify_all();
}

void Dispatcher::conclude(Delivery& delivery, Result<void> result) {
  DispatchOutcome outcome;
  outcome.notification = delivery.notification;
  outcome.attempts = delivery.attempts + 1;
  bool requeue = false;
  if (result) {
    outcome.kind = DispatchOutcome::Kind::delivered;
  } else {
    const Error& error = result.error();
    outcome.detail = describe(error);
    if (error.retryable() && outcome.attempts < options_.max_attempts) {
      outcome.kind = DispatchOutcome::Kind::retry;
      const auto retry_after = error.kind == ErrorKind::rate_limited ? error.retry_after
                                                                      : std::chrono::milliseconds(0);
      outcome.next_attempt = clock_.now() + backoff(outcome.attempts, retry_after);
      requeue = true;
    } else {
      outcome.kind = DispatchOutcome::Kind::failed;
      if (error.retryable()) {
        outcome.detail = "gave up after " + std::to_string(outcome.attempts) + " attempts: " + outcome.detail;
      }
    }
  }

  if (on_outcome_) on_outcome_(outcome);
  if (requeue) {
    delivery.attempts = outcome.attempts;
    enqueue(std::move(delivery), outcome.next_attempt);
  }
}

}  // namespace baton::integrations
