#pragma once
// The one grammar of baton's chat commands, the same for every channel (Slack
// slash commands, Teams messages, SMS replies, email replies, voice keys turned
// into words). Pure: text in, a parsed command out. Running a command is
// bot/commands.hpp's job; each channel only turns its input into text (or a
// ParsedCommand) and renders the answer. docs/architecture.md, "Commands".
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace baton::integrations {

enum class Verb {
  ack,              ///< incident (none: the conversation's incident, or the asker's own page)
  resolve,          ///< as ack
  escalate,         ///< as ack
  reassign,         ///< incident, person
  oncall,           ///< target: a service or schedule id, may be empty (everything)
  incident_new,     ///< text: the summary; target: the service (from a last word `service:<id>`), may be empty
  incident_list,    ///< open incidents
  incident_status,  ///< incident (none: the conversation's incident)
  page,             ///< person, text: the message
  maintenance_start,  ///< target: the service, duration, text: the reason (may be empty)
  maintenance_end,    ///< target: the service
  console,          ///< a one-time sign-in link to the web console (answered privately only)
  help,             ///< also an empty text
  stop,             ///< SMS opt-out keywords (STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT), alone
  start,            ///< SMS opt-in keywords (START, YES, UNSTOP), alone
  invalid,          ///< error says what was wrong, for the user
};

/// The verb's name as the grammar spells it ("ack", "incident new", "maintenance end"...).
const char* to_string(Verb verb);

/// One parsed command. Only the fields its verb uses are set.
struct ParsedCommand {
  Verb verb = Verb::invalid;
  std::optional<std::int64_t> incident;  ///< "42", "#42" or "INC-42"; 1..10^18
  std::string target;                    ///< oncall / maintenance / incident new: the service or schedule id
  /// reassign / page: the person as typed: a baton person id, an email
  /// address, or a channel's mention (Slack "<@U123>" / "<@U123|name>" is
  /// given as "<@U123>"); the command layer resolves it.
  std::string person;
  std::string text;  ///< incident new: summary; page: message; maintenance: reason
  std::optional<std::chrono::milliseconds> duration;  ///< maintenance_start
  std::string error;                                  ///< invalid: what was wrong (one line)
};

/// Case-insensitive words split on any ASCII whitespace; trailing '.' and '!'
/// of a short reply are ignored. Grammar (an optional leading "incident" before
/// ack/resolve/escalate/reassign/list/status is accepted):
///   ack|acknowledge|1 [N]      resolve|res|2 [N]      escalate|esc|3 [N]
///       (N: 42, #42 or INC-42; "ack42" and "ack#42" too; a digit code needs a
///       space or '#' before N: "242" is invalid)
///   reassign N <person>     (person: an id, an email, "@id", or a Slack mention)
///   oncall [service|schedule]
///   incident new <summary...> [service:<id>]
///   incident list
///   incident status [N]
///   page <person> <message...>
///   maintenance <service> <duration> [reason...]   (duration: 30m, 1h, 1h30m, 2d; at most 30 days)
///   maintenance end <service>
///   console
///   help | info                                    (also an empty text)
///   stop|stopall|unsubscribe|cancel|end|quit   start|yes|unstop   (alone)
/// Anything else is `invalid` with a one-line explanation in `error`.
ParsedCommand parse_command(std::string_view text);

/// A duration as the grammar takes it: <n><unit>... with units s, m, h, d
/// ("90m", "1h30m"). nullopt when malformed, zero, or longer than `max`.
std::optional<std::chrono::milliseconds> parse_command_duration(std::string_view text,
                                                                std::chrono::milliseconds max);

/// The grammar above as plain text, one command a line, for `help`.
/// `prefix` goes before each command ("/baton " for Slack, "" elsewhere).
std::string command_usage(std::string_view prefix = "");

}  // namespace baton::integrations
