#pragma once
// The email channel (MethodKind::email): sends build_email()'s message to the
// person's address through an SMTP relay with libcurl (kept out of this header).
#include <memory>
#include <string_view>

#include "engine/time.hpp"
#include "integrations/action_links.hpp"
#include "integrations/email/message.hpp"
#include "integrations/notifier.hpp"

namespace baton::integrations {

/// TLS: smtps:// is implicit TLS; smtp:// upgrades with STARTTLS, required when
/// `require_starttls` (else tried when offered). The peer's certificate and host
/// name are verified (against `ca_file` when set) unless `verify_peer` is off.
/// AUTH (PLAIN/LOGIN, whatever the server offers) when `username` is set.
///
/// Errors, mapped by classify_smtp(): a person without a (valid) email
/// address is permanent and nothing is sent; connection, timeout and TLS
/// failures are transient; 4xx replies transient, 5xx permanent; rejected
/// credentials auth_revoked; no STARTTLS while required permanent.
/// Thread-safe: one curl handle per calling thread, reused across sends.
class SmtpNotifier final : public Notifier {
 public:
  /// `signer` may be null (no action links); `clock` must outlive the notifier.
  /// std::invalid_argument when `url` is not smtp:// or smtps:// or `from` is
  /// not an address (a configuration error).
  SmtpNotifier(EmailConfig config, std::shared_ptr<const ActionSigner> signer, const engine::Clock& clock);

  engine::MethodKind method() const override { return engine::MethodKind::email; }
  Result<void> send(const Delivery& delivery) override;

 private:
  EmailConfig config_;
  std::shared_ptr<const ActionSigner> signer_;
  const engine::Clock& clock_;
};

/// The one table from a libcurl outcome to the taxonomy. `curl_code` is a
/// CURLcode value, `smtp_reply` the last SMTP reply code (CURLINFO_RESPONSE_CODE,
/// 0 if none), `detail` curl's error text. 0 is success. Login denied (or a 530
/// / 535 reply) -> auth_revoked; STARTTLS refused when required -> permanent;
/// a malformed URL or unsupported scheme -> invalid_request; connection, DNS,
/// timeout and TLS errors -> transient; otherwise the reply decides: 4xx
/// transient, 5xx permanent; anything else transient.
Result<void> classify_smtp(int curl_code, int smtp_reply, std::string_view detail);

}  // namespace baton::integrations
