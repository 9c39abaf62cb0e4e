#pragma once
// Slack's inbound side, whichever way it arrives (HTTP request URLs or Socket
// Mode): slash commands and button presses become commands of the one command
// layer (bot/commands.hpp), with the Slack user's person (resolved there, via
// users.info) as the actor; answers are rendered as ephemeral mrkdwn. Only
// transport and rendering live here. Thread-safe.
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "integrations/slack/commands.hpp"
#include "integrations/slack/interactions.hpp"

namespace baton::slack {
class ChannelLines;
class SlackWebApi;
struct Envelope;
}  // namespace baton::slack

namespace baton::bot {

class App;
struct CommandAnswer;

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
  ~SlackFrontend();

  /// Both answer through `reply`, from another thread: the command runs on
  /// the command layer's worker, never on the caller's (HTTP or Socket Mode) thread.
  void command(const slack::SlashRequest& request, Reply reply);
  void button(const slack::ButtonPress& press, Reply reply);

  /// Posts a plain line in a channel in the channel's one pace, shared with
  /// the notifier's posts there (slack::ChannelLines): a line waits for its
  /// turn as data, holding no thread and no connection. At most 100 wait;
  /// more are dropped.
  void post_line(std::string channel, std::string text);

 private:
  /// Resolves the Slack user through the command layer's Identities (users.info
  /// as the look-up), then `then(person)`, on any thread.
  void resolve(const std::string& slack_user, std::function<void(std::optional<std::string>)> then);

  App& app_;
  std::shared_ptr<const slack::SlackWebApi> api_;
  std::shared_ptr<const slack::SlackWebApi> lookup_api_;
  std::unique_ptr<slack::ChannelLines> lines_;  ///< null without a Web API client
};

/// {"response_type":"ephemeral","text":...}
std::string ephemeral(std::string_view text);

/// A command answer as Slack mrkdwn (people with a slack_user_id as mentions).
std::string slack_text(const App& app, const CommandAnswer& answer);

using AckFn = std::function<void(std::optional<std::string> response_payload_json)>;
/// Socket Mode: one envelope to the same handlers as HTTP mode, acked once
/// (slash commands with their response payload).
void handle_envelope(SlackFrontend& frontend, const slack::Envelope& envelope, AckFn ack);

}  // namespace baton::bot
