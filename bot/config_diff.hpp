#pragma once
// What a reload changes (SIGHUP, App::reload): every setting of every section
// as a named value, compared field by field, so the log can say exactly what
// changed with secrets masked, and Channels can rebuild only the channels
// whose inputs changed.
#include <string>
#include <string_view>
#include <vector>

#include "bot/config.hpp"

namespace baton::bot {

/// One setting, e.g. {"url", "https://hooks.example/x", false}.
struct ConfigField {
  std::string name;
  std::string value;
  bool secret = false;  ///< compared, never printed
};

/// The settings of one section of `c`: "server", "storage", "webhook", "smtp",
/// "twilio", "sms_gateway", "slack", "teams", "dispatch", and "services" (each
/// service's channels: slack_channel, teams_channel, teams_team, incident
/// channels) and "people" (the chat ids the channels use). Unknown: empty.
std::vector<ConfigField> section_fields(const Config& c, std::string_view section);

/// Every section name section_fields() knows, in log order.
const std::vector<std::string>& config_sections();

/// The changes of one section between two configs.
struct SectionChange {
  std::string section;
  /// "url: \"a\" -> \"b\"", "bot_token: changed (secret)", "password: set (secret)".
  std::vector<std::string> changes;
};

/// The sections whose settings differ, in config_sections() order; equal
/// configs give none. Secret values never appear.
std::vector<SectionChange> diff_config(const Config& before, const Config& after);

/// True when `section`'s settings are the same in both configs.
bool same_section(const Config& a, const Config& b, std::string_view section);

/// The settings that take effect only at a restart (the listen address, the
/// HTTP server's limits, the storage, the dispatcher, Slack's Socket Mode
/// connection): copied from `running` into `next`, and named in the result as
/// "server.listen" etc. for those that differed.
std::vector<std::string> keep_restart_only(const Config& running, Config& next);

/// Logs a reload (spdlog): each setting kept for a restart ("needs a
/// restart"), each changed section with its changes (secrets masked), the
/// channels rebuilt, and what the frontends built at start-up still use
/// (`slack_inbound`/`teams_inbound`: they exist).
void log_reload(const Config& before, const Config& after, const std::vector<std::string>& kept_for_restart,
                const std::vector<std::string>& rebuilt_channels, bool slack_inbound, bool teams_inbound);

}  // namespace baton::bot
