#pragma once
// Email replies (README "Email replies"): the IMAP poller (`baton-imap`) reads
// the replies mailbox; each message is classified (integrations/email/
// reply_parser.hpp) and, when it is a person's reply that carries a valid
// reply token of a mail sent to that very person and starts with a command,
// run through the command layer (bot/commands.hpp) as that person via email,
// then confirmed by a one-line threaded mail. Bounces of a page fail that page
// (the contact chain moves on). Everything else is logged and changes nothing.
// Each message is claimed once in the database (single-use token), so two
// instances, or a restart between acting and marking, never act twice.
#include <cstdint>
#include <memory>

#include "integrations/email/imap_client.hpp"

namespace boost::asio {
class io_context;
}

namespace baton::bot {

class App;

class EmailReplies {
 public:
  /// Null when smtp.replies is off. `net_loop` runs the confirmation mails'
  /// SMTP sessions; `app` and `net_loop` must outlive the object.
  static std::unique_ptr<EmailReplies> create(App& app, boost::asio::io_context& net_loop);
  ~EmailReplies();
  EmailReplies(const EmailReplies&) = delete;
  EmailReplies& operator=(const EmailReplies&) = delete;

  /// Starts polling (App::start). In a cluster only the engine's owner polls.
  void start();
  /// Stops polling and cancels confirmation mails not yet sent (App::stop, before the network loop stops).
  void stop();
  /// The next poll starts now (tests).
  void poll_now();
  /// Polls finished since start (tests).
  std::uint64_t polls() const;

  /// One fetched message (poller thread): true when settled (mark it read).
  bool handle(const integrations::ImapMessage& message);

 private:
  struct Impl;
  explicit EmailReplies(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace baton::bot
