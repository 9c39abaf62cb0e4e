#pragma once
// A real SMTP server for tests: Debian's aiosmtpd (tests/support/smtp_server.py)
// run by /usr/bin/python3 on 127.0.0.1 and an ephemeral port, with a
// self-signed certificate for localhost/127.0.0.1 made by openssl at start.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace baton::test {

struct SmtpServerOptions {
  enum class Tls { none, starttls, implicit };
  Tls tls = Tls::starttls;        ///< none: no STARTTLS offered at all
  bool require_starttls = true;   ///< starttls: refuse MAIL before STARTTLS (530)
  std::string username;           ///< when set, AUTH is required (only after TLS, if TLS)
  std::string password;
  std::vector<std::string> reject_550;  ///< RCPT TO these: "550 5.1.1 no such user"
  std::vector<std::string> reject_451;  ///< RCPT TO these: "451 4.3.0 try again later"
  std::chrono::milliseconds data_delay{0};  ///< wait this long before answering each DATA
};

/// One message as the server accepted it.
struct ReceivedMail {
  std::string mail_from;             ///< envelope sender, without <>
  std::vector<std::string> rcpt_to;  ///< envelope recipients
  bool secure = false;               ///< TLS was in use
  std::string user;                  ///< the AUTH login, empty without AUTH
  std::string data;                  ///< the message as received (CRLF line ends)
};

/// Not thread-safe (one test thread). The process dies with the object, and on
/// its own when the test process dies (its stdin closes).
class SmtpServer {
 public:
  /// Running when constructed. std::runtime_error with a clear message when
  /// /usr/bin/python3, aiosmtpd or openssl is missing or the server fails to start.
  explicit SmtpServer(SmtpServerOptions options = {});
  ~SmtpServer();  ///< stop(), then removes the temporary directory
  SmtpServer(const SmtpServer&) = delete;
  SmtpServer& operator=(const SmtpServer&) = delete;

  std::uint16_t port() const { return port_; }
  /// "smtp://127.0.0.1:<port>" (or smtps:// with implicit TLS); `host` may be "localhost".
  std::string url(std::string_view host = "127.0.0.1") const;
  /// The self-signed certificate (PEM), to use as the client's CA file.
  std::string ca_file() const;

  /// Every message received so far, in order of arrival.
  std::vector<ReceivedMail> messages() const;
  /// The most DATA transactions that were waiting for their answer at once.
  std::size_t peak_data_in_progress() const;
  /// True once at least `n` messages were received; false after `timeout`.
  bool wait_for_messages(std::size_t n, std::chrono::milliseconds timeout) const;

  /// Terminates the server (SIGTERM, then waits for it). Idempotent.
  void stop();

 private:
  SmtpServerOptions options_;
  std::string dir_;  ///< temporary: cert, key, log, mail/
  int pid_ = -1;
  int stdin_fd_ = -1;
  std::uint16_t port_ = 0;
};

}  // namespace baton::test
