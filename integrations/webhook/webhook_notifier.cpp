#include "integrations/webhook/webhook_notifier.hpp"

#include <boost/json.hpp>

#include "integrations/common/thread_client.hpp"
#include "integrations/crypto.hpp"
#include "integrations/http_client.hpp"

namespace baton::integrations {
namespace json = boost::json;
namespace {

constexpr auto kLinkLifetime = std::chrono::hours(24);

const char* event_name(engine::NotificationKind kind) {
  switch (kind) {
    case engine::NotificationKind::page: return "incident.page";
    case engine::NotificationKind::update: return "incident.update";
    case engine::NotificationKind::open_channel: return "incident.open_channel";
  }
  return "incident.update";
}

json::value iso_or_null(const std::optional<engine::TimePoint>& t) {
  if (!t) return nullptr;
  return json::string(engine::format_iso8601(*t));
}

std::string base_url(std::string_view url) {
  while (!url.empty() && url.back() == '/') url.remove_suffix(1);
  return std::string(url);
}

}  // namespace

std::string webhook_body(const Delivery& d, const WebhookConfig& c, const ActionSigner* signer,
                         engine::TimePoint now) {
  const auto& n = d.notification;
  const auto& inc = d.incident;
  const std::string base = base_url(c.public_url);

  json::object incident;
  incident["number"] = inc.number;
  incident["summary"] = inc.summary;
  incident["severity"] = engine::to_string(inc.severity);
  incident["state"] = engine::to_string(inc.state);
  incident["service"] = inc.service_id;
  incident["service_name"] = d.service_name;
  incident["owner"] = inc.owner;
  incident["source"] = inc.source_name;
  incident["created_at"] = engine::format_iso8601(inc.created_at);
  incident["acknowledged_at"] = iso_or_null(inc.acknowledged_at);
  incident["resolved_at"] = iso_or_null(inc.resolved_at);
  incident["url"] = base + "/api/v1/incidents/" + std::to_string(inc.number);

  json::object body;
  body["event"] = event_name(n.kind);
  body["notification_id"] = n.id;
  body["incident"] = std::move(incident);
  if (d.person) {
    body["person"] = json::object{{"id", d.person->id},
                                  {"name", d.person->name},
                                  {"email", d.person->email},
                                  {"phone", d.person->phone}};
  } else {
    body["person"] = nullptr;
  }
  body["step"] = n.step + 1;

  if (signer != nullptr && d.person && n.kind == engine::NotificationKind::page) {
    json::object links;
    for (Action action : {Action::acknowledge, Action::resolve, Action::escalate}) {
      ActionClaim claim{inc.number, action, d.person->id, now + kLinkLifetime, {}};
      links[to_string(action)] = base + "/actions/" + signer->sign(claim);
    }
    body["links"] = std::move(links);
  }
  return json::serialize(body);
}

std::string webhook_signature(std::string_view secret, std::string_view body, engine::TimePoint now) {
  const auto t = std::to_string(std::chrono::floor<std::chrono::seconds>(now).time_since_epoch().count());
  std::string signed_text = t + "." + std::string(body);
  return "t=" + t + ",v1=" + to_hex(hmac_sha256(secret, signed_text));
}

WebhookNotifier::WebhookNotifier(WebhookConfig config, std::shared_ptr<const ActionSigner> signer,
                                 const engine::Clock& clock, std::shared_ptr<AsyncHttpClient> async_http)
    : async_http_(std::move(async_http)), config_(std::move(config)), signer_(std::move(signer)), clock_(clock) {}

Result<void> WebhookNotifier::send(const Delivery& delivery) {
  auto response = thread_client().request(request_for(delivery));
  if (!response) return tl::unexpected(response.error());
  return classify(*response);
}

void WebhookNotifier::send_async(const Delivery& delivery, std::function<void(Result<void>)> done) {
  async_http_->request("webhook", request_for(delivery), [done = std::move(done)](Result<HttpResponse> response) {
    if (!response) return done(tl::unexpected(response.error()));
    done(classify(*response));
  });
}

HttpRequest WebhookNotifier::request_for(const Delivery& delivery) const {
  const auto now = clock_.now();
  HttpRequest request;
  request.method = "POST";
  request.url = config_.url;
  request.timeout = config_.timeout;
  request.body = webhook_body(delivery, config_, signer_.get(), now);
  request.headers = {{"Content-Type", "application/json"},
                     {"User-Agent", "baton/0.1"},
                     {"Idempotency-Key", delivery.notification.idempotency_key}};
  for (const auto& header : config_.headers) request.headers.push_back(header);
  if (!config_.signing_secret.empty()) {
    request.headers.emplace_back("X-Baton-Signature", webhook_signature(config_.signing_secret, request.body, now));
  }
  return request;
}

}  // namespace baton::integrations
