#pragma once
// The Block Kit message of a Slack page (api.slack.com/block-kit), as JSON text.
// Pure. The button ids below are what the interaction parser routes on.
#include <string>
#include <string_view>

#include "engine/incident.hpp"

namespace baton::slack {

inline constexpr std::string_view kAckActionId = "baton_ack";
inline constexpr std::string_view kResolveActionId = "baton_resolve";
inline constexpr std::string_view kEscalateActionId = "baton_escalate";
/// The actions block's block_id is this prefix followed by the incident number.
inline constexpr std::string_view kActionsBlockPrefix = "baton_actions:";

/// `&`, `<` and `>` as `&amp;`, `&lt;`, `&gt;`: Slack's mrkdwn control characters.
std::string escape_mrkdwn(std::string_view text);

/// A JSON array of blocks:
/// - header (plain_text): "#42 CRITICAL · Payments" (at most 150 characters);
/// - section (mrkdwn): the escaped summary and, with a public_url, a link
///   "<public_url/api/v1/incidents/42|Incident #42>";
/// - section fields: State, Owner, Step (1-based), Created (a Slack date);
/// - context: "Acknowledged by <owner> <date>", "Resolved <date>" or
///   "Waiting for <owner> to acknowledge" ("Nobody is paged" without owner);
/// - actions (block_id "baton_actions:42"), buttons whose value is "42":
///   triggered -> Acknowledge (baton_ack, primary), Resolve (baton_resolve,
///   danger, with a confirm dialog), Escalate (baton_escalate); acknowledged ->
///   Resolve and Escalate; resolved -> no actions block.
/// Texts are cut to Block Kit's limits at a UTF-8 character boundary.
std::string page_blocks(const engine::Incident& incident, std::string_view service_name,
                        std::string_view owner_display, std::string_view public_url);

/// The top-level `text` sent with the blocks (notifications, screen readers):
/// "#42 CRITICAL Payments: <summary> (acknowledged by Bob)", mrkdwn-escaped.
std::string page_text(const engine::Incident& incident, std::string_view service_name,
                      std::string_view owner_display);

/// The start of `text` that fits `max_bytes` bytes without splitting a UTF-8 character.
std::string utf8_prefix(std::string_view text, std::size_t max_bytes);

}  // namespace baton::slack
