#pragma once
// PagerDuty Events API v2 intake (POST /v2/enqueue): body -> normalized Alert.
#include <string_view>

#include <tl/expected.hpp>

#include "engine/incident.hpp"
#include "integrations/alerts/parse_errors.hpp"

namespace baton::alerts {

/// Maximum lengths, in Unicode characters (code points), as PagerDuty counts them.
inline constexpr std::size_t kMaxDedupKeyChars = 255;
inline constexpr std::size_t kMaxSummaryChars = 1024;
/// At most this many `links` and `images` each; more is refused (400).
inline constexpr std::size_t kMaxLinks = 100;

/// The PagerDuty Events API v2 event (developer.pagerduty.com/docs/events-api-v2/trigger-events):
/// - `routing_key` required (-> Alert.integration_key);
/// - `event_action` trigger|acknowledge|resolve;
/// - `dedup_key` at most 255 characters; required for acknowledge/resolve; absent or
///   blank on trigger leaves Alert.dedup_key empty (the caller generates one);
/// - `payload` required on trigger (ignored otherwise) with `summary` (required,
///   truncated to 1024 characters on a code-point boundary), `source` (required),
///   `severity` critical|error|warning|info (required), optional `timestamp`,
///   `component`, `group`, `class` (strings) and `custom_details` (any JSON);
/// - optional `client`, `client_url` (strings), `links[]` ({href required, text}),
///   `images[]` ({src required, href, alt}).
/// A JSON null counts as absent; unknown fields are ignored. A number that is not
/// finite (1e999) anywhere in custom_details is refused, naming its path, since
/// the stored details must read back as the same JSON. At most 20 problems are
/// listed (ParseErrors).
/// Alert.source = Source::events_v2. Alert.details_json is a compact JSON object with,
/// in this order and only when present: component, group, class, custom_details,
/// timestamp, client, client_url, links, images ("{}" when none).
/// Errors are worded like PagerDuty's ("'payload.summary' is missing or blank",
/// "'event_action' must be one of trigger, acknowledge, resolve"); all problems are
/// reported, except that malformed JSON or a non-object body gives exactly one error.
/// Pure and thread-safe; parses once into a stack-buffered arena.
tl::expected<engine::Alert, ParseErrors> parse_events_v2(std::string_view body);

}  // namespace baton::alerts
