#include <catch2/catch.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "integrations/common/async_http.hpp"
#include "tests/support/http_peer.hpp"

using namespace baton;
using namespace baton::integrations;
using baton::test::HttpPeer;
using baton::test::RecordedRequest;
using baton::test::ScriptedResponse;
using namespace std::chrono_literals;

namespace {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// Generous bound on waiting for outcomes; no test measures time.
constexpr auto kWait = 60s;

// Runs `io` on `threads` threads. Declared after the client, so that it stops
// first: the client is destroyed only once none of its handlers can run.
class Runner {
 public:
  Runner(asio::io_context& io, int threads) : io_(io), guard_(asio::make_work_guard(io)) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { io_.run(); });
  }
  ~Runner() { stop(); }
  void stop() {
    guard_.reset();
    io_.stop();
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

 private:
  asio::io_context& io_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::vector<std::thread> threads_;
};

// Records every call of the done of request i, in order of completion.
class Completions {
 public:
  explicit Completions(std::size_t n) : calls_(n, 0), results_(n) {}

  AsyncHttpClient::Done done(std::size_t i) {
    return [this, i](Result<HttpResponse> result) {
      std::lock_guard lock(mutex_);
      if (calls_[i]++ == 0) ++distinct_;
      results_[i] = std::move(result);
      order_.push_back(i);
      cv_.notify_all();
    };
  }

  bool wait_all() {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, kWait, [&] { return distinct_ == calls_.size(); });
  }

  bool all_called_once() const {
    std::lock_guard lock(mutex_);
    return std::all_of(calls_.begin(), calls_.end(), [](int c) { return c == 1; });
  }

  Result<HttpResponse> result(std::size_t i) const {
    std::lock_guard lock(mutex_);
    return results_[i].value();
  }

  std::vector<std::size_t> order() const {
    std::lock_guard lock(mutex_);
    return order_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<int> calls_;
  std::vector<std::optional<Result<HttpResponse>>> results_;
  std::vector<std::size_t> order_;
  std::size_t distinct_ = 0;
};

HttpRequest post(std::string url, std::string idempotency_key = {}) {
  HttpRequest r;
  r.url = std::move(url);
  r.body = R"({"page":true})";
  r.headers = {{"Content-Type", "application/json"}};
  if (!idempotency_key.empty()) r.headers.emplace_back("Idempotency-Key", idempotency_key);
  return r;
}

// An HTTP/1.1 peer that answers every request after `delay` and counts, per
// target, how many requests it holds at once: from a request read in full to
// the start of its answer, so a client can only send its next request once the
// count has dropped.
class ConcurrencyPeer {
 public:
  explicit ConcurrencyPeer(std::chrono::milliseconds delay) : delay_(delay) {
    tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
    acceptor_->open(endpoint.protocol());
    acceptor_->set_option(asio::socket_base::reuse_address(true));
    acceptor_->bind(endpoint);
    acceptor_->listen();
    port_ = acceptor_->local_endpoint().port();
    asio::co_spawn(*io_, accept_loop(), asio::detached);
    thread_ = std::thread([this] { io_->run(); });
  }
  ~ConcurrencyPeer() {
    io_->stop();
    thread_.join();
    acceptor_.reset();
    io_.reset();  // destroys the suspended sessions, closing their sockets
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::size_t max_concurrent(const std::string& target) const {
    std::lock_guard lock(mutex_);
    auto it = max_.find(target);
    return it == max_.end() ? 0 : it->second;
  }

 private:
  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_->async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      asio::co_spawn(*io_, session(std::move(socket)), asio::detached);
    }
  }

  asio::awaitable<void> session(tcp::socket socket) {
    constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    for (;;) {
      http::request<http::string_body> req;
      auto [rec, rn] = co_await http::async_read(stream, buffer, req, kTuple);
      if (rec) break;
      const std::string target(req.target());
      {
        std::lock_guard lock(mutex_);
        const std::size_t now = ++active_[target];
        max_[target] = std::max(max_[target], now);
      }
      asio::steady_timer timer(stream.get_executor(), delay_);
      auto [tec] = co_await timer.async_wait(kTuple);
      {
        std::lock_guard lock(mutex_);
        --active_[target];
      }
      if (tec) break;
      http::response<http::string_body> res(http::status::ok, req.version());
      res.set(http::field::content_type, "text/plain");
      res.body() = "done " + target;
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      auto [wec, wn] = co_await http::async_write(stream, res, kTuple);
      if (wec || !res.keep_alive()) break;
    }
  }

  const std::chrono::milliseconds delay_;
  std::unique_ptr<asio::io_context> io_ = std::make_unique<asio::io_context>(1);
  std::unique_ptr<tcp::acceptor> acceptor_ = std::make_unique<tcp::acceptor>(*io_);
  std::uint16_t port_ = 0;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::map<std::string, std::size_t> active_;
  std::map<std::string, std::size_t> max_;
};

}  // namespace

// 500 pages to a provider that answers each after 300 ms, on a loop run by two
// threads: every done runs exactly once with its own answer, and the provider
// sees every idempotency key exactly once (no retry, no loss).
TEST_CASE("async_http: 500 slow requests each complete exactly once", "[async_http]") {
  constexpr std::size_t kCount = 500;
  HttpPeer peer;
  peer.set_handler([](const RecordedRequest& r) -> std::optional<ScriptedResponse> {
    return ScriptedResponse{200, {}, "ok " + r.header("idempotency-key").value_or("?"), 300ms};
  });
  asio::io_context io;
  AsyncHttpClient client(io);
  client.set_key_limit("webhook", kCount);
  Runner runner(io, 2);

  Completions completions(kCount);
  for (std::size_t i = 0; i < kCount; ++i) {
    auto req = post(peer.url() + "/hook", "k-" + std::to_string(i));
    req.timeout = 30s;
    client.request("webhook", std::move(req), completions.done(i));
  }
  REQUIRE(completions.wait_all());

  std::size_t good = 0;
  for (std::size_t i = 0; i < kCount; ++i) {
    auto r = completions.result(i);
    if (r && r->status == 200 && r->body == "ok k-" + std::to_string(i)) ++good;
  }
  CHECK(good == kCount);
  CHECK(completions.all_called_once());

  std::map<std::string, int> seen;
  for (const auto& r : peer.requests()) ++seen[r.header("idempotency-key").value_or("")];
  CHECK(seen.size() == kCount);
  CHECK(std::all_of(seen.begin(), seen.end(), [](const auto& kv) { return kv.second == 1; }));
  CHECK(client.stats().in_flight == 0);
  CHECK(client.stats().queued == 0);
}

// Transport failures are transient values and hold up nobody: a request to a
// peer that never answers times out, a refused connection fails, and a fast
// request issued after both completes before the hanging one. A malformed URL
// is the caller's mistake.
TEST_CASE("async_http: refused and timed-out requests are transient and block no one", "[async_http]") {
  HttpPeer peer;
  peer.set_handler([](const RecordedRequest& r) -> std::optional<ScriptedResponse> {
    if (r.target == "/hang") return ScriptedResponse{200, {}, "late", 60s};
    return ScriptedResponse{200, {}, "fast", 0ms};
  });
  // Bound but not listening: connecting is refused, and no one else gets the port.
  asio::io_context io;
  tcp::acceptor closed_port(io, tcp::v4());
  closed_port.bind(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const auto refused_url = "http://127.0.0.1:" + std::to_string(closed_port.local_endpoint().port()) + "/x";

  AsyncHttpClient client(io);
  Runner runner(io, 1);
  Completions completions(4);
  auto hang = post(peer.url() + "/hang");
  hang.timeout = 1000ms;
  client.request(std::move(hang), completions.done(0));
  client.request(post(refused_url), completions.done(1));
  client.request(post(peer.url() + "/fast"), completions.done(2));
  client.request(post("http://exa mple.com/"), completions.done(3));
  REQUIRE(completions.wait_all());
  CHECK(completions.all_called_once());

  auto timed_out = completions.result(0);
  REQUIRE_FALSE(timed_out);
  CHECK(timed_out.error().kind == ErrorKind::transient);
  auto refused = completions.result(1);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().kind == ErrorKind::transient);
  auto fast = completions.result(2);
  REQUIRE(fast);
  CHECK(fast->body == "fast");
  auto malformed = completions.result(3);
  REQUIRE_FALSE(malformed);
  CHECK(malformed.error().kind == ErrorKind::invalid_request);

  const auto order = completions.order();
  const auto position = [&](std::size_t i) { return std::find(order.begin(), order.end(), i) - order.begin(); };
  CHECK(position(2) < position(0));
}

// Per-key caps: with 4 for "sms" and 2 for "email", 20 and 10 requests to a slow
// peer never have more than 4 and 2 at the peer at once, and the caps are used.
TEST_CASE("async_http: a key never has more than its limit in flight", "[async_http]") {
  ConcurrencyPeer peer(300ms);
  asio::io_context io;
  AsyncHttpClient client(io);
  client.set_key_limit("sms", 4);
  client.set_key_limit("email", 2);
  Runner runner(io, 2);

  Completions completions(30);
  for (std::size_t i = 0; i < 30; ++i) {
    const bool sms = i < 20;
    client.request(sms ? "sms" : "email", post(peer.url() + (sms ? "/sms" : "/email")), completions.done(i));
  }
  REQUIRE(completions.wait_all());
  CHECK(completions.all_called_once());
  for (std::size_t i = 0; i < 30; ++i) {
    auto r = completions.result(i);
    REQUIRE(r);
    CHECK(r->body == (i < 20 ? "done /sms" : "done /email"));
  }
  CHECK(peer.max_concurrent("/sms") == 4);
  CHECK(peer.max_concurrent("/email") == 2);
  CHECK_THROWS_AS(client.set_key_limit("sms", 0), std::invalid_argument);
}

// Shutdown: every request, whether at the peer, queued behind its key's limit,
// or made after shutdown, gets its done exactly once with a transient
// "cancelled"; the queued ones never reach the peer. The destructor does the
// same for what is still pending when the loop has stopped.
TEST_CASE("async_http: shutdown completes every pending request exactly once", "[async_http]") {
  HttpPeer peer;
  peer.set_default_response(ScriptedResponse{200, {}, "late", 60s});
  asio::io_context io;

  SECTION("shutdown()") {
    AsyncHttpClient client(io);
    client.set_key_limit("slack", 5);
    Runner runner(io, 2);
    Completions completions(21);
    for (std::size_t i = 0; i < 20; ++i) client.request("slack", post(peer.url() + "/chat"), completions.done(i));
    REQUIRE(peer.wait_for_requests(5, kWait));

    auto stats = client.stats();
    CHECK(stats.in_flight == 5);
    CHECK(stats.queued == 15);
    REQUIRE(stats.keys.size() == 1);
    CHECK(stats.keys[0].key == "slack");
    CHECK(stats.keys[0].limit == 5);
    CHECK(stats.keys[0].in_flight == 5);
    CHECK(stats.keys[0].queued == 15);

    client.shutdown();
    client.shutdown();  // idempotent
    client.request("slack", post(peer.url() + "/chat"), completions.done(20));
    REQUIRE(completions.wait_all());
    runner.stop();
    CHECK(completions.all_called_once());
    for (std::size_t i = 0; i < 21; ++i) {
      auto r = completions.result(i);
      REQUIRE_FALSE(r);
      CHECK(r.error().kind == ErrorKind::transient);
      CHECK(r.error().message.find("cancelled") == 0);
    }
    CHECK(peer.requests().size() == 5);
    CHECK(client.stats().in_flight == 0);
    CHECK(client.stats().queued == 0);
  }

  SECTION("destructor") {
    auto client = std::make_unique<AsyncHttpClient>(io);
    client->set_key_limit("slack", 3);
    Runner runner(io, 1);
    Completions completions(6);
    for (std::size_t i = 0; i < 6; ++i) client->request("slack", post(peer.url() + "/chat"), completions.done(i));
    REQUIRE(peer.wait_for_requests(3, kWait));
    runner.stop();
    client.reset();
    REQUIRE(completions.wait_all());
    CHECK(completions.all_called_once());
    for (std::size_t i = 0; i < 6; ++i) {
      auto r = completions.result(i);
      REQUIRE_FALSE(r);
      CHECK(r.error().kind == ErrorKind::transient);
    }
  }
}

// Keep-alive: sequential requests share one connection, and rounds of eight
// concurrent ones reuse the connections of earlier rounds.
TEST_CASE("async_http: connections are reused", "[async_http]") {
  HttpPeer peer;
  asio::io_context io;
  AsyncHttpClient client(io);
  Runner runner(io, 2);

  for (int i = 0; i < 30; ++i) {  // each starts once the previous one has completed
    Completions one(1);
    client.request(post(peer.url() + "/seq"), one.done(0));
    REQUIRE(one.wait_all());
    REQUIRE(one.result(0));
  }
  std::set<std::uint64_t> connections;
  for (const auto& r : peer.requests()) connections.insert(r.connection);
  CHECK(connections.size() == 1);

  for (int round = 0; round < 4; ++round) {
    Completions batch(8);
    for (std::size_t i = 0; i < 8; ++i) client.request(post(peer.url() + "/batch"), batch.done(i));
    REQUIRE(batch.wait_all());
  }
  connections.clear();
  for (const auto& r : peer.requests()) connections.insert(r.connection);
  CHECK(peer.requests().size() == 30 + 4 * 8);
  CHECK(connections.size() <= 8);
}

// Per host: with max_host_connections 2, requests of several keys to one peer
// never have more than 2 there at once (HTTP/1.1: one request per connection).
TEST_CASE("async_http: max_host_connections caps what one host sees", "[async_http]") {
  ConcurrencyPeer peer(200ms);
  asio::io_context io;
  AsyncHttpOptions options;
  options.max_host_connections = 2;
  AsyncHttpClient client(io, options);
  Runner runner(io, 2);

  Completions completions(12);
  for (std::size_t i = 0; i < 12; ++i) {
    auto req = post(peer.url() + "/any");
    req.timeout = 30s;
    client.request(i % 2 ? "sms" : "email", std::move(req), completions.done(i));
  }
  REQUIRE(completions.wait_all());
  CHECK(completions.all_called_once());
  for (std::size_t i = 0; i < 12; ++i) CHECK(completions.result(i).has_value());
  CHECK(peer.max_concurrent("/any") == 2);
}
