#pragma once
// Informational lines in Slack channels (an incident's timeline in its incident
// channel). They take their turn in the channel's one pace (the Workspace's,
// shared with the notifier's posts there), so a channel never gets more than
// messages_per_second_per_channel, whoever posts.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "engine/time.hpp"

namespace baton::slack {

class SlackWebApi;

/// Thread-safe; no call blocks. A line waits for its slot as data, re-checked
/// when a timer on the client's io_context fires or when `clock` jumps (a
/// test's FakeClock), holding no thread and no connection. Failures are logged:
/// the timeline itself is durable.
class ChannelLines {
 public:
  /// `api` posts them and its Workspace paces them; `clock` says when a slot
  /// has come (the clock the Workspace was made with). At most `max_pending`
  /// lines wait; more are dropped, so a storm never queues minutes of posts.
  ChannelLines(std::shared_ptr<const SlackWebApi> api, const engine::Clock& clock, std::size_t max_pending = 100);
  ~ChannelLines();  ///< lines still waiting are dropped
  ChannelLines(const ChannelLines&) = delete;
  ChannelLines& operator=(const ChannelLines&) = delete;

  /// Queues `text` (mrkdwn) for `channel`, in order per channel.
  void post(std::string channel, std::string text);

 private:
  struct State;
  std::shared_ptr<State> state_;
  std::uint64_t watch_ = 0;
};

}  // namespace baton::slack
