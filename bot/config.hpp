#pragma once
// The service configuration: one YAML file (see manifests/baton.example.yaml) ->
// server settings plus the engine's Directory. yaml-cpp stays in config.cpp.
#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <tl/expected.hpp>

#include "engine/model.hpp"
#include "integrations/email/reply_config.hpp"
#include "integrations/sms/sms_gateway_config.hpp"
#include "integrations/teams/teams_config.hpp"
#include "integrations/webhook/webhook_config.hpp"
#include "storage/reports.hpp"

namespace baton::bot {

/// One problem in a configuration file. line/column are 1-based; 0 when the
/// problem has no location (e.g. the file cannot be read).
struct ConfigError {
  std::string file;
  int line = 0;
  int column = 0;
  std::string message;
  /// "file:line:col: message", or "file: message" without a location.
  std::string to_string() const;
};

struct ServerConfig {
  std::string listen = "127.0.0.1:8080";      ///< "host:port"
  std::string public_url;                     ///< default "http://" + listen; no trailing '/'
  std::vector<std::pair<std::string, std::string>> api_tokens;  ///< (name, token)
  std::size_t max_body_bytes = 1 << 20;
  std::chrono::seconds request_timeout{30};
  std::string action_secret;  ///< signs action links; a warning when empty
  /// How long a console sign-in lasts (the session cookie's lifetime); the
  /// console's keys derive from action_secret (bot/console_auth.hpp).
  std::chrono::seconds console_session{std::chrono::hours(12)};
};

struct StorageConfig {
  std::string path = "./baton.db";
  std::string durability = "full";  ///< full|normal
};

/// The email channel: SMTP submission (RFC 6409) through the non-blocking Asio client (integrations/email/smtp_client).
struct SmtpChannelConfig {
  bool enabled = false;  ///< true when a url is set
  std::string url;       ///< "smtp://host:587" (STARTTLS) or "smtps://host:465" (implicit TLS)
  std::string from;      ///< envelope and header sender, an address; required when enabled
  std::string from_name = "baton";  ///< display name in From:
  std::string username;  ///< empty = no AUTH; then password is empty too
  std::string password;
  /// smtp:// only: refuse to send when the server does not offer STARTTLS
  /// (`starttls: required`, the default; `optional` is warned about).
  bool require_starttls = true;
  std::string ca_file;       ///< PEM bundle; empty = the system store
  bool verify_peer = true;   ///< false is warned about loudly
  std::chrono::milliseconds timeout{10000};
  integrations::EmailRepliesConfig replies;  ///< smtp.replies (bot/config_replies.cpp)
};

/// The SMS channel through Twilio's Messages API.
struct TwilioChannelConfig {
  bool enabled = false;  ///< true when account_sid is set
  std::string base_url = "https://api.twilio.com";  ///< no trailing '/'
  std::string account_sid;  ///< "AC..."
  /// REST auth: api_key_sid + api_key_secret when both set, else account_sid +
  /// auth_token. Inbound requests (status callbacks, replies) are verified with
  /// auth_token (X-Twilio-Signature over server.public_url + path).
  std::string auth_token;
  std::string api_key_sid;  ///< "SK..."
  std::string api_key_secret;
  std::string from;                   ///< E.164 number or alphanumeric sender id (<= 11 chars)
  std::string messaging_service_sid;  ///< "MG..."; exactly one of from / messaging_service_sid
  double messages_per_second = 1.0;   ///< > 0
  bool status_callbacks = true;       ///< ask Twilio for delivery status callbacks
  std::chrono::seconds validity{600}; ///< Twilio's ValidityPeriod, 1s..36000s
  /// Voice calls (contact method `voice`, Twilio Programmable Voice): off unless
  /// `voice: true`; then they need auth_token (every request of a call is
  /// verified with it) and a caller number.
  bool voice = false;
  std::string voice_from;             ///< E.164 caller id; defaults to `from` when that is a number
  double calls_per_second = 1.0;      ///< per caller number, > 0
  std::chrono::seconds ring_timeout{30};  ///< Twilio's Timeout, 5s..600s: then the call is no-answer
};

/// The Slack channel (method `slack`). On when bot_token is set.
struct SlackChannelConfig {
  bool enabled = false;
  std::string mode = "socket";  ///< "socket" (Socket Mode, no public URL) or "http" (Events API request URLs)
  std::string base_url = "https://slack.com/api";  ///< Web API base; GovSlack and tests point it elsewhere
  std::string bot_token;       ///< xoxb-...
  std::string app_token;       ///< xapp-...; required in socket mode
  std::string signing_secret;  ///< required in http mode
  bool archive_on_resolve = false;
  double messages_per_second_per_channel = 1.0;
  /// Socket Mode's TLS trust: a PEM bundle of the CAs that may sign Slack's
  /// WebSocket server; empty = the system store. The peer and its host name are
  /// always verified.
  std::string ca_file;
};

struct DispatchConfig {
  int max_attempts = 6;
  std::chrono::milliseconds base_backoff{1000};
  /// Deliveries in flight per channel (none holds a thread).
  /// Sized for a burst: a 1,000-incident outage to a provider answering in
  /// 300 ms goes out in one wave (docs/benchmarks.md, "Outage scale").
  int max_in_flight_per_channel = 1024;
  /// Connections per host for the non-blocking client (0 = no limit: the
  /// in-flight cap bounds them).
  int max_connections_per_host = 0;
};

struct Config {
  std::string file;  ///< the label errors were reported with
  ServerConfig server;
  StorageConfig storage;
  integrations::WebhookConfig webhook;
  SmtpChannelConfig smtp;
  TwilioChannelConfig twilio;
  /// At most one SMS channel (twilio or sms_gateway) is enabled.
  integrations::SmsGatewayConfig sms_gateway;
  SlackChannelConfig slack;
  /// Microsoft Teams (method `teams`): on when app_id is set, or with allow_unauthenticated
  /// (loopback only: Microsoft's Agents Playground, no credentials).
  teams::TeamsConfig teams;
  DispatchConfig dispatch;
  /// Never null on success. Its `channels`: webhook when webhook.enabled, email when
  /// smtp.enabled, sms when twilio or sms_gateway is enabled, voice when twilio.voice is on;
  /// just webhook when none is.
  engine::DirectoryPtr directory;
  /// people.<id>.working_hours (bot/config_working_hours.cpp), for the response report's
  /// out-of-hours pages (docs/reports.md); a person without one: Mon-Fri 09:00-18:00.
  std::map<std::string, storage::WorkingHours, std::less<>> working_hours;
  std::vector<std::string> warnings;  ///< "file:line:col: message", for the start-up log
};

/// Looks up an environment variable; an empty function means ::getenv.
using EnvLookup = std::function<std::optional<std::string>(std::string_view)>;

/// Loads and validates a configuration. `${NAME}` in any scalar value is replaced
/// from `env` (unset = an error at that scalar, unless written `${NAME:-default}`,
/// whose default is also used when NAME is empty; `$${` gives a literal `${`).
/// BATON_API_TOKEN in the environment adds an api token named "env".
/// On failure returns ALL problems found, sorted by position: YAML syntax, unknown
/// keys, wrong types, bad values and durations, dangling references, invalid time
/// zones and schedules, duplicate integration keys, channel settings (smtp, twilio,
/// sms_gateway; at most one SMS channel), quiet hours. Durations are integers (seconds)
/// or strings like "500ms", "90s", "5m", "1h", "1h30m". Thread-safe; reads no
/// global state except the environment when `env` is empty.
tl::expected<Config, std::vector<ConfigError>> load_config_file(const std::string& path, EnvLookup env = {});

/// As load_config_file, from text; `file_label` names it in errors.
tl::expected<Config, std::vector<ConfigError>> load_config_string(std::string_view yaml, std::string file_label,
                                                                  EnvLookup env = {});

/// Parses a duration as the loader does ("1h30m", "90s", "250ms", or digits = seconds).
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

}  // namespace baton::bot
