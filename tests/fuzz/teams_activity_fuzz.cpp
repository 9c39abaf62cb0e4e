// Bot Framework activities as Teams posts them (message, invoke,
// conversationUpdate, installationUpdate), the one command grammar on what was typed, and
// the plain reply built from what was typed.
#include <boost/json.hpp>

#include "integrations/common/command_grammar.hpp"
#include "integrations/teams/activities.hpp"
#include "tests/fuzz/fuzz_checks.hpp"

namespace json = boost::json;
using namespace baton;

namespace {

constexpr std::string_view kAppId = "00000000-0000-0000-0000-0000000000b0";

void check_command(std::string_view text) {
  const auto c = integrations::parse_command(text);
  if (c.incident) fuzz::require(*c.incident > 0, "an incident number is positive", text);
  if (fuzz::is_utf8(text)) fuzz::check_utf8("ParsedCommand.target", c.target);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input = fuzz::as_text(data, size);
  check_command(input);

  auto a = teams::parse_activity(input, kAppId);
  if (!a) return 0;
  fuzz::require(!a->type.empty(), "an activity has a type");
  for (const std::string* s : {&a->type, &a->id, &a->service_url, &a->channel_id, &a->conversation_id, &a->from_id,
                               &a->from_aad_object_id, &a->from_name, &a->tenant_id, &a->text, &a->invoke_name,
                               &a->action_verb, &a->team_id, &a->bf_channel, &a->reply_to_id, &a->conversation_type})
    fuzz::check_utf8("a TeamsActivity field", *s);
  for (const auto& c : a->channels_added) fuzz::require(!c.empty(), "an added channel has an id");
  if (a->incident) fuzz::require(*a->incident > 0, "an incident number is positive");

  // value_json and action_data_json are JSON text handed on: they must read back
  // as the same value. A non-finite number (1e999) has no JSON form at all;
  // nothing stores these two, so such input is only required not to crash.
  const json::value sent = fuzz::parse_input(input);
  if (fuzz::first_non_finite(sent).empty()) {
    if (!a->value_json.empty()) fuzz::check_json_round_trip("value_json", a->value_json, true);
    if (!a->action_data_json.empty()) fuzz::check_json_round_trip("action_data_json", a->action_data_json, true);
  }

  check_command(a->text);
  // The reply echoing the text is JSON whose text is the same string.
  const std::string reply = teams::text_activity(a->text);
  const json::value parsed = fuzz::check_json_round_trip("text_activity", reply, true);
  const json::value* text = parsed.is_object() ? parsed.get_object().if_contains("text") : nullptr;
  fuzz::require(text != nullptr && text->is_string() && text->get_string() == a->text, "text_activity keeps the text",
                reply);
  return 0;
}
