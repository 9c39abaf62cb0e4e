#pragma once
// Reads the replies mailbox every `poll` on one thread of its own
// (`baton-imap`) that does nothing else: libcurl's IMAP waits for the server
// inside curl calls (docs/architecture.md, "Threads"), so it cannot share the
// non-blocking runtime. Each message not yet processed is fetched (header and
// a bounded prefix of the body), handed to `handle`, and marked processed
// (\Seen and a keyword, kept by the server) once `handle` says it is settled,
// so it is read once, across restarts and instances.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

#include "integrations/email/imap_client.hpp"
#include "integrations/email/reply_config.hpp"

namespace baton::integrations {

struct ImapPollerOptions {
  std::size_t max_header_bytes = 64 * 1024;
  std::size_t max_body_bytes = 64 * 1024;
  std::size_t max_per_poll = 100;
};

class ImapPoller {
 public:
  /// Runs on the poller thread. true = settled (the message is marked and never
  /// read again); false = leave it for the next poll (e.g. the database failed).
  using Handler = std::function<bool(const ImapMessage&)>;
  /// Runs on the poller thread before each poll; false skips it (e.g. this
  /// instance does not own the engine). May be empty (always poll).
  using Gate = std::function<bool()>;

  /// std::invalid_argument for a bad url (as ImapClient). Does not run yet.
  ImapPoller(EmailRepliesConfig config, Handler handle, Gate gate = {}, ImapPollerOptions options = {});
  /// stop().
  ~ImapPoller();
  ImapPoller(const ImapPoller&) = delete;
  ImapPoller& operator=(const ImapPoller&) = delete;

  /// Starts the thread; its first poll is at once.
  void start();
  /// Thread-safe: the next poll starts now (tests, and after a takeover).
  void poll_now();
  /// Thread-safe, idempotent: aborts an IMAP command in progress and joins the thread.
  void stop();
  /// Thread-safe: polls finished (successful or not) since start, for tests.
  std::uint64_t polls() const;
  /// Thread-safe: polls that failed (server unreachable, login refused...).
  std::uint64_t failures() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace baton::integrations
