// bench_engine: the pure engine at 100,000 open incidents.
//  1. memory: bytes per open incident (mallinfo2 delta) and RSS;
//  2. ingest rates: duplicates over 100 open incidents, new incidents, with and
//     without the Events v2 / Alertmanager parsers in front;
//  3. timer lateness: 100,000 escalation deadlines spread over a real-time window,
//     a real loop sleeping until next_wakeup() on SystemClock, lateness per timer.
// Usage: bench_engine [open_incidents=100000] [timer_window_s=10]
// Prints "key value" lines (parsed by bench/run.sh) and never asserts on time.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_support.hpp"
#include "engine/engine.hpp"
#include "engine/time.hpp"
#include "integrations/alerts/alertmanager.hpp"
#include "integrations/alerts/events_v2.hpp"

using namespace baton;
using bench::seconds_since;
using Steady = std::chrono::steady_clock;

namespace {

void memory(int n) {
  const auto before = bench::malloc_in_use();
  const long rss_before = bench::rss_kib();
  engine::SystemClock clock;
  auto* eng = new engine::Engine(bench::make_directory());
  for (int i = 0; i < n; ++i) {
    auto r = eng->ingest(bench::make_alert("mem-" + std::to_string(i)), clock.now());
    if (!r) std::abort();
  }
  const auto after = bench::malloc_in_use();
  const long rss_after = bench::rss_kib();
  std::printf("engine_open_incidents %zu\n", eng->open_count());
  std::printf("engine_bytes_per_incident %.0f\n", static_cast<double>(after - before) / n);
  std::printf("engine_rss_delta_kib %ld\n", rss_after - rss_before);
  delete eng;
}

void ingest_rates(int n) {
  engine::SystemClock clock;
  // New incidents: every alert opens one (alerts built before the clock starts).
  {
    engine::Engine eng(bench::make_directory());
    std::vector<engine::Alert> alerts;
    alerts.reserve(n);
    for (int i = 0; i < n; ++i) alerts.push_back(bench::make_alert("new-" + std::to_string(i)));
    const auto t0 = Steady::now();
    std::size_t notes = 0;
    for (const auto& a : alerts) notes += eng.ingest(a, clock.now())->notifications.size();
    const double s = seconds_since(t0);
    std::printf("engine_new_per_s %.0f\n", n / s);
    std::printf("engine_new_pages %zu\n", notes);
  }
  // New incidents with the Events v2 parser in front.
  {
    engine::Engine eng(bench::make_directory());
    std::vector<std::string> bodies;
    bodies.reserve(n);
    for (int i = 0; i < n; ++i) bodies.push_back(bench::events_v2_body("pnew-" + std::to_string(i)));
    const auto t0 = Steady::now();
    for (const auto& b : bodies) {
      auto a = alerts::parse_events_v2(b);
      if (!a || !eng.ingest(*a, clock.now())) std::abort();
    }
    std::printf("engine_parse_new_per_s %.0f\n", n / seconds_since(t0));
  }
  // Duplicates over 100 open incidents (what target 1 sends).
  {
    engine::Engine eng(bench::make_directory());
    std::vector<engine::Alert> alerts;
    std::vector<std::string> bodies;
    for (int i = 0; i < 100; ++i) {
      alerts.push_back(bench::make_alert("dup-" + std::to_string(i)));
      bodies.push_back(bench::events_v2_body("dup-" + std::to_string(i)));
      (void)eng.ingest(alerts.back(), clock.now());
    }
    const int m = 10 * n;
    auto t0 = Steady::now();
    for (int i = 0; i < m; ++i)
      if (!eng.ingest(alerts[i % 100], clock.now())) std::abort();
    std::printf("engine_dup_per_s %.0f\n", m / seconds_since(t0));
    t0 = Steady::now();
    for (int i = 0; i < n; ++i) {
      auto a = alerts::parse_events_v2(bodies[i % 100]);
      if (!a || !eng.ingest(*a, clock.now())) std::abort();
    }
    std::printf("engine_parse_dup_per_s %.0f\n", n / seconds_since(t0));
    std::printf("engine_dup_open %zu\n", eng.open_count());
  }
  // Alertmanager: 100 alerts per notification over 10 groups, parsed + ingested.
  // (a) the same 10 bodies re-sent (pure dedup); (b) each re-send changes every
  // startsAt (100 new alert identities per request: the group's key list grows).
  for (int changing = 0; changing < 2; ++changing) {
    engine::Engine eng(bench::make_directory());
    const int requests = changing ? 1000 : 5000;
    std::vector<std::string> bodies;
    for (int i = 0; i < (changing ? requests : 10); ++i) bodies.push_back(bench::alertmanager_body(i % 10, 100, changing ? i / 10 : 0));
    const auto t0 = Steady::now();
    for (int i = 0; i < requests; ++i) {
      auto a = alerts::parse_alertmanager(bodies[i % bodies.size()], bench::kIntegrationKey);
      if (!a || !eng.ingest(*a, clock.now())) std::abort();
    }
    const double s = seconds_since(t0);
    std::printf("engine_am_%s_alerts_per_s %.0f\n", changing ? "changing" : "repeat", requests * 100 / s);
    std::printf("engine_am_%s_open %zu\n", changing ? "changing" : "repeat", eng.open_count());
  }
  // The parsers alone.
  {
    const auto body = bench::events_v2_body("parse-only");
    auto t0 = Steady::now();
    for (int i = 0; i < n; ++i)
      if (!alerts::parse_events_v2(body)) std::abort();
    std::printf("parse_events_v2_per_s %.0f\n", n / seconds_since(t0));
    const auto am = bench::alertmanager_body(1, 100, 0);
    t0 = Steady::now();
    const int k = n / 50;
    for (int i = 0; i < k; ++i)
      if (!alerts::parse_alertmanager(am, bench::kIntegrationKey)) std::abort();
    std::printf("parse_alertmanager_100_alerts_per_s %.0f\n", k * 100 / seconds_since(t0));
  }
}

// Each incident is ingested with a back-dated `now` so that its first step
// (300 s) ends at start + i * window / n: the deadlines are spread evenly over
// the window. A tick escalates to step 2 (a page) and re-arms an hour out.
void timer_lateness(int n, int window_s) {
  engine::SystemClock clock;
  engine::Engine eng(bench::make_directory(engine::Seconds{300}));
  const auto start = clock.now() + engine::Seconds{2};
  const auto window = engine::Millis{window_s * 1000};
  std::vector<engine::TimePoint> deadline(static_cast<std::size_t>(n) + 1);
  for (int i = 0; i < n; ++i) {
    const auto due = start + engine::Millis{window.count() * i / n};
    auto r = eng.ingest(bench::make_alert("timer-" + std::to_string(i)), due - engine::Seconds{300});
    if (!r) std::abort();
    deadline[r->touched.at(0)] = due;
  }
  std::printf("timers_pending %zu\n", eng.open_count());
  std::vector<double> late_ms;
  late_ms.reserve(n);
  std::size_t ticks = 0, pages = 0;
  const auto hard_stop = Steady::now() + std::chrono::seconds(window_s + 30);
  while (late_ms.size() < static_cast<std::size_t>(n) && Steady::now() < hard_stop) {
    auto next = eng.next_wakeup();
    if (!next) break;
    std::this_thread::sleep_until(std::chrono::system_clock::time_point(*next));
    auto fx = eng.tick(clock.now());
    const auto done = std::chrono::system_clock::now();
    ++ticks;
    pages += fx.notifications.size();
    for (auto number : fx.touched) {
      const auto due = deadline[number];
      late_ms.push_back(std::chrono::duration<double, std::milli>(done - std::chrono::system_clock::time_point(due)).count());
    }
  }
  std::printf("timers_fired %zu\n", late_ms.size());
  std::printf("timer_ticks %zu\n", ticks);
  std::printf("timer_pages %zu\n", pages);
  std::printf("timer_late_p50_ms %.3f\n", bench::percentile(late_ms, 50));
  std::printf("timer_late_p99_ms %.3f\n", bench::percentile(late_ms, 99));
  std::printf("timer_late_max_ms %.3f\n", bench::percentile(late_ms, 100));
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 100000;
  const int window_s = argc > 2 ? std::atoi(argv[2]) : 10;
  memory(n);
  std::fflush(stdout);
  ingest_rates(n);
  std::fflush(stdout);
  timer_lateness(n, window_s);
  return 0;
}
