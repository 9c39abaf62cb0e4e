#pragma once
// The query string baton puts on every URL it gives Twilio for one voice call
// (the answer URL, the <Gather> action and the status callback): which page
// the call belongs to, signed, so that a request Twilio signed for one call
// cannot be turned into an answer for another incident or person. Pure.
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/result.hpp"
#include "engine/time.hpp"
#include "integrations/sms/twilio_signature.hpp"

namespace baton::integrations {

/// Where Twilio reaches baton during a call (under server.public_url).
inline constexpr std::string_view kVoiceAnswerPath = "/voice/twilio/answer";
inline constexpr std::string_view kVoiceGatherPath = "/voice/twilio/gather";
inline constexpr std::string_view kVoiceStatusPath = "/voice/twilio/status";

/// The page a call delivers: notification `notification` (a page) of incident
/// `incident` to `person`, valid until `expires`.
struct CallRef {
  std::int64_t notification = 0;
  std::int64_t incident = 0;
  std::string person;
  engine::TimePoint expires{};
};

/// The key that signs call queries: server.action_secret when set, else the
/// Twilio auth token, each under its own label so the key is never either
/// secret itself.
std::string call_token_secret(std::string_view action_secret, std::string_view auth_token);

/// Thread-safe (immutable after construction).
class CallSigner {
 public:
  /// std::invalid_argument for an empty secret.
  explicit CallSigner(std::string secret);

  /// "n=<notification>&i=<incident>&p=<percent-encoded person>&e=<expiry ms>&t=<mac>",
  /// t = base64url(HMAC-SHA256(secret, "baton-voice-call-v1|n|i|e|person")).
  std::string query(const CallRef& call) const;

  /// The call named by a query's decoded parameters (order free, each name
  /// once): invalid_request when one is missing, repeated or not a number;
  /// unauthorized when `t` does not match (constant-time); permanent
  /// ("call link expired") when now >= expires.
  Result<CallRef> verify(const FormParams& query, engine::TimePoint now) const;

 private:
  std::string mac(const CallRef& call) const;
  std::string secret_;
};

}  // namespace baton::integrations
