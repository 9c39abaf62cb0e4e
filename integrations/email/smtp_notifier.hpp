#pragma once
// The email channel (MethodKind::email): sends build_email()'s message to the
// person's address through an SMTP relay with the non-blocking SmtpClient on
// the service's network io_context (docs/async_http.md, "SMTP").
#include <functional>
#include <memory>

#include "engine/time.hpp"
#include "integrations/action_links.hpp"
#include "integrations/chat_refs.hpp"
#include "integrations/email/message.hpp"
#include "integrations/email/smtp_client.hpp"
#include "integrations/notifier.hpp"

namespace boost::asio {
class io_context;
}

namespace baton::integrations {

/// TLS: smtps:// is implicit TLS; smtp:// upgrades with STARTTLS, required when
/// `require_starttls` (else tried when offered). The peer's certificate and host
/// name are verified (against `ca_file` when set) unless `verify_peer` is off.
/// AUTH (PLAIN, else LOGIN) when `username` is set and the server offers AUTH.
///
/// Errors, mapped by classify_smtp(): a person without a (valid) email
/// address is permanent and nothing is sent; connection, timeout and TLS
/// failures are transient (a refused connection too, so the Dispatcher moves
/// the chain on at once); 4xx replies transient, 5xx permanent; rejected
/// credentials auth_revoked; no STARTTLS while required permanent; shutdown()
/// transient "cancelled: ...".
///
/// Threads: the first mail sent to a person about an incident is the root
/// that the later ones answer (MailThread); its Message-ID is remembered in
/// memory and, when given a ChatRefs, as the ref "email-thread" (conversation:
/// the address), so threads survive a restart while the incident's refs are
/// loaded. Message-IDs carry a random id of this notifier (build_email).
///
/// Given an io_context (the service's network loop), is_async(): sends run as
/// handlers on it, one connection each, as many at once as the Dispatcher lets
/// the channel have. Without one, only the blocking send(). Thread-safe.
class SmtpNotifier final : public Notifier {
 public:
  /// `signer` may be null (no action links); `clock` must outlive the notifier.
  /// std::invalid_argument when `url` is not an smtp:// or smtps:// URL or
  /// `from` is not an address (a configuration error).
  SmtpNotifier(EmailConfig config, std::shared_ptr<const ActionSigner> signer, const engine::Clock& clock,
               boost::asio::io_context& io, std::shared_ptr<ChatRefs> refs = nullptr);
  /// Blocking sends only (bench/bench_fallback.cpp).
  SmtpNotifier(EmailConfig config, std::shared_ptr<const ActionSigner> signer, const engine::Clock& clock);
  ~SmtpNotifier() override;

  engine::MethodKind method() const override { return engine::MethodKind::email; }
  /// Blocking: the same send on a private io_context run by the calling thread.
  Result<void> send(const Delivery& delivery) override;
  bool is_async() const override { return client_ != nullptr; }
  /// Returns at once; `done` runs exactly once, on a thread running the
  /// io_context (or inside this call for a delivery without a valid address).
  void send_async(const Delivery& delivery, std::function<void(Result<void>)> done) override;

  /// Thread-safe, idempotent, never blocks: async sends in progress, and later
  /// ones, complete with a transient "cancelled: ..." (App::stop, next to the
  /// HTTP client's shutdown).
  void shutdown();

 private:
  struct Threads;
  /// The mail for `delivery`, in its thread; `sent` is to be called with it once the relay took it.
  SmtpMail prepare(const Delivery& delivery, std::function<void()>& sent);

  std::shared_ptr<const EmailConfig> config_;
  std::shared_ptr<const ActionSigner> signer_;
  const engine::Clock& clock_;
  std::shared_ptr<Threads> threads_;
  std::unique_ptr<SmtpClient> client_;  // null: blocking sends only
};

/// The one table from a send's outcome to the taxonomy: none is success;
/// auth (or a 530 / 535 reply) -> auth_revoked; STARTTLS missing while
/// required -> permanent; a bad envelope -> invalid_request; network, timeout,
/// TLS, protocol errors and cancellation -> transient; otherwise the reply
/// decides (RFC 5321 section 4.2.1): 5xx permanent, anything else transient.
Result<void> classify_smtp(const SmtpOutcome& outcome);

}  // namespace baton::integrations
