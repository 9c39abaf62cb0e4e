#include "tests/fuzz/slack_checks.hpp"

#include "tests/fuzz/fuzz_checks.hpp"

namespace baton::fuzz {

integrations::ParsedCommand check_slash_command(std::string_view command, std::string_view text) {
  using integrations::Verb;
  auto line = slack::command_text(command, text);
  if (!line) return {};
  const integrations::ParsedCommand c = integrations::parse_command(*line);
  if (c.incident) require(*c.incident > 0, "an incident number is positive", text);
  switch (c.verb) {
    case Verb::invalid: require(!c.error.empty(), "a usage error says what was wrong", text); break;
    case Verb::incident_new: require(!c.text.empty(), "incident new has a summary", text); break;
    case Verb::reassign:
      require(c.incident.has_value() && !c.person.empty(), "reassign has an incident and a person", text);
      break;
    case Verb::page: require(!c.person.empty() && !c.text.empty(), "page has a person and a message", text); break;
    case Verb::maintenance_start:
      require(!c.target.empty() && c.duration && c.duration->count() > 0, "maintenance has a service and a duration",
              text);
      break;
    default: break;
  }
  if (c.person.starts_with("<@"))
    require(c.person.ends_with(">") && c.person.find_first_of("|@ ", 2) == std::string::npos,
            "a mention is bare: <@ID>", c.person);
  if (is_utf8(text) && is_utf8(command)) {
    check_utf8("ParsedCommand.target", c.target);
    check_utf8("ParsedCommand.text", c.text);
    check_utf8("ParsedCommand.person", c.person);
    check_utf8("ParsedCommand.error", c.error);
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
