// Descriptor exhaustion (docs/reliability.md, "Out of file descriptors").
//
// baton runs with RLIMIT_NOFILE = 128 and a client opens 200 idle
// connections, more than it can accept. While it is out of descriptors baton
// must not spin: its log stays small and it uses little CPU. Alerts sent
// meanwhile are retried by their senders; once the idle connections close,
// baton answers normally, and every alert answered 2xx is stored and paged.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <csignal>

#include "tests/faults/fault_harness.hpp"

namespace baton::faults {
namespace {

using namespace std::chrono_literals;

int open_idle_connection(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // Completes from the listen backlog even when baton cannot accept.
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

TEST_CASE("Descriptor exhaustion: no spinning, and normal service once descriptors free up", "[faults]") {
  constexpr int kIdle = 200;
  constexpr auto kHold = 3s;
  TempDir dir("nofile");
  WebhookSink sink;
  ConfigOptions cfg;
  cfg.webhook_url = sink.url();
  SpawnOptions spawn;
  spawn.nofile = 128;
  BatonProcess baton(dir.path, cfg, spawn);
  REQUIRE(baton.start());

  SendStats stats;
  Accepted accepted;
  auto port = [&baton] { return baton.port(); };
  std::mutex mutex;
  std::vector<Clock::time_point> answered_at;
  auto send_batch = [&](const std::string& prefix, int count, Clock::time_point deadline) {
    HttpConnection conn;
    Accepted got;
    for (int i = 0; i < count; ++i) {
      auto o = send_until_accepted(conn, port, {prefix + std::to_string(i)}, deadline, stats);
      got.add(o);
      std::lock_guard lock(mutex);
      if (o.accepted) answered_at.push_back(o.answered_at);
    }
    return got;
  };
  accepted.merge(send_batch("before-", 50, Clock::now() + 20s));
  REQUIRE(accepted.triggers.size() == 50);

  // Exhaust: 200 idle connections against 128 descriptors.
  std::vector<int> idle;
  for (int i = 0; i < kIdle; ++i)
    if (int fd = open_idle_connection(baton.port()); fd >= 0) idle.push_back(fd);
  CHECK(idle.size() == kIdle);

  // Senders keep trying meanwhile (each with its own connection).
  std::vector<Accepted> during(2);
  std::vector<std::thread> senders;
  const auto during_deadline = Clock::now() + 40s;
  for (int i = 0; i < 2; ++i)
    senders.emplace_back([&, i] { during[i] = send_batch("during" + std::to_string(i) + "-", 20, during_deadline); });

  std::this_thread::sleep_for(200ms);  // let baton run into the limit
  const auto log0 = baton.log_bytes();
  const auto cpu0 = baton.cpu_time();
  const auto t0 = Clock::now();
  std::this_thread::sleep_for(kHold);
  const auto held = Clock::now() - t0;
  const auto log_growth = baton.log_bytes() - log0;
  const auto cpu = baton.cpu_time() - cpu0;
  const double cpu_share = std::chrono::duration<double>(cpu).count() / seconds(held);
  const bool alive = baton.running();

  // Free the descriptors; service comes back.
  const auto released = Clock::now();
  std::size_t answered_while_exhausted = 0;
  {
    std::lock_guard lock(mutex);
    for (auto at : answered_at) answered_while_exhausted += at > t0 ? 1 : 0;
  }
  for (int fd : idle) ::close(fd);
  for (auto& t : senders) t.join();
  const auto recovered = send_batch("after-", 50, Clock::now() + 30s);
  const double recover_s = seconds(Clock::now() - released);
  for (const auto& d : during) accepted.merge(d);
  accepted.merge(recovered);
  const int ready = http_get_status(baton.port(), "/readyz");

  INFO(baton.log_tail(3000));
  CHECK(alive);
  CHECK(log_growth < 1024 * 1024);  // no log flood
  CHECK(cpu_share < 0.2);           // no busy loop (idle baton: ~0; one spinning thread: up to 1)
  CHECK(recovered.triggers.size() == 50);
  CHECK(ready == 200);
  CHECK(stats.gave_up == 0);
  CHECK(stats.answered_4xx == 0);

  CHECK(wait_settled(baton.db_path(), accepted, sink, 30s));
  baton.signal(SIGTERM);
  REQUIRE(baton.wait_exit(30s));
  const auto verdict = verify(read_db(baton.db_path()), accepted, sink.receipts());
  INFO(verdict.summary());
  CHECK(verdict.lost() == 0);
  CHECK(verdict.phantom == 0);

  std::ostringstream f;
  f << "RLIMIT_NOFILE 128, " << idle.size() << " idle connections held " << seconds(held) << " s: log grew "
    << log_growth << " bytes, CPU " << cpu.count() << " ms (" << cpu_share * 100 << "% of one core); alerts sent "
    << "during exhaustion: " << answered_while_exhausted << " answered 2xx before the release, "
    << (during[0].triggers.size() + during[1].triggers.size()) << " of 40 in the end; "
    << "50 alerts after release answered 2xx within " << recover_s << " s of the release; lost " << verdict.lost()
    << "; senders: " << stats.summary();
  report("descriptor exhaustion", f.str());
}

}  // namespace
}  // namespace baton::faults
