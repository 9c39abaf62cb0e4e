#pragma once
// What Slack users do, whichever way it arrives (HTTP request URLs or Socket
// Mode): slash commands and button presses become App commands with the Slack
// user's person as the actor. Thread-safe.
#include <functional>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "bot/background.hpp"
#include "integrations/slack/commands.hpp"
#include "integrations/slack/interactions.hpp"

namespace baton::slack {
class SlackWebApi;
}

namespace baton::bot {

class App;

class SlackFrontend {
 public:
  /// The answer to Slack within its 3 s budget: a message JSON
  /// ({"response_type":"ephemeral","text":...}), or empty for a bare 200/ack.
  using Reply = std::function<void(std::string message_json)>;

  SlackFrontend(App& app, std::shared_ptr<const slack::SlackWebApi> api);
  ~SlackFrontend();

  void command(const slack::SlashRequest& request, Reply reply);
  void button(const slack::ButtonPress& press, Reply reply);

  /// Posts a plain line in a channel, off the caller's thread, at most one per
  /// second per channel (Slack's posting limit).
  void post_line(std::string channel, std::string text);

  /// The person a Slack user is: the config's slack_user_id, else the person
  /// whose email Slack reports for the user (users.info), cached.
  std::optional<std::string> person_for(const std::string& slack_user);

 private:
  void act(std::int64_t number, int command, const std::string& person, Reply reply);
  /// Posts a follow-up to a response_url off the caller's thread.
  void follow_up(std::string response_url, std::string message_json);

  App& app_;
  std::shared_ptr<const slack::SlackWebApi> api_;
  std::mutex mutex_;
  std::map<std::string, std::optional<std::string>> people_;  ///< slack user -> person (cache)
  std::map<std::string, std::chrono::steady_clock::time_point> last_line_;  ///< channel -> last post (background thread)
  std::atomic<int> pending_lines_{0};
  std::atomic<bool> stopping_{false};
  Background background_;  ///< last member: its thread stops first
};

/// {"response_type":"ephemeral","text":...}
std::string ephemeral(std::string_view text);

struct Envelope;
using AckFn = std::function<void(std::optional<std::string> response_payload_json)>;
/// Socket Mode: one envelope to the same handlers as HTTP mode, acked once
/// (slash commands with their response payload).
void handle_envelope(SlackFrontend& frontend, const Envelope& envelope, AckFn ack);

}  // namespace baton::bot
