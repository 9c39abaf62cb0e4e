#pragma once
// What Slack users do, whichever way it arrives (HTTP request URLs or Socket
// Mode): slash commands and button presses become commands to Incidents, with
// the Slack user's person as the actor. Thread-safe.
#include <functional>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "bot/background.hpp"
#include "engine/result.hpp"
#include "engine/time.hpp"
#include "integrations/slack/commands.hpp"
#include "integrations/slack/interactions.hpp"

namespace baton::slack {
class ChannelLines;
class SlackWebApi;
struct SlackUser;
}

namespace baton::bot {

class App;

class SlackFrontend {
 public:
  /// The answer to Slack within its 3 s budget: a message JSON
  /// ({"response_type":"ephemeral","text":...}), or empty for a bare 200/ack.
  using Reply = std::function<void(std::string message_json)>;

  /// `lookup_api` answers identity lookups (users.info) with a short timeout,
  /// so that an answer within Slack's 3 s is still possible when Slack is slow.
  /// Both are non-blocking (AsyncHttpClient): no thread waits on Slack. While
  /// it lives, the problems Slack clients of `api`'s workspace note about an
  /// incident (slack::Workspace::note) go to that incident's timeline.
  SlackFrontend(App& app, std::shared_ptr<const slack::SlackWebApi> api,
                std::shared_ptr<const slack::SlackWebApi> lookup_api);
  /// Commands already handed to the worker still run; queued lines and
  /// lookups still in flight are dropped.
  ~SlackFrontend();

  /// Both answer through `reply`, from another thread: the command itself runs
  /// on the `baton-slack` worker (it reads incidents from the store), never on
  /// the caller's (HTTP or Socket Mode) thread.

  void command(const slack::SlashRequest& request, Reply reply);
  void button(const slack::ButtonPress& press, Reply reply);

  /// Posts a plain line in a channel in the channel's one pace, shared with
  /// the notifier's posts there (slack::ChannelLines): a line waits for its
  /// turn as data, holding no thread and no connection. At most 100 wait;
  /// more are dropped.
  void post_line(std::string channel, std::string text);

  /// The person a Slack user is, if that is known without a network call:
  /// the config's slack_user_id, or a cache entry that has not expired. The
  /// outer optional is empty when a lookup is needed.
  std::optional<std::optional<std::string>> known_person(const std::string& slack_user);

  /// Calls `done` with the person a Slack user is: at once (on the caller's
  /// thread) when known; otherwise after users.info (non-blocking) and a match
  /// on the email, on the `baton-slack` worker, one lookup per user in flight.
  /// Cached by the App's clock: a match for 1 h, no match for 5 min, a failed
  /// lookup for 30 s.
  void resolve_person(const std::string& slack_user, std::function<void(std::optional<std::string>)> done);

 private:
  struct Shared;  ///< what network callbacks may touch after the frontend is gone

  void act(std::int64_t number, int command, const std::string& person, Reply reply);
  /// Resolves every user in `users`, then calls `then` (on some thread).
  void resolve_all(std::vector<std::string> users, std::function<void()> then);
  void run_command(const slack::SlashRequest& request, const slack::SlashCommand& cmd, Reply reply);
  /// On the worker: caches a users.info answer and calls whoever waits for it.
  void finish_lookup(const std::string& slack_user, const Result<slack::SlackUser>& user);
  /// The cached answer (empty when not linked or not looked up).
  std::optional<std::string> person_of(const std::string& slack_user);
  /// Posts a follow-up to a response_url (non-blocking).
  void follow_up(std::string response_url, std::string message_json);

  App& app_;
  std::shared_ptr<const slack::SlackWebApi> api_;
  std::shared_ptr<const slack::SlackWebApi> lookup_api_;
  struct CachedPerson {
    std::optional<std::string> person;
    engine::TimePoint expires;
  };
  std::mutex mutex_;
  std::map<std::string, CachedPerson> people_;  ///< slack user -> person (cache)
  std::map<std::string, std::vector<std::function<void(std::optional<std::string>)>>> lookups_in_flight_;
  std::shared_ptr<Shared> shared_;
  std::unique_ptr<slack::ChannelLines> lines_;  ///< null without a Web API client
  /// Runs commands (store reads) and the answers of identity lookups; never
  /// waits on the network. Declared last: it stops (running what was posted)
  /// while everything else is still there.
  Background worker_{"baton-slack"};
};

/// {"response_type":"ephemeral","text":...}
std::string ephemeral(std::string_view text);

struct Envelope;
using AckFn = std::function<void(std::optional<std::string> response_payload_json)>;
/// Socket Mode: one envelope to the same handlers as HTTP mode, acked once
/// (slash commands with their response payload).
void handle_envelope(SlackFrontend& frontend, const Envelope& envelope, AckFn ack);

}  // namespace baton::bot
