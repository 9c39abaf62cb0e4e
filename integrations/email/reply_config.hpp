#pragma once
// `smtp.replies`: where baton reads the replies to its page emails (IMAP), and
// the address replies are sent to. Parsed by bot/config_replies.cpp; read by the
// IMAP poller (integrations/email/imap_poller.hpp) and the email channel, which
// puts a reply token into Reply-To and Message-ID (integrations/email/reply_token.hpp).
#include <chrono>
#include <string>

namespace baton::integrations {

struct EmailRepliesConfig {
  bool enabled = false;  ///< true when a url is set
  /// imaps://host[:port]/MAILBOX (implicit TLS, port 993) or imap://host[:port]/MAILBOX
  /// (STARTTLS, RFC 2595; port 143). The mailbox defaults to INBOX.
  std::string url;
  std::string username;
  std::string password;  ///< never logged
  std::chrono::milliseconds poll{10000};  ///< time between two looks at the mailbox
  /// imap:// only: refuse to log in without STARTTLS (`starttls: required`, the
  /// default); `optional` uses it when offered.
  bool require_starttls = true;
  std::string ca_file;  ///< PEM bundle; empty = smtp.ca_file, else the system store
  bool verify_peer = true;
  /// Replies go to this address's plus-address, "local+<token>@domain" (RFC 5233
  /// subaddress); it must be delivered into the mailbox at `url`. Empty: only the
  /// Message-ID carries the token (In-Reply-To / References of the reply).
  std::string address;
  std::chrono::milliseconds timeout{30000};  ///< one IMAP command, connecting included
};

}  // namespace baton::integrations
