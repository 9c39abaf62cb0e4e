#pragma once
// The channels, built from the Config: a notifier per enabled channel
// (webhook, email, SMS through Twilio or a gateway, Twilio voice calls, Slack, Teams) for the
// dispatcher, and the Slack and Teams clients the frontends need. The
// dispatcher gets one switch per contact method at start-up; a reload
// (rebuild()) puts newly built notifiers behind the switches, and sends in
// flight finish on the old ones, which they hold. The notifiers send through
// the non-blocking client on `baton-net`. No Asio, Beast or curl here
// (forward declarations).
#include <memory>
#include <vector>

#include "bot/config.hpp"
#include "engine/result.hpp"
#include "engine/time.hpp"

namespace baton::integrations {
struct EmailConfig;
}

namespace boost::asio {
class io_context;
}

namespace baton::integrations {
class AsyncHttpClient;
class ChatRefs;
class Notifier;
}  // namespace baton::integrations

namespace baton::slack {
class SlackWebApi;
}

namespace baton::teams {
class BotConnector;
class JwtValidator;
}  // namespace baton::teams

namespace baton::bot {

/// The smtp section as the SMTP client takes it (sending only: no links, no reply token).
integrations::EmailConfig email_config(const Config& cfg);

class Channels {
 public:
  /// Sends go through `async_http` on `net_loop`; Slack and Teams remember the
  /// messages they post in `chat_refs`. All three must outlive the notifiers.
  static std::unique_ptr<Channels> build(const std::shared_ptr<const Config>& cfg, const engine::Clock& clock,
                                         std::shared_ptr<integrations::AsyncHttpClient> async_http,
                                         boost::asio::io_context& net_loop,
                                         std::shared_ptr<integrations::ChatRefs> chat_refs);
  ~Channels();
  Channels(const Channels&) = delete;
  Channels& operator=(const Channels&) = delete;

  /// The notifiers, for the dispatcher: one per contact method, each sending
  /// through the channel built from the config in force (a method without a
  /// channel fails its deliveries, permanent: "no channel configured for ...").
  /// A second call gets none.
  std::vector<std::shared_ptr<integrations::Notifier>> take_notifiers();

  /// A reload: rebuilds each channel whose settings differ between `cfg` and the
  /// config last built from (its section, server.public_url and action_secret,
  /// and for Slack and Teams the services' channels and the people's chat ids),
  /// and switches the notifiers to them. The next delivery uses the new channel;
  /// those in flight finish on the old one. Returns the channels rebuilt, by
  /// method name ("webhook", "email", ...), with "(off)" for one switched off.
  /// All or nothing: when a channel cannot be built (its client refuses the
  /// settings), nothing changes and the error says why. Thread-safe.
  /// The clients returned below (slack_api(), teams_connector(), ...) stay the
  /// ones built at start-up: the frontends hold them until a restart.
  Result<std::vector<std::string>> rebuild(const std::shared_ptr<const Config>& cfg);

  /// The Slack Web API client (10 s timeout), or null when Slack is not enabled.
  std::shared_ptr<const slack::SlackWebApi> slack_api() const;
  /// The same for identity lookups (users.info) with a 2 s timeout, so that an
  /// answer is still due within Slack's 3 s; null when Slack is not enabled.
  std::shared_ptr<const slack::SlackWebApi> slack_lookup_api() const;
  /// Some service opens a Slack channel per incident (incident_channel: true).
  bool slack_incident_channels() const;
  /// The Bot Connector client, or null when Teams is not enabled.
  std::shared_ptr<teams::BotConnector> teams_connector() const;
  /// Checks Bot Framework JWTs; null when Teams is not enabled or runs
  /// unauthenticated (teams.allow_unauthenticated, loopback only).
  std::shared_ptr<teams::JwtValidator> teams_validator() const;

  /// Cancels every send in flight or queued (HTTP requests and SMTP sessions):
  /// each completes with a transient "cancelled" error and stays pending in the
  /// outbox. Thread-safe, idempotent.
  void shutdown();

 private:
  struct Impl;
  explicit Channels(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace baton::bot
