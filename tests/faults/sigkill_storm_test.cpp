// SIGKILL during a storm, with restarts (docs/reliability.md, "SIGKILL").
//
// Four senders push ~2,000 distinct alerts plus re-triggers of earlier keys
// and acknowledgements, retrying until 2xx like Alertmanager. Meanwhile baton
// is SIGKILLed four times at random moments and restarted on the same database. In the
// end every trigger answered 2xx is an incident, every acknowledgement
// answered 2xx is stored, and every incident's page reached the sink (or is
// pending in the outbox). Pages are at least once: a page is sent again only
// by a later process, after a kill cut off the record of its delivery.
#include <catch2/catch.hpp>
#include <csignal>
#include <random>

#include "tests/faults/fault_harness.hpp"

namespace baton::faults {
namespace {

using namespace std::chrono_literals;

unsigned seed_from_env() {
  if (const char* s = std::getenv("BATON_FAULTS_SEED"); s && *s)
    return static_cast<unsigned>(std::strtoul(s, nullptr, 10));
  return std::random_device{}();
}

TEST_CASE("SIGKILL during a storm: every alert answered 2xx is an incident and is paged", "[faults]") {
  constexpr int kSenders = 4;
  constexpr int kDistinctPerSender = 500;
  constexpr int kKills = 4;
  const unsigned seed = seed_from_env();
  INFO("seed " << seed << " (BATON_FAULTS_SEED reproduces the event lists and kill times)");

  TempDir dir("storm");
  WebhookSink sink;
  ConfigOptions cfg;
  cfg.webhook_url = sink.url();
  cfg.webhook_timeout = "10s";  // the sink answers at once; no retry may come from a slow answer
  BatonProcess baton(dir.path, cfg);
  REQUIRE(baton.start());

  std::vector<std::vector<Event>> events;
  std::size_t total_events = 0;
  for (int i = 0; i < kSenders; ++i) {
    events.push_back(storm_events("storm" + std::to_string(i), kDistinctPerSender, 0.1, 0.1, seed + i));
    total_events += events.back().size();
  }
  // The kills fall at random points of the storm's progress (however fast
  // this machine is), between 5% and 90% of the events answered.
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> share(0.05, 0.9);
  std::vector<std::uint64_t> kill_points;
  for (int k = 0; k < kKills; ++k) kill_points.push_back(static_cast<std::uint64_t>(share(rng) * total_events));
  std::sort(kill_points.begin(), kill_points.end());

  SendStats stats;
  std::vector<Accepted> accepted(kSenders);
  std::atomic<int> finished{0};
  const auto started = Clock::now();
  const auto deadline = started + 40s;
  std::vector<std::thread> senders;
  for (int i = 0; i < kSenders; ++i) {
    senders.emplace_back([&, i] {
      HttpConnection conn;
      auto port = [&baton] { return baton.port(); };
      for (const auto& e : events[i]) accepted[i].add(send_until_accepted(conn, port, e, deadline, stats));
      ++finished;
    });
  }

  // Kills and restarts, from this thread (the child is bound to it).
  int kills = 0;
  bool restart_failed = false;
  std::vector<double> recovery;
  for (auto point : kill_points) {
    while (stats.accepted < point && finished < kSenders) std::this_thread::sleep_for(1ms);
    if (finished == kSenders) break;
    const auto t0 = Clock::now();
    baton.kill_now();
    ++kills;
    if (!baton.start()) {
      restart_failed = true;
      break;
    }
    recovery.push_back(seconds(Clock::now() - t0));
  }
  for (auto& t : senders) t.join();
  const double storm_s = seconds(Clock::now() - started);
  INFO(baton.log_tail());
  REQUIRE_FALSE(restart_failed);
  CHECK(kills == kKills);
  CHECK(stats.gave_up == 0);
  CHECK(stats.answered_4xx == 0);

  Accepted all;
  for (const auto& a : accepted) all.merge(a);

  // Let the last process deliver what is pending, then stop it cleanly.
  const auto drain_start = Clock::now();
  CHECK(wait_settled(baton.db_path(), all, sink, 30s));
  const double drain_s = seconds(Clock::now() - drain_start);
  baton.signal(SIGTERM);
  REQUIRE(baton.wait_exit(30s));

  const auto receipts = sink.receipts();
  const auto verdict = verify(read_db(baton.db_path()), all, receipts);
  INFO(verdict.summary());
  CHECK(verdict.lost() == 0);
  CHECK(verdict.phantom == 0);

  // At least once, and no more than a crash explains: a page is answered at
  // most once per process (each process's requests carry its generation).
  std::map<std::string, std::set<int>> generations;
  std::size_t same_process_repeats = 0;
  for (const auto& r : receipts)
    if (r.answered && r.event == "incident.page" && !generations[r.key].insert(r.generation).second)
      ++same_process_repeats;
  CHECK(same_process_repeats == 0);

  double worst_recovery = 0, total_recovery = 0;
  for (double r : recovery) {
    worst_recovery = std::max(worst_recovery, r);
    total_recovery += r;
  }
  std::ostringstream f;
  f << kSenders << " senders, " << stats.attempts << " requests in " << storm_s << " s, " << kills
    << " SIGKILLs; alerts answered 2xx: " << verdict.triggers << " triggers + " << verdict.acks << " acks; lost "
    << verdict.lost() << "; pages delivered " << verdict.page_keys << ", duplicates " << verdict.duplicate_pages << " ("
    << verdict.duplicates_per_1000() << " per 1000 pages, "
    << (kills ? static_cast<double>(verdict.duplicate_pages) / kills : 0.0) << " per kill); duplicate updates "
    << verdict.duplicate_updates << "; kill to /readyz 200: mean "
    << (recovery.empty() ? 0.0 : total_recovery / static_cast<double>(recovery.size())) << " s, max " << worst_recovery
    << " s; last pages delivered " << drain_s << " s after the storm; senders: " << stats.summary();
  report("sigkill storm", f.str());
}

}  // namespace
}  // namespace baton::faults
