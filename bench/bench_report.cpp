// The response report (docs/reports.md) over a year of history: seeds 100
// incidents a day for 365 days with realistic timelines (pages, deliveries,
// contact-chain fallbacks, escalations, acknowledgements through several
// channels, updates, resolutions) through Store::apply, then times
// Store::response_report on a reader Store, as GET /api/v1/reports/response
// runs it. Prints figures; never asserts on time.
//
//   bench_report DB [RUNS [reuse]]   DB: an SQLite file (created) or a postgres:// URI of an empty
//                                    database; `reuse`: skip seeding, time a database seeded before
#include <algorithm>
#include <chrono>
#include <ctime>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "engine/engine.hpp"
#include "engine/oncall.hpp"
#include "storage/store.hpp"

using namespace baton;
using namespace std::chrono_literals;

namespace {

constexpr int kDays = 365;
constexpr int kPerDay = 100;
const char* kServices[] = {"payments", "search", "checkout", "auth", "storage", "network", "web", "batch"};
const char* kPeople[] = {"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "oscar"};
const char* kZones[] = {"Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC", "Europe/London", "America/Los_Angeles"};

struct Seeder {
  std::mt19937_64 rng{42};
  std::int64_t next_notification = 1;
  std::size_t timeline_rows = 0;
  std::size_t outbox_rows = 0;
  std::vector<storage::OutboxUpdate> delivered;

  double uniform(double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng); }
  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); }

  void event(engine::Effects& fx, std::int64_t n, engine::TimePoint t, engine::TimelineKind k, std::string actor,
             engine::Source s, std::string message) {
    fx.timeline.push_back(engine::TimelineEvent{n, t, k, std::move(actor), s, std::move(message)});
    ++timeline_rows;
  }

  void notify(engine::Effects& fx, std::int64_t n, const std::string& person, engine::MethodKind m,
              engine::NotificationKind kind, engine::TimePoint t, bool deliver) {
    engine::Notification note;
    note.id = next_notification++;
    note.incident = n;
    note.person = person;
    note.method = m;
    note.kind = kind;
    note.created_at = t;
    note.idempotency_key = "baton-" + std::to_string(n) + "-" + std::to_string(note.id);
    fx.notifications.push_back(note);
    ++outbox_rows;
    storage::OutboxUpdate u;
    u.id = note.id;
    u.attempts = 1;
    u.at = t + engine::Millis{static_cast<std::int64_t>(uniform(200, 2500))};
    u.state = deliver ? storage::OutboxState::delivered : storage::OutboxState::failed;
    delivered.push_back(u);
    if (kind == engine::NotificationKind::page)
      event(fx, n, u.at, deliver ? engine::TimelineKind::notification_sent : engine::TimelineKind::notification_failed,
            "baton", engine::Source::engine, "Page to " + person + " via " + engine::to_string(m));
  }

  /// One incident's whole life, as the engine would have recorded it.
  engine::Effects incident(std::int64_t n, engine::TimePoint created) {
    using K = engine::TimelineKind;
    engine::Effects fx;
    engine::Incident inc;
    inc.number = n;
    inc.service_id = kServices[pick(8)];
    inc.dedup_key = "bench-" + std::to_string(n);
    inc.summary = "High error rate on " + inc.service_id;
    inc.created_at = created;
    inc.details_json = "{}";
    inc.policy = std::make_shared<const engine::PolicySnapshot>(engine::PolicySnapshot{"primary", {}, 0});
    event(fx, n, created, K::triggered, "integration:" + inc.service_id, engine::Source::events_v2,
          "Triggered: " + inc.summary);
    // Acknowledged after 10 s .. 1 h (log-uniform), 8 % never.
    const bool acked = uniform(0, 1) > 0.08;
    const auto ack_after = engine::Millis{static_cast<std::int64_t>(std::exp(uniform(std::log(10.0), std::log(3600.0))) * 1000)};
    const auto end = acked ? created + ack_after : created + 3600s;
    std::vector<std::pair<std::string, engine::MethodKind>> notified;
    std::string owner;
    engine::MethodKind last_method = engine::MethodKind::slack;
    for (int step = 0; step < 3; ++step) {
      const auto step_start = created + std::chrono::minutes(5 * step);
      if (step_start >= end) break;
      if (step > 0)
        event(fx, n, step_start, K::escalated, "baton", engine::Source::engine, "Not acknowledged within 5m");
      owner = kPeople[pick(12)];
      event(fx, n, step_start, K::paged, "baton", engine::Source::engine, "Paging " + owner);
      // Contact chain: Slack at once, SMS after 2 min, a call after 4 min.
      const std::pair<engine::Millis, engine::MethodKind> chain[] = {
          {0ms, engine::MethodKind::slack}, {120s, engine::MethodKind::sms}, {240s, engine::MethodKind::voice}};
      for (const auto& [delay, method] : chain) {
        if (step_start + delay >= end) break;
        notify(fx, n, owner, method, engine::NotificationKind::page, step_start + delay, uniform(0, 1) > 0.02);
        notified.emplace_back(owner, method);
        last_method = method;
      }
    }
    if (acked) {
      const engine::Source via = last_method == engine::MethodKind::sms     ? engine::Source::sms
                                 : last_method == engine::MethodKind::voice ? engine::Source::voice
                                 : uniform(0, 1) < 0.2                      ? engine::Source::api
                                                                            : engine::Source::slack;
      event(fx, n, end, K::acknowledged, owner, via, "Acknowledged by " + owner);
      for (const auto& [p, m] : notified) notify(fx, n, p, m, engine::NotificationKind::update, end, true);
      inc.acknowledged_at = end;
    }
    const auto resolved = end + engine::Millis{static_cast<std::int64_t>(uniform(60, 7200) * 1000)};
    event(fx, n, resolved, K::resolved, owner, engine::Source::slack, "Resolved by " + owner);
    for (const auto& [p, m] : notified) notify(fx, n, p, m, engine::NotificationKind::update, resolved, true);
    inc.state = engine::IncidentState::resolved;
    inc.resolved_at = resolved;
    inc.updated_at = resolved;
    inc.owner = owner;
    fx.incidents.push_back(std::move(inc));
    return fx;
  }
};

/// CPU time of this process (user + system), ms: on a machine shared with
/// other work, the wall time of a run also counts the time it waited for a core.
double cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_report DB [RUNS]\n");
    return 2;
  }
  const std::string path = argv[1];
  const int runs = argc > 2 ? std::max(1, std::atoi(argv[2])) : 7;
  const bool postgres = storage::is_postgres_uri(path);
  const bool reuse = argc > 3 && std::string(argv[3]) == "reuse";  // time again on a database seeded before
  if (!postgres && !reuse) std::filesystem::remove(path);
  const auto start = *engine::parse_iso8601("2025-11-01T00:00:00Z");
  if (!reuse) {
    auto store = storage::Store::open(path, storage::Durability::normal);
    if (!store) {
      std::fprintf(stderr, "bench_report: %s\n", store.error().message.c_str());
      return 1;
    }
    Seeder seeder;
    std::int64_t number = 1;
    const auto seed_start = std::chrono::steady_clock::now();
    for (int day = 0; day < kDays; ++day) {
      std::vector<std::int64_t> offsets;
      for (int k = 0; k < kPerDay; ++k) offsets.push_back(static_cast<std::int64_t>(seeder.uniform(0, 86'400'000)));
      std::sort(offsets.begin(), offsets.end());
      std::vector<engine::Effects> batch;
      for (auto off : offsets)
        batch.push_back(seeder.incident(number++, start + std::chrono::days(day) + engine::Millis{off}));
      std::vector<const engine::Effects*> ptrs;
      for (const auto& fx : batch) ptrs.push_back(&fx);
      if (auto r = (*store)->apply(ptrs, seeder.delivered); !r) {
        std::fprintf(stderr, "bench_report: seeding: %s\n", r.error().message.c_str());
        return 1;
      }
      seeder.delivered.clear();
    }
    std::printf("report_seed_incidents=%lld\nreport_seed_timeline_rows=%zu\nreport_seed_outbox_rows=%zu\n"
                "report_seed_seconds=%.1f\n",
                static_cast<long long>(number - 1), seeder.timeline_rows, seeder.outbox_rows,
                ms_since(seed_start) / 1000);
  }
  auto reader = storage::Store::open_reader(path);
  if (!reader) {
    std::fprintf(stderr, "bench_report: %s\n", reader.error().message.c_str());
    return 1;
  }
  storage::ReportQuery base;
  base.from = start;
  base.to = start + std::chrono::days(kDays);
  for (int i = 0; i < 12; ++i) base.people[kPeople[i]] = storage::ReportPerson{kZones[i % 6], {}};
  for (const char* s : kServices) base.services.push_back(s);

  struct Shape {
    const char* name;
    storage::ReportQuery q;
  };
  std::vector<Shape> shapes;
  shapes.push_back({"year", base});
  auto month = base;
  month.from = month.to - std::chrono::days(30);
  shapes.push_back({"last30d", month});
  auto one = base;
  one.service = "payments";
  shapes.push_back({"year_service", one});
  auto person = base;
  person.person = "alice";
  person.tz = "Europe/Berlin";
  shapes.push_back({"year_person", person});
  const char* backend = postgres ? "pg" : "sqlite";
  for (const auto& shape : shapes) {
    std::vector<double> times, cpu;
    std::int64_t incidents = 0;
    for (int i = 0; i < runs; ++i) {
      const auto t = std::chrono::steady_clock::now();
      const auto c = cpu_ms();
      auto r = (*reader)->response_report(shape.q);
      times.push_back(ms_since(t));
      cpu.push_back(cpu_ms() - c);
      if (!r) {
        std::fprintf(stderr, "bench_report: %s\n", r.error().message.c_str());
        return 1;
      }
      incidents = r->totals.incidents;
    }
    std::sort(times.begin(), times.end());
    std::sort(cpu.begin(), cpu.end());
    std::printf("report_%s_%s_incidents=%lld\nreport_%s_%s_p50_ms=%.1f\nreport_%s_%s_max_ms=%.1f\n"
                "report_%s_%s_cpu_p50_ms=%.1f\nreport_%s_%s_cpu_max_ms=%.1f\n",
                backend, shape.name, static_cast<long long>(incidents), backend, shape.name, times[times.size() / 2],
                backend, shape.name, times.back(), backend, shape.name, cpu[cpu.size() / 2], backend, shape.name,
                cpu.back());
  }
  return 0;
}
