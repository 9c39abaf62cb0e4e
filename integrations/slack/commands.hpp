#pragma once
// Slash commands (api.slack.com/interactivity/slash-commands): the request fields, from a form body
// (HTTP mode) or a Socket Mode payload, and what text of baton's one command
// grammar a slash command carries. Pure.
#include <optional>
#include <string>
#include <string_view>

#include "engine/result.hpp"

namespace baton::slack {

/// The command text in baton's one grammar (integrations/common/command_grammar.hpp)
/// for a slash command: "/baton <text>" is <text>; the aliases "/oncall" and
/// "/incident" act as the first word ("/incident ack 4" is "incident ack 4").
/// nullopt for any other command.
std::optional<std::string> command_text(std::string_view command, std::string_view text);

/// The help text, in Slack mrkdwn: the grammar with "/baton " before each command.
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
