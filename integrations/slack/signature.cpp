#include "integrations/slack/signature.hpp"

#include <charconv>
#include <string>

#include "integrations/crypto.hpp"

namespace baton::slack {

std::string slack_signature(std::string_view signing_secret, std::string_view timestamp, std::string_view body) {
  std::string base;
  base.reserve(4 + timestamp.size() + body.size());
  base.append("v0:").append(timestamp).append(":").append(body);
  return "v0=" + integrations::to_hex(integrations::hmac_sha256(signing_secret, base));
}

Result<void> verify_slack_signature(std::string_view signing_secret, std::string_view timestamp_header,
                                    std::string_view signature_header, std::string_view body,
                                    engine::TimePoint now) {
  if (signing_secret.empty() || timestamp_header.empty() || signature_header.empty())
    return fail(ErrorKind::unauthorized, "missing Slack signature headers");

  // Digits only (no sign, no spaces), so "1e9" or " 123" cannot slip through.
  std::int64_t ts = 0;
  const char* first = timestamp_header.data();
  const char* last = first + timestamp_header.size();
  auto [ptr, ec] = std::from_chars(first, last, ts);
  if (ec != std::errc() || ptr != last || timestamp_header.front() == '-' || timestamp_header.size() > 12)
    return fail(ErrorKind::unauthorized, "stale Slack request timestamp");
  const auto now_s = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  const auto skew = now_s > ts ? now_s - ts : ts - now_s;
  if (skew > kSlackReplayWindow.count()) return fail(ErrorKind::unauthorized, "stale Slack request timestamp");

  const std::string expected = slack_signature(signing_secret, timestamp_header, body);
  if (!integrations::constant_time_equal(expected, signature_header))
    return fail(ErrorKind::unauthorized, "bad Slack signature");
  return {};
}

}  // namespace baton::slack
