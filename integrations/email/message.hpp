#pragma once
// The email channel's message: an RFC 5322 / MIME mail built from a Delivery by
// pure functions, so its structure is tested without a server.
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "engine/time.hpp"
#include "integrations/action_links.hpp"
#include "integrations/notifier.hpp"

namespace baton::integrations {

struct EmailConfig {
  std::string url;  ///< smtp://host:587 (STARTTLS) or smtps://host:465 (implicit TLS)
  std::string from;  ///< envelope and header sender address, e.g. pager@example.com
  std::string from_name = "baton";
  std::string username;  ///< AUTH when set
  std::string password;
  bool require_starttls = true;  ///< smtp:// only: refuse to send without STARTTLS
  std::string ca_file;           ///< optional CA bundle; empty = the system store
  bool verify_peer = true;       ///< certificate and host name checks; off only for development
  std::chrono::milliseconds timeout{10000};  ///< whole transaction, connect included
  std::string public_url;         ///< base of links, e.g. https://baton.example.com
  std::string message_id_domain;  ///< default: host of public_url, else "baton.local"
};

struct EmailMessage {
  std::string from;             ///< envelope sender (MAIL FROM)
  std::vector<std::string> to;  ///< envelope recipients (RCPT TO); empty without an address
  std::string data;             ///< the whole message, CRLF line ends
  std::string message_id;       ///< "<incident-N.notification-M@domain>"
};

/// Builds the mail for `d` at `now`. Headers: Date, From ("<from_name>" <from>),
/// To (the person), Subject ("[baton] #42 CRITICAL: <summary>" for pages,
/// "[baton] #42 acknowledged by <who>: ..." / "resolved" / "updated" for updates;
/// RFC 2047 B encoded-words of <= 75 chars when not plain ASCII or too long),
/// Message-ID, In-Reply-To and References, MIME-Version, Auto-Submitted:
/// auto-generated, X-Baton-Incident: <n>, and a multipart/alternative body
/// (random boundary) of text/plain and text/html, UTF-8, quoted-printable, so
/// no line exceeds 78 characters.
///
/// Threading: every mail about incident N refers to the root id
/// `<incident-N@domain>` (In-Reply-To and References) and has its own id
/// `<incident-N.notification-M@domain>`, M being the notification id, so a
/// retry keeps its id. The root is never sent; clients thread on References.
///
/// Alert text (summary, source, service and person names) has control
/// characters (CR, LF, ...) replaced by spaces and invalid UTF-8 replaced
/// before it reaches a header, and is HTML-escaped in the HTML part. Pages to a
/// person with a signer carry one-click links `<public_url>/actions/<token>` for
/// acknowledge, resolve and escalate (24 h, bound to the person); every mail
/// links the incident at `<public_url>/api/v1/incidents/<n>`.
EmailMessage build_email(const Delivery& d, const EmailConfig& c, const ActionSigner* signer,
                         engine::TimePoint now);

/// "Thu, 01 Jan 2026 00:00:00 +0000" (RFC 5322 section 3.3, UTC).
std::string rfc5322_date(engine::TimePoint t);

/// `text` (UTF-8) as RFC 2047 "=?UTF-8?B?...?=" words of whole characters,
/// each <= 68 chars so that "Subject: " plus one word fits in 78; callers fold
/// between words (CRLF SP), which decoders ignore between encoded-words.
std::vector<std::string> encode_header_words(std::string_view text);

/// A conservative check of an addr-spec: local@domain, printable ASCII, no
/// spaces, quotes, angle brackets, commas or control characters.
bool is_valid_email_address(std::string_view address);

}  // namespace baton::integrations
