// Slack's JSON payloads, as HTTP mode posts them and Socket Mode envelopes
// carry them: slash_commands payloads, block_actions interactions and Events
// API callbacks (url_verification, event_callback).
#include "integrations/slack/commands.hpp"
#include "integrations/slack/interactions.hpp"
#include "tests/fuzz/fuzz_checks.hpp"
#include "tests/fuzz/slack_checks.hpp"

using namespace baton;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input = fuzz::as_text(data, size);

  if (auto request = slack::parse_slash_json(input)) fuzz::check_slash_request(*request);
  if (auto press = slack::parse_block_actions(input)) fuzz::check_button_press(*press);
  if (auto event = slack::parse_event(input)) {
    if (event->type == "url_verification") {
      fuzz::require(!event->challenge.empty(), "url_verification has a challenge");
    } else {
      fuzz::require(!event->type.empty() && !event->event_id.empty(), "an event has a type and an id");
    }
    fuzz::check_utf8("SlackEvent.type", event->type);
    fuzz::check_utf8("SlackEvent.challenge", event->challenge);
    fuzz::check_utf8("SlackEvent.event_id", event->event_id);
    fuzz::check_utf8("SlackEvent.user", event->user);
    fuzz::check_utf8("SlackEvent.channel", event->channel);
    fuzz::check_utf8("SlackEvent.text", event->text);
  }
  return 0;
}
