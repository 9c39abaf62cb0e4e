#pragma once
// Slash commands (api.slack.com/interactivity/slash-commands): the request fields, from a form body
// (HTTP mode) or a Socket Mode payload, and the /baton grammar. Pure.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "engine/result.hpp"

namespace baton::slack {

/// One parsed command line. Only the fields its kind uses are set.
struct SlashCommand {
  enum class Kind {
    oncall,             ///< target: service or schedule, may be empty (the caller picks a default)
    incident_new,       ///< summary, service (from a trailing `service:<id>` token; may be empty)
    incident_ack,       ///< incident, or none: the caller uses the channel's incident
    incident_resolve,   ///< as incident_ack
    incident_escalate,  ///< as incident_ack
    incident_reassign,  ///< incident, user_id
    incident_list,
    incident_status,    ///< incident
    page,               ///< user_id, message
    help,
    usage_error,        ///< error says what was wrong, for the user
  } kind = Kind::usage_error;
  std::string target;                   ///< service or schedule, for oncall
  std::optional<std::int64_t> incident; ///< incident number ("42" or "#42")
  std::string summary;
  std::string service;
  std::string user_id;                  ///< from <@U123|name> or <@U123>
  std::string message;
  std::string error;                    ///< for usage_error: what was wrong
};

/// Parses `text` for `command` ("/baton", or the aliases "/oncall" and
/// "/incident", which act as the first word: `/incident ack 4` is `/baton
/// incident ack 4`). Words are case-insensitive and split on any whitespace.
/// Grammar:
///   oncall [service|schedule]
///   incident new <summary...> [service:<id>]   (a last word `service:<id>` picks the service)
///   incident ack|resolve|escalate [N]
///   incident reassign N <@user>
///   incident list
///   incident status N
///   page <@user> <message...>
///   help                                       (also an empty /baton)
/// Anything else is usage_error with a one-line explanation in `error`.
SlashCommand parse_slash_command(std::string_view command, std::string_view text);

/// The help text, in Slack mrkdwn, listing the grammar above.
std::string usage_text();

/// The fields of a slash-command request that baton uses.
struct SlashRequest {
  std::string team_id;
  std::string channel_id;
  std::string user_id;
  std::string command;  ///< "/baton"
  std::string text;     ///< everything after the command
  std::string response_url;
  std::string trigger_id;
};

/// From an application/x-www-form-urlencoded body (HTTP mode).
/// invalid_request when `command` or `user_id` is missing.
Result<SlashRequest> parse_slash_form(std::string_view form_body);
/// True for Slack's certificate check of a slash command's request URL: a form
/// post with `ssl_check=1` (api.slack.com/interactivity/slash-commands), to be
/// answered 200 with nothing done.
bool is_ssl_check(std::string_view form_body);
/// From a Socket Mode `slash_commands` envelope's payload (a JSON object of the
/// same fields). invalid_request on malformed JSON or missing `command`/`user_id`.
Result<SlashRequest> parse_slash_json(std::string_view json);

}  // namespace baton::slack
