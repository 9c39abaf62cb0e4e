// The HTTP server against raw TCP clients: graceful shutdown answers what it
// accepted, descriptor exhaustion neither spins nor leaves clients hanging,
// malformed framing gets a 400, and one slow or greedy client cannot starve
// the others. Tests wait for outcomes (bounded), never for durations.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <future>
#include <latch>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bot/http_server.hpp"

using namespace baton;
using namespace std::chrono_literals;

namespace {

// Waits up to ~20 s for `pred`; the bound only keeps a broken build from hanging.
template <typename Pred>
bool eventually(Pred pred) {
  for (int i = 0; i < 2000; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

// A blocking TCP client socket. Reads give up after 15 s so that a hang shows
// as a failed assertion rather than a stuck test.
class RawClient {
 public:
  RawClient() : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    timeval tv{15, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }
  explicit RawClient(std::uint16_t port) : RawClient() { connected_ = connect(port); }
  ~RawClient() { close(); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool valid() const { return fd_ >= 0; }
  bool connected() const { return connected_; }

  bool connect(std::uint16_t port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    return connected_;
  }

  bool send(std::string_view data) {
    while (!data.empty()) {
      const auto n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  struct ReadResult {
    std::string data;
    bool closed = false;     ///< the server closed (FIN or reset)
    bool reset = false;      ///< ... with a reset
    bool timed_out = false;  ///< nothing happened for 15 s
  };

  /// Reads until the server closes the connection.
  ReadResult read_until_close() {
    ReadResult r;
    char buf[4096];
    for (;;) {
      const auto n = ::recv(fd_, buf, sizeof buf, 0);
      if (n > 0) {
        r.data.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      if (n == 0) {
        r.closed = true;
      } else if (errno == EINTR) {
        continue;
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        r.timed_out = true;
      } else {
        r.closed = true;
        r.reset = errno == ECONNRESET;
      }
      return r;
    }
  }

  /// Reads one response framed by Content-Length (keep-alive connections).
  std::optional<std::string> read_response() {
    std::string data;
    char buf[4096];
    for (;;) {
      const auto end = data.find("\r\n\r\n");
      if (end != std::string::npos) {
        std::size_t length = 0;
        const auto cl = lower(data.substr(0, end)).find("content-length:");
        if (cl != std::string::npos) length = std::stoul(data.substr(cl + 15));
        if (data.size() >= end + 4 + length) return data.substr(0, end + 4 + length);
      }
      const auto n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return std::nullopt;
      data.append(buf, static_cast<std::size_t>(n));
    }
  }

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  static std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

bool has_header(const std::string& response, std::string_view lowercase_line) {
  return RawClient::lower(response.substr(0, response.find("\r\n\r\n"))).find(lowercase_line) != std::string::npos;
}

// Answers every request with 200 {"ok":true} on the server's own thread.
bot::Handler ok_handler(std::atomic<int>* calls = nullptr) {
  return [calls](bot::Request&&, bot::Responder respond) {
    if (calls) ++*calls;
    bot::Response r;
    r.body = R"({"ok":true})";
    respond(std::move(r));
  };
}

bot::HttpServerOptions local_options() {
  bot::HttpServerOptions o;
  o.port = 0;
  return o;
}

constexpr std::string_view kGet = "GET /healthz HTTP/1.1\r\nHost: baton.test\r\n\r\n";
constexpr std::string_view kGetClose = "GET /healthz HTTP/1.1\r\nHost: baton.test\r\nConnection: close\r\n\r\n";

// Restores the soft descriptor limit on scope exit, assertions failing or not.
struct NoFileLimit {
  rlimit saved{};
  NoFileLimit() { ::getrlimit(RLIMIT_NOFILE, &saved); }
  ~NoFileLimit() { ::setrlimit(RLIMIT_NOFILE, &saved); }
  bool lower_to(rlim_t soft) const {
    rlimit l = saved;
    l.rlim_cur = soft;
    return ::setrlimit(RLIMIT_NOFILE, &l) == 0;
  }
};

}  // namespace

// SIGTERM while commits are slow: the handler answers from another thread
// after stop() has begun. Each client still receives its full 2xx answer, with
// Connection: close, and stop() returns once those answers are written rather
// than after its grace period. An idle keep-alive connection is closed.
TEST_CASE("stop answers every request it accepted before closing", "[http]") {
  std::latch release(1);
  std::vector<std::thread> committers;
  std::mutex committers_mu;
  bot::HttpServer server(local_options(), [&](bot::Request&& req, bot::Responder respond) {
    if (req.path == "/healthz") return ok_handler()(std::move(req), std::move(respond));
    std::lock_guard lock(committers_mu);
    committers.emplace_back([&release, respond = std::move(respond)] {
      release.wait();  // the "commit" finishes only once shutdown is under way
      std::this_thread::sleep_for(300ms);
      bot::Response r;
      r.status = 202;
      r.body = R"({"status":"success"})";
      respond(std::move(r));
    });
  });
  auto port = server.start();
  REQUIRE(port);

  RawClient idle(*port);
  REQUIRE(idle.send(kGet));
  auto first = idle.read_response();
  REQUIRE(first);
  CHECK(first->starts_with("HTTP/1.1 200"));

  constexpr int kInFlight = 4;
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < kInFlight; ++i) {
    clients.push_back(std::make_unique<RawClient>(*port));
    REQUIRE(clients.back()->send("POST /v2/enqueue HTTP/1.1\r\nHost: baton.test\r\nContent-Length: 2\r\n\r\n{}"));
  }
  REQUIRE(eventually([&] { return server.stats().requests_in_flight == kInFlight; }));

  auto stopped = std::async(std::launch::async, [&] { server.stop(std::chrono::minutes(10)); });
  // The listener closes first: once a new connection is refused, stop() is under way.
  REQUIRE(eventually([&] { return !RawClient(*port).connected(); }));
  // The idle keep-alive connection is closed without waiting for the others.
  auto idle_end = idle.read_until_close();
  CHECK(idle_end.closed);
  CHECK(idle_end.data.empty());

  release.count_down();
  // Returns once answered; the 10-minute grace would make this wait fail.
  REQUIRE(stopped.wait_for(60s) == std::future_status::ready);
  for (auto& c : clients) {
    auto r = c->read_until_close();
    INFO(r.data);
    CHECK(r.data.starts_with("HTTP/1.1 202"));
    CHECK(has_header(r.data, "connection: close"));
    CHECK(r.data.ends_with(R"({"status":"success"})"));
    CHECK(r.closed);
  }
  CHECK(server.stats().connections_open == 0);
  CHECK(server.stats().requests_in_flight == 0);
  for (auto& t : committers) t.join();
}

// stop() with a grace period that expires: the connection waiting on a handler
// that never answers is closed, stop() returns, and the late answer is dropped.
TEST_CASE("stop gives up on a handler that never answers after the grace period", "[http]") {
  std::optional<bot::Responder> held;
  std::mutex mu;
  bot::HttpServer server(local_options(), [&](bot::Request&&, bot::Responder respond) {
    std::lock_guard lock(mu);
    held = std::move(respond);
  });
  auto port = server.start();
  REQUIRE(port);
  RawClient client(*port);
  REQUIRE(client.send(kGet));
  REQUIRE(eventually([&] { return server.stats().requests_in_flight == 1; }));
  server.stop(0ms);
  auto r = client.read_until_close();
  CHECK(r.closed);
  CHECK(r.data.empty());
  std::lock_guard lock(mu);
  REQUIRE(held);
  (*held)(bot::json_error(500, "late"));  // must not crash or hang
}

// 200 connections against a small descriptor limit used to make accept() fail
// and re-arm at once, hundreds of thousands of times a second. Now the server
// resets what waits in the backlog, pauses accept, and recovers when
// descriptors come back. The client sockets are created before the limit is
// lowered, so only the server's accept() runs out of descriptors.
TEST_CASE("descriptor exhaustion backs off, sheds the backlog and recovers", "[http]") {
  bot::HttpServer server(local_options(), ok_handler());
  auto port = server.start();
  REQUIRE(port);

  constexpr int kClients = 64;
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<RawClient>());
    REQUIRE(clients.back()->valid());
  }
  // The lowest free descriptor; with the limit two above it the server can
  // hold at most two connections at a time (plus its reserved spare).
  const int lowest_free = ::dup(0);
  REQUIRE(lowest_free >= 0);
  ::close(lowest_free);
  {
    NoFileLimit limit;
    REQUIRE(limit.lower_to(static_cast<rlim_t>(lowest_free) + 2));
    for (auto& c : clients) REQUIRE(c->connect(*port));  // connect() needs no descriptor

    // Every connection is either being served or was reset: none waits in the backlog.
    REQUIRE(eventually([&] {
      auto s = server.stats();
      return s.connections_reset_total + s.connections_open >= kClients;
    }));
    int served = 0;
    int reset = 0;
    for (auto& c : clients) {
      c->send(kGetClose);  // may fail on a reset connection
      auto r = c->read_until_close();
      INFO(r.data);
      CHECK_FALSE(r.timed_out);
      if (r.data.starts_with("HTTP/1.1 200")) {
        ++served;
      } else {
        CHECK(r.closed);
        CHECK(r.data.empty());
        ++reset;
      }
    }
    CHECK(served >= 1);
    CHECK(reset >= 1);
    auto s = server.stats();
    CHECK(s.fd_exhausted_total >= 1);
    // Bounded by the connections offered, not by how fast the loop can spin.
    CHECK(s.fd_exhausted_total <= kClients);
    CHECK(s.accept_errors_total == s.fd_exhausted_total);
    for (auto& c : clients) c->close();
  }
  // Descriptors are back: a new client is served normally.
  REQUIRE(eventually([&] { return server.stats().connections_open == 0; }));
  RawClient fresh(*port);
  REQUIRE(fresh.connected());
  REQUIRE(fresh.send(kGetClose));
  auto r = fresh.read_until_close();
  CHECK(r.data.starts_with("HTTP/1.1 200"));
  CHECK(server.stats().fd_exhausted_total <= kClients);
  CHECK(eventually([&] { return !server.stats().currently_backing_off; }));
}

// RFC 9112 §6.3: framing that cannot be trusted gets 400 Bad Request, with
// Connection: close, and the connection closes; the handler never sees it.
TEST_CASE("malformed framing is answered 400 and the connection closes", "[http]") {
  std::atomic<int> calls{0};
  bot::HttpServer server(local_options(), ok_handler(&calls));
  auto port = server.start();
  REQUIRE(port);

  const std::vector<std::pair<std::string, std::string>> cases = {
      {"garbage request line", "GARBAGE\r\n\r\n"},
      {"garbage target", "GET \x01zz HTTP/1.1\r\nHost: x\r\n\r\n"},
      {"bad version", "GET / HTTP/x.y\r\nHost: x\r\n\r\n"},
      {"negative Content-Length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"},
      {"non-numeric Content-Length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n"},
      {"conflicting Content-Length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"},
      {"Content-Length then chunked",
       "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
      {"chunked then Content-Length",
       "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"},
      {"Transfer-Encoding not ending in chunked",
       "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc"},
      {"malformed chunk", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n"},
      {"space before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n"},
  };
  for (const auto& [name, request] : cases) {
    SECTION(name) {
      RawClient client(*port);
      REQUIRE(client.connected());
      REQUIRE(client.send(request));
      auto r = client.read_until_close();
      INFO(r.data);
      CHECK(r.data.starts_with("HTTP/1.1 400"));
      CHECK(has_header(r.data, "connection: close"));
      CHECK(has_header(r.data, "content-type: application/json"));
      CHECK(r.data.find(R"("status":"error")") != std::string::npos);
      CHECK(r.closed);
      CHECK_FALSE(r.reset);
      CHECK(calls == 0);
      CHECK(server.stats().bad_requests_total == 1);
    }
  }
}

// A well-formed request on the same server still works (the 400 path is not
// the default), and a body over the limit is 413 with Connection: close.
TEST_CASE("well-formed requests pass and oversized bodies get 413", "[http]") {
  auto options = local_options();
  options.max_body_bytes = 16;
  bot::HttpServer server(options, ok_handler());
  auto port = server.start();
  REQUIRE(port);
  {
    RawClient client(*port);
    REQUIRE(client.send("POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"));
    auto r = client.read_response();
    REQUIRE(r);
    CHECK(r->starts_with("HTTP/1.1 200"));
  }
  RawClient big(*port);
  REQUIRE(big.send("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 64\r\n\r\n" + std::string(64, 'a')));
  auto r = big.read_until_close();
  CHECK(r.data.starts_with("HTTP/1.1 413"));
  CHECK(has_header(r.data, "connection: close"));
}

// Slowloris: one client sends half its headers and stalls. Even on a single
// I/O thread, another client is answered meanwhile, and the stalled one is
// closed once the header timeout passes.
TEST_CASE("a client trickling its headers neither blocks others nor stays open", "[http]") {
  auto options = local_options();
  options.threads = 1;
  options.header_timeout = 300ms;
  bot::HttpServer server(options, ok_handler());
  auto port = server.start();
  REQUIRE(port);

  RawClient slow(*port);
  REQUIRE(slow.send("GET /healthz HTTP/1.1\r\nHost: baton.test\r\nX-Slow: "));
  REQUIRE(eventually([&] { return server.stats().connections_open == 1; }));

  RawClient other(*port);
  REQUIRE(other.send(kGet));
  auto answer = other.read_response();
  REQUIRE(answer);
  CHECK(answer->starts_with("HTTP/1.1 200"));

  auto r = slow.read_until_close();
  CHECK(r.closed);
  CHECK_FALSE(r.timed_out);
  CHECK(r.data.empty());
}

// Beyond max_connections a new connection is answered 503 with Connection:
// close at once; when a connection goes away there is room again.
TEST_CASE("connections beyond max_connections get 503", "[http]") {
  auto options = local_options();
  options.max_connections = 2;
  bot::HttpServer server(options, ok_handler());
  auto port = server.start();
  REQUIRE(port);

  auto a = std::make_unique<RawClient>(*port);
  RawClient b(*port);
  for (RawClient* c : {a.get(), &b}) {
    REQUIRE(c->send(kGet));
    auto r = c->read_response();
    REQUIRE(r);
    CHECK(r->starts_with("HTTP/1.1 200"));
  }
  {
    RawClient third(*port);
    REQUIRE(third.connected());
    auto r = third.read_until_close();
    INFO(r.data);
    CHECK(r.data.starts_with("HTTP/1.1 503"));
    CHECK(has_header(r.data, "connection: close"));
    CHECK(has_header(r.data, "retry-after: 1"));
    CHECK(server.stats().connections_rejected_total == 1);
  }
  a.reset();
  REQUIRE(eventually([&] { return server.stats().connections_open == 1; }));
  RawClient fourth(*port);
  REQUIRE(fourth.send(kGet));
  auto r = fourth.read_response();
  REQUIRE(r);
  CHECK(r->starts_with("HTTP/1.1 200"));
}

// A route that throws fails its own request with 500; the server lives on.
TEST_CASE("a handler that throws answers 500 and the server keeps serving", "[http]") {
  bot::HttpServer server(local_options(), [](bot::Request&& req, bot::Responder respond) {
    if (req.path == "/boom") throw std::runtime_error("bug");
    ok_handler()(std::move(req), std::move(respond));
  });
  auto port = server.start();
  REQUIRE(port);
  RawClient client(*port);
  REQUIRE(client.send("GET /boom HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto r = client.read_response();
  REQUIRE(r);
  CHECK(r->starts_with("HTTP/1.1 500"));
  REQUIRE(client.send(kGet));
  r = client.read_response();
  REQUIRE(r);
  CHECK(r->starts_with("HTTP/1.1 200"));
}

// RFC 9110 §9.3.2: HEAD is answered with GET's headers and no body, whatever
// the route answers (a 200, a 404, a 405 from a POST-only route). Microsoft 365
// Agents Playground probes the bot's endpoint with HEAD, and Node's HTTP parser
// refuses an answer with a body. Each HEAD here is followed on the same
// connection by a GET: the bytes after the HEAD answer's headers must be the
// GET's answer, not a leftover body.
TEST_CASE("HEAD answers carry no body, on every route", "[http]") {
  bot::HttpServer server(local_options(), [](bot::Request&& req, bot::Responder respond) {
    bot::Response r;
    if (req.path == "/missing") {
      r = bot::json_error(404, "no route for /missing");
    } else if (req.path == "/api/messages" && req.method != "POST") {
      r = bot::json_error(405, "method not allowed");
    } else {
      r.body = R"({"ok":true})";
    }
    respond(std::move(r));
  });
  auto port = server.start();
  REQUIRE(port);
  for (const std::string path : {"/healthz", "/missing", "/api/messages"}) {
    SECTION(path) {
      RawClient client(*port);
      REQUIRE(client.send("HEAD " + path + " HTTP/1.1\r\nHost: x\r\n\r\n"));
      REQUIRE(client.send(kGetClose));
      auto r = client.read_until_close();
      INFO(r.data);
      REQUIRE(r.closed);
      const auto head_end = r.data.find("\r\n\r\n");
      REQUIRE(head_end != std::string::npos);
      const std::string head = r.data.substr(0, head_end);
      CHECK(has_header(head, "content-type: application/json"));
      // What follows the HEAD answer's headers is the next answer, at once.
      CHECK(r.data.substr(head_end + 4).starts_with("HTTP/1.1 200"));
      CHECK(r.data.ends_with(R"({"ok":true})"));
    }
  }
}
