// bench_restart: what `baton serve` does at start with 100,000 open incidents.
//   bench_restart create <db> [n=100000]  builds the database through the engine and
//                                         the GroupCommitWriter (pages marked delivered);
//   bench_restart restart <db>            times Store::open + load() + Engine restore of
//                                         every open incident + next_wakeup() (run it in
//                                         a fresh process so RSS is the restart's own).
// Prints "key value" lines; never asserts on time.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench/bench_support.hpp"
#include "engine/engine.hpp"
#include "storage/group_commit.hpp"
#include "storage/store.hpp"

using namespace baton;
using Steady = std::chrono::steady_clock;

namespace {

int create(const std::string& path, int n) {
  auto store = storage::Store::open(path, storage::Durability::full);
  if (!store) {
    std::fprintf(stderr, "open: %s\n", store.error().message.c_str());
    return 1;
  }
  engine::SystemClock clock;
  engine::Engine eng(bench::make_directory(engine::Seconds{3600}));
  const auto t0 = Steady::now();
  {
    storage::GroupCommitWriter writer(std::move(*store));
    std::vector<storage::OutboxUpdate> delivered;
    for (int i = 0; i < n; ++i) {
      auto fx = eng.ingest(bench::make_alert("restart-" + std::to_string(i)), clock.now());
      if (!fx) std::abort();
      for (const auto& note : fx->notifications)
        delivered.push_back(storage::OutboxUpdate{note.id, storage::OutboxState::delivered, 1, note.created_at, "",
                                                  note.created_at});
      writer.submit(std::move(*fx), {});
      if (delivered.size() >= 4096) {
        writer.submit_updates(std::move(delivered), {});
        delivered.clear();
      }
    }
    writer.submit_updates(std::move(delivered), {});
    writer.flush();
    const auto st = writer.stats();
    std::printf("create_items %llu\ncreate_commits %llu\ncreate_failed %llu\n",
                static_cast<unsigned long long>(st.items), static_cast<unsigned long long>(st.commits),
                static_cast<unsigned long long>(st.failed_items));
  }
  std::printf("create_seconds %.2f\n", bench::seconds_since(t0));
  return 0;
}

int restart(const std::string& path) {
  const long rss0 = bench::rss_kib();
  const auto t0 = Steady::now();
  auto store = storage::Store::open(path, storage::Durability::full);
  if (!store) return 1;
  const double t_open = bench::seconds_since(t0);
  auto state = (*store)->load();
  if (!state) {
    std::fprintf(stderr, "load: %s\n", state.error().message.c_str());
    return 1;
  }
  const double t_load = bench::seconds_since(t0);
  const auto loaded = state->open_incidents.size();
  engine::Engine eng(bench::make_directory(engine::Seconds{3600}), state->next_incident, state->next_notification);
  eng.set_overrides(std::move(state->overrides));
  for (auto& inc : state->open_incidents) eng.restore(std::move(inc));
  state->open_incidents.clear();
  state->open_incidents.shrink_to_fit();
  const auto wake = eng.next_wakeup();
  const double t_total = bench::seconds_since(t0);
  std::printf("restart_open_incidents %zu\n", loaded);
  std::printf("restart_pending_outbox %zu\n", state->pending_outbox.size());
  std::printf("restart_engine_open %zu\n", eng.open_count());
  std::printf("restart_armed %s\n", wake ? "yes" : "no");
  std::printf("restart_open_ms %.1f\n", t_open * 1000);
  std::printf("restart_load_ms %.1f\n", (t_load - t_open) * 1000);
  std::printf("restart_restore_ms %.1f\n", (t_total - t_load) * 1000);
  std::printf("restart_total_ms %.1f\n", t_total * 1000);
  std::printf("restart_rss_kib %ld\n", bench::rss_kib());
  std::printf("restart_rss_delta_kib %ld\n", bench::rss_kib() - rss0);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 3 && std::string(argv[1]) == "create") return create(argv[2], argc > 3 ? std::atoi(argv[3]) : 100000);
  if (argc >= 3 && std::string(argv[1]) == "restart") return restart(argv[2]);
  std::fprintf(stderr, "usage: bench_restart create <db> [n] | restart <db>\n");
  return 2;
}
