#pragma once
// The Adaptive Card of a Teams page (Adaptive Cards and Universal Actions, learn.microsoft.com/microsoftteams/platform/task-modules-and-cards/cards/universal-actions-for-adaptive-cards/overview) and the activity
// and invoke-response envelopes that carry it, as JSON text. Pure; Boost.JSON
// stays in cards.cpp.
#include <string>
#include <string_view>

#include "engine/incident.hpp"

namespace baton::teams {

/// The Action.Execute verbs of the card; activities.cpp routes on them.
inline constexpr std::string_view kAckVerb = "baton.ack";
inline constexpr std::string_view kResolveVerb = "baton.resolve";
inline constexpr std::string_view kEscalateVerb = "baton.escalate";
inline constexpr std::string_view kAdaptiveCardContentType = "application/vnd.microsoft.card.adaptive";

/// An AdaptiveCard object, version 1.5 (the newest Teams renders for bots):
/// - a title "#42 CRITICAL · Payments" and the summary (wrapped);
/// - a FactSet: Severity, Service, State, Owner ("nobody" when empty), Step
///   (1-based), Created (UTC);
/// - a status line: "Waiting for <owner> to acknowledge" / "Nobody is paged",
///   "Acknowledged by <owner> at <when>", "Resolved at <when>" (when in the
///   reader's time zone via the card DATE()/TIME() functions);
/// - with a public_url, a link "[Incident #42](<public_url>/api/v1/incidents/42)";
/// - actions, only those that still apply (triggered: Acknowledge, Resolve,
///   Escalate; acknowledged: Resolve, Escalate; resolved: none), each an
///   Action.Execute with verb kAckVerb/kResolveVerb/kEscalateVerb and data
///   {"incident": 42}, whose `fallback` is an Action.Submit with the same
///   title and data plus "verb", for clients without Universal Actions.
/// No `refresh` section: the notifier PUTs the new card on every change, which
/// A4 names as the way for everyone to see the new state; auto-refresh would
/// need the viewers' MRIs, which baton does not know.
/// Texts longer than kept sensible (summary 2000, others 200 bytes) are cut at
/// a UTF-8 character boundary with "...".
std::string incident_card(const engine::Incident& incident, std::string_view service_name,
                          std::string_view owner_display, std::string_view public_url);

/// The plain-text line sent as the activity's `text` with the card (toasts,
/// screen readers): "#42 CRITICAL Payments: <summary> (acknowledged by Bob)".
std::string incident_text(const engine::Incident& incident, std::string_view service_name,
                          std::string_view owner_display);

/// A message activity carrying `card_json` (an AdaptiveCard object, as JSON
/// text) as its one attachment, contentType kAdaptiveCardContentType, with
/// `text` as the notification text (left out when empty: updates carry the
/// card alone). Malformed card_json is a bug: it throws std::invalid_argument.
std::string card_activity(std::string_view card_json, std::string_view text);

/// The HTTP body that answers an adaptiveCard/action invoke with the refreshed
/// card: {"statusCode":200,"type":"application/vnd.microsoft.card.adaptive","value":<card>}.
/// std::invalid_argument on malformed card_json.
std::string invoke_response(std::string_view card_json);

/// The HTTP body that answers an adaptiveCard/action invoke with a message:
/// status < 400 -> {"statusCode":status,"type":"application/vnd.microsoft.activity.message","value":text};
/// status >= 400 -> {"statusCode":status,"type":"application/vnd.microsoft.error",
///                   "value":{"code":<"BadRequest"|"Unauthorized"|"Forbidden"|"NotFound"|"Conflict"|"InternalServerError"|...>,"message":text}}.
std::string invoke_message(int status, std::string_view text);

}  // namespace baton::teams
