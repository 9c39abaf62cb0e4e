#pragma once
// One worker thread running posted tasks in order: for slow follow-ups (chat
// replies, response_url posts) that must not hold a network or engine thread.
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <pthread.h>
#include <thread>

namespace baton::bot {

class Background {
 public:
  /// `name` shows in top -H and /proc (at most 15 characters).
  explicit Background(const char* name = "baton-tasks") : worker_([this, name] {
    pthread_setname_np(pthread_self(), name);
    run();
  }) {}
  ~Background() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    worker_.join();  // tasks already posted still run
  }
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;

  void post(std::function<void()> task) {
    {
      std::lock_guard lock(mutex_);
      tasks_.push_back(std::move(task));
    }
    wake_.notify_one();
  }

 private:
  void run() {
    std::unique_lock lock(mutex_);
    while (true) {
      wake_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
      if (tasks_.empty()) return;
      auto task = std::move(tasks_.front());
      tasks_.pop_front();
      lock.unlock();
      task();
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace baton::bot
