#include "integrations/slack/channel_lines.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <optional>

#include "integrations/slack/web_api.hpp"

namespace baton::slack {

struct ChannelLines::State : std::enable_shared_from_this<ChannelLines::State> {
  State(std::shared_ptr<const SlackWebApi> a, const engine::Clock& c, std::size_t max)
      : api(std::move(a)), clock(c), max_pending(max) {}

  const std::shared_ptr<const SlackWebApi> api;
  const engine::Clock& clock;
  const std::size_t max_pending;

  std::mutex mutex;
  std::map<std::string, std::deque<std::string>> waiting;  // per channel, in order
  std::size_t pending = 0;                                 // waiting, or posted and not answered
  std::optional<std::chrono::steady_clock::time_point> armed;  // the earliest timer set

  /// Runs pump() on the client's io_context, now or at `when`.
  void schedule(std::chrono::steady_clock::time_point when) {
    api->run_at(when, [weak = weak_from_this(), when] {
      auto self = weak.lock();
      if (!self) return;
      {
        std::lock_guard lock(self->mutex);
        if (self->armed == when) self->armed.reset();
      }
      self->pump();
    });
  }

  /// Posts every line whose channel has a slot now; sets a timer for the next slot.
  void pump() {
    std::optional<engine::TimePoint> next;
    std::lock_guard lock(mutex);
    const auto now = clock.now();
    for (auto it = waiting.begin(); it != waiting.end();) {
      auto& [channel, lines] = *it;
      while (!lines.empty()) {
        if (auto later = api->workspace().reserve_post(channel, now)) {
          next = next ? std::min(*next, *later) : *later;
          break;
        }
        send(channel, std::move(lines.front()));
        lines.pop_front();
      }
      it = lines.empty() ? waiting.erase(it) : std::next(it);
    }
    if (!next) return;
    // The wait as the clock sees it; a FakeClock that has not moved by then is
    // asked again (its jumps also call pump()).
    const auto when = std::chrono::steady_clock::now() + std::max<engine::Millis>(*next - now, engine::Millis(1));
    if (armed && *armed <= when) return;
    armed = when;
    schedule(when);
  }

  /// With `mutex` held; the answer comes later, on the client's thread.
  void send(const std::string& channel, std::string text) {
    api->post_message_async(channel, std::move(text), "", [weak = weak_from_this(), channel](Result<MessageTs> r) {
      if (!r) spdlog::warn("slack: could not post a timeline line in {}: {}", channel, r.error().message);
      if (auto self = weak.lock()) {
        std::lock_guard lock(self->mutex);
        --self->pending;
      }
    });
  }
};

ChannelLines::ChannelLines(std::shared_ptr<const SlackWebApi> api, const engine::Clock& clock, std::size_t max_pending)
    : state_(std::make_shared<State>(std::move(api), clock, max_pending)) {
  watch_ = clock.watch([weak = std::weak_ptr<State>(state_)] {
    if (auto self = weak.lock()) self->schedule(std::chrono::steady_clock::now());
  });
}

ChannelLines::~ChannelLines() { state_->clock.unwatch(watch_); }

void ChannelLines::post(std::string channel, std::string text) {
  if (channel.empty()) return;
  {
    std::lock_guard lock(state_->mutex);
    if (state_->pending >= state_->max_pending) {
      spdlog::warn("slack: too many timeline lines queued; dropping one for {}", channel);
      return;
    }
    ++state_->pending;
    state_->waiting[channel].push_back(std::move(text));
  }
  // Off the caller's thread (the writer's): the post goes out from the client's.
  state_->schedule(std::chrono::steady_clock::now());
}

}  // namespace baton::slack
