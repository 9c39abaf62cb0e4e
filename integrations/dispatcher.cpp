#include "integrations/dispatcher.hpp"

#include <pthread.h>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <queue>
#include <random>
#include <stdexcept>

#include "engine/engine.hpp"

namespace baton::integrations {
namespace asio = boost::asio;
namespace {

// Waits are computed from the clock; a clock that jumps (a test's FakeClock)
// signals through Clock::watch. The cap only bounds how late a step of the
// wall clock (NTP) is noticed while something waits for a due time; with
// nothing queued the dispatcher has no timer at all.
constexpr std::chrono::milliseconds kMaxWait{60'000};

std::mt19937_64& rng() {
  thread_local std::mt19937_64 engine{std::random_device{}()};
  return engine;
}

std::string describe(const Error& error) {
  return std::string(to_string(error.kind)) + ": " + error.message;
}

}  // namespace

// Everything the strand's handlers and the notifiers' completions touch. They
// hold it by shared_ptr, so a completion arriving after the Dispatcher is gone
// finds it alive (and stopped).
struct Dispatcher::Core : std::enable_shared_from_this<Core> {
  struct Entry {
    engine::TimePoint due;
    int priority;  // 0 for pages, 1 otherwise
    std::uint64_t seq;
    std::shared_ptr<Delivery> delivery;
    // When it was first due; a pacing deferral moves `due` but not this, so
    // due entries keep their order however late the loop gets to them.
    engine::TimePoint first_due;
  };
  struct LaterDue {
    bool operator()(const Entry& a, const Entry& b) const {
      if (a.due != b.due) return a.due > b.due;
      return a.seq > b.seq;
    }
  };
  struct LowerPriority {
    bool operator()(const Entry& a, const Entry& b) const {
      if (a.priority != b.priority) return a.priority > b.priority;
      if (a.first_due != b.first_due) return a.first_due > b.first_due;
      return a.seq > b.seq;
    }
  };

  Core(asio::io_context& io, const engine::Clock& clock, Options options,
       std::function<void(const DispatchOutcome&)> on_outcome)
      : strand(asio::make_strand(io)), timer(io), clock(clock), options(std::move(options)),
        on_outcome(std::move(on_outcome)) {}

  asio::strand<asio::io_context::executor_type> strand;
  asio::steady_timer timer;  // the strand's
  std::map<engine::MethodKind, std::shared_ptr<Notifier>> notifiers;
  const engine::Clock& clock;
  Options options;
  std::function<void(const DispatchOutcome&)> on_outcome;

  mutable std::mutex mutex;
  std::condition_variable idle;  // in-flight or queue changes, for wait_idle/wait_quiet
  std::priority_queue<Entry, std::vector<Entry>, LaterDue> pending;     // not yet due
  std::priority_queue<Entry, std::vector<Entry>, LowerPriority> ready;  // due
  std::uint64_t next_seq = 0;
  std::map<engine::MethodKind, std::size_t> in_flight;
  std::map<engine::MethodKind, std::deque<Entry>> parked;  // due, at the channel's limit
  std::size_t in_flight_total = 0;
  bool pump_posted = false;  // a pump() is queued on the strand
  bool pumping = false;      // a pump() is starting sends (for wait_quiet)
  bool stopping = false;

  /// With `mutex` held: makes sure a pump() runs soon on the strand.
  void schedule() {
    if (pump_posted || stopping) return;
    pump_posted = true;
    asio::post(strand, [self = shared_from_this()] { self->pump(); });
  }

  void enqueue(Delivery delivery, engine::TimePoint due) {
    std::lock_guard lock(mutex);
    if (stopping) return;
    const int priority = delivery.notification.kind == engine::NotificationKind::page ? 0 : 1;
    pending.push(Entry{due, priority, next_seq++, std::make_shared<Delivery>(std::move(delivery)), due});
    schedule();
  }

  /// On the strand: starts every due delivery its channel has room for, then
  /// arms the timer for the earliest one still waiting.
  void pump() {
    std::unique_lock lock(mutex);
    pump_posted = false;
    if (stopping) return;
    pumping = true;
    const auto now = clock.now();
    while (!pending.empty() && pending.top().due <= now) {
      ready.push(pending.top());
      pending.pop();
    }
    while (!ready.empty() && !stopping) {
      auto entry = ready.top();
      ready.pop();
      const auto method = entry.delivery->notification.method;
      auto it = notifiers.find(method);
      if (it == notifiers.end()) {
        auto delivery = std::move(entry.delivery);
        lock.unlock();
        conclude(*delivery, fail(ErrorKind::permanent,
                                 std::string("no channel configured for ") + engine::to_string(method)));
        lock.lock();
        continue;
      }
      // A channel at its in-flight limit: park the delivery (no thread, no
      // pacing slot taken) until one of its sends finishes.
      if (in_flight[method] >= options.max_in_flight_per_channel) {
        parked[method].push_back(std::move(entry));
        continue;
      }
      // Asked under the lock so that reservations follow the queue's order:
      // a page is never paced out by an update popped at the same moment.
      if (auto later = reserve_slot(*it->second, *entry.delivery, now)) {
        entry.due = *later;
        pending.push(std::move(entry));
        continue;
      }
      ++in_flight[method];
      ++in_flight_total;
      auto delivery = std::move(entry.delivery);
      auto notifier = it->second;
      lock.unlock();
      start(method, std::move(notifier), std::move(delivery));
      lock.lock();
    }
    pumping = false;
    if (!pending.empty() && !stopping) {
      const auto wait = std::clamp(pending.top().due - now, std::chrono::milliseconds(0), kMaxWait);
      timer.expires_after(wait);
      timer.async_wait(asio::bind_executor(strand, [self = shared_from_this()](auto ec) {
        if (!ec) self->pump();
      }));
    } else {
      timer.cancel();
    }
    idle.notify_all();
  }

  void start(engine::MethodKind method, std::shared_ptr<Notifier> notifier, std::shared_ptr<Delivery> delivery) {
    if (cancelled(*delivery)) {
      finish(method, nullptr, {});
      return;
    }
    auto self = shared_from_this();
    try {
      if (!notifier->is_async()) {
        // Inline, on the strand: only for channels that answer at once (tests' in-memory ones).
        auto result = notifier->send(*delivery);
        finish(method, delivery, std::move(result));
        return;
      }
      notifier->send_async(*delivery, [self, method, delivery](Result<void> r) {
        self->finish(method, delivery, std::move(r));
      });
    } catch (const std::exception& e) {
      // A bug in a channel must not take the dispatcher (and every other page) down.
      finish(method, delivery, fail(ErrorKind::permanent, std::string("notifier threw: ") + e.what()));
    }
  }

  std::optional<engine::TimePoint> reserve_slot(Notifier& notifier, const Delivery& delivery, engine::TimePoint now) {
    std::optional<engine::TimePoint> at;
    try {
      at = notifier.reserve(delivery, now);
    } catch (const std::exception&) {
      return std::nullopt;  // send_async() then reports whatever is wrong with the channel
    }
    if (at && *at > now) return at;
    return std::nullopt;
  }

  std::chrono::milliseconds backoff(int attempts, std::chrono::milliseconds retry_after) const {
    // Full jitter: uniform in [0, min(max, base * 2^(attempts-1))].
    const auto base = std::max<std::int64_t>(0, options.base_backoff.count());
    const auto cap_max = std::max<std::int64_t>(0, options.max_backoff.count());
    std::int64_t cap = base;
    for (int i = 1; i < attempts && cap < cap_max; ++i) cap *= 2;
    cap = std::min(cap, cap_max);
    std::uniform_int_distribution<std::int64_t> pick(0, cap);
    return std::max(retry_after, std::chrono::milliseconds(pick(rng())));
  }

  bool cancelled(const Delivery& delivery) {
    if (!options.still_wanted || options.still_wanted(delivery)) return false;
    DispatchOutcome outcome;
    outcome.notification = delivery.notification;
    outcome.kind = DispatchOutcome::Kind::cancelled;
    outcome.attempts = delivery.attempts;
    outcome.detail = "cancelled: no longer needed";
    if (on_outcome) on_outcome(outcome);
    return true;
  }

  void finish(engine::MethodKind method, std::shared_ptr<Delivery> delivery, Result<void> result) {
    if (delivery) conclude(*delivery, std::move(result));  // null: cancelled, already reported
    std::lock_guard lock(mutex);
    auto& n = in_flight[method];
    if (n > 0) --n;
    // A slot is free: the oldest parked delivery of this channel goes back to the queue.
    if (auto p = parked.find(method); p != parked.end() && !p->second.empty() && !stopping) {
      ready.push(std::move(p->second.front()));
      p->second.pop_front();
      schedule();
    }
    if (in_flight_total > 0) --in_flight_total;
    idle.notify_all();
  }

  void conclude(Delivery& delivery, Result<void> result) {
    DispatchOutcome outcome;
    outcome.notification = delivery.notification;
    outcome.attempts = delivery.attempts + 1;
    bool requeue = false;
    if (result) {
      outcome.kind = DispatchOutcome::Kind::delivered;
    } else {
      const Error& error = result.error();
      outcome.detail = describe(error);
      if (error.retryable() && outcome.attempts < options.max_attempts) {
        outcome.kind = DispatchOutcome::Kind::retry;
        const auto retry_after =
            error.kind == ErrorKind::rate_limited ? error.retry_after : std::chrono::milliseconds(0);
        outcome.next_attempt = clock.now() + backoff(outcome.attempts, retry_after);
        requeue = true;
      } else {
        outcome.kind = DispatchOutcome::Kind::failed;
        if (error.retryable()) {
          outcome.detail = "gave up after " + std::to_string(outcome.attempts) + " attempts: " + outcome.detail;
        }
      }
    }

    if (on_outcome) on_outcome(outcome);
    if (requeue) {
      delivery.attempts = outcome.attempts;
      enqueue(std::move(delivery), outcome.next_attempt);
    }
  }
};

namespace {

std::map<engine::MethodKind, std::shared_ptr<Notifier>> by_method(std::vector<std::shared_ptr<Notifier>> notifiers) {
  std::map<engine::MethodKind, std::shared_ptr<Notifier>> out;
  for (auto& notifier : notifiers) {
    if (!notifier) throw std::invalid_argument("null notifier");
    auto method = notifier->method();
    if (!out.emplace(method, std::move(notifier)).second) {
      throw std::invalid_argument(std::string("two notifiers for ") + engine::to_string(method));
    }
  }
  return out;
}

}  // namespace

Dispatcher::Dispatcher(asio::io_context& io, std::vector<std::shared_ptr<Notifier>> notifiers,
                       const engine::Clock& clock, Options options,
                       std::function<void(const DispatchOutcome&)> on_outcome) {
  init(io, std::move(notifiers), clock, std::move(options), std::move(on_outcome));
}

Dispatcher::Dispatcher(std::vector<std::shared_ptr<Notifier>> notifiers, const engine::Clock& clock, Options options,
                       std::function<void(const DispatchOutcome&)> on_outcome)
    : own_io_(std::make_unique<asio::io_context>()) {
  init(*own_io_, std::move(notifiers), clock, std::move(options), std::move(on_outcome));
  own_thread_ = std::thread([io = own_io_.get()] {
    pthread_setname_np(pthread_self(), "baton-dispatch");
    auto work = asio::make_work_guard(*io);
    io->run();
  });
}

void Dispatcher::init(asio::io_context& io, std::vector<std::shared_ptr<Notifier>> notifiers,
                      const engine::Clock& clock, Options options,
                      std::function<void(const DispatchOutcome&)> on_outcome) {
  if (options.max_attempts < 1) throw std::invalid_argument("max_attempts must be at least 1");
  if (options.max_in_flight_per_channel < 1)
    throw std::invalid_argument("max_in_flight_per_channel must be at least 1");
  core_ = std::make_shared<Core>(io, clock, std::move(options), std::move(on_outcome));
  core_->notifiers = by_method(std::move(notifiers));
  watch_id_ = clock.watch([weak = std::weak_ptr<Core>(core_)] {
    if (auto core = weak.lock()) {
      std::lock_guard lock(core->mutex);
      core->schedule();
    }
  });
}

Dispatcher::~Dispatcher() {
  stop();
  if (own_io_) {
    own_io_->stop();
    if (own_thread_.joinable()) own_thread_.join();
    core_.reset();  // before its io_context: the timer belongs to it
  }
}

void Dispatcher::submit(Delivery delivery, std::optional<engine::TimePoint> not_before) {
  core_->enqueue(std::move(delivery), not_before.value_or(engine::TimePoint{}));
}

void Dispatcher::stop() {
  core_->clock.unwatch(watch_id_);
  std::unique_lock lock(core_->mutex);
  if (!core_->stopping) {
    core_->stopping = true;
    // The timer belongs to the strand; cancelling it there releases the last
    // handler that keeps the Core alive.
    asio::post(core_->strand, [core = core_] { core->timer.cancel(); });
  }
  core_->idle.wait_for(lock, core_->options.stop_grace, [this] { return core_->in_flight_total == 0; });
  core_->pending = {};
  core_->ready = {};
  core_->parked.clear();
}

void Dispatcher::wait_idle() {
  std::unique_lock lock(core_->mutex);
  core_->idle.wait(lock, [this] { return core_->in_flight_total == 0; });
}

bool Dispatcher::wait_quiet(std::chrono::milliseconds timeout) {
  std::unique_lock lock(core_->mutex);
  return core_->idle.wait_for(lock, timeout, [this] {
    const auto& c = *core_;
    if (!c.ready.empty() || c.in_flight_total > 0 || c.pump_posted || c.pumping) return false;
    for (const auto& [method, q] : c.parked)
      if (!q.empty()) return false;
    return c.pending.empty() || c.pending.top().due > c.clock.now();
  });
}

std::size_t Dispatcher::queued() const {
  std::lock_guard lock(core_->mutex);
  std::size_t parked = 0;
  for (const auto& [method, q] : core_->parked) parked += q.size();
  return core_->pending.size() + core_->ready.size() + parked;
}

std::vector<Delivery> deliveries_for(const engine::Engine& eng, const engine::Effects& fx,
                                     const std::function<engine::Person(const engine::Person&)>& person) {
  std::vector<Delivery> out;
  if (fx.notifications.empty()) return out;
  const auto& dir = eng.directory();
  out.reserve(fx.notifications.size());
  for (const auto& n : fx.notifications) {
    Delivery d;
    d.notification = n;
    const engine::Incident* inc = nullptr;
    for (auto it = fx.incidents.rbegin(); it != fx.incidents.rend(); ++it)
      if (it->number == n.incident) {
        inc = &*it;
        break;
      }
    if (!inc) inc = eng.find(n.incident);
    if (!inc) continue;
    d.incident = *inc;
    if (const auto* p = dir->person(n.person)) d.person = person ? person(*p) : *p;
    if (const auto* s = dir->service(inc->service_id)) d.service_name = s->name;
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace baton::integrations
