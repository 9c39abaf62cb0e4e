#pragma once
// A small non-blocking SMTP submission client on Boost.Asio: one connection per
// message, every step a handler on the caller's io_context, so no thread waits
// on the network (docs/async_http.md, "SMTP"). Asio and OpenSSL stay in the .cpp.
//
// RFC 5321 (the transaction), RFC 3207 (STARTTLS), RFC 4954 (AUTH PLAIN and
// LOGIN), RFC 8314 (implicit TLS for smtps://).
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "integrations/email/message.hpp"

namespace boost::asio {
class io_context;
}

namespace baton::integrations {

/// One message: the envelope and the data (RFC 5322 text; dot-stuffed and
/// given CRLF line ends by the client).
struct SmtpMail {
  std::string from;             ///< MAIL FROM address, without <>
  std::vector<std::string> to;  ///< RCPT TO addresses, without <>; at least one
  std::string data;
};

/// How one send ended. `failure` says which way it failed (none = the server
/// answered the end of the data with 250); classify_smtp() maps it onto the
/// error taxonomy. `message` never holds credentials.
struct SmtpOutcome {
  enum class Failure {
    none,
    invalid_request,       ///< a bad envelope (empty, or an address with CR, LF, < or >)
    network,               ///< resolving, connecting, or the connection lost
    timeout,               ///< the whole exchange outlived the configured timeout
    tls,                   ///< handshake or certificate verification failed
    starttls_unavailable,  ///< smtp:// with require_starttls, and no STARTTLS
    auth,                  ///< AUTH refused (5xx), or no mechanism we speak
    reply,                 ///< the server refused a step: `reply` decides
    protocol,              ///< a malformed or oversized reply
    cancelled,             ///< shutdown()
  };
  Failure failure = Failure::none;
  int reply = 0;  ///< the reply code that decided, 0 if none
  std::string message;
};

/// Sends with `config`'s url (smtp://host[:port][/ehlo-domain], port 25 by
/// default; smtps:// port 465), TLS settings (require_starttls, ca_file,
/// verify_peer: certificate chain and host name or IP checked, SNI sent for
/// names), credentials (AUTH PLAIN, else LOGIN, when the server offers AUTH;
/// without an AUTH offer the transaction goes on unauthenticated) and timeout
/// (the whole exchange, resolving included). EHLO names the URL's path, else
/// this host's name; a server that refuses EHLO gets HELO.
///
/// No limit of its own on sessions at once: the Dispatcher caps each channel
/// (dispatch.max_in_flight_per_channel).
class SmtpClient {
 public:
  using Done = std::function<void(SmtpOutcome)>;

  /// std::invalid_argument when `config.url` is not a usable smtp:// or
  /// smtps:// URL. A ca_file that cannot be loaded fails each TLS send (tls).
  SmtpClient(boost::asio::io_context& io, const EmailConfig& config);
  /// shutdown(). Sessions still running end on `io` (cancelled); their done
  /// never runs if `io` is destroyed first.
  ~SmtpClient();
  SmtpClient(const SmtpClient&) = delete;
  SmtpClient& operator=(const SmtpClient&) = delete;

  /// Thread-safe, returns at once. `done` (which must not throw) runs exactly
  /// once, on a thread running `io`, never inside send(). It runs as soon as
  /// the server answered the end of the data; QUIT follows, waited for at most
  /// a second.
  void send(SmtpMail mail, Done done);

  /// Checks the login without sending mail (`baton check-config --online`):
  /// connects, negotiates TLS as send() does, authenticates when a username is
  /// set (Failure::auth when the server offers no AUTH or refuses it), then
  /// QUITs. Failure::none = all of that worked. Same threading as send().
  void check_login(Done done);

  /// Thread-safe, idempotent, never blocks: every session is closed (a send
  /// not yet answered completes with Failure::cancelled, message "cancelled:
  /// ..."), and so is every later send.
  void shutdown();

  /// Sessions open (QUIT included). Thread-safe.
  std::size_t sessions() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace baton::integrations
