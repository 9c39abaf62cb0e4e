#include <catch2/catch.hpp>

#include <condition_variable>
#include <mutex>
#include <set>

#include "integrations/dispatcher.hpp"
#include "integrations/sms/http_gateway_notifier.hpp"
#include "integrations/common/send_pacer.hpp"
#include "integrations/sms/twilio_notifier.hpp"
#include "tests/support/fake_clock.hpp"
#include "tests/support/http_peer.hpp"

using namespace baton;
using namespace baton::integrations;
using namespace std::chrono_literals;
using Kind = DispatchOutcome::Kind;

namespace {

// Generous: only reached when a test is failing.
constexpr auto kWait = 5000ms;

// An SMS channel paced by a real SendPacer that records each send with the
// fake clock's time (never wall time).
class PacedRecorder final : public Notifier {
 public:
  struct Sent {
    std::int64_t id;
    engine::NotificationKind kind;
    engine::TimePoint at;
    int attempts;  // attempts made before this one, as the dispatcher passed them
  };

  PacedRecorder(const engine::Clock& clock, double rate) : clock_(clock), pacer_(rate) {}
  engine::MethodKind method() const override { return engine::MethodKind::sms; }
  std::optional<engine::TimePoint> reserve(const Delivery&, engine::TimePoint now) override {
    return pacer_.reserve("+15559870002", now);
  }
  Result<void> send(const Delivery& d) override {
    {
      std::lock_guard lock(mutex_);
      sent_.push_back({d.notification.id, d.notification.kind, clock_.now(), d.attempts});
    }
    cv_.notify_all();
    return {};
  }
  bool wait_for(std::size_t n) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, kWait, [&] { return sent_.size() >= n; });
  }
  std::vector<Sent> sent() const {
    std::lock_guard lock(mutex_);
    return sent_;
  }

 private:
  const engine::Clock& clock_;
  SendPacer pacer_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<Sent> sent_;
};

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

Delivery sms(std::int64_t id, engine::NotificationKind kind = engine::NotificationKind::page) {
  Delivery d;
  d.notification.id = id;
  d.notification.incident = 42;
  d.notification.person = "alice";
  d.notification.method = engine::MethodKind::sms;
  d.notification.kind = kind;
  d.notification.idempotency_key = "n-" + std::to_string(id);
  d.incident.number = 42;
  d.incident.summary = "Disk full on db-1";
  d.incident.severity = engine::Severity::critical;
  d.person = engine::Person{};
  d.person->id = "alice";
  d.person->phone = "+15551230001";
  d.service_name = "payments";
  return d;
}

Dispatcher::Options options() {
  Dispatcher::Options o;
  o.base_backoff = 10ms;
  o.max_backoff = 20ms;
  return o;
}

}  // namespace

// SendPacer at 1/s, burst 1: the first message goes at once; the next is told
// t+1s and asking again changes nothing (a refusal takes no slot); at t+1s it
// is granted. Senders are independent. An idle sender earns no extra credit.
TEST_CASE("SendPacer paces each sender", "[pacing]") {
  test::FakeClock clock;
  const auto t = clock.now();
  SendPacer pacer(1.0);
  CHECK_FALSE(pacer.reserve("A", t));
  CHECK(pacer.reserve("A", t) == t + 1s);
  CHECK(pacer.reserve("A", t + 500ms) == t + 1s);  // still not taken
  CHECK_FALSE(pacer.reserve("B", t));              // another sending number
  CHECK_FALSE(pacer.reserve("A", t + 1s));
  CHECK(pacer.reserve("A", t + 1s) == t + 2s);
  CHECK_FALSE(pacer.reserve("A", t + 10s));  // long idle...
  CHECK(pacer.reserve("A", t + 10s) == t + 11s);  // ...but no burst saved up
}

// Rates other than 1/s, and a burst: 4/s is one per 250 ms; with burst 3,
// three go at once and the fourth waits one interval; 1/3 s rounds the
// interval up (never faster than allowed). A bad rate or burst is refused.
TEST_CASE("SendPacer rates and bursts", "[pacing]") {
  test::FakeClock clock;
  const auto t = clock.now();
  SendPacer fast(4.0);
  CHECK_FALSE(fast.reserve("A", t));
  CHECK(fast.reserve("A", t) == t + 250ms);

  SendPacer bursty(4.0, 3);
  CHECK_FALSE(bursty.reserve("A", t));
  CHECK_FALSE(bursty.reserve("A", t));
  CHECK_FALSE(bursty.reserve("A", t));
  CHECK(bursty.reserve("A", t) == t + 250ms);

  SendPacer third(3.0);
  CHECK_FALSE(third.reserve("A", t));
  CHECK(third.reserve("A", t) == t + 334ms);

  CHECK_THROWS_AS(SendPacer(0.0), std::invalid_argument);
  CHECK_THROWS_AS(SendPacer(-1.0), std::invalid_argument);
  CHECK_THROWS_AS(SendPacer(1.0, 0), std::invalid_argument);
}

// Three SMS pages due at once at 1/s : sent at t, t+1s and t+2s
// of the fake clock as it is advanced; each send is the first attempt, each
// has exactly one outcome (deferrals report nothing), and the waiting ones
// stay queued.
TEST_CASE("Dispatcher paces SMS pages at the provider's rate", "[pacing][dispatcher]") {
  test::FakeClock clock;
  const auto t = clock.now();
  auto recorder = std::make_shared<PacedRecorder>(clock, 1.0);
  Outcomes outcomes;
  Dispatcher dispatcher({recorder}, clock, options(), outcomes.sink());
  dispatcher.submit(sms(1));
  dispatcher.submit(sms(2));
  dispatcher.submit(sms(3));

  REQUIRE(recorder->wait_for(1));
  REQUIRE(outcomes.wait_for(1));
  CHECK(dispatcher.queued() == 2);
  clock.advance(1s);
  REQUIRE(recorder->wait_for(2));
  clock.advance(1s);
  REQUIRE(recorder->wait_for(3));
  REQUIRE(outcomes.wait_for(3));

  const auto sent = recorder->sent();
  REQUIRE(sent.size() == 3);
  CHECK(sent[0].at == t);
  CHECK(sent[1].at == t + 1s);
  CHECK(sent[2].at == t + 2s);
  std::set<std::int64_t> ids;
  for (const auto& s : sent) {
    ids.insert(s.id);
    CHECK(s.attempts == 0);
  }
  CHECK(ids == std::set<std::int64_t>{1, 2, 3});
  const auto all = outcomes.all();
  CHECK(all.size() == 3);
  for (const auto& o : all) {
    CHECK(o.kind == Kind::delivered);
    CHECK(o.attempts == 1);
  }
  CHECK(dispatcher.queued() == 0);
}

// Under pacing, pages keep going ahead of updates: two updates submitted
// before two pages, all due together, then a third page arriving while the
// updates wait. One per second: the three pages first (the earlier ones in
// order), then the updates in their order.
TEST_CASE("Dispatcher keeps pages ahead of updates under pacing", "[pacing][dispatcher]") {
  test::FakeClock clock;
  const auto t = clock.now();
  auto recorder = std::make_shared<PacedRecorder>(clock, 1.0);
  Outcomes outcomes;
  Dispatcher dispatcher({recorder}, clock, options(), outcomes.sink());
  dispatcher.submit(sms(1, engine::NotificationKind::update), t + 1s);
  dispatcher.submit(sms(2, engine::NotificationKind::update), t + 1s);
  dispatcher.submit(sms(3), t + 1s);
  dispatcher.submit(sms(4), t + 1s);
  clock.advance(1s);
  REQUIRE(recorder->wait_for(1));
  dispatcher.submit(sms(5));
  for (std::size_t n = 2; n <= 5; ++n) {
    clock.advance(1s);
    REQUIRE(recorder->wait_for(n));
  }
  REQUIRE(outcomes.wait_for(5));

  const auto sent = recorder->sent();
  REQUIRE(sent.size() == 5);
  for (std::size_t i = 0; i < sent.size(); ++i) {
    CHECK(sent[i].at == t + std::chrono::seconds(i + 1));
    CHECK(sent[i].attempts == 0);
  }
  CHECK(sent[0].id == 3);
  CHECK(std::set<std::int64_t>{sent[1].id, sent[2].id} == std::set<std::int64_t>{4, 5});
  CHECK(sent[3].id == 1);
  CHECK(sent[4].id == 2);
  CHECK(outcomes.all().size() == 5);
}

// A retryable failure still counts its attempt and is retried, and the retry
// is paced like any send: a 429 from the peer, then the retry waits for both
// the backoff and the sender's next slot.
TEST_CASE("Dispatcher counts real attempts but not pacing deferrals", "[pacing][dispatcher]") {
  test::FakeClock clock;
  test::HttpPeer twilio;
  twilio.push_response({429, {{"Retry-After", "1"}}, R"({"code":20429,"message":"Too Many Requests","status":429})"});
  twilio.set_default_response({201, {}, R"({"sid":"SM1","status":"queued"})"});
  TwilioConfig config;
  config.base_url = twilio.url();
  config.account_sid = "AC0123456789abcdef0123456789abcdef";
  config.auth_token = "token";
  config.from = "+15559870002";
  auto notifier = std::make_shared<TwilioNotifier>(config);
  Outcomes outcomes;
  Dispatcher dispatcher({notifier}, clock, options(), outcomes.sink());
  dispatcher.submit(sms(1));
  dispatcher.submit(sms(2));

  REQUIRE(outcomes.wait_for(1));
  const auto first = outcomes.all().at(0);
  CHECK(first.notification.id == 1);
  CHECK(first.kind == Kind::retry);
  CHECK(first.attempts == 1);
  CHECK(first.detail == "rate_limited: twilio 20429: Too Many Requests");
  CHECK(first.next_attempt >= clock.now() + 1s);
  // Page 1's retry and page 2 (paced) are both due at t+1s: one goes then,
  // the other a second later.
  clock.advance(1s);
  REQUIRE(twilio.wait_for_requests(2, kWait));
  clock.advance(1s);
  REQUIRE(twilio.wait_for_requests(3, kWait));
  REQUIRE(outcomes.wait_for(3));
  const auto all = outcomes.all();
  CHECK(all.size() == 3);
  for (std::size_t i = 1; i < all.size(); ++i) CHECK(all[i].kind == Kind::delivered);
  const auto by_id = [&](std::int64_t id) {
    for (std::size_t i = 1; i < all.size(); ++i) {
      if (all[i].notification.id == id) return all[i].attempts;
    }
    return -1;
  };
  CHECK(by_id(1) == 2);  // the 429 and the retry
  CHECK(by_id(2) == 1);  // deferred by pacing, sent once
  CHECK(twilio.requests().size() == 3);
}

// The SMS notifiers pace per sender with their configured rate.
TEST_CASE("Twilio and gateway notifiers reserve at messages_per_second", "[pacing]") {
  test::FakeClock clock;
  const auto t = clock.now();
  TwilioConfig config;
  config.account_sid = "AC1";
  config.auth_token = "token";
  config.from = "+15559870002";
  config.messages_per_second = 2.0;
  TwilioNotifier twilio(config);
  CHECK_FALSE(twilio.reserve(sms(1), t));
  CHECK(twilio.reserve(sms(2), t) == t + 500ms);

  SmsGatewayConfig gateway_config;
  gateway_config.url = "http://127.0.0.1:1/send";
  gateway_config.messages_per_second = 0.5;
  HttpGatewayNotifier gateway(gateway_config);
  CHECK_FALSE(gateway.reserve(sms(1), t));
  CHECK(gateway.reserve(sms(2), t) == t + 2s);
}
