#pragma once
// Signed one-click action links ("Acknowledge" in an email or a webhook
// consumer's UI): the token carries the claim and its HMAC-SHA256.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "engine/result.hpp"
#include "engine/time.hpp"

namespace baton::integrations {

enum class Action { acknowledge, resolve, escalate };
const char* to_string(Action action);
std::optional<Action> parse_action(std::string_view text);

/// What a link allows: `person` may do `action` on incident `incident` until `expires`.
struct ActionClaim {
  std::int64_t incident = 0;
  Action action = Action::acknowledge;
  std::string person;
  engine::TimePoint expires{};
  std::string nonce;  ///< makes each link unique; random when signed empty
};

/// Thread-safe (immutable after construction).
class ActionSigner {
 public:
  /// std::invalid_argument for an empty secret (a configuration error).
  explicit ActionSigner(std::string secret);

  /// A URL-safe token: base64url(JSON payload) "." base64url(HMAC of the first part).
  std::string sign(const ActionClaim& claim) const;

  /// The claim if the token is intact, ours and not expired at `now`:
  /// invalid_request when garbled, unauthorized when the MAC does not match
  /// (tampered, or another secret), permanent "link expired" when now >= expires.
  /// Single use is the caller's business (see token_id).
  Result<ActionClaim> verify(std::string_view token, engine::TimePoint now) const;

  /// A stable id for single-use bookkeeping: hex SHA-256 of the token.
  static std::string token_id(std::string_view token);

 private:
  std::string secret_;
};

}  // namespace baton::integrations
