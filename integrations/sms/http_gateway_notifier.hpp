#pragma once
// A generic HTTP SMS gateway channel (MethodKind::sms) for providers other
// than Twilio (a generic HTTP SMS gateway): one templated request per message.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/time.hpp"
#include "integrations/common/async_http.hpp"
#include "integrations/http_client.hpp"
#include "integrations/notifier.hpp"
#include "integrations/common/send_pacer.hpp"
#include "integrations/sms/sms_gateway_config.hpp"

namespace baton::integrations {

/// Sends the body template filled from the delivery (text: page_text()) with
/// Content-Type `content_type` (unless a configured header sets it) and
/// Idempotency-Key (the notification's). Errors: classify(); a person without
/// a phone is `permanent`. Thread-safe: one HttpClient per calling thread.
/// reserve() paces all sends through this gateway at messages_per_second.
class HttpGatewayNotifier final : public Notifier {
 public:
  /// std::invalid_argument for an empty url or a rate that is not positive.
  /// `async_http` may be null (blocking sends only).
  explicit HttpGatewayNotifier(SmsGatewayConfig config, std::shared_ptr<AsyncHttpClient> async_http = nullptr);

  engine::MethodKind method() const override { return engine::MethodKind::sms; }
  std::optional<engine::TimePoint> reserve(const Delivery& delivery, engine::TimePoint now) override;
  Result<void> send(const Delivery& delivery) override;
  bool is_async() const override { return async_http_ != nullptr; }
  void send_async(const Delivery& delivery, std::function<void(Result<void>)> done) override;

 private:
  /// The request for `delivery`, or the permanent error that stops it.
  Result<HttpRequest> request_for(const Delivery& delivery) const;

  std::shared_ptr<AsyncHttpClient> async_http_;
  SmsGatewayConfig config_;
  SendPacer pacer_;
};

/// How a placeholder's value is escaped for a template.
enum class TemplateEscaping { json, form, none };
/// json for content types naming json (application/json, application/*+json),
/// form for application/x-www-form-urlencoded, none otherwise; parameters
/// such as "; charset=utf-8" are ignored.
TemplateEscaping escaping_for(std::string_view content_type);

/// `text` with {to}, {text} and {incident} replaced in one pass (values are
/// never re-scanned) by `to`, `message` and `incident`, escaped as asked.
std::string fill_template(std::string_view text, TemplateEscaping escaping, std::string_view to,
                          std::string_view message, std::int64_t incident);

}  // namespace baton::integrations
