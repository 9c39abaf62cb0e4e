// A provider hanging (docs/reliability.md, "A channel provider hangs").
//
// The webhook receiver accepts connections and never answers. Alerts are
// still answered 2xx at once (on the first attempt) and committed: paging is
// the outbox's business, not the sender's. When the receiver recovers, every
// page is delivered; nothing is lost. Pages that were cut off by baton's
// timeout while the receiver hung may arrive twice (at least once).
#include <catch2/catch.hpp>
#include <csignal>

#include "tests/faults/fault_harness.hpp"

namespace baton::faults {
namespace {

using namespace std::chrono_literals;

TEST_CASE("A provider hanging: alerts are accepted and committed, pages go out when it recovers", "[faults]") {
  constexpr int kSenders = 4;
  constexpr int kPerSender = 50;
  TempDir dir("provider");
  WebhookSink sink;
  sink.set_hanging(true);
  ConfigOptions cfg;
  cfg.webhook_url = sink.url();
  cfg.webhook_timeout = "1s";
  cfg.base_backoff = "200ms";
  BatonProcess baton(dir.path, cfg);
  REQUIRE(baton.start());
  const auto hang_start = Clock::now();

  SendStats stats;
  std::vector<Accepted> accepted(kSenders);
  std::vector<milliseconds> worst(kSenders, milliseconds(0));
  std::vector<int> retried(kSenders, 0);
  const auto deadline = Clock::now() + 30s;
  std::vector<std::thread> senders;
  for (int i = 0; i < kSenders; ++i) {
    senders.emplace_back([&, i] {
      HttpConnection conn;
      auto port = [&baton] { return baton.port(); };
      for (int n = 0; n < kPerSender; ++n) {
        auto o =
            send_until_accepted(conn, port, {"hang" + std::to_string(i) + "-" + std::to_string(n)}, deadline, stats);
        accepted[i].add(o);
        worst[i] = std::max(worst[i], o.latency);
        if (o.attempts > 1) ++retried[i];
      }
    });
  }
  for (auto& t : senders) t.join();
  Accepted all;
  int retried_total = 0;
  milliseconds worst_latency{0};
  for (int i = 0; i < kSenders; ++i) {
    all.merge(accepted[i]);
    retried_total += retried[i];
    worst_latency = std::max(worst_latency, worst[i]);
  }
  INFO(baton.log_tail());
  CHECK(all.triggers.size() == kSenders * kPerSender);
  CHECK(retried_total == 0);  // answered on the first attempt, hanging receiver or not

  // Still hanging: everything is committed, nothing was delivered.
  const auto during = read_db(baton.db_path());
  const auto numbers = incident_numbers(during, all);
  CHECK(numbers.size() == all.triggers.size());
  CHECK(sink.paged_incidents().empty());

  // Recovery, after a while.
  std::this_thread::sleep_for(2s);
  sink.set_hanging(false);
  const std::size_t hanging_requests = sink.receipts().size();
  CHECK(hanging_requests > 0);  // baton did try
  const auto recovered_at = Clock::now();
  CHECK(wait_settled(baton.db_path(), all, sink, 40s));
  const double delivered_s = seconds(Clock::now() - recovered_at);

  baton.signal(SIGTERM);
  REQUIRE(baton.wait_exit(30s));
  const auto verdict = verify(read_db(baton.db_path()), all, sink.receipts());
  INFO(verdict.summary());
  CHECK(verdict.lost() == 0);
  CHECK(verdict.phantom == 0);

  std::ostringstream f;
  f << verdict.triggers << " alerts from " << kSenders << " senders while the receiver hung: all answered 2xx on the "
    << "first attempt, slowest " << worst_latency.count() << " ms; " << hanging_requests
    << " page requests left hanging in " << seconds(recovered_at - hang_start)
    << " s (webhook timeout 1 s); every page delivered " << delivered_s << " s after the receiver recovered; lost "
    << verdict.lost() << ", duplicate pages " << verdict.duplicate_pages << " (" << verdict.duplicates_per_1000()
    << " per 1000)";
  report("provider hanging", f.str());
}

}  // namespace
}  // namespace baton::faults
