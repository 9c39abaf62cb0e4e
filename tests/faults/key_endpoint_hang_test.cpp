// A key endpoint hanging (docs/reliability.md, "A key endpoint hangs").
//
// Teams is configured with its OpenID metadata URL on a local peer that
// accepts connections and never answers. Twenty requests with forged tokens
// arrive at /api/messages at once, each making baton want the signing keys.
// Meanwhile alerts arrive at /v2/enqueue: they must be answered while the key
// endpoint is still hanging, before baton gives up on any of its key fetches
// (which only its own timeout ends), i.e. they do not wait for the fetch. They
// are committed, and no forged request is accepted.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <csignal>

#include "tests/faults/fault_harness.hpp"

namespace baton::faults {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

/// Accepts TCP connections and never answers. Records when the other side
/// first gives up on one (closes it).
class SilentPeer {
 public:
  SilentPeer() {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listener_, 128) != 0)
      throw std::runtime_error("SilentPeer cannot listen");
    socklen_t len = sizeof a;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~SilentPeer() { stop(); }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int accepted() const { return accepted_; }
  /// When the client first closed a connection; nullopt while none was.
  std::optional<Clock::time_point> first_give_up() const {
    std::lock_guard lock(mutex_);
    return first_give_up_;
  }
  /// Closes the listener and every connection: later fetches fail at once.
  void stop() {
    if (stopping_.exchange(true)) return;
    thread_.join();
  }

 private:
  void run() {
    std::vector<pollfd> fds{{listener_, POLLIN, 0}};
    while (!stopping_) {
      if (::poll(fds.data(), fds.size(), 20) <= 0) continue;
      for (std::size_t i = 1; i < fds.size(); ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        char buf[4096];
        ssize_t n = ::recv(fds[i].fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0 || (n < 0 && errno == EAGAIN)) continue;  // the request: read and ignored
        {
          std::lock_guard lock(mutex_);
          if (!first_give_up_) first_give_up_ = Clock::now();
        }
        ::close(fds[i].fd);
        fds[i].fd = -1;  // poll ignores it from now on
      }
      if (fds[0].revents & POLLIN) {
        int c = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c >= 0) {
          ++accepted_;
          fds.push_back({c, POLLIN, 0});
        }
      }
    }
    for (auto& p : fds)
      if (p.fd >= 0) ::close(p.fd);
  }

  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<int> accepted_{0};
  std::atomic<bool> stopping_{false};
  mutable std::mutex mutex_;
  std::optional<Clock::time_point> first_give_up_;
  std::thread thread_;
};

std::string base64url(std::string_view in) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kAlphabet[(acc >> bits) & 0x3F];
    }
  }
  if (bits > 0) out += kAlphabet[(acc << (6 - bits)) & 0x3F];
  return out;
}

/// A token that passes every check made before the signing keys are needed
/// (RS256, the Bot Framework issuer, a kid), with a signature that is garbage.
std::string forged_token(const std::string& app_id, int n) {
  const auto exp = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch() + std::chrono::hours(1))
                       .count();
  json::object header{{"alg", "RS256"}, {"typ", "JWT"}, {"kid", "forged-" + std::to_string(n)}};
  json::object payload{{"iss", "https://api.botframework.com"},
                       {"aud", app_id},
                       {"exp", exp},
                       {"serviceurl", "https://smba.trafficmanager.net/teams/"}};
  return base64url(json::serialize(header)) + "." + base64url(json::serialize(payload)) + "." +
         base64url("not a signature, not even close.");
}

std::string activity(int n) {
  return json::serialize(json::object{
      {"type", "message"},
      {"id", "forged-" + std::to_string(n)},
      {"timestamp", "2026-01-01T00:00:00.000Z"},
      {"serviceUrl", "https://smba.trafficmanager.net/teams/"},
      {"channelId", "msteams"},
      {"from", json::object{{"id", "29:mallory"}, {"aadObjectId", "aad-mallory"}, {"name", "Mallory"}}},
      {"conversation", json::object{{"id", "a:forged"}, {"conversationType", "personal"}, {"tenantId", "tenant-f"}}},
      {"recipient", json::object{{"id", "28:fault-app-id"}, {"name", "baton"}}},
      {"text", "ack 1"}});
}

TEST_CASE("A key endpoint hanging: alerts are answered and committed without waiting for it", "[faults]") {
  constexpr int kForged = 20;
  constexpr int kSenders = 4;
  constexpr int kPerSender = 10;
  TempDir dir("keys");
  WebhookSink sink;
  SilentPeer keys;
  const std::uint16_t nowhere = free_port();  // nothing listens: refused at once
  ConfigOptions cfg;
  cfg.webhook_url = sink.url();
  cfg.extra_yaml =
      "teams:\n  app_id: fault-app-id\n  app_password: fault-app-password\n  tenant_id: tenant-f\n"
      "  openid_metadata_url: \"" +
      keys.url() +
      "/v1/.well-known/openidconfiguration\"\n"
      "  login_base: \"http://127.0.0.1:" +
      std::to_string(nowhere) +
      "\"\n"
      "  connector_base: \"http://127.0.0.1:" +
      std::to_string(nowhere) +
      "/teams/\"\n"
      "  graph_base: \"http://127.0.0.1:" +
      std::to_string(nowhere) + "/graph\"\n";
  BatonProcess baton(dir.path, cfg);
  REQUIRE(baton.start());

  // The forged requests, all at once, each on its own connection.
  std::mutex mutex;
  std::map<int, int> forged_status;  // status -> count (0: no answer)
  std::vector<std::thread> forgers;
  for (int i = 0; i < kForged; ++i) {
    forgers.emplace_back([&, i] {
      HttpConnection conn;
      auto r = conn.request(
          baton.port(), "POST", "/api/messages", activity(i),
          {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + forged_token("fault-app-id", i)}}, 40s,
          false);
      std::lock_guard lock(mutex);
      ++forged_status[r.kind == HttpResult::Kind::answered ? r.status : 0];
    });
  }
  const auto fetch_wait = Clock::now() + 10s;
  while (keys.accepted() == 0 && Clock::now() < fetch_wait) std::this_thread::sleep_for(5ms);
  const bool fetching = keys.accepted() > 0;

  // Alerts while the key fetch hangs.
  SendStats stats;
  std::vector<Accepted> accepted(kSenders);
  std::vector<Clock::time_point> last_answer(kSenders, Clock::now());
  const auto alerts_start = Clock::now();
  // Bounded well past the time any alert needs; if alerts wait for the key
  // fetch they fail here rather than hold the suite up.
  const auto alerts_deadline = alerts_start + 25s;
  std::vector<std::thread> senders;
  for (int i = 0; i < kSenders; ++i) {
    senders.emplace_back([&, i] {
      HttpConnection conn;
      SenderOptions options;
      options.request_timeout = 25s;
      auto port = [&baton] { return baton.port(); };
      for (int n = 0; n < kPerSender; ++n) {
        auto o = send_until_accepted(conn, port, {"keys" + std::to_string(i) + "-" + std::to_string(n)},
                                     alerts_deadline, stats, options);
        accepted[i].add(o);
        if (o.accepted) last_answer[i] = o.answered_at;
      }
    });
  }
  for (auto& t : senders) t.join();
  const auto answered_by = *std::max_element(last_answer.begin(), last_answer.end());
  const auto give_up = keys.first_give_up();
  const bool all_answered = stats.accepted == static_cast<std::uint64_t>(kSenders * kPerSender);
  const bool before_give_up = all_answered && (!give_up || answered_by < *give_up);

  // End the hang: fetches fail at once, the forged requests are answered.
  keys.stop();
  for (auto& t : forgers) t.join();

  Accepted all;
  for (const auto& a : accepted) all.merge(a);
  INFO(baton.log_tail());
  CHECK(fetching);  // the forged tokens did make baton fetch keys
  CHECK(all.triggers.size() == kSenders * kPerSender);
  CHECK(before_give_up);
  for (const auto& [status, n] : forged_status) {
    INFO(n << " forged request(s) answered " << status);
    CHECK((status < 200 || status >= 300));
  }

  CHECK(wait_settled(baton.db_path(), all, sink, 30s));
  baton.signal(SIGTERM);
  REQUIRE(baton.wait_exit(30s));
  const auto verdict = verify(read_db(baton.db_path()), all, sink.receipts());
  INFO(verdict.summary());
  CHECK(verdict.lost() == 0);

  std::ostringstream f, statuses;
  for (const auto& [status, n] : forged_status) statuses << (statuses.tellp() > 0 ? ", " : "") << n << " x " << status;
  f << kForged << " forged-token requests while the OpenID metadata endpoint hung (" << keys.accepted()
    << " key fetch connection(s)); " << all.triggers.size() << " alerts from " << kSenders
    << " senders answered 2xx (of " << kSenders * kPerSender << ")"
    << (all_answered ? ", the last " + std::to_string(seconds(answered_by - alerts_start)) + " s in" : "") << ", "
    << (before_give_up ? "before" : "NOT before") << " baton gave up on a key fetch"
    << (give_up ? " (which it did " + std::to_string(seconds(*give_up - alerts_start)) + " s in)" : "")
    << "; forged requests answered: " << statuses.str() << "; lost " << verdict.lost();
  report("key endpoint hanging", f.str());
}

}  // namespace
}  // namespace baton::faults
