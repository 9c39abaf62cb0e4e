#include "integrations/email/imap_poller.hpp"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace baton::integrations {

struct ImapPoller::Impl {
  EmailRepliesConfig config;
  Handler handle;
  Gate gate;
  ImapPollerOptions options;
  std::mutex mutex;
  std::condition_variable wake;
  bool stopping = false;
  bool poll_requested = true;  // the first poll runs at once
  ImapClient* client = nullptr;  // the one in use, under `mutex`, for abort()
  std::atomic<std::uint64_t> polls{0};
  std::atomic<std::uint64_t> failures{0};
  std::thread thread;
  bool last_failed = false;

  void run() {
    pthread_setname_np(pthread_self(), "baton-imap");
    while (true) {
      {
        std::unique_lock lock(mutex);
        wake.wait_for(lock, config.poll, [this] { return stopping || poll_requested; });
        if (stopping) return;
        poll_requested = false;
      }
      if (!gate || gate()) poll_once();
      ++polls;
      wake.notify_all();
    }
  }

  void poll_once() {
    std::unique_ptr<ImapClient> client;
    try {
      client = std::make_unique<ImapClient>(config);
    } catch (const std::exception& e) {
      spdlog::error("email replies: {}", e.what());
      ++failures;
      return;
    }
    {
      std::lock_guard lock(mutex);
      if (stopping) return;
      this->client = client.get();
    }
    const auto failed = [this](const Error& e) {
      ++failures;
      // Logged once per outage, not every poll.
      if (!last_failed) spdlog::warn("email replies: the mailbox cannot be read: {}", e.message);
      last_failed = true;
    };
    auto uids = client->unprocessed(options.max_per_poll);
    if (!uids) {
      failed(uids.error());
    } else {
      if (last_failed) spdlog::info("email replies: the mailbox can be read again");
      last_failed = false;
      for (const auto uid : *uids) {
        auto message = client->fetch(uid, options.max_header_bytes, options.max_body_bytes);
        if (!message) {
          failed(message.error());
          break;
        }
        bool settled = true;
        try {
          settled = handle(*message);
        } catch (const std::exception& e) {
          spdlog::error("email replies: message {} could not be handled: {}", uid, e.what());
        }
        if (!settled) continue;
        if (auto marked = client->mark_processed(uid); !marked) {
          failed(marked.error());
          break;
        }
      }
    }
    std::lock_guard lock(mutex);
    this->client = nullptr;
    // `client` is destroyed here, outside the lock: its LOGOUT is bounded by the timeout.
  }
};

ImapPoller::ImapPoller(EmailRepliesConfig config, Handler handle, Gate gate, ImapPollerOptions options)
    : impl_(std::make_shared<Impl>()) {
  ImapClient check(config);  // std::invalid_argument for a bad URL, now
  impl_->config = std::move(config);
  impl_->handle = std::move(handle);
  impl_->gate = std::move(gate);
  impl_->options = options;
}

ImapPoller::~ImapPoller() { stop(); }

void ImapPoller::start() {
  std::lock_guard lock(impl_->mutex);
  if (impl_->thread.joinable() || impl_->stopping) return;
  impl_->thread = std::thread([impl = impl_] { impl->run(); });
}

void ImapPoller::poll_now() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->poll_requested = true;
  }
  impl_->wake.notify_all();
}

void ImapPoller::stop() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
    if (impl_->client != nullptr) impl_->client->abort();
  }
  impl_->wake.notify_all();
  if (impl_->thread.joinable() && impl_->thread.get_id() != std::this_thread::get_id()) impl_->thread.join();
}

std::uint64_t ImapPoller::polls() const { return impl_->polls.load(); }
std::uint64_t ImapPoller::failures() const { return impl_->failures.load(); }

}  // namespace baton::integrations
