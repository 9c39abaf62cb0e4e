#include "storage/group_commit.hpp"

#include <atomic>
#include <catch2/catch.hpp>
#include <future>
#include <latch>
#include <mutex>
#include <thread>

#include "tests/storage/storage_fixtures.hpp"
#include "tests/storage/test_db.hpp"

using namespace baton;
using namespace baton::test;
using storage::GroupCommitWriter;
using storage::OutboxState;
using storage::Store;

namespace {

// The writer's tests run at durability normal (no fsync per commit).
std::unique_ptr<Store> open_normal(const std::string& path) { return open_store(path, storage::Durability::normal); }

}  // namespace

// Many threads submit at once; every done is called exactly once with success,
// every row exists afterwards, and commits never exceed items (shared commits
// are possible; we do not assert on timing).
TEMPLATE_TEST_CASE("concurrent submitters all complete", "[storage][group_commit]", BATON_STORAGE_BACKENDS) {
  BATON_TEST_DB(db);
  const auto path = db.path();
  constexpr int kThreads = 8;
  constexpr int kPerThread = 50;
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  {
    GroupCommitWriter writer(open_normal(path));
    std::latch start(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        start.arrive_and_wait();
        for (int i = 0; i < kPerThread; ++i) {
          const std::int64_t n = t * kPerThread + i + 1;
          writer.submit(make_trigger_effects(n, n), [&](Result<void> r) { (r ? ok : failed)++; });
        }
      });
    }
    for (auto& th : threads) th.join();
    writer.flush();
    CHECK(ok == kThreads * kPerThread);
    CHECK(failed == 0);
    auto stats = writer.stats();
    CHECK(stats.items == kThreads * kPerThread);
    CHECK(stats.commits >= 1);
    CHECK(stats.commits <= stats.items);
    CHECK(stats.failed_items == 0);
  }
  auto store = open_normal(path);
  CHECK(store->count_incidents(std::nullopt).value() == kThreads * kPerThread);
  auto loaded = store->load();
  CHECK(loaded->pending_outbox.size() == kThreads * kPerThread);
  CHECK(loaded->next_incident == kThreads * kPerThread + 1);
}

// With the writer blocked (a reader holds the Store via with_store), queued
// items pile up and must go out together: strictly fewer commits than items.
// The batch cap splits them: cap 3 with 7 queued items -> 3 commits.
TEMPLATE_TEST_CASE("queued items share commits, capped per transaction", "[storage][group_commit]", BATON_STORAGE_BACKENDS) {
  BATON_TEST_DB(db);
  auto writer = std::make_unique<GroupCommitWriter>(open_normal(db.scratch()), 3);
  std::mutex order_mutex;
  std::vector<int> order;
  std::promise<void> release;
  auto released = release.get_future().share();
  std::thread blocker;
  {
    std::latch entered(1);
    blocker = std::thread([&] {
      writer->with_store([&](Store&) {
        entered.count_down();
        released.wait();
      });
    });
    entered.wait();
  }
  // Seven submissions while the Store is held.
  for (int i = 1; i <= 7; ++i)
    writer->submit(make_trigger_effects(i, i), [&, i](Result<void> r) {
      std::lock_guard lock(order_mutex);  // no Catch assertions off the test thread
      order.push_back(r ? i : -i);
    });
  release.set_value();
  blocker.join();
  writer->flush();
  auto stats = writer->stats();
  CHECK(stats.items == 7);
  CHECK(stats.commits < stats.items);
  // The writer may have taken 1..3 items before blocking on the Store; the other
  // 4..6 wait in the queue and go out in at most two capped batches.
  CHECK(stats.commits <= 3);
  CHECK(order == std::vector<int>{1, 2, 3, 4, 5, 6, 7});  // dones in submission order
  writer->with_store([](Store& s) { CHECK(s.count_incidents(std::nullopt).value() == 7); });
}

// Urgency::soon items (delivery outcomes) wait for the next `now` item and
// share its transaction; flush() sends them at once; alone, they go out when
// soon_within has passed.
TEMPLATE_TEST_CASE("soon items ride along with the next commit", "[storage][group_commit]", BATON_STORAGE_BACKENDS) {
  BATON_TEST_DB(db);
  std::atomic<int> soon_done{0};
  auto count = [&](Result<void> r) {
    if (r) ++soon_done;
  };
  {
    GroupCommitWriter writer(open_normal(db.path()), 4096, {}, std::chrono::hours(1));
    writer.submit(make_trigger_effects(1, 1), {});
    writer.flush();
    const auto before = writer.stats().commits;
    for (int i = 1; i <= 3; ++i)
      writer.submit_updates({{1, OutboxState::pending, i, t0(), "retry", t0()}}, count, storage::Urgency::soon);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    CHECK(soon_done == 0);  // an hour to go and nothing urgent: they wait
    std::promise<void> committed;
    auto urgent = committed.get_future();
    writer.submit(make_trigger_effects(2, 2), [&](Result<void>) { committed.set_value(); });
    urgent.wait();
    CHECK(soon_done == 3);
    writer.flush();  // the stats are counted after the dones ran
    CHECK(writer.stats().commits == before + 1);  // one transaction for all four
    writer.submit_updates({{2, OutboxState::delivered, 1, t0(), "", t0()}}, count, storage::Urgency::soon);
    writer.flush();
    CHECK(soon_done == 4);
  }
  {
    GroupCommitWriter writer(open_normal(db.path()), 4096, {}, std::chrono::milliseconds(10));
    std::promise<void> committed;
    auto alone = committed.get_future();
    writer.submit_updates({{1, OutboxState::delivered, 4, t0(), "", t0()}},
                          [&](Result<void> r) {
                            count(std::move(r));
                            committed.set_value();
                          },
                          storage::Urgency::soon);
    REQUIRE(alone.wait_for(std::chrono::seconds(30)) == std::future_status::ready);  // bound only for a failing run
    CHECK(soon_done == 5);
  }
}

// flush() returns only after every earlier done ran; flush on an idle writer
// returns at once; the destructor commits what is still queued.
TEMPLATE_TEST_CASE("flush and destructor drain the queue", "[storage][group_commit]", BATON_STORAGE_BACKENDS) {
  BATON_TEST_DB(db);
  const auto path = db.path();
  std::atomic<int> done{0};
  {
    GroupCommitWriter writer(open_normal(path));
    writer.flush();  // nothing submitted: returns
    writer.submit(make_trigger_effects(1, 1), [&](Result<void>) { ++done; });
    writer.flush();
    CHECK(done == 1);
    for (int i = 2; i <= 20; ++i) writer.submit(make_trigger_effects(i, i), [&](Result<void>) { ++done; });
    writer.submit_updates({{1, OutboxState::delivered, 1, t0(), "", t0()}}, nullptr);  // empty done is fine
  }  // destructor drains
  CHECK(done == 20);
  auto store = open_normal(path);
  CHECK(store->count_incidents(std::nullopt).value() == 20);
  CHECK(store->load()->pending_outbox.size() == 19);
}

// One bad item in a shared batch (duplicate idempotency key) fails its own
// done with conflict and leaves nothing of itself; the items before it commit.
// It is a barrier: the items after it were computed from state that includes
// it, so they fail too without being written ("an earlier change..."), and so
// does everything submitted until reset_failure(). on_failure runs once.
TEMPLATE_TEST_CASE("a failed item is a barrier until reset_failure", "[storage][group_commit]", BATON_STORAGE_BACKENDS) {
  BATON_TEST_DB(db);
  std::atomic<int> failures{0};
  auto writer = std::make_unique<GroupCommitWriter>(open_normal(db.scratch()), 4096,
                                                    [&](const Error&) { ++failures; });
  std::promise<void> release;
  auto released = release.get_future().share();
  std::latch entered(1);
  std::thread blocker([&] {
    writer->with_store([&](Store&) {
      entered.count_down();
      released.wait();
    });
  });
  entered.wait();

  std::vector<Result<void>> results(5);
  auto bad = make_trigger_effects(3, 3);
  bad.notifications[0].idempotency_key = make_trigger_effects(1, 1).notifications[0].idempotency_key;
  writer->submit(make_trigger_effects(1, 1), [&](Result<void> r) { results[0] = r; });
  writer->submit(make_trigger_effects(2, 2), [&](Result<void> r) { results[1] = r; });
  writer->submit(bad, [&](Result<void> r) { results[2] = r; });
  writer->submit(make_trigger_effects(4, 4), [&](Result<void> r) { results[3] = r; });
  release.set_value();
  blocker.join();
  writer->flush();

  CHECK(results[0].has_value());
  CHECK(results[1].has_value());
  REQUIRE_FALSE(results[2].has_value());
  CHECK(results[2].error().kind == ErrorKind::conflict);
  REQUIRE_FALSE(results[3].has_value());
  CHECK(results[3].error().message.find("earlier change") != std::string::npos);
  CHECK(failures == 1);
  CHECK(writer->stats().failed);

  // Still failed: a fine item is refused without being written.
  writer->submit(make_trigger_effects(5, 5), [&](Result<void> r) { results[4] = r; });
  writer->flush();
  CHECK_FALSE(results[4].has_value());
  CHECK(failures == 1);

  writer->reset_failure();
  Result<void> after = tl::unexpected(Error{});
  writer->submit(make_trigger_effects(6, 6), [&](Result<void> r) { after = r; });
  writer->flush();
  CHECK(after.has_value());
  auto stats = writer->stats();
  CHECK_FALSE(stats.failed);
  CHECK(stats.items == 3);
  CHECK(stats.failed_items == 3);
  CHECK(stats.failures == 1);
  writer->with_store([](Store& s) {
    CHECK(s.count_incidents(std::nullopt).value() == 3);  // 1, 2 and 6
    CHECK_FALSE(s.get_incident(3)->has_value());
    CHECK_FALSE(s.get_incident(4)->has_value());
    CHECK_FALSE(s.get_incident(5)->has_value());
    CHECK(s.timeline(3)->empty());
  });
}

// An update for an unknown outbox id reports not_found to its own done.
TEMPLATE_TEST_CASE("an update for an unknown id reports not_found", "[storage][group_commit]", BATON_STORAGE_BACKENDS) {
  BATON_TEST_DB(db);
  GroupCommitWriter writer(open_normal(db.scratch()));
  Result<void> result;
  writer.submit_updates({{99, OutboxState::delivered, 1, t0(), "", t0()}}, [&](Result<void> r) { result = r; });
  writer.flush();
  REQUIRE_FALSE(result.has_value());
  CHECK(result.error().kind == ErrorKind::not_found);
}

// The probe writes one row when the disk takes writes, and fails as a value
// on a Store that cannot write.
TEMPLATE_TEST_CASE("probe reports whether the store takes writes", "[storage][group_commit]", BATON_STORAGE_BACKENDS) {
  BATON_TEST_DB(db);
  const auto path = db.path();
  {
    GroupCommitWriter writer(open_normal(path));
    CHECK(writer.probe(t0()).has_value());
  }
  auto reader = Store::open_reader(path);
  REQUIRE(reader.has_value());
  GroupCommitWriter read_only(std::move(*reader));
  CHECK_FALSE(read_only.probe(t0()).has_value());
}

// A transaction failure that is not any one item's fault (here: a read-only
// Store) reaches every done of the batch.
TEMPLATE_TEST_CASE("a failed commit fails every done", "[storage][group_commit]", BATON_STORAGE_BACKENDS) {
  BATON_TEST_DB(db);
  const auto path = db.path();
  { open_normal(path); }
  auto reader = Store::open_reader(path);
  REQUIRE(reader.has_value());
  GroupCommitWriter writer(std::move(*reader));
  std::atomic<int> errors{0};
  for (int i = 1; i <= 5; ++i)
    writer.submit(make_trigger_effects(i, i), [&](Result<void> r) {
      if (!r && r.error().kind == ErrorKind::permanent) ++errors;
    });
  writer.flush();
  CHECK(errors == 5);
  CHECK(writer.stats().commits == 0);
}
