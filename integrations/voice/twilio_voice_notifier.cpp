#include "integrations/voice/twilio_voice_notifier.hpp"

#include <stdexcept>

#include "integrations/common/text.hpp"
#include "integrations/common/thread_client.hpp"
#include "integrations/sms/twilio_notifier.hpp"
#include "integrations/sms/twilio_signature.hpp"

namespace baton::integrations {
namespace {

bool places_call(const Delivery& d) { return d.notification.kind == engine::NotificationKind::page; }

}  // namespace

FormParams twilio_call_fields(const Delivery& d, const TwilioVoiceConfig& c, const CallSigner& signer,
                              engine::TimePoint now) {
  const CallRef call{d.notification.id, d.notification.incident, d.notification.person, now + c.link_ttl};
  const std::string base = trim_slashes(c.public_url);
  const std::string query = signer.query(call);
  FormParams fields;
  fields.emplace_back("To", d.person ? d.person->phone : std::string());
  fields.emplace_back("From", c.from);
  fields.emplace_back("Url", base + std::string(kVoiceAnswerPath) + "?" + query);
  fields.emplace_back("Method", "POST");
  fields.emplace_back("StatusCallback", base + std::string(kVoiceStatusPath) + "?" + query);
  fields.emplace_back("StatusCallbackMethod", "POST");
  // A list parameter is sent as the same name repeated, one value each.
  for (const char* event : {"initiated", "ringing", "answered", "completed"})
    fields.emplace_back("StatusCallbackEvent", event);
  // Synchronous answering-machine detection: the answer URL learns AnsweredBy
  // (human, machine_start, fax, unknown) before anything is said.
  fields.emplace_back("MachineDetection", "Enable");
  fields.emplace_back("Timeout", std::to_string(c.ring_timeout.count()));
  return fields;
}

TwilioVoiceNotifier::TwilioVoiceNotifier(TwilioVoiceConfig config, const engine::Clock& clock,
                                         std::shared_ptr<AsyncHttpClient> async_http)
    : async_http_(std::move(async_http)),
      config_(std::move(config)),
      clock_(clock),
      signer_(config_.link_secret),
      pacer_(config_.calls_per_second) {
  if (config_.account_sid.empty()) throw std::invalid_argument("twilio voice: account_sid is required");
  if (!config_.api_key_sid.empty() && config_.api_key_secret.empty())
    throw std::invalid_argument("twilio voice: api_key_sid needs api_key_secret");
  if (config_.api_key_sid.empty() && config_.auth_token.empty())
    throw std::invalid_argument("twilio voice: auth_token (or api_key_sid and api_key_secret) is required");
  if (config_.from.empty()) throw std::invalid_argument("twilio voice: a caller number is required");
  if (config_.public_url.empty()) throw std::invalid_argument("twilio voice: public_url is required");
}

std::optional<engine::TimePoint> TwilioVoiceNotifier::reserve(const Delivery& delivery, engine::TimePoint now) {
  if (!places_call(delivery)) return std::nullopt;
  return pacer_.reserve(config_.from, now);
}

Result<void> TwilioVoiceNotifier::send(const Delivery& delivery) {
  if (!places_call(delivery)) return {};
  auto request = request_for(delivery);
  if (!request) return tl::unexpected(request.error());
  auto response = thread_client().request(*request);
  if (!response) return tl::unexpected(response.error());
  return classify_twilio(*response);
}

void TwilioVoiceNotifier::send_async(const Delivery& delivery, std::function<void(Result<void>)> done) {
  if (!places_call(delivery)) return done({});
  auto request = request_for(delivery);
  if (!request) return done(tl::unexpected(request.error()));
  async_http_->request("voice", std::move(*request), [done = std::move(done)](Result<HttpResponse> response) {
    if (!response) return done(tl::unexpected(response.error()));
    done(classify_twilio(*response));
  });
}

Result<HttpRequest> TwilioVoiceNotifier::request_for(const Delivery& delivery) const {
  if (!delivery.person) return fail(ErrorKind::permanent, "voice: the notification has no addressee");
  if (delivery.person->phone.empty())
    return fail(ErrorKind::permanent, "voice: person '" + delivery.person->id + "' has no phone number");
  const bool key = !config_.api_key_sid.empty();
  const std::string user = key ? config_.api_key_sid : config_.account_sid;
  const std::string password = key ? config_.api_key_secret : config_.auth_token;

  HttpRequest request;
  request.method = "POST";
  request.url = trim_slashes(config_.base_url) + "/2010-04-01/Accounts/" + percent_encode(config_.account_sid) +
                "/Calls.json";
  request.timeout = config_.timeout;
  request.body = form_encode(twilio_call_fields(delivery, config_, signer_, clock_.now()));
  request.headers = {{"Authorization", "Basic " + base64_encode(user + ":" + password)},
                     {"Content-Type", "application/x-www-form-urlencoded"},
                     {"Accept", "application/json"},
                     {"User-Agent", "baton/0.1"}};
  return request;
}

}  // namespace baton::integrations
