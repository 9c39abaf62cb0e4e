#pragma once
// Slack interactivity and Events API payloads (api.slack.com/interactivity/handling and api.slack.com/apis/events-api):
// button presses and events, from HTTP mode or a Socket Mode envelope's
// payload (the same JSON). Pure; Boost.JSON stays in the .cpp.
#include <string>
#include <string_view>

#include "engine/result.hpp"

namespace baton::slack {

/// The first action of a `block_actions` payload, with where it happened.
struct ButtonPress {
  std::string action_id;   ///< "baton.ack"
  std::string value;       ///< "42" (empty for elements without a value)
  std::string user_id;     ///< user.id
  std::string team_id;     ///< team.id, else user.team_id
  std::string channel_id;  ///< container.channel_id, else channel.id
  std::string message_ts;  ///< container.message_ts, else message.ts
  std::string response_url;
  std::string trigger_id;
  std::string action_ts;  ///< the action's own timestamp ("1700000001.000200")
};

/// invalid_request for malformed JSON, a type other than "block_actions", no
/// actions, or an action or user without an id.
Result<ButtonPress> parse_block_actions(std::string_view payload_json);

/// The `payload` field of an HTTP-mode interactivity form body (decoded).
/// invalid_request when absent or empty.
Result<std::string> payload_from_form(std::string_view form_body);

/// An Events API callback: either the URL handshake or one event.
struct SlackEvent {
  std::string type;       ///< "url_verification", or the inner event's type ("app_mention")
  std::string challenge;  ///< url_verification only
  std::string event_id;   ///< "Ev..": deduplicate on it
  std::string user;       ///< event.user
  std::string channel;    ///< event.channel
  std::string text;       ///< event.text
};

/// Parses a `url_verification` (needs `challenge`) or an `event_callback`
/// (needs `event.type` and `event_id`). Any other outer type, or malformed
/// JSON, is invalid_request.
Result<SlackEvent> parse_event(std::string_view json);

/// What makes a Socket Mode envelope's payload one user action, whatever
/// envelope carries it (api.slack.com/apis/socket-mode: an envelope not acked in
/// time may come again, even under a new envelope id): "slack-command:<trigger_id>"
/// for slash_commands, "slack-action:<trigger_id>" (else the first action's
/// action_ts) for interactive, "slack-event:<event_id>" for events_api (the
/// key HTTP mode's events use too). "" when the payload has none of these.
std::string content_key(std::string_view envelope_type, std::string_view payload_json);

}  // namespace baton::slack
