#pragma once
// The Twilio SMS channel (MethodKind::sms): one POST to the Messages API per
// page or update (twilio.com/docs/messaging/api/message-resource).
#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/time.hpp"
#include "integrations/http_client.hpp"
#include "integrations/common/async_http.hpp"
#include "integrations/http_client.hpp"
#include "integrations/notifier.hpp"
#include "integrations/common/send_pacer.hpp"

namespace baton::integrations {

struct TwilioConfig {
  std::string base_url = "https://api.twilio.com";
  std::string account_sid;  ///< "AC...", always in the path
  std::string auth_token;   ///< Basic auth AccountSid:AuthToken, unless an API key is set
  std::string api_key_sid;  ///< optional: Basic auth with "SK...:secret" instead
  std::string api_key_secret;
  std::string from;                   ///< sending number or sender id...
  std::string messaging_service_sid;  ///< ...or "MG..." (wins when both are set)
  double messages_per_second = 1.0;   ///< per sending number
  std::string status_callback_url;    ///< e.g. <public_url>/sms/twilio/status; empty = none
  std::chrono::seconds validity{600};  ///< ValidityPeriod, clamped to 1..36000; 0 = not sent
  std::chrono::milliseconds timeout{10000};
};

/// POST {base_url}/2010-04-01/Accounts/{AccountSid}/Messages.json, form fields
/// To (the person's phone), MessagingServiceSid or From, Body (page_text()),
/// ValidityPeriod, and StatusCallback = status_callback_url +
/// "?n=<notification id>&i=<incident>&p=<percent-encoded person id>" ('&'
/// instead of '?' when the URL has a query). Headers: Authorization Basic,
/// Content-Type application/x-www-form-urlencoded, Accept application/json.
/// Errors: classify_twilio(); a person without a phone is `permanent`.
/// Thread-safe: one HttpClient per calling thread. reserve() paces sends per
/// sender at messages_per_second.
class TwilioNotifier final : public Notifier {
 public:
  /// std::invalid_argument for a config without an account SID, credentials,
  /// a sender, or a positive rate.
  /// `async_http` may be null (blocking sends only).
  explicit TwilioNotifier(TwilioConfig config, std::shared_ptr<AsyncHttpClient> async_http = nullptr);

  engine::MethodKind method() const override { return engine::MethodKind::sms; }
  std::optional<engine::TimePoint> reserve(const Delivery& delivery, engine::TimePoint now) override;
  Result<void> send(const Delivery& delivery) override;
  bool is_async() const override { return async_http_ != nullptr; }
  void send_async(const Delivery& delivery, std::function<void(Result<void>)> done) override;

 private:
  /// The request for `delivery`, or the permanent error that stops it.
  Result<HttpRequest> request_for(const Delivery& delivery) const;

  std::shared_ptr<AsyncHttpClient> async_http_;
  TwilioConfig config_;
  std::string sender_;  // the pacing key
  SendPacer pacer_;
};

/// The form fields of the request (exposed for tests), in the order sent.
std::vector<std::pair<std::string, std::string>> twilio_message_fields(const Delivery& d, const TwilioConfig& c);

/// Twilio's answer mapped onto the taxonomy, by HTTP status first and Twilio's
/// `code` second: 2xx ok; 429 or code 20429 rate_limited (Retry-After); 5xx
/// and 408 transient; 401 or code 20003 auth_revoked; any other status
/// (21211, 21408, 21610, 21614...) permanent. Messages read
/// "twilio <code>: <message>", or "twilio HTTP <status>: <body start>".
Result<void> classify_twilio(const HttpResponse& response);

}  // namespace baton::integrations
