// SIGTERM under load, on a normal and on a slow disk (docs/reliability.md,
// "SIGTERM").
//
// Senders post distinct alerts over a fresh connection each (so no idle
// keep-alive connection can race the shutdown) while baton gets SIGTERM. Every
// request baton read must be answered: a connection closed cleanly after the
// request was sent and before any response byte is a dropped request. A reset
// or a refused connection means baton never took the request (it was still in
// the listen backlog, or the listener was closed); the sender retries those.
// baton must exit by itself, with status 0. Every alert answered 2xx is
// committed when it exits, and every incident's page is delivered or still in
// the outbox; after a restart the pending ones are delivered.
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <csignal>

#include "tests/faults/fault_harness.hpp"

namespace baton::faults {
namespace {

using namespace std::chrono_literals;

void sigterm_under_load(const std::string& label, SpawnOptions spawn, int sender_count) {
  TempDir dir(label);
  WebhookSink sink;
  ConfigOptions cfg;
  cfg.webhook_url = sink.url();
  BatonProcess baton(dir.path, cfg, spawn);
  REQUIRE(baton.start());
  if (!spawn.preload.empty()) REQUIRE(baton.maps_contain("slow_fsync"));

  SendStats stats;
  std::mutex mutex;
  Accepted accepted;
  std::vector<milliseconds> latencies;
  std::atomic<bool> produce{true};
  // Every attempt, to tell what happened to the requests in flight at SIGTERM.
  struct Attempt {
    HttpResult::Kind kind;
    int status;
    Clock::time_point started, ended;
    std::uint16_t local_port;
  };
  std::vector<Attempt> attempts;
  const auto deadline = Clock::now() + 50s;
  std::vector<std::thread> senders;
  for (int i = 0; i < sender_count; ++i) {
    senders.emplace_back([&, i] {
      HttpConnection conn;
      SenderOptions options;
      options.keep_alive = false;
      // Longer than baton's own shutdown grace: a request left unanswered shows
      // up as dropped or reset, not as a client timeout.
      options.request_timeout = 35s;
      options.on_attempt = [&](const HttpResult& r, Clock::time_point at) {
        std::lock_guard lock(mutex);
        attempts.push_back({r.kind, r.status, r.started, at, r.local_port});
      };
      auto port = [&baton] { return baton.port(); };
      for (int n = 0; produce; ++n) {
        auto outcome = send_until_accepted(conn, port, {label + std::to_string(i) + "-" + std::to_string(n)}, deadline,
                                           stats, options);
        std::lock_guard lock(mutex);
        accepted.add(outcome);
        if (outcome.accepted) latencies.push_back(outcome.latency);
      }
    });
  }

  // Load first, then SIGTERM in the middle of it.
  const auto load_until = Clock::now() + 20s;
  while (stats.accepted < 150 && Clock::now() < load_until) std::this_thread::sleep_for(5ms);
  const auto term = Clock::now();
  baton.signal(SIGTERM);
  const auto status = baton.wait_exit(30s);
  const auto exited = Clock::now();
  const double shutdown_s = seconds(exited - term);
  std::string log = baton.log_tail();
  INFO(log);
  if (!status) {
    baton.kill_now();
    produce = false;
    for (auto& t : senders) t.join();
    FAIL("baton did not exit within 30 s of SIGTERM");
  }
  CHECK(WIFEXITED(*status));
  CHECK(WEXITSTATUS(*status) == 0);

  // What was answered 2xx before the process exited is on disk now.
  Accepted before_exit;
  {
    std::lock_guard lock(mutex);
    before_exit = accepted;
  }
  // The requests in flight at SIGTERM or begun before the exit.
  std::map<std::string, int> during;
  std::ostringstream dropped_detail;
  auto ms_from_term = [&](Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::microseconds>(t - term).count() / 1000.0;
  };
  for (const auto& a : [&] {
         std::lock_guard lock(mutex);
         return attempts;
       }()) {
    if (a.kind == HttpResult::Kind::dropped)
      dropped_detail << "\n  dropped: from port " << a.local_port << ", sent " << ms_from_term(a.started)
                     << " ms and closed " << ms_from_term(a.ended) << " ms after SIGTERM (exit at "
                     << ms_from_term(exited) << " ms)";
    if (a.ended < term || a.started > exited) continue;
    auto kind = std::string(to_string(a.kind));
    if (a.kind == HttpResult::Kind::answered) kind += " " + std::to_string(a.status);
    ++during[kind];
  }
  std::string during_text;
  for (const auto& [kind, n] : during)
    during_text += (during_text.empty() ? "" : ", ") + kind + " " + std::to_string(n);
  const auto at_exit = read_db(baton.db_path());
  const auto verdict_at_exit = verify(at_exit, before_exit, sink.receipts());
  {
    INFO("at exit: " << verdict_at_exit.summary());
    CHECK(verdict_at_exit.missing_incidents == 0);
    CHECK(verdict_at_exit.no_page == 0);
    CHECK(verdict_at_exit.not_paged == 0);
  }

  // Restart: the senders' retries get through, pending pages go out.
  const bool restarted = baton.start();
  if (restarted) std::this_thread::sleep_for(300ms);
  produce = false;
  for (auto& t : senders) t.join();
  REQUIRE(restarted);
  CHECK(stats.gave_up == 0);
  CHECK(stats.answered_4xx == 0);
  INFO("requests taken and not answered:" << dropped_detail.str());
  CHECK(stats.dropped == 0);  // every request baton read was answered

  CHECK(wait_settled(baton.db_path(), accepted, sink, 30s));
  baton.signal(SIGTERM);
  REQUIRE(baton.wait_exit(30s));
  const auto verdict = verify(read_db(baton.db_path()), accepted, sink.receipts());
  INFO(verdict.summary());
  CHECK(verdict.lost() == 0);
  CHECK(verdict.phantom == 0);
  CHECK(verdict.duplicate_pages == 0);  // a clean stop records every delivery it made

  std::sort(latencies.begin(), latencies.end());
  auto pct = [&](double p) {
    if (latencies.empty()) return 0.0;
    return static_cast<double>(
        latencies[static_cast<std::size_t>(p * static_cast<double>(latencies.size() - 1))].count());
  };
  std::ostringstream f;
  f << sender_count << " senders (a connection per request); SIGTERM after " << before_exit.triggers.size()
    << "+ alerts answered 2xx; exit status " << (WIFEXITED(*status) ? WEXITSTATUS(*status) : -1) << " after "
    << shutdown_s << " s; attempts between SIGTERM and exit: " << during_text
    << "; at exit: pages pending in the outbox " << verdict_at_exit.pending_pages << ", lost " << verdict_at_exit.lost()
    << "; dropped unanswered " << stats.dropped << "; after restart: " << verdict.triggers
    << " alerts answered 2xx, lost " << verdict.lost() << ", duplicate pages " << verdict.duplicate_pages
    << "; alert latency p50 " << pct(0.5) << " ms, p99 " << pct(0.99) << " ms; senders: " << stats.summary();
  report(label, f.str());
}

TEST_CASE("SIGTERM under load: every request read is answered, every 2xx is committed, baton exits", "[faults]") {
  sigterm_under_load("sigterm", {}, 6);
}

TEST_CASE("SIGTERM under load with a slow disk (fsync takes 100 ms)", "[faults]") {
  SpawnOptions spawn;
  spawn.preload = slow_fsync_library();
  spawn.env.emplace_back("BATON_FAULTS_FSYNC_DELAY_MS", "100");
  sigterm_under_load("sigterm-slow-disk", spawn, 16);
}

}  // namespace
}  // namespace baton::faults
