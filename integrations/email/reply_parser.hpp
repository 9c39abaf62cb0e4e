#pragma once
// What an inbound mail in the replies mailbox is, and what it asks: a person's
// reply ("ack" above the quoted page), an auto-reply to ignore, a bounce of a
// page, or baton's own mail. Pure: built on reply_mime.hpp, tested without a server.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "integrations/action_links.hpp"

namespace baton::integrations {

enum class MailKind {
  reply,       ///< a person's mail: its `command` (if any) may act
  auto_reply,  ///< ignored: Auto-Submitted, Precedence bulk/junk/list, out of office, mailing lists
  bounce,      ///< a delivery failure report (RFC 3464) or a MAILER-DAEMON notice: the page failed
  own,         ///< sent by baton itself
};
const char* to_string(MailKind kind);

struct InboundMail {
  MailKind kind = MailKind::reply;
  std::string why;  ///< for auto_reply / own / bounce: which sign decided (for the log)
  std::string from;  ///< the From addr-spec, as written
  std::string subject;  ///< decoded
  std::string message_id;  ///< "<...>", may be empty
  /// In-Reply-To first, then References from the newest back.
  std::vector<std::string> refers_to;
  /// To, Cc, Delivered-To, X-Original-To addr-specs: where the reply token's plus-address shows.
  std::vector<std::string> recipients;
  std::string new_text;  ///< the reply's own text: quoted part and signature stripped, trimmed
  bool from_html = false;
  std::optional<Action> command;  ///< the first word of new_text as a command
  // Bounces
  std::vector<std::string> bounced_ids;  ///< Message-IDs of the returned message
  std::string bounce_detail;  ///< "5.1.1 (smtp; 550 5.1.1 user unknown)", bounded, one line
};

/// Classifies and reads one message: `header` is its header block, `body` its
/// body (possibly only a prefix). `own_addresses`: baton's sender and reply
/// addresses (compared case-insensitively, subaddress ignored).
InboundMail read_inbound_mail(std::string_view header, std::string_view body,
                              const std::vector<std::string>& own_addresses);

/// The text above the quoted part: stops at the first ">" line, an attribution
/// ("On ... wrote:", also wrapped over two lines, and a few other languages),
/// an Outlook block ("-----Original Message-----", a "From:" line followed by
/// "Sent:"/"Date:", a "____" rule) or a signature delimiter ("-- "). Trimmed.
std::string strip_quoted(std::string_view text);

/// The command of a reply's first word: ack / acknowledge / 1 -> acknowledge,
/// resolve / 2 -> resolve, escalate / 3 -> escalate (case-insensitive, trailing
/// punctuation ignored); nullopt otherwise.
std::optional<Action> reply_command(std::string_view new_text);

/// Case-insensitive address comparison; the subaddress ("+tag") is kept.
bool same_address(std::string_view a, std::string_view b);

}  // namespace baton::integrations
