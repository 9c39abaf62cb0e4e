#pragma once
// Group commit: one writer thread owns the Store and turns everything queued
// into one transaction (one fsync), so concurrent submitters share commits and
// the network threads never wait on the disk.
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "storage/store.hpp"

namespace baton::storage {

struct GroupCommitStats {
  std::uint64_t commits = 0;          ///< successful transactions
  std::uint64_t items = 0;            ///< submissions committed
  std::uint64_t failed_items = 0;     ///< submissions whose `done` got an error
  std::uint64_t failures = 0;         ///< times the writer went into the failed state
  bool failed = false;                ///< failed now: every submission fails until reset_failure()
};

/// How soon a submission must reach the disk. `now` items are committed at
/// once (with whatever else is queued). `soon` items (bookkeeping nobody is
/// waiting for, e.g. the outcome of a delivery) wait, up to the writer's
/// `soon_within`, for the next `now` item, so they share its transaction and
/// its fsync instead of costing one of their own.
enum class Urgency { now, soon };

class GroupCommitWriter {
 public:
  /// Called on the writer thread once the item is committed (or failed). Keep it
  /// short and post back to your own executor; never call flush() from it.
  using Done = std::function<void(Result<void>)>;

  /// Called on the writer thread when a submission fails and the writer goes
  /// into the failed state (once per failure, not per item). Post and return.
  using OnFailure = std::function<void(const Error&)>;

  /// Takes the Store (must not be used elsewhere afterwards). `max_batch` caps
  /// the submissions per transaction (>= 1).
  explicit GroupCommitWriter(std::unique_ptr<Store> store, std::size_t max_batch = 4096,
                             OnFailure on_failure = {},
                             std::chrono::milliseconds soon_within = std::chrono::milliseconds(20));
  /// Commits everything already submitted, then stops the thread.
  ~GroupCommitWriter();
  GroupCommitWriter(const GroupCommitWriter&) = delete;
  GroupCommitWriter& operator=(const GroupCommitWriter&) = delete;

  /// Thread-safe. `done` may be empty. Items are committed in submission order.
  /// Submitting once destruction has begun is a bug (throws std::logic_error).
  /// The writer takes everything queued and applies it with one Store::apply.
  /// If that transaction fails, nothing is applied and each item of the batch is
  /// retried in its own transaction, in order, until one fails; an item never
  /// half-applies.
  ///
  /// A failure is a barrier. Later submissions were computed from state that
  /// includes the failed one (the engine applied it in memory first), so from
  /// the first failed item on, every item fails without touching the disk
  /// ("an earlier change could not be committed") until reset_failure(). The
  /// owner of that in-memory state re-derives it from the store, then resets.
  void submit(engine::Effects fx, Done done, Urgency urgency = Urgency::now);
  void submit_updates(std::vector<OutboxUpdate> updates, Done done, Urgency urgency = Urgency::now);
  /// As submit(), and deletes the inbox rows `consumed_inbox` in the same
  /// transaction (PostgreSQL, Store::apply): the effects of applying them.
  void submit_consumed(engine::Effects fx, std::vector<std::int64_t> consumed_inbox, Done done);
  /// A write of its own (e.g. Store::add_inbox), run alone on the writer thread
  /// in submission order. It stands outside the barrier: it runs whether or not
  /// the writer is in the failed state, and its failure fails only itself.
  using Write = std::function<Result<void>(Store&)>;
  void submit_write(Write write, Done done);
  /// One inbox row (Store::add_inbox_batch). Rows queued together share one
  /// transaction; like a write of its own, they stand outside the barrier and
  /// a failure fails only them.
  void submit_inbox(InboxEntry row, Done done);

  /// Blocks until everything submitted before the call is committed and every
  /// `done` of it has returned (`soon` items go at once). Thread-safe; not
  /// from the writer thread.
  void flush();

  GroupCommitStats stats() const;

  /// Leaves the failed state; call once the submitter's state was rebuilt from
  /// what is committed. Submissions after the call are written again.
  void reset_failure();

  /// One small write transaction (Store::probe_write): whether the disk takes
  /// writes again. Thread-safe; not from the writer thread.
  Result<void> probe(engine::TimePoint now);

  /// Runs `fn` with the owned Store between commits (it sees committed state).
  /// Blocks commits while it runs: prefer Store::open_reader for heavy reads.
  void with_store(const std::function<void(Store&)>& fn);

 private:
  struct Item {
    engine::Effects fx;
    std::vector<OutboxUpdate> updates;
    Done done;
    Urgency urgency = Urgency::now;
    std::chrono::steady_clock::time_point queued_at{};
    std::vector<std::int64_t> consumed_inbox;
    Write write;  // set: a write of its own, always in a batch of one
    std::optional<InboxEntry> inbox;  // set: an inbox row, batched with its neighbours
  };
  void enqueue(Item item);
  void run();
  void commit(std::vector<Item>& batch);
  void run_write(Item& item);
  void run_inbox(std::vector<Item>& batch);

  std::unique_ptr<Store> store_;
  std::size_t max_batch_;
  std::chrono::milliseconds soon_within_;
  OnFailure on_failure_;
  std::mutex store_mutex_;  // held by the writer during apply, and by with_store
  mutable std::mutex mutex_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  std::deque<Item> queue_;
  std::uint64_t submitted_ = 0;
  std::uint64_t completed_ = 0;
  std::size_t now_queued_ = 0;   // Urgency::now items in queue_
  std::size_t flushing_ = 0;     // flush() calls waiting: soon items go at once
  bool stopping_ = false;
  bool failed_ = false;  // guarded by mutex_
  std::optional<Error> failure_;
  GroupCommitStats stats_;
  std::thread thread_;  // last: starts after every other member exists
};

}  // namespace baton::storage
