#pragma once
// Slack request signing, v0 scheme (api.slack.com/authentication/verifying-requests-from-slack). Pure: the clock
// is an argument.
#include <chrono>
#include <string>
#include <string_view>

#include "engine/result.hpp"
#include "engine/time.hpp"

namespace baton::slack {

/// How far X-Slack-Request-Timestamp may be from `now`, either way.
inline constexpr std::chrono::seconds kSlackReplayWindow{300};

/// Checks X-Slack-Signature over "v0:" + timestamp + ":" + the raw body
/// (exactly as received), HMAC-SHA256 under `signing_secret`, "v0=" + lowercase
/// hex, compared in constant time. All failures are ErrorKind::unauthorized:
/// - "missing Slack signature headers": a header is empty, or the secret is;
/// - "stale Slack request timestamp": the timestamp is not decimal seconds, or
///   is more than kSlackReplayWindow before or after `now`;
/// - "bad Slack signature": anything else (wrong prefix, wrong digest).
Result<void> verify_slack_signature(std::string_view signing_secret, std::string_view timestamp_header,
                                    std::string_view signature_header, std::string_view body,
                                    engine::TimePoint now);

/// "v0=" + hex HMAC for a timestamp and body (what Slack sends; tests and fakes).
std::string slack_signature(std::string_view signing_secret, std::string_view timestamp, std::string_view body);

}  // namespace baton::slack
