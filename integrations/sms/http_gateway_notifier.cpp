#include "integrations/sms/http_gateway_notifier.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include "integrations/common/text.hpp"
#include "integrations/common/thread_client.hpp"
#include "integrations/http_client.hpp"
#include "integrations/sms/sms_text.hpp"
#include "integrations/common/form.hpp"

namespace baton::integrations {
namespace {

std::string escape(std::string_view value, TemplateEscaping escaping) {
  switch (escaping) {
    case TemplateEscaping::json: return json_escape(value);
    case TemplateEscaping::form: return percent_encode(value);
    case TemplateEscaping::none: return std::string(value);
  }
  return std::string(value);
}

bool has_header(const HeaderList& headers, std::string_view name) {
  const auto wanted = lower(name);
  return std::any_of(headers.begin(), headers.end(), [&](const auto& h) { return lower(h.first) == wanted; });
}

}  // namespace

TemplateEscaping escaping_for(std::string_view content_type) {
  auto type = lower(content_type.substr(0, content_type.find(';')));
  while (!type.empty() && type.back() == ' ') type.pop_back();
  if (type == "application/x-www-form-urlencoded") return TemplateEscaping::form;
  if (type == "application/json" || (type.size() > 5 && type.ends_with("+json"))) return TemplateEscaping::json;
  return TemplateEscaping::none;
}

std::string fill_template(std::string_view text, TemplateEscaping escaping, std::string_view to,
                          std::string_view message, std::int64_t incident) {
  const std::pair<std::string_view, std::string> values[] = {
      {"{to}", escape(to, escaping)},
      {"{text}", escape(message, escaping)},
      {"{incident}", std::to_string(incident)},
  };
  std::string out;
  out.reserve(text.size() + message.size());
  std::size_t i = 0;
  while (i < text.size()) {
    bool replaced = false;
    if (text[i] == '{') {
      for (const auto& [name, value] : values) {
        if (text.substr(i, name.size()) == name) {
          out += value;
          i += name.size();
          replaced = true;
          break;
        }
      }
    }
    if (!replaced) out.push_back(text[i++]);
  }
  return out;
}

HttpGatewayNotifier::HttpGatewayNotifier(SmsGatewayConfig config, std::shared_ptr<AsyncHttpClient> async_http)
    : async_http_(std::move(async_http)),
      config_(std::move(config)), pacer_(config_.messages_per_second) {
  if (config_.url.empty()) throw std::invalid_argument("sms gateway: url is required");
}

std::optional<engine::TimePoint> HttpGatewayNotifier::reserve(const Delivery&, engine::TimePoint now) {
  // One gateway account, one sender: one bucket.
  return pacer_.reserve(config_.url, now);
}

Result<void> HttpGatewayNotifier::send(const Delivery& delivery) {
  auto request = request_for(delivery);
  if (!request) return tl::unexpected(request.error());
  auto response = thread_client().request(*request);
  if (!response) return tl::unexpected(response.error());
  return classify(*response);
}

void HttpGatewayNotifier::send_async(const Delivery& delivery, std::function<void(Result<void>)> done) {
  auto request = request_for(delivery);
  if (!request) return done(tl::unexpected(request.error()));
  async_http_->request("sms", std::move(*request), [done = std::move(done)](Result<HttpResponse> response) {
    if (!response) return done(tl::unexpected(response.error()));
    done(classify(*response));
  });
}

Result<HttpRequest> HttpGatewayNotifier::request_for(const Delivery& delivery) const {
  if (!delivery.person) return fail(ErrorKind::permanent, "sms: the notification has no addressee");
  if (delivery.person->phone.empty()) {
    return fail(ErrorKind::permanent, "sms: person '" + delivery.person->id + "' has no phone number");
  }
  const auto text = page_text(delivery);
  const auto number = delivery.incident.number;
  HttpRequest request;
  request.method = config_.method;
  request.url = fill_template(config_.url, TemplateEscaping::form, delivery.person->phone, text, number);
  request.timeout = config_.timeout;
  request.body = fill_template(config_.body_template, escaping_for(config_.content_type), delivery.person->phone,
                               text, number);
  request.headers = {{"User-Agent", "baton/0.1"}, {"Idempotency-Key", delivery.notification.idempotency_key}};
  if (!config_.content_type.empty() && !has_header(config_.headers, "Content-Type")) {
    request.headers.emplace_back("Content-Type", config_.content_type);
  }
  for (const auto& header : config_.headers) request.headers.push_back(header);
  return request;
}

}  // namespace baton::integrations
