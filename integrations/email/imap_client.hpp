#pragma once
// A small blocking IMAP client on libcurl (RFC 3501; imaps:// implicit TLS,
// imap:// with STARTTLS per RFC 2595) for the replies mailbox. Blocking by
// design: it runs only on the IMAP poller's own thread (imap_poller.hpp, and
// docs/architecture.md "Threads" for why not on the shared curl multi handle).
// curl stays in the .cpp.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/result.hpp"
#include "integrations/email/reply_config.hpp"

namespace baton::integrations {

/// The keyword baton sets (with \Seen) on each message it has dealt with.
inline constexpr const char* kImapProcessedKeyword = "BatonProcessed";

/// One message as fetched: its header block and a bounded prefix of its body.
struct ImapMessage {
  std::uint64_t uid = 0;
  std::string header;
  std::string body;
};

/// Not thread-safe: one thread uses it. Commands reuse one connection while it
/// stays up. Errors: a refused login is auth_revoked, everything else (DNS,
/// connect, TLS, STARTTLS missing while required, a NO/BAD answer, timeout,
/// abort) transient. Messages never carry the password.
class ImapClient {
 public:
  /// std::invalid_argument when `config.url` is not imap:// or imaps://.
  /// `ca_file` falls back as the config says (the caller resolves it).
  explicit ImapClient(EmailRepliesConfig config);
  ~ImapClient();
  ImapClient(const ImapClient&) = delete;
  ImapClient& operator=(const ImapClient&) = delete;

  /// UIDs of the mailbox's messages not deleted and not yet marked processed,
  /// lowest first, at most `max`.
  Result<std::vector<std::uint64_t>> unprocessed(std::size_t max);
  /// The header (at most `max_header` bytes) and the first `max_body` bytes of
  /// the body of message `uid`; a 10 MB message costs no more than that.
  Result<ImapMessage> fetch(std::uint64_t uid, std::size_t max_header, std::size_t max_body);
  /// Sets \Seen and kImapProcessedKeyword on `uid`: no later poll reads it again.
  Result<void> mark_processed(std::uint64_t uid);
  /// Puts `message` (RFC 5322 text) into the mailbox (APPEND; tests deliver with it).
  Result<void> append(const std::string& message);
  /// Makes a command in progress fail soon (thread-safe): for stopping.
  void abort();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace baton::integrations
