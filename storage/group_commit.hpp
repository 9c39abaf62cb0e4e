#pragma once
// Group commit: one writer thread owns the Store and turns everything queued
// into one transaction (one fsync), so concurrent submitters share commits and
// the network threads never wait on the disk.
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "storage/store.hpp"

namespace baton::storage {

struct GroupCommitStats {
  std::uint64_t commits = 0;          ///< successful transactions
  std::uint64_t items = 0;            ///< submissions committed
  std::uint64_t failed_items = 0;     ///< submissions whose `done` got an error
};

class GroupCommitWriter {
 public:
  /// Called on the writer thread once the item is committed (or failed). Keep it
  /// short and post back to your own executor; never call flush() from it.
  using Done = std::function<void(Result<void>)>;

  /// Takes the Store (must not be used elsewhere afterwards). `max_batch` caps
  /// the submissions per transaction (>= 1).
  explicit GroupCommitWriter(std::unique_ptr<Store> store, std::size_t max_batch = 4096);
  /// Commits everything already submitted, then stops the thread.
  ~GroupCommitWriter();
  GroupCommitWriter(const GroupCommitWriter&) = delete;
  GroupCommitWriter& operator=(const GroupCommitWriter&) = delete;

  /// Thread-safe. `done` may be empty. Items are committed in submission order.
  /// Submitting once destruction has begun is a bug (throws std::logic_error).
  /// The writer takes everything queued and applies it with one Store::apply.
  /// If that transaction fails, nothing is applied and each item of the batch is
  /// retried in its own transaction, so one bad item (e.g. a duplicate
  /// idempotency key) fails only its own `done`; an item never half-applies.
  void submit(engine::Effects fx, Done done);
  void submit_updates(std::vector<OutboxUpdate> updates, Done done);

  /// Blocks until everything submitted before the call is committed and every
  /// `done` of it has returned. Thread-safe; not from the writer thread.
  void flush();

  GroupCommitStats stats() const;

  /// Runs `fn` with the owned Store between commits (it sees committed state).
  /// Blocks commits while it runs: prefer Store::open_reader for heavy reads.
  void with_store(const std::function<void(Store&)>& fn);

 private:
  struct Item {
    engine::Effects fx;
    std::vector<OutboxUpdate> updates;
    Done done;
  };
  void enqueue(Item item);
  void run();
  void commit(std::vector<Item>& batch);

  std::unique_ptr<Store> store_;
  std::size_t max_batch_;
  std::mutex store_mutex_;  // held by the writer during apply, and by with_store
  mutable std::mutex mutex_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  std::deque<Item> queue_;
  std::uint64_t submitted_ = 0;
  std::uint64_t completed_ = 0;
  bool stopping_ = false;
  GroupCommitStats stats_;
  std::thread thread_;  // last: starts after every other member exists
};

}  // namespace baton::storage
