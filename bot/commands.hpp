#pragma once
// The command layer (docs/architecture.md, "Commands"): ONE table of verbs
// with their arguments, permission check, effect and answer, for every channel.
// A channel only turns its input into a ParsedCommand (usually with
// parse_command, the one grammar of integrations/common/command_grammar.hpp)
// and a CommandContext (who asks, from where), and renders the CommandAnswer
// in its own format (Slack mrkdwn, Teams text or card, TwiML, email, speech).
//
// Verbs and what they need:
//   ack / resolve / escalate [N]  a linked person; N, else the conversation's
//                                 incident, else (SMS/voice/email, own_page)
//                                 the asker's one open page
//   reassign N <person>           a linked person; the target must be linked
//   oncall [service|schedule]     anyone; shows the maintenance window in force
//                                 of the service(s) it covers
//   incident new <summary> [service:<id>]   a linked person
//   incident list, incident status [N]      anyone
//   page <person> <message>       a linked person; opens an incident assigned to them
//   maintenance <service> <dur> [reason]    a linked person (Incidents::start_maintenance)
//   maintenance end <service>     a linked person (Incidents::end_maintenance)
//   console                       a linked person, private replies only (bot/console_auth.hpp)
//   help                          anyone
//   stop / start                  SMS opt-out/in keywords: nothing to do (the carrier confirms)
// Thread-safe. Commands run on the layer's own worker ("baton-commands"),
// never on the caller's (HTTP, Socket Mode) thread; `done` is called once,
// from that worker or the writer/engine thread, and must not block.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bot/identity.hpp"
#include "bot/incidents.hpp"
#include "engine/incident.hpp"
#include "integrations/common/command_grammar.hpp"

namespace baton::bot {

class App;

using integrations::parse_command;
using integrations::ParsedCommand;
using integrations::Verb;

/// Who asks, from where.
struct CommandContext {
  engine::Source source = engine::Source::api;  ///< slack, teams, sms, email, voice, console...
  /// The baton person asking, resolved by the channel (Identities); nullopt =
  /// not linked: commands that change something are refused.
  std::optional<std::string> person;
  /// The incident of this channel, thread or page (a Slack incident channel,
  /// the Teams conversation, the email thread, the voice call), if any.
  std::optional<std::int64_t> conversation_incident;
  /// The channel's conversation id (a Slack channel, a Teams conversation):
  /// when conversation_incident is unset, the layer looks its incident up
  /// (a store read, done on the layer's worker, not the caller's thread).
  std::string conversation;
  /// Without an incident number and a conversation incident, act on the asker's
  /// one open page (SMS, email): several open pages is a usage error listing them.
  bool own_page = false;
  /// The answer is seen only by the asker (Slack ephemeral, a Teams 1:1 chat,
  /// SMS, email, voice). `console` is refused otherwise.
  bool private_reply = true;
  /// Turns a person argument (reassign, page) that is not a person id or a
  /// person's email into a person, e.g. a Slack mention "<@U123>" through
  /// Identities. May be null. `done` may run on any thread.
  std::function<void(const std::string& ref, std::function<void(std::optional<std::string>)> done)> resolve_person;
};

enum class AnswerStatus {
  done,         ///< committed
  accepted,     ///< queued on an instance that does not run the engine (the change follows)
  usage_error,  ///< the command was malformed or incomplete: nothing changed
  refused,      ///< the asker may not do this (not linked, not private...): nothing changed
  not_found,    ///< no such incident, service, schedule or person: nothing changed
  failed,       ///< the change was refused by the engine or the database: nothing changed
};
const char* to_string(AnswerStatus status);

/// One line of an answer, with what it names so a channel can render it richly.
struct AnswerLine {
  std::string text;                     ///< plain text
  std::string person;                   ///< a baton person this line names (Slack renders a mention)
  std::optional<std::int64_t> incident; ///< an incident this line is about
};

/// The answer to one command: plain structured data every channel renders.
struct CommandAnswer {
  AnswerStatus status = AnswerStatus::done;
  Verb verb = Verb::help;
  std::string headline;             ///< one line, e.g. "Incident #42 acknowledged." or "On call now"
  std::vector<AnswerLine> lines;    ///< details (on-call rows, incidents, timeline, help lines)
  std::optional<engine::Incident> incident;  ///< the incident after the change, when there is one
  /// The console link: must be shown only to the asker (never a channel reply).
  bool private_only = false;

  bool ok() const { return status == AnswerStatus::done || status == AnswerStatus::accepted; }
  /// headline and lines, one per line.
  std::string text() const;
};

class Commands {
 public:
  /// `app` must outlive this object; nothing runs before App::start.
  explicit Commands(App& app);
  /// Commands already posted still run; late identity answers are dropped.
  ~Commands();
  Commands(const Commands&) = delete;
  Commands& operator=(const Commands&) = delete;

  /// Runs one parsed command as `context` asks; `done` gets the answer once.
  void run(const ParsedCommand& command, const CommandContext& context, std::function<void(CommandAnswer)> done);
  /// parse_command(text), then run.
  void run_text(std::string_view text, const CommandContext& context, std::function<void(CommandAnswer)> done);

  /// ack / resolve / escalate incident `number` as `person` from `via` (email
  /// replies, voice key presses, buttons): the same checks and answer as the
  /// verbs. `person` empty = not linked (refused).
  void act(std::int64_t number, bot::Command action, const std::string& person, engine::Source via,
           std::function<void(CommandAnswer)> done);

  /// Who a chat user is (one cache for every channel).
  Identities& identities();

  /// Plain-text help: every verb, one a line; `prefix` before each ("/baton ").
  static std::string help_text(std::string_view prefix = "");

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace baton::bot
