#pragma once
// Checks shared by the Slack targets: the /baton grammar and button presses.
#include <string_view>

#include "integrations/slack/commands.hpp"
#include "integrations/slack/interactions.hpp"

namespace baton::fuzz {

/// parse_slash_command(command, text) and its invariants: each kind carries the
/// fields it needs (an incident number is positive, a mention an id, a usage
/// error a message) and, when `text` is UTF-8, every field is UTF-8 too.
slack::SlashCommand check_slash_command(std::string_view command, std::string_view text);

/// An accepted slash request: command and user_id set, every field UTF-8; its
/// command line then goes through check_slash_command.
void check_slash_request(const slack::SlashRequest& request);

/// An accepted button press: action_id and user_id set, every field UTF-8.
void check_button_press(const slack::ButtonPress& press);

}  // namespace baton::fuzz
