// Builds the notifiers and the Slack/Teams clients from the Config (see channels.hpp).
#include "bot/channels.hpp"

#include <spdlog/spdlog.h>

#include "integrations/action_links.hpp"
#include "integrations/chat_refs.hpp"
#include "integrations/common/async_http.hpp"
#include "integrations/email/smtp_notifier.hpp"
#include "integrations/notifier.hpp"
#include "integrations/slack/slack_notifier.hpp"
#include "integrations/slack/web_api.hpp"
#include "integrations/sms/http_gateway_notifier.hpp"
#include "integrations/sms/twilio_notifier.hpp"
#include "integrations/teams/connector.hpp"
#include "integrations/teams/graph.hpp"
#include "integrations/teams/jwt.hpp"
#include "integrations/teams/teams_notifier.hpp"
#include "integrations/voice/call_token.hpp"
#include "integrations/voice/twilio_voice_notifier.hpp"
#include "integrations/webhook/webhook_notifier.hpp"

namespace baton::bot {

struct Channels::Impl {
  Impl(std::shared_ptr<integrations::AsyncHttpClient> http, boost::asio::io_context& net,
       std::shared_ptr<integrations::ChatRefs> refs)
      : async_http(std::move(http)), net_loop(net), chat_refs(std::move(refs)) {}

  std::shared_ptr<integrations::AsyncHttpClient> async_http;
  boost::asio::io_context& net_loop;
  std::shared_ptr<integrations::ChatRefs> chat_refs;
  std::shared_ptr<const integrations::ActionSigner> signer;
  std::vector<std::shared_ptr<integrations::Notifier>> notifiers;
  std::shared_ptr<const slack::SlackWebApi> slack_api;
  std::shared_ptr<const slack::SlackWebApi> slack_lookup_api;
  bool slack_incident_channels = false;  ///< some service opens incident channels
  std::shared_ptr<teams::BotConnector> teams_connector;
  std::shared_ptr<teams::JwtValidator> teams_validator;
  std::shared_ptr<integrations::SmtpNotifier> smtp;
};

Channels::Channels(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Channels::~Channels() = default;

std::unique_ptr<Channels> Channels::build(const std::shared_ptr<const Config>& cfg, const engine::Clock& clock,
                                          std::shared_ptr<integrations::AsyncHttpClient> async_http,
                                          boost::asio::io_context& net_loop,
                                          std::shared_ptr<integrations::ChatRefs> chat_refs) {
  auto impl = std::make_unique<Impl>(std::move(async_http), net_loop, std::move(chat_refs));
  if (!cfg->server.action_secret.empty())
    impl->signer = std::make_shared<const integrations::ActionSigner>(cfg->server.action_secret);
  std::vector<std::shared_ptr<integrations::Notifier>> notifiers;
  if (cfg->webhook.enabled) {
    integrations::WebhookConfig wc;
    wc.url = cfg->webhook.url;
    wc.headers = cfg->webhook.headers;
    wc.timeout = cfg->webhook.timeout;
    wc.signing_secret = cfg->webhook.signing_secret;
    wc.public_url = cfg->server.public_url;
    notifiers.push_back(std::make_shared<integrations::WebhookNotifier>(wc, impl->signer, clock, impl->async_http));
  }
  if (cfg->smtp.enabled) {
    integrations::EmailConfig ec;
    ec.url = cfg->smtp.url;
    ec.from = cfg->smtp.from;
    ec.from_name = cfg->smtp.from_name;
    ec.username = cfg->smtp.username;
    ec.password = cfg->smtp.password;
    ec.require_starttls = cfg->smtp.require_starttls;
    ec.ca_file = cfg->smtp.ca_file;
    ec.verify_peer = cfg->smtp.verify_peer;
    ec.timeout = cfg->smtp.timeout;
    ec.public_url = cfg->server.public_url;
    // Email's links are signed with the email key, so an action taken through one is recorded as via email.
    std::shared_ptr<const integrations::ActionSigner> email_signer;
    if (!cfg->server.action_secret.empty())
      email_signer = std::make_shared<const integrations::ActionSigner>(
          integrations::email_link_secret(cfg->server.action_secret));
    // Non-blocking: SMTP sessions run as handlers on baton-net (docs/async_http.md, "SMTP").
    impl->smtp = std::make_shared<integrations::SmtpNotifier>(ec, std::move(email_signer), clock, impl->net_loop,
                                                              impl->chat_refs);
    notifiers.push_back(impl->smtp);
  }
  if (cfg->twilio.enabled) {
    integrations::TwilioConfig tc;
    tc.base_url = cfg->twilio.base_url;
    tc.account_sid = cfg->twilio.account_sid;
    tc.auth_token = cfg->twilio.auth_token;
    tc.api_key_sid = cfg->twilio.api_key_sid;
    tc.api_key_secret = cfg->twilio.api_key_secret;
    tc.from = cfg->twilio.from;
    tc.messaging_service_sid = cfg->twilio.messaging_service_sid;
    tc.messages_per_second = cfg->twilio.messages_per_second;
    tc.validity = cfg->twilio.validity;
    if (cfg->twilio.status_callbacks) tc.status_callback_url = cfg->server.public_url + "/sms/twilio/status";
    notifiers.push_back(std::make_shared<integrations::TwilioNotifier>(tc, impl->async_http));
  }
  if (cfg->twilio.voice) {
    integrations::TwilioVoiceConfig vc;
    vc.base_url = cfg->twilio.base_url;
    vc.account_sid = cfg->twilio.account_sid;
    vc.auth_token = cfg->twilio.auth_token;
    vc.api_key_sid = cfg->twilio.api_key_sid;
    vc.api_key_secret = cfg->twilio.api_key_secret;
    vc.from = cfg->twilio.voice_from;
    vc.calls_per_second = cfg->twilio.calls_per_second;
    vc.ring_timeout = cfg->twilio.ring_timeout;
    vc.public_url = cfg->server.public_url;
    // bot/voice_routes.cpp checks the calls' URLs with the same key.
    vc.link_secret = integrations::call_token_secret(cfg->server.action_secret, cfg->twilio.auth_token);
    notifiers.push_back(std::make_shared<integrations::TwilioVoiceNotifier>(vc, clock, impl->async_http));
  }
  if (!cfg->twilio.enabled && cfg->sms_gateway.enabled) {
    integrations::SmsGatewayConfig gc;
    gc.url = cfg->sms_gateway.url;
    gc.method = cfg->sms_gateway.method;
    gc.headers = cfg->sms_gateway.headers;
    gc.content_type = cfg->sms_gateway.content_type;
    gc.body_template = cfg->sms_gateway.body_template;
    gc.messages_per_second = cfg->sms_gateway.messages_per_second;
    notifiers.push_back(std::make_shared<integrations::HttpGatewayNotifier>(gc, impl->async_http));
  }
  if (cfg->slack.enabled) {
    slack::SlackNotifierConfig sc;
    sc.api = slack::SlackConfig{cfg->slack.base_url, cfg->slack.bot_token, std::chrono::seconds(10)};
    sc.api.messages_per_second_per_channel = cfg->slack.messages_per_second_per_channel;
    sc.public_url = cfg->server.public_url;
    for (const auto& [id, svc] : cfg->directory->services)
      if (!svc.slack_channel.empty()) sc.service_channels[id] = svc.slack_channel;
    sc.open_incident_channels = true;  // the engine asks only for services with incident_channel: true
    sc.archive_on_resolve = cfg->slack.archive_on_resolve;
    for (const auto& [id, svc] : cfg->directory->services)
      impl->slack_incident_channels = impl->slack_incident_channels || svc.open_incident_channel;
    // Every Slack client below shares one Workspace (the token's rate budget and
    // the pace per channel), timed by the dispatcher's clock.
    auto notifier =
        std::make_shared<slack::SlackNotifier>(sc, impl->chat_refs, impl->async_http, impl->net_loop, clock);
    for (const auto& [id, p] : cfg->directory->people)
      if (!p.slack_user_id.empty()) notifier->remember_person(id, p.name, p.slack_user_id);
    notifiers.push_back(std::move(notifier));
    impl->slack_api = std::make_shared<const slack::SlackWebApi>(sc.api, impl->async_http, impl->net_loop, clock);
    // Identity lookups get a short timeout: an answer is still due within Slack's 3 s.
    auto lookup = sc.api;
    lookup.timeout = std::chrono::seconds(2);
    lookup.http_key = "slack-lookup";
    impl->slack_lookup_api =
        std::make_shared<const slack::SlackWebApi>(lookup, impl->async_http, impl->net_loop, clock);
  }
  if (cfg->teams.enabled) {
    teams::TeamsConfig tc;
    tc.app_id = cfg->teams.app_id;
    tc.app_password = cfg->teams.app_password;
    tc.tenant_id = cfg->teams.tenant_id;
    tc.login_base = cfg->teams.login_base;
    tc.openid_metadata_url = cfg->teams.openid_metadata_url;
    tc.connector_service_url = cfg->teams.connector_base;
    tc.graph_base = cfg->teams.graph_base;
    tc.allow_unauthenticated = cfg->teams.allow_unauthenticated;
    auto tokens = std::make_shared<teams::TokenProvider>(tc, impl->async_http);
    impl->teams_connector = std::make_shared<teams::BotConnector>(tc, tokens, impl->async_http);
    teams::TeamsNotifierConfig nc;
    nc.teams = tc;
    nc.public_url = cfg->server.public_url;
    for (const auto& [id, svc] : cfg->directory->services) {
      if (!svc.teams_channel.empty()) nc.service_channels[id] = svc.teams_channel;
      if (!svc.teams_team.empty()) nc.service_teams[id] = svc.teams_team;
    }
    // Graph needs an app token: without credentials (the Playground) there are no incident channels.
    auto graph = tc.app_password.empty() ? nullptr : std::make_shared<teams::GraphClient>(tc, tokens, impl->async_http);
    notifiers.push_back(std::make_shared<teams::TeamsNotifier>(nc, impl->teams_connector, std::move(graph),
                                                               impl->chat_refs,
                                                               std::make_shared<teams::ConversationLimiter>()));
    if (cfg->teams.allow_unauthenticated)
      spdlog::warn("TEAMS ACTIVITIES ARE NOT AUTHENTICATED (teams.allow_unauthenticated): Agents Playground only, "
                   "loopback only; calls to a loopback serviceUrl carry no token; never run this in production");
    else
      impl->teams_validator = std::make_shared<teams::JwtValidator>(tc, clock, teams::http_get_via(impl->async_http));
  }
  impl->notifiers = std::move(notifiers);
  return std::unique_ptr<Channels>(new Channels(std::move(impl)));
}

std::vector<std::shared_ptr<integrations::Notifier>> Channels::take_notifiers() {
  auto out = std::move(impl_->notifiers);
  impl_->notifiers.clear();
  return out;
}

std::shared_ptr<const slack::SlackWebApi> Channels::slack_api() const { return impl_->slack_api; }

std::shared_ptr<const slack::SlackWebApi> Channels::slack_lookup_api() const { return impl_->slack_lookup_api; }

bool Channels::slack_incident_channels() const { return impl_->slack_incident_channels; }

std::shared_ptr<teams::BotConnector> Channels::teams_connector() const { return impl_->teams_connector; }

std::shared_ptr<teams::JwtValidator> Channels::teams_validator() const { return impl_->teams_validator; }

void Channels::shutdown() {
  if (impl_->async_http) impl_->async_http->shutdown();
  if (impl_->smtp) impl_->smtp->shutdown();
}

}  // namespace baton::bot
