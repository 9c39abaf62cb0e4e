// The dispatcher with a non-blocking channel: the webhook on the AsyncHttpClient
// (libcurl multi on an io_context). One worker thread, a slow peer: every page
// is delivered, exactly once per idempotency key, without a thread per request;
// the per-channel in-flight limit holds; a retry after a failure goes out again.
#include <catch2/catch.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "integrations/common/async_http.hpp"
#include "integrations/dispatcher.hpp"
#include "integrations/webhook/webhook_notifier.hpp"
#include "tests/support/dispatch_outcomes.hpp"
#include "tests/support/fake_clock.hpp"
#include "tests/support/http_peer.hpp"
#include "tests/support/sample_delivery.hpp"

using namespace baton;
using namespace baton::integrations;
using namespace std::chrono_literals;
using Kind = DispatchOutcome::Kind;

namespace {

/// An io_context on its own thread, as the App runs the outbound client.
struct NetLoop {
  boost::asio::io_context io{1};
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work{io.get_executor()};
  std::thread thread{[this] { io.run(); }};
  ~NetLoop() {
    work.reset();
    io.stop();
    thread.join();
  }
};

Delivery page(std::int64_t id, engine::TimePoint now) {
  auto d = test::sample_page(engine::MethodKind::webhook, now);
  d.notification.id = id;
  d.notification.idempotency_key = "baton-n" + std::to_string(id);
  return d;
}

/// The webhook channel on a non-blocking client, pointed at `peer`.
std::shared_ptr<WebhookNotifier> async_webhook(NetLoop& net, test::HttpPeer& peer, const engine::Clock& clock) {
  WebhookConfig wc;
  wc.url = peer.url() + "/hook";
  wc.timeout = 10s;
  return std::make_shared<WebhookNotifier>(wc, nullptr, clock, std::make_shared<AsyncHttpClient>(net.io));
}

template <typename Pred>
bool eventually(Pred pred) {  // bounded: 30 s, only reached when failing
  for (int i = 0; i < 3000; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

}  // namespace

TEST_CASE("500 pages to a peer that answers after 300 ms are all delivered, each once", "[dispatcher][async]") {
  // Scenario: one dispatcher worker (a blocking channel would need 150 s for
  // this at one request at a time); the webhook sends asynchronously, 256 in
  // flight at most. Every page reaches the peer exactly once per idempotency
  // key and is reported delivered once.
  test::FakeClock clock;
  test::HttpPeer peer;
  peer.set_default_response({200, {}, "{}", 300ms});
  NetLoop net;
  auto webhook = async_webhook(net, peer, clock);
  REQUIRE(webhook->is_async());
  test::DispatchOutcomes outcomes;
  Dispatcher::Options opt;
  opt.max_in_flight_per_channel = 256;
  Dispatcher dispatcher({webhook}, clock, opt, [&](const DispatchOutcome& o) { outcomes.add(o); });
  constexpr int kPages = 500;
  for (int i = 1; i <= kPages; ++i) dispatcher.submit(page(i, clock.now()));
  REQUIRE(peer.wait_for_requests(kPages, 60s));
  REQUIRE(eventually([&] { return outcomes.delivered() == kPages; }));
  dispatcher.stop();
  std::map<std::string, int> per_key;
  for (const auto& r : peer.requests()) ++per_key[r.header("idempotency-key").value_or("")];
  CHECK(per_key.size() == kPages);
  for (const auto& [key, n] : per_key) {
    INFO(key);
    CHECK(n == 1);
  }
  std::lock_guard lock(outcomes.mutex);
  for (const auto& [id, kinds] : outcomes.by_id) CHECK(kinds == std::vector<Kind>{Kind::delivered});
}

TEST_CASE("an asynchronous channel keeps to its in-flight limit", "[dispatcher][async]") {
  // Scenario: limit 4, 20 pages, a peer that answers after 200 ms and counts
  // how many requests it holds at once: never more than 4, and all 20 arrive.
  test::FakeClock clock;
  test::HttpPeer peer;
  std::mutex m;
  int open = 0, most = 0;
  peer.set_handler([&](const test::RecordedRequest&) -> std::optional<test::ScriptedResponse> {
    std::lock_guard lock(m);
    most = std::max(most, ++open);
    return test::ScriptedResponse{200, {}, "{}", 200ms};
  });
  NetLoop net;
  auto webhook = async_webhook(net, peer, clock);
  test::DispatchOutcomes outcomes;
  Dispatcher::Options opt;
  opt.max_in_flight_per_channel = 4;
  Dispatcher dispatcher({webhook}, clock, opt, [&](const DispatchOutcome& o) {
    {
      std::lock_guard lock(m);
      --open;  // the answer has arrived before its outcome is reported
    }
    outcomes.add(o);
  });
  for (int i = 1; i <= 20; ++i) dispatcher.submit(page(i, clock.now()));
  REQUIRE(eventually([&] { return outcomes.delivered() == 20; }));
  std::lock_guard lock(m);
  CHECK(most <= 4);
  CHECK(most >= 1);
}

TEST_CASE("an asynchronous send that fails is retried and reported as a retry first", "[dispatcher][async]") {
  // Scenario: the peer answers 503 once, then 200. The first attempt is a
  // retry outcome (the engine moves the chain on from it); after the backoff
  // (the fake clock moves) the second attempt is delivered, same key.
  test::FakeClock clock;
  test::HttpPeer peer;
  peer.push_response({503, {}, "{}", 0ms});
  NetLoop net;
  auto webhook = async_webhook(net, peer, clock);
  test::DispatchOutcomes outcomes;
  Dispatcher::Options opt;
  opt.base_backoff = 1s;
  Dispatcher dispatcher({webhook}, clock, opt, [&](const DispatchOutcome& o) { outcomes.add(o); });
  dispatcher.submit(page(7, clock.now()));
  REQUIRE(eventually([&] {
    std::lock_guard lock(outcomes.mutex);
    return outcomes.by_id[7].size() == 1;
  }));
  clock.advance(10s);
  REQUIRE(eventually([&] { return outcomes.delivered() == 1; }));
  std::lock_guard lock(outcomes.mutex);
  CHECK(outcomes.by_id[7] == std::vector<Kind>{Kind::retry, Kind::delivered});
  auto reqs = peer.requests();
  REQUIRE(reqs.size() == 2);
  CHECK(reqs[0].header("idempotency-key") == reqs[1].header("idempotency-key"));
}
