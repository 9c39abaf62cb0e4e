// Write failures with senders retrying (docs/reliability.md, "Disk full and
// write errors").
//
// With baton running, its file-size limit drops to 0 (prlimit(2) on its pid):
// every SQLite write fails as on a full disk. Senders keep sending triggers and
// acknowledgements and retry what is refused. While commits fail, changes are
// answered 503 and /readyz is not 200. Once the limit is restored the retries
// succeed. After a restart on the same database, every trigger answered 2xx
// is an incident, every acknowledgement answered 2xx is stored, and every
// incident was paged. A retry answered 2xx must never be a "duplicate" of a
// change that was refused: the refused change is not stored. (A repeat of
// what is already on disk may be answered 2xx while writes fail: it needs no
// write.)
#include <sys/resource.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <random>

#include "tests/faults/fault_harness.hpp"

namespace baton::faults {
namespace {

using namespace std::chrono_literals;

bool set_file_size_limit(pid_t pid, rlim_t soft, rlimit* old = nullptr) {
  rlimit current{};
  if (::prlimit(pid, RLIMIT_FSIZE, nullptr, &current) != 0) return false;
  if (old) *old = current;
  rlimit next{soft, current.rlim_max};
  return ::prlimit(pid, RLIMIT_FSIZE, &next, nullptr) == 0;
}

TEST_CASE("Write failures: refused while the disk fails, nothing answered 2xx is lost once it recovers", "[faults]") {
  constexpr int kSenders = 4;
  const unsigned seed = std::random_device{}();
  TempDir dir("fsize");
  WebhookSink sink;
  ConfigOptions cfg;
  cfg.webhook_url = sink.url();
  BatonProcess baton(dir.path, cfg);
  REQUIRE(baton.start());

  SendStats stats;
  std::vector<Accepted> accepted(kSenders);
  const auto deadline = Clock::now() + 45s;
  std::vector<std::thread> senders;
  for (int i = 0; i < kSenders; ++i) {
    senders.emplace_back([&, i] {
      HttpConnection conn;
      SenderOptions options;
      options.retry_pause = 50ms;
      auto port = [&baton] { return baton.port(); };
      for (const auto& e : storm_events("fsize" + std::to_string(i), 150, 0.1, 0.3, seed + i))
        accepted[i].add(send_until_accepted(conn, port, e, deadline, stats, options));
    });
  }
  auto join_all = [&] {
    for (auto& t : senders)
      if (t.joinable()) t.join();
  };

  const auto load_until = Clock::now() + 20s;
  while (stats.accepted < 100 && Clock::now() < load_until) std::this_thread::sleep_for(5ms);

  // The disk "fills up".
  rlimit old{};
  const auto refused_before = stats.answered_5xx.load();
  const auto accepted_before = stats.accepted.load();
  if (!set_file_size_limit(baton.pid(), 0, &old)) {
    join_all();
    FAIL("prlimit(RLIMIT_FSIZE) failed");
  }
  const auto fail_at = Clock::now();
  const auto first_refusal_until = Clock::now() + 10s;
  while (stats.answered_5xx == refused_before && baton.running() && Clock::now() < first_refusal_until)
    std::this_thread::sleep_for(2ms);
  const bool refused = stats.answered_5xx > refused_before;
  const double first_refusal_s = seconds(Clock::now() - fail_at);

  // While commits fail: /readyz is not 200, and no change is answered 2xx.
  std::this_thread::sleep_for(100ms);
  int ready_polls = 0, ready_200 = 0;
  const auto accepted_while_failing_from = stats.accepted.load();
  const auto window_end = Clock::now() + 2s;
  while (Clock::now() < window_end && baton.running()) {
    ++ready_polls;
    if (http_get_status(baton.port(), "/readyz") == 200) ++ready_200;
    std::this_thread::sleep_for(100ms);
  }
  const auto accepted_while_failing = stats.accepted.load() - accepted_while_failing_from;

  // baton must survive the failed writes (SIGXFSZ is ignored; the write fails with EFBIG).
  const bool survived = baton.running();
  const int death_status = baton.last_status();
  bool restored = false;
  if (survived) restored = set_file_size_limit(baton.pid(), old.rlim_cur);
  const auto restored_at = Clock::now();
  double ready_again_s = -1;
  bool restarted = true;
  if (restored) {
    while (Clock::now() < restored_at + 30s) {
      if (http_get_status(baton.port(), "/readyz") == 200) {
        ready_again_s = seconds(Clock::now() - restored_at);
        break;
      }
      std::this_thread::sleep_for(20ms);
    }
  } else if (!survived) {
    // Keep going so that the data check below still runs.
    restarted = baton.start();
  }
  join_all();
  INFO(baton.log_tail());
  REQUIRE(restarted);
  CHECK(survived);
  if (survived) REQUIRE(restored);
  if (!survived)
    FAIL_CHECK("baton died while writes failed: " << (WIFSIGNALED(death_status)
                                                          ? "signal " + std::to_string(WTERMSIG(death_status))
                                                          : "exit " + std::to_string(WEXITSTATUS(death_status))));
  CHECK(refused);
  CHECK(ready_polls > 0);
  CHECK(ready_200 == 0);
  CHECK(ready_again_s >= 0);
  CHECK(stats.gave_up == 0);
  CHECK(stats.answered_4xx == 0);

  Accepted all;
  for (const auto& a : accepted) all.merge(a);

  // Restart on the same database: only what is on disk counts.
  baton.signal(SIGTERM);
  REQUIRE(baton.wait_exit(30s));
  REQUIRE(baton.start());
  CHECK(wait_settled(baton.db_path(), all, sink, 30s));
  baton.signal(SIGTERM);
  REQUIRE(baton.wait_exit(30s));
  const auto verdict = verify(read_db(baton.db_path()), all, sink.receipts());
  INFO(verdict.summary());
  CHECK(verdict.missing_incidents == 0);
  CHECK(verdict.not_acknowledged == 0);
  CHECK(verdict.lost() == 0);
  CHECK(verdict.phantom == 0);

  std::ostringstream f;
  f << kSenders << " senders; " << (stats.accepted - accepted_before) << " alerts answered 2xx after the limit; "
    << "first 503 " << first_refusal_s
    << " s after RLIMIT_FSIZE=0; while failing: " << (stats.answered_5xx - refused_before) << " answers 503, "
    << accepted_while_failing << " answered 2xx, /readyz 200 in " << ready_200 << " of " << ready_polls
    << " polls; /readyz 200 again " << ready_again_s
    << " s after the limit was lifted; after restart: " << verdict.triggers << " triggers + " << verdict.acks
    << " acks answered 2xx, lost " << verdict.lost() << " (missing incidents " << verdict.missing_incidents
    << ", acks not stored " << verdict.not_acknowledged << "), duplicate pages " << verdict.duplicate_pages
    << "; senders: " << stats.summary();
  report("write failures", f.str());
}

}  // namespace
}  // namespace baton::faults
