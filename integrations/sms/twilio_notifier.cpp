#include "integrations/sms/twilio_notifier.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <stdexcept>

#include "integrations/common/text.hpp"
#include "integrations/common/thread_client.hpp"
#include "integrations/sms/sms_text.hpp"
#include "integrations/sms/twilio_signature.hpp"

namespace baton::integrations {
namespace json = boost::json;
namespace {

constexpr std::int64_t kMaxValiditySeconds = 36000;
constexpr std::size_t kSnippetBytes = 200;

struct TwilioError {
  std::optional<std::int64_t> code;
  std::string message;
};

// Twilio's error JSON: {"code": 21211, "message": "...", "more_info": ..., "status": 400}.
TwilioError parse_error(std::string_view body) {
  TwilioError out;
  boost::system::error_code ec;
  auto value = json::parse(body, ec);
  if (ec || !value.is_object()) return out;
  const auto& obj = value.as_object();
  if (const auto* code = obj.if_contains("code")) {
    if (code->is_int64()) out.code = code->as_int64();
    if (code->is_uint64()) out.code = static_cast<std::int64_t>(code->as_uint64());
  }
  if (const auto* message = obj.if_contains("message"); message && message->is_string()) {
    out.message = std::string(message->as_string());
  }
  return out;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> twilio_message_fields(const Delivery& d, const TwilioConfig& c) {
  FormParams fields;
  fields.emplace_back("To", d.person ? d.person->phone : std::string());
  if (!c.messaging_service_sid.empty()) {
    fields.emplace_back("MessagingServiceSid", c.messaging_service_sid);
  } else {
    fields.emplace_back("From", c.from);
  }
  fields.emplace_back("Body", page_text(d));
  if (c.validity.count() > 0) {
    fields.emplace_back("ValidityPeriod", std::to_string(std::min<std::int64_t>(c.validity.count(), kMaxValiditySeconds)));
  }
  if (!c.status_callback_url.empty()) {
    const char sep = c.status_callback_url.find('?') == std::string::npos ? '?' : '&';
    fields.emplace_back("StatusCallback", c.status_callback_url + sep + "n=" + std::to_string(d.notification.id) +
                                              "&i=" + std::to_string(d.notification.incident) +
                                              "&p=" + percent_encode(d.notification.person));
  }
  return fields;
}

Result<void> classify_twilio(const HttpResponse& response) {
  const int s = response.status;
  if (s >= 200 && s < 300) return {};
  const auto parsed = parse_error(response.body);
  std::string message = "twilio ";
  if (parsed.code) {
    message += std::to_string(*parsed.code) + ": " + parsed.message;
  } else {
    message += "HTTP " + std::to_string(s);
    if (!response.body.empty()) message += ": " + response.body.substr(0, kSnippetBytes);
  }
  const auto code = parsed.code.value_or(0);
  if (s == 429 || code == 20429) {
    Error error{ErrorKind::rate_limited, std::move(message), {}};
    if (auto value = response.header("Retry-After")) {
      if (auto delay = parse_retry_after(*value, std::chrono::system_clock::now())) error.retry_after = *delay;
    }
    return tl::unexpected<Error>(std::move(error));
  }
  if (s == 408 || (s >= 500 && s < 600)) return fail(ErrorKind::transient, std::move(message));
  if (s == 401 || code == 20003) return fail(ErrorKind::auth_revoked, std::move(message));
  // 21211 invalid To, 21408 region, 21610 unsubscribed, 21614 not mobile, and
  // every other refusal: retrying the same request cannot help.
  return fail(ErrorKind::permanent, std::move(message));
}

TwilioNotifier::TwilioNotifier(TwilioConfig config, std::shared_ptr<AsyncHttpClient> async_http)
    : async_http_(std::move(async_http)),
      config_(std::move(config)),
      sender_(config_.messaging_service_sid.empty() ? config_.from : config_.messaging_service_sid),
      pacer_(config_.messages_per_second) {
  if (config_.account_sid.empty()) throw std::invalid_argument("twilio: account_sid is required");
  if (!config_.api_key_sid.empty() && config_.api_key_secret.empty()) {
    throw std::invalid_argument("twilio: api_key_sid needs api_key_secret");
  }
  if (config_.api_key_sid.empty() && config_.auth_token.empty()) {
    throw std::invalid_argument("twilio: auth_token (or api_key_sid and api_key_secret) is required");
  }
  if (sender_.empty()) throw std::invalid_argument("twilio: from or messaging_service_sid is required");
}

std::optional<engine::TimePoint> TwilioNotifier::reserve(const Delivery&, engine::TimePoint now) {
  return pacer_.reserve(sender_, now);
}

Result<void> TwilioNotifier::send(const Delivery& delivery) {
  auto request = request_for(delivery);
  if (!request) return tl::unexpected(request.error());
  auto response = thread_client().request(*request);
  if (!response) return tl::unexpected(response.error());
  return classify_twilio(*response);
}

void TwilioNotifier::send_async(const Delivery& delivery, std::function<void(Result<void>)> done) {
  auto request = request_for(delivery);
  if (!request) return done(tl::unexpected(request.error()));
  async_http_->request("sms", std::move(*request), [done = std::move(done)](Result<HttpResponse> response) {
    if (!response) return done(tl::unexpected(response.error()));
    done(classify_twilio(*response));
  });
}

Result<HttpRequest> TwilioNotifier::request_for(const Delivery& delivery) const {
  if (!delivery.person) return fail(ErrorKind::permanent, "sms: the notification has no addressee");
  if (delivery.person->phone.empty()) {
    return fail(ErrorKind::permanent, "sms: person '" + delivery.person->id + "' has no phone number");
  }
  const bool key = !config_.api_key_sid.empty();
  const std::string user = key ? config_.api_key_sid : config_.account_sid;
  const std::string password = key ? config_.api_key_secret : config_.auth_token;

  HttpRequest request;
  request.method = "POST";
  request.url = trim_slashes(config_.base_url) + "/2010-04-01/Accounts/" + percent_encode(config_.account_sid) +
                "/Messages.json";
  request.timeout = config_.timeout;
  request.body = form_encode(twilio_message_fields(delivery, config_));
  request.headers = {{"Authorization", "Basic " + base64_encode(user + ":" + password)},
                     {"Content-Type", "application/x-www-form-urlencoded"},
                     {"Accept", "application/json"},
                     {"User-Agent", "baton/0.1"}};
  return request;
}

}  // namespace baton::integrations
