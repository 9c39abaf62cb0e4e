#pragma once
// The voice channel (MethodKind::voice): a page is a phone call placed with
// Twilio Programmable Voice (twilio.com/docs/voice/api/call-resource#create-a-call-resource).
// What the call says and what a key press does is answered by bot/ at the
// URLs the call carries (see call_token.hpp and twiml.hpp).
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/time.hpp"
#include "integrations/common/async_http.hpp"
#include "integrations/http_client.hpp"
#include "integrations/notifier.hpp"
#include "integrations/common/send_pacer.hpp"
#include "integrations/voice/call_token.hpp"

namespace baton::integrations {

struct TwilioVoiceConfig {
  std::string base_url = "https://api.twilio.com";
  std::string account_sid;  ///< "AC...", always in the path
  std::string auth_token;   ///< Basic auth AccountSid:AuthToken, unless an API key is set
  std::string api_key_sid;  ///< optional: Basic auth with "SK...:secret" instead
  std::string api_key_secret;
  std::string from;               ///< the caller id: an E.164 number of the account
  double calls_per_second = 1.0;  ///< per caller number
  std::string public_url;         ///< where Twilio reaches baton, no trailing '/'
  std::string link_secret;        ///< signs each call's URLs (call_token_secret())
  std::chrono::seconds ring_timeout{30};  ///< Twilio's Timeout: ring this long, then no-answer
  engine::Millis link_ttl{std::chrono::hours(6)};  ///< a call's URLs stop working after this
  std::chrono::milliseconds timeout{10000};
};

/// Pages: POST {base_url}/2010-04-01/Accounts/{AccountSid}/Calls.json with the
/// form fields of twilio_call_fields(); Basic auth, Content-Type
/// application/x-www-form-urlencoded, Accept application/json. A 2xx means
/// Twilio queued the call; whether anyone answered arrives later at the status
/// callback (bot/ reports a call nobody took as a delivery failure).
/// Updates and incident channels place no call and succeed at once.
/// Errors: classify_twilio(); a person without a phone is `permanent`.
/// Thread-safe; reserve() paces calls per caller number at calls_per_second.
class TwilioVoiceNotifier final : public Notifier {
 public:
  /// std::invalid_argument for a config without an account SID, credentials,
  /// a caller number, a public URL, a link secret or a positive rate.
  /// `async_http` may be null (blocking sends only).
  TwilioVoiceNotifier(TwilioVoiceConfig config, const engine::Clock& clock,
                      std::shared_ptr<AsyncHttpClient> async_http = nullptr);

  engine::MethodKind method() const override { return engine::MethodKind::voice; }
  std::optional<engine::TimePoint> reserve(const Delivery& delivery, engine::TimePoint now) override;
  Result<void> send(const Delivery& delivery) override;
  bool is_async() const override { return async_http_ != nullptr; }
  void send_async(const Delivery& delivery, std::function<void(Result<void>)> done) override;

  /// The request placing the call for a page, or the permanent error that stops it.
  Result<HttpRequest> request_for(const Delivery& delivery) const;

 private:
  std::shared_ptr<AsyncHttpClient> async_http_;
  TwilioVoiceConfig config_;
  const engine::Clock& clock_;
  CallSigner signer_;
  SendPacer pacer_;
};

/// The form fields, in the order sent: To (the person's phone), From, Url
/// (public_url + kVoiceAnswerPath + "?" + the signed call query), Method=POST,
/// StatusCallback (public_url + kVoiceStatusPath + "?" + the same query),
/// StatusCallbackMethod=POST, StatusCallbackEvent once each for initiated,
/// ringing, answered and completed, MachineDetection=Enable, Timeout (seconds).
/// The query's link expires at now + link_ttl.
FormParams twilio_call_fields(const Delivery& d, const TwilioVoiceConfig& c, const CallSigner& signer,
                              engine::TimePoint now);

}  // namespace baton::integrations
