#include <catch2/catch.hpp>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <thread>

#include "integrations/dispatcher.hpp"
#include "tests/support/fake_clock.hpp"

using namespace baton;
using namespace baton::integrations;
using namespace std::chrono_literals;
using Kind = DispatchOutcome::Kind;

namespace {

// Generous: only reached when a test is failing.
constexpr auto kWait = 5000ms;

// A channel that records what it was asked to send and answers from a script
// (then success).
class FakeNotifier final : public Notifier {
 public:
  explicit FakeNotifier(engine::MethodKind method = engine::MethodKind::webhook) : method_(method) {}
  engine::MethodKind method() const override { return method_; }
  Result<void> send(const Delivery& delivery) override {
    std::lock_guard lock(mutex_);
    calls_.push_back(delivery);
    if (throw_) throw std::runtime_error("boom");
    if (always_) return tl::unexpected(*always_);
    if (script_.empty()) return {};
    auto next = script_.front();
    script_.pop_front();
    return next;
  }
  void push(Result<void> r) {
    std::lock_guard lock(mutex_);
    script_.push_back(std::move(r));
  }
  void always(Error e) {
    std::lock_guard lock(mutex_);
    always_ = std::move(e);
  }
  void throw_always() { throw_ = true; }
  std::vector<Delivery> calls() const {
    std::lock_guard lock(mutex_);
    return calls_;
  }

 private:
  engine::MethodKind method_;
  mutable std::mutex mutex_;
  std::vector<Delivery> calls_;
  std::deque<Result<void>> script_;
  std::optional<Error> always_;
  std::atomic<bool> throw_{false};
};

// Collects outcomes from worker threads.
class Outcomes {
 public:
  std::function<void(const DispatchOutcome&)> sink() {
    return [this](const DispatchOutcome& o) {
      {
        std::lock_guard lock(mutex_);
        all_.push_back(o);
      }
      cv_.notify_all();
    };
  }
  bool wait_for(std::size_t n) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, kWait, [&] { return all_.size() >= n; });
  }
  std::vector<DispatchOutcome> all() const {
    std::lock_guard lock(mutex_);
    return all_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<DispatchOutcome> all_;
};

Delivery delivery(std::int64_t id, engine::NotificationKind kind = engine::NotificationKind::page,
                  engine::MethodKind method = engine::MethodKind::webhook) {
  Delivery d;
  d.notification.id = id;
  d.notification.incident = 1;
  d.notification.person = "alice";
  d.notification.method = method;
  d.notification.kind = kind;
  d.notification.idempotency_key = "n-" + std::to_string(id);
  d.incident.number = 1;
  return d;
}

Dispatcher::Options tiny(int max_attempts = 6) {
  Dispatcher::Options o;
  o.max_attempts = max_attempts;
  o.base_backoff = 10ms;
  o.max_backoff = 20ms;
  return o;
}

Error transient_error() { return Error{ErrorKind::transient, "HTTP 500", {}}; }

}  // namespace

// A due delivery goes to the notifier of its method at once and is reported delivered.
TEST_CASE("Dispatcher delivers a due delivery", "[dispatcher]") {
  test::FakeClock clock;
  auto fake = std::make_shared<FakeNotifier>();
  Outcomes outcomes;
  Dispatcher dispatcher({fake}, clock, tiny(), outcomes.sink());
  dispatcher.submit(delivery(1));
  REQUIRE(outcomes.wait_for(1));
  auto o = outcomes.all().at(0);
  CHECK(o.kind == Kind::delivered);
  CHECK(o.attempts == 1);
  CHECK(o.notification.id == 1);
  CHECK(o.detail.empty());
  REQUIRE(fake->calls().size() == 1);
  CHECK(fake->calls()[0].attempts == 0);
  CHECK(fake->calls()[0].notification.idempotency_key == "n-1");
}

// Transient, then success: a retry outcome with attempts 1 and a next_attempt
// within the capped backoff; the retry waits for the (fake) clock, then succeeds.
TEST_CASE("Dispatcher retries a transient failure", "[dispatcher]") {
  test::FakeClock clock;
  auto fake = std::make_shared<FakeNotifier>();
  fake->push(tl::unexpected(transient_error()));
  Outcomes outcomes;
  Dispatcher dispatcher({fake}, clock, tiny(), outcomes.sink());
  const auto start = clock.now();
  dispatcher.submit(delivery(1));
  REQUIRE(outcomes.wait_for(1));
  auto first = outcomes.all().at(0);
  CHECK(first.kind == Kind::retry);
  CHECK(first.attempts == 1);
  CHECK(first.next_attempt >= start);
  CHECK(first.next_attempt <= start + 10ms);  // attempt 1: jitter within [0, base]
  CHECK(first.detail == "transient: HTTP 500");

  clock.advance(1s);
  REQUIRE(outcomes.wait_for(2));
  auto second = outcomes.all().at(1);
  CHECK(second.kind == Kind::delivered);
  CHECK(second.attempts == 2);
  auto calls = fake->calls();
  REQUIRE(calls.size() == 2);
  CHECK(calls[1].attempts == 1);
}

// rate_limited waits at least retry_after, and nothing is sent before the clock passes it.
TEST_CASE("Dispatcher honours retry_after", "[dispatcher]") {
  test::FakeClock clock;
  auto fake = std::make_shared<FakeNotifier>();
  fake->push(tl::unexpected(Error{ErrorKind::rate_limited, "HTTP 429", 30s}));
  Outcomes outcomes;
  Dispatcher dispatcher({fake}, clock, tiny(), outcomes.sink());
  const auto start = clock.now();
  dispatcher.submit(delivery(1));
  REQUIRE(outcomes.wait_for(1));
  auto first = outcomes.all().at(0);
  CHECK(first.kind == Kind::retry);
  CHECK(first.next_attempt == start + 30s);  // max(30 s, backoff <= 10 ms)

  clock.advance(29s);
  std::this_thread::sleep_for(120ms);  // several worker wake-ups: none may send
  CHECK(fake->calls().size() == 1);
  CHECK(dispatcher.queued() == 1);
  clock.advance(1s);
  REQUIRE(outcomes.wait_for(2));
  CHECK(outcomes.all().at(1).kind == Kind::delivered);
}

// A non-retryable error fails the delivery after one attempt.
TEST_CASE("Dispatcher fails a permanent error at once", "[dispatcher]") {
  test::FakeClock clock;
  auto fake = std::make_shared<FakeNotifier>();
  fake->always(Error{ErrorKind::auth_revoked, "HTTP 401", {}});
  Outcomes outcomes;
  Dispatcher dispatcher({fake}, clock, tiny(), outcomes.sink());
  dispatcher.submit(delivery(1));
  REQUIRE(outcomes.wait_for(1));
  auto o = outcomes.all().at(0);
  CHECK(o.kind == Kind::failed);
  CHECK(o.attempts == 1);
  CHECK(o.detail == "auth_revoked: HTTP 401");
  std::this_thread::sleep_for(60ms);
  CHECK(fake->calls().size() == 1);
  CHECK(dispatcher.queued() == 0);
}

// Always transient: retries until max_attempts, then failed (no further sends).
TEST_CASE("Dispatcher gives up after max_attempts", "[dispatcher]") {
  test::FakeClock clock;
  auto fake = std::make_shared<FakeNotifier>();
  fake->always(transient_error());
  Outcomes outcomes;
  auto options = tiny(3);
  options.base_backoff = 0ms;  // retries due at once, no clock advance needed
  Dispatcher dispatcher({fake}, clock, options, outcomes.sink());
  dispatcher.submit(delivery(1));
  REQUIRE(outcomes.wait_for(3));
  auto all = outcomes.all();
  CHECK(all[0].kind == Kind::retry);
  CHECK(all[0].attempts == 1);
  CHECK(all[1].kind == Kind::retry);
  CHECK(all[1].attempts == 2);
  CHECK(all[2].kind == Kind::failed);
  CHECK(all[2].attempts == 3);
  CHECK(all[2].detail.find("HTTP 500") != std::string::npos);
  std::this_thread::sleep_for(60ms);
  CHECK(fake->calls().size() == 3);
  CHECK(outcomes.all().size() == 3);
}

// No notifier for the method: failed, with the documented detail.
TEST_CASE("Dispatcher without a channel for the method", "[dispatcher]") {
  test::FakeClock clock;
  auto fake = std::make_shared<FakeNotifier>();
  Outcomes outcomes;
  Dispatcher dispatcher({fake}, clock, tiny(), outcomes.sink());
  dispatcher.submit(delivery(1, engine::NotificationKind::page, engine::MethodKind::sms));
  REQUIRE(outcomes.wait_for(1));
  auto o = outcomes.all().at(0);
  CHECK(o.kind == Kind::failed);
  CHECK(o.detail.find("no channel configured for sms") != std::string::npos);
  CHECK(fake->calls().empty());
}

// not_before in the future: nothing is sent until the fake clock passes it.
TEST_CASE("Dispatcher holds deliveries until not_before", "[dispatcher]") {
  test::FakeClock clock;
  auto fake = std::make_shared<FakeNotifier>();
  Outcomes outcomes;
  Dispatcher dispatcher({fake}, clock, tiny(), outcomes.sink());
  dispatcher.submit(delivery(1), clock.now() + 10min);
  std::this_thread::sleep_for(120ms);
  CHECK(fake->calls().empty());
  CHECK(dispatcher.queued() == 1);
  clock.advance(10min - 1ms);
  std::this_thread::sleep_for(120ms);
  CHECK(fake->calls().empty());
  clock.advance(1ms);
  REQUIRE(outcomes.wait_for(1));
  CHECK(outcomes.all().at(0).kind == Kind::delivered);
  CHECK(dispatcher.queued() == 0);
}

// Pages go ahead of updates when both are due, whatever the submit order.
TEST_CASE("Dispatcher sends pages before updates", "[dispatcher]") {
  test::FakeClock clock;
  auto fake = std::make_shared<FakeNotifier>();
  Outcomes outcomes;
  Dispatcher dispatcher({fake}, clock, tiny(), outcomes.sink());
  const auto due = clock.now() + 1min;
  dispatcher.submit(delivery(1, engine::NotificationKind::update), due);
  dispatcher.submit(delivery(2, engine::NotificationKind::open_channel), due - 1s);
  dispatcher.submit(delivery(3, engine::NotificationKind::page), due);
  dispatcher.submit(delivery(4, engine::NotificationKind::page), due - 1s);
  clock.advance(1min);
  REQUIRE(outcomes.wait_for(4));
  auto calls = fake->calls();
  REQUIRE(calls.size() == 4);
  CHECK(calls[0].notification.id == 4);  // pages by due time, then the rest
  CHECK(calls[1].notification.id == 3);
  CHECK(calls[2].notification.id == 2);
  CHECK(calls[3].notification.id == 1);
}

// Many deliveries submitted from two threads: each is delivered exactly once.
TEST_CASE("Dispatcher delivers concurrently, each once", "[dispatcher]") {
  test::FakeClock clock;
  auto fake = std::make_shared<FakeNotifier>();
  Outcomes outcomes;
  Dispatcher dispatcher({fake}, clock, tiny(), outcomes.sink());
  std::thread other([&] {
    for (int i = 100; i < 150; ++i) dispatcher.submit(delivery(i));
  });
  for (int i = 0; i < 50; ++i) dispatcher.submit(delivery(i));
  other.join();
  REQUIRE(outcomes.wait_for(100));
  std::set<std::int64_t> ids;
  for (const auto& o : outcomes.all()) {
    CHECK(o.kind == Kind::delivered);
    ids.insert(o.notification.id);
  }
  CHECK(ids.size() == 100);
  CHECK(fake->calls().size() == 100);
}

// A notifier that throws (a bug) fails that delivery but keeps the dispatcher going.
TEST_CASE("Dispatcher survives a throwing notifier", "[dispatcher]") {
  test::FakeClock clock;
  auto bad = std::make_shared<FakeNotifier>(engine::MethodKind::email);
  bad->throw_always();
  auto good = std::make_shared<FakeNotifier>();
  Outcomes outcomes;
  Dispatcher dispatcher({bad, good}, clock, tiny(), outcomes.sink());
  dispatcher.submit(delivery(1, engine::NotificationKind::page, engine::MethodKind::email));
  REQUIRE(outcomes.wait_for(1));
  CHECK(outcomes.all().at(0).kind == Kind::failed);
  CHECK(outcomes.all().at(0).detail.find("boom") != std::string::npos);
  dispatcher.submit(delivery(2));
  REQUIRE(outcomes.wait_for(2));
  CHECK(outcomes.all().at(1).kind == Kind::delivered);
}

// stop() drops what is queued (it is durable in the outbox) and ignores later submits.
TEST_CASE("Dispatcher stop drops queued deliveries", "[dispatcher]") {
  test::FakeClock clock;
  auto fake = std::make_shared<FakeNotifier>();
  Outcomes outcomes;
  Dispatcher dispatcher({fake}, clock, tiny(), outcomes.sink());
  dispatcher.submit(delivery(1), clock.now() + 1h);
  CHECK(dispatcher.queued() == 1);
  dispatcher.stop();
  CHECK(dispatcher.queued() == 0);
  dispatcher.submit(delivery(2));
  CHECK(dispatcher.queued() == 0);
  dispatcher.stop();  // idempotent
  CHECK(fake->calls().empty());
}

// Bad configuration is a start-up error.
TEST_CASE("Dispatcher rejects bad configuration", "[dispatcher]") {
  test::FakeClock clock;
  auto a = std::make_shared<FakeNotifier>();
  auto b = std::make_shared<FakeNotifier>();
  CHECK_THROWS_AS(Dispatcher({a, b}, clock, tiny(), {}), std::invalid_argument);
  CHECK_THROWS_AS(Dispatcher({nullptr}, clock, tiny(), {}), std::invalid_argument);
  auto no_room = tiny();
  no_room.max_in_flight_per_channel = 0;
  CHECK_THROWS_AS(Dispatcher({a}, clock, no_room, {}), std::invalid_argument);
  CHECK_THROWS_AS(Dispatcher({a}, clock, tiny(0), {}), std::invalid_argument);
}
