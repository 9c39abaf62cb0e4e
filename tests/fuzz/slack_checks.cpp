#include "tests/fuzz/slack_checks.hpp"

#include "tests/fuzz/fuzz_checks.hpp"

namespace baton::fuzz {

slack::SlashCommand check_slash_command(std::string_view command, std::string_view text) {
  using Kind = slack::SlashCommand::Kind;
  slack::SlashCommand c = slack::parse_slash_command(command, text);
  if (c.incident) require(*c.incident > 0, "an incident number is positive", text);
  switch (c.kind) {
    case Kind::usage_error: require(!c.error.empty(), "a usage error says what was wrong", text); break;
    case Kind::incident_new: require(!c.summary.empty(), "incident new has a summary", text); break;
    case Kind::incident_reassign:
      require(c.incident.has_value() && !c.user_id.empty(), "reassign has an incident and a user", text);
      break;
    case Kind::incident_status: require(c.incident.has_value(), "status has an incident", text); break;
    case Kind::page: require(!c.user_id.empty() && !c.message.empty(), "page has a user and a message", text); break;
    default: break;
  }
  if (!c.user_id.empty())
    require(c.user_id.find_first_of("<>|@ ") == std::string::npos, "a user id is bare", c.user_id);
  if (is_utf8(text) && is_utf8(command)) {
    check_utf8("SlashCommand.target", c.target);
    check_utf8("SlashCommand.summary", c.summary);
    check_utf8("SlashCommand.service", c.service);
    check_utf8("SlashCommand.user_id", c.user_id);
    check_utf8("SlashCommand.message", c.message);
    check_utf8("SlashCommand.error", c.error);
  }
  return c;
}

void check_slash_request(const slack::SlashRequest& r) {
  require(!r.command.empty() && !r.user_id.empty(), "an accepted slash request has command and user_id");
  check_utf8("SlashRequest.team_id", r.team_id);
  check_utf8("SlashRequest.channel_id", r.channel_id);
  check_utf8("SlashRequest.user_id", r.user_id);
  check_utf8("SlashRequest.command", r.command);
  check_utf8("SlashRequest.text", r.text);
  check_utf8("SlashRequest.response_url", r.response_url);
  check_utf8("SlashRequest.trigger_id", r.trigger_id);
  check_slash_command(r.command, r.text);
}

void check_button_press(const slack::ButtonPress& p) {
  require(!p.action_id.empty() && !p.user_id.empty(), "an accepted press has action_id and user.id");
  check_utf8("ButtonPress.action_id", p.action_id);
  check_utf8("ButtonPress.value", p.value);
  check_utf8("ButtonPress.user_id", p.user_id);
  check_utf8("ButtonPress.team_id", p.team_id);
  check_utf8("ButtonPress.channel_id", p.channel_id);
  check_utf8("ButtonPress.message_ts", p.message_ts);
  check_utf8("ButtonPress.response_url", p.response_url);
  check_utf8("ButtonPress.trigger_id", p.trigger_id);
}

}  // namespace baton::fuzz
