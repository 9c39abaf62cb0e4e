#pragma once
// A real IMAP server for tests: Debian's Dovecot (package dovecot-imapd, see
// scripts/deps.sh) started as `dovecot -F -c <dir>/dovecot.conf` on 127.0.0.1
// and two free ports (IMAP with STARTTLS, and IMAPS), with a throwaway Maildir,
// one passwd-file user and a self-signed certificate for localhost/127.0.0.1
// made by openssl. Runs as root (mail owned by "nobody", Dovecot's own users
// for its services) and as any other user (everything as that user).
#include <cstdint>
#include <optional>
#include <string>

namespace baton::test {

/// Not thread-safe (one test thread).
class Dovecot {
 public:
  /// Why Dovecot cannot run here (not installed, no openssl), or nullopt.
  static std::optional<std::string> unavailable();

  /// Running (accepting connections) when constructed. std::runtime_error with
  /// Dovecot's log when it fails to start.
  Dovecot();
  ~Dovecot();  ///< stop(), then removes the temporary directory
  Dovecot(const Dovecot&) = delete;
  Dovecot& operator=(const Dovecot&) = delete;

  /// "imaps://127.0.0.1:<port>/INBOX" (implicit TLS).
  std::string imaps_url() const;
  /// "imap://127.0.0.1:<port>/INBOX" (STARTTLS offered).
  std::string imap_url() const;
  std::string ca_file() const;  ///< the self-signed certificate (PEM)
  std::string username() const { return "baton"; }
  std::string password() const { return "imap-secret"; }

  /// SIGTERM, then waits (SIGKILL after 10 s). Idempotent.
  void stop();

 private:
  void start();  ///< writes the config and starts Dovecot in dir_
  std::string dir_;
  int pid_ = -1;
  std::uint16_t imap_port_ = 0;
  std::uint16_t imaps_port_ = 0;
};

}  // namespace baton::test
