#pragma once
// Inbound Bot Framework activities as Teams sends them (Bot Framework Activity schema, learn.microsoft.com/azure/bot-service/rest-api/bot-framework-rest-connector-activities;
// A4) and plain replies; typed commands use baton's one grammar
// (integrations/common/command_grammar.hpp). Pure; the JWT
// check (jwt.hpp) runs before any of this. Boost.JSON stays in the .cpp.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/result.hpp"

namespace baton::teams {

/// The fields of one activity that baton uses. Absent fields are empty.
struct TeamsActivity {
  std::string type;  ///< "message", "invoke", "conversationUpdate", "installationUpdate", ...
  std::string id;
  std::string service_url;
  std::string channel_id;  ///< the Teams channel: channelData.channel.id ("19:...@thread.tacv2")
  std::string conversation_id;
  std::string from_id;             ///< "29:..."
  std::string from_aad_object_id;  ///< the AAD object id: matches Person::teams_user_id
  std::string from_name;
  std::string tenant_id;  ///< conversation.tenantId, else channelData.tenant.id
  /// message: the text with every mention of the bot (<at>..</at> of an entity
  /// whose mentioned.id is "28:<app id>" or the app id) removed, a leading
  /// <at>..</at> removed when no entity says whom it names, &nbsp; as a
  /// space, &amp; &lt; &gt; &quot; &#39; decoded, trimmed.
  std::string text;
  std::string value_json;   ///< `value` as JSON text (Action.Submit data, invoke value); "" when absent
  std::string invoke_name;  ///< "adaptiveCard/action" for Action.Execute
  /// invoke: value.action.verb; message with a value (Action.Submit fallback): value.verb.
  std::string action_verb;
  /// invoke: value.action.data; message: the whole value (JSON text).
  std::string action_data_json;
  /// data.incident, a number or a string of digits ("42", "#42").
  std::optional<std::int64_t> incident;
  std::string team_id;  ///< channelData.team.id (the General channel's thread id, not the AAD group)
  /// conversationUpdate with channelData.eventType "channelCreated": channelData.channel.id.
  std::vector<std::string> channels_added;
  /// conversationUpdate whose membersAdded holds the bot, or installationUpdate with action "add".
  bool bot_added = false;
  std::string bf_channel;         ///< activity.channelId: "msteams" (for the JWT endorsement check)
  std::string reply_to_id;        ///< the id of the message holding the card that was clicked
  std::string conversation_type;  ///< "personal", "channel", "groupChat"
};

/// invalid_request for malformed JSON, a non-object, or a missing `type`.
/// `bot_app_id` is the bot's app id (without "28:"); a mention of the
/// activity's recipient is the bot's too (the only way to know it without an
/// app id, as with the Agents Playground).
Result<TeamsActivity> parse_activity(std::string_view json, std::string_view bot_app_id);

/// A plain-text message activity: {"type":"message","textFormat":"plain","text":text}.
std::string text_activity(std::string_view text);

}  // namespace baton::teams
