// bench_storage: GroupCommitWriter throughput with Durability full (fsync per
// commit), the write path of every state-changing request.
//   pipelined: one thread submits N new-incident Effects as fast as it can and
//              waits for the last `done` (commits are shared: items/commit);
//   serial:    submit one, wait for its `done`, repeat (one fsync per item: the
//              floor of time-to-first-page when pages wait for durability).
// Usage: bench_storage <dir> [n=50000] [serial=300]. Prints "key value" lines.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <string>
#include <vector>

#include "bench/bench_support.hpp"
#include "engine/engine.hpp"
#include "storage/group_commit.hpp"
#include "storage/store.hpp"

using namespace baton;
using Steady = std::chrono::steady_clock;

namespace {

void run(const std::string& dir, storage::Durability durability, const char* tag, int n, int serial) {
  const auto path = dir + "/storage-" + tag + ".db";
  std::filesystem::remove(path);
  std::filesystem::remove(path + "-wal");
  std::filesystem::remove(path + "-shm");
  auto store = storage::Store::open(path, durability);
  if (!store) std::abort();
  engine::SystemClock clock;
  engine::Engine eng(bench::make_directory(engine::Seconds{3600}));
  storage::GroupCommitWriter writer(std::move(*store));
  // Effects built before the clock starts: this measures the writer only.
  std::vector<engine::Effects> items;
  items.reserve(n);
  for (int i = 0; i < n; ++i) items.push_back(*eng.ingest(bench::make_alert(std::string(tag) + "-" + std::to_string(i)), clock.now()));
  std::atomic<int> failed{0};
  const auto t0 = Steady::now();
  for (auto& fx : items)
    writer.submit(std::move(fx), [&](Result<void> r) {
      if (!r) ++failed;
    });
  writer.flush();
  const double s = bench::seconds_since(t0);
  const auto st = writer.stats();
  std::printf("storage_%s_items_per_s %.0f\n", tag, n / s);
  std::printf("storage_%s_items_per_commit %.1f\n", tag, st.commits ? double(st.items) / double(st.commits) : 0.0);
  std::printf("storage_%s_failed %d\n", tag, failed.load());

  std::vector<double> ms;
  for (int i = 0; i < serial; ++i) {
    auto fx = *eng.ingest(bench::make_alert(std::string(tag) + "-s-" + std::to_string(i)), clock.now());
    std::promise<void> p;
    auto f = p.get_future();
    const auto t1 = Steady::now();
    writer.submit(std::move(fx), [&](Result<void>) { p.set_value(); });
    f.wait();
    ms.push_back(bench::seconds_since(t1) * 1000);
  }
  std::printf("storage_%s_commit_p50_ms %.3f\n", tag, bench::percentile(ms, 50));
  std::printf("storage_%s_commit_p99_ms %.3f\n", tag, bench::percentile(ms, 99));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_storage <dir> [n] [serial]\n");
    return 2;
  }
  const int n = argc > 2 ? std::atoi(argv[2]) : 50000;
  const int serial = argc > 3 ? std::atoi(argv[3]) : 300;
  run(argv[1], storage::Durability::full, "full", n, serial);
  std::fflush(stdout);
  run(argv[1], storage::Durability::normal, "normal", n, serial);
  return 0;
}
