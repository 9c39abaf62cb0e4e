#pragma once
// The reply token of a page email: which page a reply answers, unforgeable
// without baton's key. It rides in the email's Message-ID (a reply's
// In-Reply-To / References name it, RFC 5322 section 3.6.4) and in its Reply-To
// plus-address (RFC 5233), so either proves the reply answers a mail baton
// sent to that person. Pure.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace baton::integrations {

/// What a token names: notification `notification` of incident `incident`.
/// `tag` is the MAC (32 lowercase hex digits), bound to the addressee too.
struct ReplyRef {
  std::int64_t incident = 0;
  std::int64_t notification = 0;
  std::string tag;
};

/// The key tokens are made with: derived from server.action_secret when set,
/// else from the IMAP password (each under its own label, so the key is never
/// either secret itself). Shared by every instance with the same config.
std::string email_reply_secret(std::string_view action_secret, std::string_view imap_password);

/// Thread-safe (immutable).
class ReplyTokenSigner {
 public:
  /// std::invalid_argument for an empty secret.
  explicit ReplyTokenSigner(std::string secret);

  /// HMAC-SHA256(secret, "baton-email-reply-v1|incident|notification|person"),
  /// the first 16 bytes in hex.
  std::string tag(std::int64_t incident, std::int64_t notification, std::string_view person) const;
  /// "<incident>.<notification>.<tag>": the token in an address or a Message-ID.
  std::string token(std::int64_t incident, std::int64_t notification, std::string_view person) const;
  /// True when `ref.tag` is the tag of (ref.incident, ref.notification, person); constant time.
  bool verify(const ReplyRef& ref, std::string_view person) const;

 private:
  std::string secret_;
};

/// `address` ("baton@example.com") with "+<token>" added to its local part.
std::string reply_plus_address(std::string_view address, std::string_view token);

/// The token in a plus-address "local+<incident>.<notification>.<tag>@domain"
/// (any local part, any domain; case-insensitive), or nullopt.
std::optional<ReplyRef> ref_from_address(std::string_view address);

/// The token in a Message-ID baton made, "<incident-N.notification-M.S.<tag>@domain>"
/// (angle brackets optional), or nullopt.
std::optional<ReplyRef> ref_from_message_id(std::string_view message_id);

}  // namespace baton::integrations
