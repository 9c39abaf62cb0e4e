#pragma once
// The email channel's message: an RFC 5322 / MIME mail built from a Delivery by
// pure functions, so its structure is tested without a server.
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "engine/time.hpp"
#include "integrations/action_links.hpp"
#include "integrations/email/address.hpp"
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
  /// Email replies (smtp.replies, README "Email replies"): with a key, a mail to
  /// a person carries a reply token (integrations/email/reply_token.hpp) in its
  /// Message-ID and, with `reply_address`, a Reply-To plus-address.
  std::string reply_secret;
  std::string reply_address;
};

struct EmailMessage {
  std::string from;             ///< envelope sender (MAIL FROM)
  std::vector<std::string> to;  ///< envelope recipients (RCPT TO); empty without an address
  std::string data;             ///< the whole message, CRLF line ends
  std::string message_id;       ///< "<incident-N.notification-M.<sender_id>@domain>"
};

/// Where one mail belongs in its incident's thread (RFC 5322 section 3.6.4).
struct MailThread {
  /// Makes the sender's Message-IDs its own (random per SmtpNotifier), so an
  /// id never repeats after a database reset or between instances sharing a
  /// host: RFC 5322 wants them unique, and Gmail drops a mail whose id it has
  /// seen. Empty: a random one for this message alone.
  std::string sender_id;
  /// The Message-ID of a mail already sent to this addressee about the
  /// incident (the first), which this one answers; empty: this one starts the thread.
  std::string root;
};

/// Builds the mail for `d` at `now`. Headers: Date, From ("<from_name>" <from>),
/// To (the person), Subject, Message-ID, In-Reply-To and References (when it
/// answers `thread.root`), MIME-Version, Auto-Submitted: auto-generated,
/// X-Baton-Incident: <n>, and a multipart/alternative body (random boundary) of
/// text/plain and text/html, UTF-8, quoted-printable, so no line exceeds 78
/// characters.
///
/// Threading: every mail about incident N has the same subject, "[baton] #42
/// CRITICAL: <summary>" (RFC 2047 B encoded-words of <= 75 chars when not plain
/// ASCII or too long); what happened (paged, acknowledged by, resolved) is the
/// body's headline. Its own id is `<incident-N.notification-M.S@domain>`, M the
/// notification id and S `thread.sender_id`, so a retry keeps its id; it
/// refers (In-Reply-To and References) to `thread.root`, a mail that was sent,
/// so mail readers (Gmail included, which also wants the same subject) keep one
/// thread per incident.
///
/// Alert text (summary, source, service and person names) has control
/// characters (CR, LF, ...) replaced by spaces and invalid UTF-8 replaced
/// before it reaches a header, and is HTML-escaped in the HTML part. Pages to a
/// person with a signer carry one-click links `<public_url>/actions/<token>` for
/// acknowledge, resolve and escalate (24 h, bound to the person); every mail
/// links the incident at `<public_url>/api/v1/incidents/<n>`.
EmailMessage build_email(const Delivery& d, const EmailConfig& c, const ActionSigner* signer,
                         engine::TimePoint now, const MailThread& thread = {});

/// The key email's one-click links are signed with, derived from the action
/// secret (HMAC-SHA256 of a fixed label): a link that verifies with it came
/// from an email, so its action is recorded as via email. Links signed with the
/// action secret itself (webhook consumers' links) still verify with that.
std::string email_link_secret(std::string_view action_secret);

/// "Thu, 01 Jan 2026 00:00:00 +0000" (RFC 5322 section 3.3, UTC).
std::string rfc5322_date(engine::TimePoint t);

/// `text` (UTF-8) as RFC 2047 "=?UTF-8?B?...?=" words of whole characters,
/// each <= 68 chars so that "Subject: " plus one word fits in 78; callers fold
/// between words (CRLF SP), which decoders ignore between encoded-words.
std::vector<std::string> encode_header_words(std::string_view text);


}  // namespace baton::integrations
