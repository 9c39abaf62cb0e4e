#include "storage/group_commit.hpp"

#include <pthread.h>

#include <stdexcept>

namespace baton::storage {

GroupCommitWriter::GroupCommitWriter(std::unique_ptr<Store> store, std::size_t max_batch, OnFailure on_failure,
                                     std::chrono::milliseconds soon_within)
    : store_(std::move(store)),
      max_batch_(max_batch == 0 ? 1 : max_batch),
      soon_within_(soon_within),
      on_failure_(std::move(on_failure)) {
  if (!store_) throw std::invalid_argument("GroupCommitWriter needs a Store");
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "baton-writer");  // the one thread that may block on fsync
    run();
  });
}

GroupCommitWriter::~GroupCommitWriter() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  work_cv_.notify_one();
  thread_.join();
}

void GroupCommitWriter::submit(engine::Effects fx, Done done, Urgency urgency) {
  enqueue(Item{std::move(fx), {}, std::move(done), urgency, std::chrono::steady_clock::now()});
}

void GroupCommitWriter::submit_updates(std::vector<OutboxUpdate> updates, Done done, Urgency urgency) {
  enqueue(Item{{}, std::move(updates), std::move(done), urgency, std::chrono::steady_clock::now()});
}

void GroupCommitWriter::submit_consumed(engine::Effects fx, std::vector<std::int64_t> consumed_inbox, Done done) {
  enqueue(Item{std::move(fx), {}, std::move(done), Urgency::now, std::chrono::steady_clock::now(),
               std::move(consumed_inbox), {}});
}

void GroupCommitWriter::submit_write(Write write, Done done) {
  enqueue(Item{{}, {}, std::move(done), Urgency::now, std::chrono::steady_clock::now(), {}, std::move(write)});
}

void GroupCommitWriter::submit_inbox(InboxEntry row, Done done) {
  Item item{{}, {}, std::move(done), Urgency::now, std::chrono::steady_clock::now(), {}, {}};
  item.inbox = std::move(row);
  enqueue(std::move(item));
}

void GroupCommitWriter::enqueue(Item item) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) throw std::logic_error("GroupCommitWriter::submit after destruction began");
    if (item.urgency == Urgency::now) ++now_queued_;
    queue_.push_back(std::move(item));
    ++submitted_;
  }
  work_cv_.notify_one();
}

void GroupCommitWriter::flush() {
  if (std::this_thread::get_id() == thread_.get_id())
    throw std::logic_error("GroupCommitWriter::flush from the writer thread would deadlock");
  std::unique_lock lock(mutex_);
  const auto target = submitted_;
  ++flushing_;
  work_cv_.notify_one();
  done_cv_.wait(lock, [&] { return completed_ >= target; });
  --flushing_;
}

GroupCommitStats GroupCommitWriter::stats() const {
  std::lock_guard lock(mutex_);
  auto s = stats_;
  s.failed = failed_;
  return s;
}

void GroupCommitWriter::reset_failure() {
  std::lock_guard lock(mutex_);
  failed_ = false;
  failure_.reset();
}

Result<void> GroupCommitWriter::probe(engine::TimePoint now) {
  std::lock_guard lock(store_mutex_);
  return store_->probe_write(now);
}

void GroupCommitWriter::with_store(const std::function<void(Store&)>& fn) {
  std::lock_guard lock(store_mutex_);
  fn(*store_);
}

void GroupCommitWriter::run() {
  std::vector<Item> batch;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      work_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      // Only `soon` items: they wait for a `now` one (and its transaction), a
      // flush, the stop, or the oldest one's deadline.
      const auto deadline = queue_.front().queued_at + soon_within_;
      work_cv_.wait_until(lock, deadline, [&] { return stopping_ || now_queued_ > 0 || flushing_ > 0; });
      // A write of its own goes alone; a batch of changes stops before one.
      if (queue_.front().write) {
        if (queue_.front().urgency == Urgency::now) --now_queued_;
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      } else if (queue_.front().inbox) {
        while (!queue_.empty() && batch.size() < max_batch_ && queue_.front().inbox) {
          if (queue_.front().urgency == Urgency::now) --now_queued_;
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      } else {
        while (!queue_.empty() && batch.size() < max_batch_ && !queue_.front().write && !queue_.front().inbox) {
          if (queue_.front().urgency == Urgency::now) --now_queued_;
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
    }
    if (batch.front().write) {
      run_write(batch.front());
      batch.clear();
      continue;
    }
    if (batch.front().inbox) {
      run_inbox(batch);
      batch.clear();
      continue;
    }
    commit(batch);
    batch.clear();
  }
}

void GroupCommitWriter::run_write(Item& item) {
  Result<void> r;
  {
    std::lock_guard lock(store_mutex_);
    r = item.write(*store_);
  }
  if (item.done) item.done(std::move(r));
  {
    std::lock_guard lock(mutex_);
    ++completed_;
  }
  done_cv_.notify_all();
}

void GroupCommitWriter::run_inbox(std::vector<Item>& batch) {
  std::vector<InboxEntry> rows;
  rows.reserve(batch.size());
  for (auto& item : batch) rows.push_back(std::move(*item.inbox));
  Result<void> r;
  {
    std::lock_guard lock(store_mutex_);
    r = store_->add_inbox_batch(rows);
  }
  for (auto& item : batch)
    if (item.done) item.done(r);
  {
    std::lock_guard lock(mutex_);
    completed_ += batch.size();
  }
  done_cv_.notify_all();
}

void GroupCommitWriter::commit(std::vector<Item>& batch) {
  std::optional<Error> failure;
  {
    std::lock_guard lock(mutex_);
    if (failed_) failure = failure_;
  }
  std::vector<Result<void>> results;
  std::uint64_t commits = 0;
  bool newly_failed = false;
  if (!failure) {
    std::vector<const engine::Effects*> effects;
    std::vector<OutboxUpdate> updates;
    std::vector<std::int64_t> consumed;
    effects.reserve(batch.size());
    for (auto& item : batch) {
      if (!item.fx.empty()) effects.push_back(&item.fx);
      for (auto& u : item.updates) updates.push_back(u);
      for (auto id : item.consumed_inbox) consumed.push_back(id);
    }
    std::lock_guard lock(store_mutex_);
    // Effects only insert outbox rows and updates only change existing ones, so
    // applying all effects before all updates keeps the submission order's meaning.
    auto r = store_->apply(effects, updates, consumed);
    if (r) {
      ++commits;
      results.assign(batch.size(), Result<void>{});
    } else if (batch.size() == 1) {
      failure = r.error();
      results.push_back(std::move(r));
    } else {
      // The batch rolled back; commit item by item, in order, so the items
      // before the culprit are kept. From the culprit on, the barrier holds.
      for (auto& item : batch) {
        if (failure) break;
        const engine::Effects* one[] = {&item.fx};
        auto ri = store_->apply(std::span<const engine::Effects* const>(one, item.fx.empty() ? 0 : 1),
                                item.updates, item.consumed_inbox);
        if (ri) ++commits;
        else failure = ri.error();
        results.push_back(std::move(ri));
      }
    }
    newly_failed = failure.has_value();
  }
  if (failure) {
    auto barrier = *failure;
    barrier.message = "an earlier change could not be committed (" + failure->message + ")";
    while (results.size() < batch.size()) results.push_back(tl::unexpected(barrier));
  }

  std::uint64_t ok = 0;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (results[i]) ++ok;
    if (batch[i].done) batch[i].done(std::move(results[i]));
  }
  {
    std::lock_guard lock(mutex_);
    if (newly_failed) {
      failed_ = true;
      failure_ = failure;
      ++stats_.failures;
    }
    stats_.commits += commits;
    stats_.items += ok;
    stats_.failed_items += batch.size() - ok;
    completed_ += batch.size();
  }
  if (newly_failed && on_failure_) on_failure_(*failure);
  done_cv_.notify_all();
}

}  // namespace baton::storage
