#pragma once
// Checks shared by the Slack targets: /baton command lines and button presses.
#include <string_view>

#include "integrations/common/command_grammar.hpp"
#include "integrations/slack/commands.hpp"
#include "integrations/slack/interactions.hpp"

namespace baton::fuzz {

/// slack::command_text(command, text) through the one grammar
/// (integrations::parse_command) and its invariants: each verb carries the
/// fields it needs (an incident number is positive, a mention an id, a usage
/// error a message) and, when `text` is UTF-8, every field is UTF-8 too.
integrations::ParsedCommand check_slash_command(std::string_view command, std::string_view text);

/// An accepted slash request: command and user_id set, every field UTF-8; its
/// command line then goes through check_slash_command.
void check_slash_request(const slack::SlashRequest& request);

/// An accepted button press: action_id and user_id set, every field UTF-8.
void check_button_press(const slack::ButtonPress& press);

}  // namespace baton::fuzz
