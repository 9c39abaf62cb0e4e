#pragma once
// The generic outgoing webhook channel (MethodKind::webhook): POSTs a JSON
// description of the incident to a configured URL.
#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/time.hpp"
#include "integrations/action_links.hpp"
#include "integrations/common/async_http.hpp"
#include "integrations/http_client.hpp"
#include "integrations/notifier.hpp"
#include "integrations/webhook/webhook_config.hpp"

namespace baton::integrations {

/// Headers: Content-Type application/json, Idempotency-Key (the notification's),
/// User-Agent baton/0.1, the configured ones, and with a signing secret
/// `X-Baton-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
/// Errors: transport and HTTP statuses mapped by classify(). Thread-safe: one
/// HttpClient per calling thread for send(); with an AsyncHttpClient, the
/// Dispatcher uses send_async() and no thread waits on the round trip.
class WebhookNotifier final : public Notifier {
 public:
  /// `signer` may be null (no action links); `clock` must outlive the notifier.
  /// `async_http` may be null (blocking sends only).
  WebhookNotifier(WebhookConfig config, std::shared_ptr<const ActionSigner> signer, const engine::Clock& clock,
                  std::shared_ptr<AsyncHttpClient> async_http = nullptr);

  engine::MethodKind method() const override { return engine::MethodKind::webhook; }
  Result<void> send(const Delivery& delivery) override;
  bool is_async() const override { return async_http_ != nullptr; }
  void send_async(const Delivery& delivery, std::function<void(Result<void>)> done) override;

 private:
  HttpRequest request_for(const Delivery& delivery) const;

  std::shared_ptr<AsyncHttpClient> async_http_;
  WebhookConfig config_;
  std::shared_ptr<const ActionSigner> signer_;
  const engine::Clock& clock_;
};

/// The JSON body it posts (exposed for tests and docs):
/// {"event": "incident.page" | "incident.update" | "incident.open_channel",
///  "notification_id", "incident": {"number", "summary", "severity", "state",
///  "service", "service_name", "owner", "source", "created_at",
///  "acknowledged_at", "resolved_at" (ISO 8601 or null), "url"},
///  "person": {"id", "name", "email", "phone"} or null, "step" (1-based),
///  "links": {"acknowledge", "resolve", "escalate"}} — links only for pages to
/// a person with a signer, each `<public_url>/actions/<token>` valid 24 h.
std::string webhook_body(const Delivery& d, const WebhookConfig& c, const ActionSigner* signer,
                         engine::TimePoint now);

/// The X-Baton-Signature value for `body` sent at `now`.
std::string webhook_signature(std::string_view secret, std::string_view body, engine::TimePoint now);

}  // namespace baton::integrations
