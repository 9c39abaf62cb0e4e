// Builds the notifiers and the Slack/Teams clients from the Config, and
// rebuilds the notifiers of changed channels on a reload (see channels.hpp).
#include "bot/channels.hpp"

#include <map>
#include <mutex>

#include <spdlog/spdlog.h>

#include "bot/config_diff.hpp"
#include "integrations/action_links.hpp"
#include "integrations/chat_refs.hpp"
#include "integrations/common/async_http.hpp"
#include "integrations/email/reply_token.hpp"
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

integrations::EmailConfig email_config(const Config& cfg) {
  integrations::EmailConfig ec;
  ec.url = cfg.smtp.url;
  ec.from = cfg.smtp.from;
  ec.from_name = cfg.smtp.from_name;
  ec.username = cfg.smtp.username;
  ec.password = cfg.smtp.password;
  ec.require_starttls = cfg.smtp.require_starttls;
  ec.ca_file = cfg.smtp.ca_file;
  ec.verify_peer = cfg.smtp.verify_peer;
  ec.timeout = cfg.smtp.timeout;
  return ec;
}
namespace {

using engine::MethodKind;
using integrations::Notifier;

constexpr MethodKind kMethods[] = {MethodKind::webhook, MethodKind::email, MethodKind::sms,
                                   MethodKind::voice,   MethodKind::slack, MethodKind::teams};

// What the dispatcher holds for one contact method: the channel built from the
// config in force, swapped by a reload. A send takes the current channel and
// holds it until its done ran, so a send in flight finishes on the channel it
// started on however often the switch changes meanwhile.
class SwitchNotifier final : public Notifier {
 public:
  explicit SwitchNotifier(MethodKind method) : method_(method) {}

  void set(std::shared_ptr<Notifier> inner) {
    std::lock_guard lock(mutex_);
    inner_ = std::move(inner);
  }
  std::shared_ptr<Notifier> current() const {
    std::lock_guard lock(mutex_);
    return inner_;
  }

  MethodKind method() const override { return method_; }
  std::optional<engine::TimePoint> reserve(const integrations::Delivery& d, engine::TimePoint now) override {
    auto inner = current();
    return inner ? inner->reserve(d, now) : std::nullopt;
  }
  Result<void> send(const integrations::Delivery& d) override {
    auto inner = current();
    return inner ? inner->send(d) : missing();
  }
  bool is_async() const override { return true; }
  void send_async(const integrations::Delivery& d, std::function<void(Result<void>)> done) override {
    auto inner = current();
    if (!inner) return done(missing());
    // Not async (in-memory channels): inline, as the Dispatcher would call it.
    if (!inner->is_async()) return done(inner->send(d));
    inner->send_async(d, [inner, done = std::move(done)](Result<void> r) { done(std::move(r)); });
  }

 private:
  Result<void> missing() const {
    return tl::unexpected(Error{ErrorKind::permanent, std::string("no channel configured for ") + engine::to_string(method_), {}});
  }
  const MethodKind method_;
  mutable std::mutex mutex_;
  std::shared_ptr<Notifier> inner_;
};

std::shared_ptr<const integrations::ActionSigner> signer_for(const Config& cfg) {
  if (cfg.server.action_secret.empty()) return nullptr;
  return std::make_shared<const integrations::ActionSigner>(cfg.server.action_secret);
}

// The settings a channel is built from, beyond its own section.
bool same_links(const Config& a, const Config& b) {
  return a.server.public_url == b.server.public_url && a.server.action_secret == b.server.action_secret;
}

}  // namespace

struct Channels::Impl {
  Impl(const engine::Clock& clk, std::shared_ptr<integrations::AsyncHttpClient> http, boost::asio::io_context& net,
       std::shared_ptr<integrations::ChatRefs> refs)
      : clock(clk), async_http(std::move(http)), net_loop(net), chat_refs(std::move(refs)) {
    for (auto m : kMethods) switches[m] = std::make_shared<SwitchNotifier>(m);
  }

  const engine::Clock& clock;
  std::shared_ptr<integrations::AsyncHttpClient> async_http;
  boost::asio::io_context& net_loop;
  std::shared_ptr<integrations::ChatRefs> chat_refs;
  std::map<MethodKind, std::shared_ptr<SwitchNotifier>> switches;
  bool taken = false;
  std::mutex rebuild_mutex;  // one rebuild at a time
  std::shared_ptr<const Config> built_from;
  // Every SMTP notifier still alive (the current one, and old ones finishing their sends).
  std::vector<std::weak_ptr<integrations::SmtpNotifier>> smtp;
  std::mutex smtp_mutex;

  // The clients the frontends use: the ones built at start-up.
  std::shared_ptr<const slack::SlackWebApi> slack_api;
  std::shared_ptr<const slack::SlackWebApi> slack_lookup_api;
  bool slack_incident_channels = false;  ///< some service opens incident channels
  std::shared_ptr<teams::BotConnector> teams_connector;
  std::shared_ptr<teams::JwtValidator> teams_validator;

  // ---- one builder per channel: null when the config does not enable it ----

  std::shared_ptr<Notifier> webhook(const Config& cfg) {
    if (!cfg.webhook.enabled) return nullptr;
    auto wc = cfg.webhook;
    wc.public_url = cfg.server.public_url;
    return std::make_shared<integrations::WebhookNotifier>(wc, signer_for(cfg), clock, async_http);
  }

  std::shared_ptr<Notifier> email(const Config& cfg) {
    if (!cfg.smtp.enabled) return nullptr;
    integrations::EmailConfig ec = email_config(cfg);
    ec.public_url = cfg.server.public_url;
    if (cfg.smtp.replies.enabled) {  // replies carry a token (README "Email replies")
      ec.reply_secret = integrations::email_reply_secret(cfg.server.action_secret, cfg.smtp.replies.password);
      ec.reply_address = cfg.smtp.replies.address;
    }
    // Email's links are signed with the email key, so an action taken through one is recorded as via email.
    std::shared_ptr<const integrations::ActionSigner> email_signer;
    if (!cfg.server.action_secret.empty())
      email_signer = std::make_shared<const integrations::ActionSigner>(
          integrations::email_link_secret(cfg.server.action_secret));
    // Non-blocking: SMTP sessions run as handlers on baton-net (docs/async_http.md, "SMTP").
    auto n = std::make_shared<integrations::SmtpNotifier>(ec, std::move(email_signer), clock, net_loop, chat_refs);
    std::lock_guard lock(smtp_mutex);
    std::erase_if(smtp, [](const auto& w) { return w.expired(); });
    smtp.push_back(n);
    return n;
  }

  std::shared_ptr<Notifier> sms(const Config& cfg) {
    if (cfg.twilio.enabled) {
      integrations::TwilioConfig tc;
      tc.base_url = cfg.twilio.base_url;
      tc.account_sid = cfg.twilio.account_sid;
      tc.auth_token = cfg.twilio.auth_token;
      tc.api_key_sid = cfg.twilio.api_key_sid;
      tc.api_key_secret = cfg.twilio.api_key_secret;
      tc.from = cfg.twilio.from;
      tc.messaging_service_sid = cfg.twilio.messaging_service_sid;
      tc.messages_per_second = cfg.twilio.messages_per_second;
      tc.validity = cfg.twilio.validity;
      if (cfg.twilio.status_callbacks) tc.status_callback_url = cfg.server.public_url + "/sms/twilio/status";
      return std::make_shared<integrations::TwilioNotifier>(tc, async_http);
    }
    if (!cfg.sms_gateway.enabled) return nullptr;
    return std::make_shared<integrations::HttpGatewayNotifier>(cfg.sms_gateway, async_http);
  }

  std::shared_ptr<Notifier> voice(const Config& cfg) {
    if (!cfg.twilio.voice) return nullptr;
    integrations::TwilioVoiceConfig vc;
    vc.base_url = cfg.twilio.base_url;
    vc.account_sid = cfg.twilio.account_sid;
    vc.auth_token = cfg.twilio.auth_token;
    vc.api_key_sid = cfg.twilio.api_key_sid;
    vc.api_key_secret = cfg.twilio.api_key_secret;
    vc.from = cfg.twilio.voice_from;
    vc.calls_per_second = cfg.twilio.calls_per_second;
    vc.ring_timeout = cfg.twilio.ring_timeout;
    vc.public_url = cfg.server.public_url;
    // bot/voice_routes.cpp checks the calls' URLs with the same key.
    vc.link_secret = integrations::call_token_secret(cfg.server.action_secret, cfg.twilio.auth_token);
    return std::make_shared<integrations::TwilioVoiceNotifier>(vc, clock, async_http);
  }

  /// `first`: also the clients the frontends use.
  std::shared_ptr<Notifier> slack(const Config& cfg, bool first) {
    if (!cfg.slack.enabled) return nullptr;
    slack::SlackNotifierConfig sc;
    sc.api = slack::SlackConfig{cfg.slack.base_url, cfg.slack.bot_token, std::chrono::seconds(10)};
    sc.api.messages_per_second_per_channel = cfg.slack.messages_per_second_per_channel;
    sc.public_url = cfg.server.public_url;
    for (const auto& [id, svc] : cfg.directory->services)
      if (!svc.slack_channel.empty()) sc.service_channels[id] = svc.slack_channel;
    sc.open_incident_channels = true;  // the engine asks only for services with incident_channel: true
    sc.archive_on_resolve = cfg.slack.archive_on_resolve;
    // Every Slack client below shares one Workspace (the token's rate budget and
    // the pace per channel), timed by the dispatcher's clock.
    auto notifier = std::make_shared<slack::SlackNotifier>(sc, chat_refs, async_http, net_loop, clock);
    for (const auto& [id, p] : cfg.directory->people)
      if (!p.slack_user_id.empty()) notifier->remember_person(id, p.name, p.slack_user_id);
    if (first) {
      for (const auto& [id, svc] : cfg.directory->services)
        slack_incident_channels = slack_incident_channels || svc.open_incident_channel;
      slack_api = std::make_shared<const slack::SlackWebApi>(sc.api, async_http, net_loop, clock);
      // Identity lookups get a short timeout: an answer is still due within Slack's 3 s.
      auto lookup = sc.api;
      lookup.timeout = std::chrono::seconds(2);
      lookup.http_key = "slack-lookup";
      slack_lookup_api = std::make_shared<const slack::SlackWebApi>(lookup, async_http, net_loop, clock);
    }
    return notifier;
  }

  std::shared_ptr<Notifier> teams(const Config& cfg, bool first) {
    if (!cfg.teams.enabled) return nullptr;
    const teams::TeamsConfig& tc = cfg.teams;
    auto tokens = std::make_shared<teams::TokenProvider>(tc, async_http);
    auto connector = std::make_shared<teams::BotConnector>(tc, tokens, async_http);
    teams::TeamsNotifierConfig nc;
    nc.teams = tc;
    nc.public_url = cfg.server.public_url;
    for (const auto& [id, svc] : cfg.directory->services) {
      if (!svc.teams_channel.empty()) nc.service_channels[id] = svc.teams_channel;
      if (!svc.teams_team.empty()) nc.service_teams[id] = svc.teams_team;
    }
    // Graph needs an app token: without credentials (the Playground) there are no incident channels.
    auto graph = tc.app_password.empty() ? nullptr : std::make_shared<teams::GraphClient>(tc, tokens, async_http);
    auto notifier = std::make_shared<teams::TeamsNotifier>(nc, connector, std::move(graph), chat_refs,
                                                           std::make_shared<teams::ConversationLimiter>());
    if (first) {
      teams_connector = connector;
      if (cfg.teams.allow_unauthenticated)
        spdlog::warn("TEAMS ACTIVITIES ARE NOT AUTHENTICATED (teams.allow_unauthenticated): Agents Playground only, "
                     "loopback only; calls to a loopback serviceUrl carry no token; never run this in production");
      else
        teams_validator = std::make_shared<teams::JwtValidator>(tc, clock, teams::http_get_via(async_http));
    }
    return notifier;
  }

  std::shared_ptr<Notifier> make(MethodKind m, const Config& cfg, bool first) {
    switch (m) {
      case MethodKind::webhook: return webhook(cfg);
      case MethodKind::email: return email(cfg);
      case MethodKind::sms: return sms(cfg);
      case MethodKind::voice: return voice(cfg);
      case MethodKind::slack: return slack(cfg, first);
      case MethodKind::teams: return teams(cfg, first);
    }
    return nullptr;
  }

  // Whether channel `m` is built from the same settings in both configs.
  static bool unchanged(MethodKind m, const Config& a, const Config& b) {
    switch (m) {
      case MethodKind::webhook: return same_links(a, b) && same_section(a, b, "webhook");
      case MethodKind::email: return same_links(a, b) && same_section(a, b, "smtp");
      case MethodKind::sms:
        return a.server.public_url == b.server.public_url && same_section(a, b, "twilio") &&
               same_section(a, b, "sms_gateway");
      case MethodKind::voice: return same_links(a, b) && same_section(a, b, "twilio");
      case MethodKind::slack:
        return a.server.public_url == b.server.public_url && same_section(a, b, "slack") &&
               same_section(a, b, "services") && same_section(a, b, "people");
      case MethodKind::teams:
        return a.server.public_url == b.server.public_url && same_section(a, b, "teams") &&
               same_section(a, b, "services");
    }
    return false;
  }
};

Channels::Channels(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Channels::~Channels() = default;

std::unique_ptr<Channels> Channels::build(const std::shared_ptr<const Config>& cfg, const engine::Clock& clock,
                                          std::shared_ptr<integrations::AsyncHttpClient> async_http,
                                          boost::asio::io_context& net_loop,
                                          std::shared_ptr<integrations::ChatRefs> chat_refs) {
  auto impl = std::make_unique<Impl>(clock, std::move(async_http), net_loop, std::move(chat_refs));
  for (auto m : kMethods) impl->switches[m]->set(impl->make(m, *cfg, true));
  impl->built_from = cfg;
  return std::unique_ptr<Channels>(new Channels(std::move(impl)));
}

std::vector<std::shared_ptr<integrations::Notifier>> Channels::take_notifiers() {
  std::vector<std::shared_ptr<integrations::Notifier>> out;
  if (impl_->taken) return out;
  impl_->taken = true;
  for (auto m : kMethods) out.push_back(impl_->switches[m]);
  return out;
}

Result<std::vector<std::string>> Channels::rebuild(const std::shared_ptr<const Config>& cfg) {
  std::lock_guard lock(impl_->rebuild_mutex);
  const Config& before = *impl_->built_from;
  // Every changed channel is built before any is switched: all or nothing.
  std::vector<std::pair<MethodKind, std::shared_ptr<Notifier>>> next;
  try {
    for (auto m : kMethods) {
      if (Impl::unchanged(m, before, *cfg)) continue;
      auto built = impl_->make(m, *cfg, false);
      if (!built && !impl_->switches[m]->current()) continue;  // off before and after
      next.emplace_back(m, std::move(built));
    }
  } catch (const std::exception& e) {  // the notifiers refuse settings the loader let through
    return tl::unexpected(Error{ErrorKind::invalid_request, std::string("a channel cannot be built: ") + e.what(), {}});
  }
  std::vector<std::string> rebuilt;
  for (auto& [m, notifier] : next) {
    rebuilt.push_back(std::string(engine::to_string(m)) + (notifier ? "" : " (off)"));
    impl_->switches[m]->set(std::move(notifier));
  }
  impl_->built_from = cfg;
  return rebuilt;
}

std::shared_ptr<const slack::SlackWebApi> Channels::slack_api() const { return impl_->slack_api; }

std::shared_ptr<const slack::SlackWebApi> Channels::slack_lookup_api() const { return impl_->slack_lookup_api; }

bool Channels::slack_incident_channels() const { return impl_->slack_incident_channels; }

std::shared_ptr<teams::BotConnector> Channels::teams_connector() const { return impl_->teams_connector; }

std::shared_ptr<teams::JwtValidator> Channels::teams_validator() const { return impl_->teams_validator; }

void Channels::shutdown() {
  if (impl_->async_http) impl_->async_http->shutdown();
  std::vector<std::shared_ptr<integrations::SmtpNotifier>> alive;
  {
    std::lock_guard lock(impl_->smtp_mutex);
    for (const auto& w : impl_->smtp)
      if (auto s = w.lock()) alive.push_back(std::move(s));
  }
  for (const auto& s : alive) s->shutdown();
}

}  // namespace baton::bot
