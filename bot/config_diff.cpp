// What a reload changes (see config_diff.hpp).
#include "bot/config_diff.hpp"

#include <map>

#include <spdlog/spdlog.h>

namespace baton::bot {
namespace {

std::string b(bool v) { return v ? "true" : "false"; }
std::string ms(std::chrono::milliseconds d) { return std::to_string(d.count()) + "ms"; }
std::string num(double v) {
  std::string s = std::to_string(v);
  while (s.size() > 1 && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}
std::string quoted(const std::string& s) { return "\"" + s + "\""; }

using Fields = std::vector<ConfigField>;

void headers(Fields& out, const std::vector<std::pair<std::string, std::string>>& hs) {
  // Header values often hold credentials (Authorization): secret.
  for (const auto& [name, value] : hs) out.push_back({"headers." + name, value, true});
}

Fields server(const ServerConfig& s) {
  Fields out{{"listen", s.listen},
             {"public_url", s.public_url},
             {"max_body_bytes", std::to_string(s.max_body_bytes)},
             {"request_timeout", ms(s.request_timeout)},
             {"action_secret", s.action_secret, true},
             {"console_session", ms(s.console_session)}};
  for (const auto& [name, token] : s.api_tokens) out.push_back({"api_tokens." + name, token, true});
  return out;
}

Fields storage(const StorageConfig& s) {
  return {{"path", s.path, true},  // a PostgreSQL URI may carry a password
          {"durability", s.durability}};
}

Fields webhook(const integrations::WebhookConfig& w) {
  Fields out{{"url", w.url, true},  // webhook URLs (Slack/Teams incoming hooks) are credentials
             {"timeout", ms(w.timeout)},
             {"signing_secret", w.signing_secret, true}};
  headers(out, w.headers);
  return out;
}

Fields smtp(const SmtpChannelConfig& s) {
  return {{"url", s.url},
          {"from", s.from},
          {"from_name", s.from_name},
          {"username", s.username},
          {"password", s.password, true},
          {"starttls", s.require_starttls ? "required" : "optional"},
          {"ca_file", s.ca_file},
          {"verify_peer", b(s.verify_peer)},
          {"timeout", ms(s.timeout)},
          {"replies.url", s.replies.url},
          {"replies.username", s.replies.username},
          {"replies.password", s.replies.password, true},
          {"replies.poll", ms(s.replies.poll)},
          {"replies.starttls", s.replies.require_starttls ? "required" : "optional"},
          {"replies.ca_file", s.replies.ca_file},
          {"replies.verify_peer", b(s.replies.verify_peer)},
          {"replies.address", s.replies.address},
          {"replies.timeout", ms(s.replies.timeout)}};
}

Fields twilio(const TwilioChannelConfig& t) {
  return {{"base_url", t.base_url},
          {"account_sid", t.account_sid},
          {"auth_token", t.auth_token, true},
          {"api_key_sid", t.api_key_sid},
          {"api_key_secret", t.api_key_secret, true},
          {"from", t.from},
          {"messaging_service_sid", t.messaging_service_sid},
          {"messages_per_second", num(t.messages_per_second)},
          {"status_callbacks", b(t.status_callbacks)},
          {"validity", ms(t.validity)},
          {"voice", b(t.voice)},
          {"voice_from", t.voice_from},
          {"calls_per_second", num(t.calls_per_second)},
          {"ring_timeout", ms(t.ring_timeout)}};
}

Fields sms_gateway(const integrations::SmsGatewayConfig& g) {
  Fields out{{"url", g.url, true},
             {"method", g.method},
             {"content_type", g.content_type},
             {"body_template", g.body_template},
             {"messages_per_second", num(g.messages_per_second)},
             {"timeout", ms(g.timeout)}};
  headers(out, g.headers);
  return out;
}

Fields slack(const SlackChannelConfig& s) {
  return {{"mode", s.mode},
          {"base_url", s.base_url},
          {"bot_token", s.bot_token, true},
          {"app_token", s.app_token, true},
          {"signing_secret", s.signing_secret, true},
          {"archive_on_resolve", b(s.archive_on_resolve)},
          {"messages_per_second_per_channel", num(s.messages_per_second_per_channel)},
          {"ca_file", s.ca_file}};
}

Fields teams(const teams::TeamsConfig& t) {
  return {{"app_id", t.app_id},
          {"app_password", t.app_password, true},
          {"tenant_id", t.tenant_id},
          {"login_base", t.login_base},
          {"openid_metadata_url", t.openid_metadata_url},
          {"connector_base", t.connector_service_url},
          {"timeout", ms(t.timeout)},
          {"graph_base", t.graph_base},
          {"allow_unauthenticated", b(t.allow_unauthenticated)}};
}

Fields dispatch(const DispatchConfig& d) {
  return {{"max_attempts", std::to_string(d.max_attempts)},
          {"base_backoff", ms(d.base_backoff)},
          {"max_in_flight_per_channel", std::to_string(d.max_in_flight_per_channel)},
          {"max_connections_per_host", std::to_string(d.max_connections_per_host)}};
}

// The directory's settings the channels are built from (the engine takes the
// rest through set_directory, and the reload log counts it).
Fields services(const engine::Directory& d) {
  Fields out;
  for (const auto& [id, s] : d.services) {
    out.push_back({id + ".name", s.name});
    out.push_back({id + ".slack_channel", s.slack_channel});
    out.push_back({id + ".teams_channel", s.teams_channel});
    out.push_back({id + ".teams_team", s.teams_team});
    out.push_back({id + ".incident_channel", b(s.open_incident_channel)});
  }
  return out;
}

Fields people(const engine::Directory& d) {
  Fields out;
  for (const auto& [id, p] : d.people) {
    out.push_back({id + ".name", p.name});
    out.push_back({id + ".slack_user_id", p.slack_user_id});
  }
  return out;
}

}  // namespace

const std::vector<std::string>& config_sections() {
  static const std::vector<std::string> kSections{"server", "storage", "webhook", "smtp",     "twilio",  "sms_gateway",
                                                  "slack",  "teams",   "dispatch", "services", "people"};
  return kSections;
}

std::vector<ConfigField> section_fields(const Config& c, std::string_view section) {
  if (section == "server") return server(c.server);
  if (section == "storage") return storage(c.storage);
  if (section == "webhook") return webhook(c.webhook);
  if (section == "smtp") return smtp(c.smtp);
  if (section == "twilio") return twilio(c.twilio);
  if (section == "sms_gateway") return sms_gateway(c.sms_gateway);
  if (section == "slack") return slack(c.slack);
  if (section == "teams") return teams(c.teams);
  if (section == "dispatch") return dispatch(c.dispatch);
  if (section == "services" && c.directory) return services(*c.directory);
  if (section == "people" && c.directory) return people(*c.directory);
  return {};
}

bool same_section(const Config& a, const Config& b, std::string_view section) {
  const auto fa = section_fields(a, section), fb = section_fields(b, section);
  if (fa.size() != fb.size()) return false;
  for (std::size_t i = 0; i < fa.size(); ++i)
    if (fa[i].name != fb[i].name || fa[i].value != fb[i].value) return false;
  return true;
}

std::vector<SectionChange> diff_config(const Config& before, const Config& after) {
  std::vector<SectionChange> out;
  for (const auto& section : config_sections()) {
    std::map<std::string, const ConfigField*> old_fields, new_fields;
    const auto fa = section_fields(before, section), fb = section_fields(after, section);
    for (const auto& f : fa) old_fields[f.name] = &f;
    for (const auto& f : fb) new_fields[f.name] = &f;
    SectionChange change{section, {}};
    auto show = [](const ConfigField& f) { return quoted(f.value); };
    for (const auto& f : fa) {  // in the section's order: changed and removed
      auto it = new_fields.find(f.name);
      if (it == new_fields.end()) {
        change.changes.push_back(f.name + ": removed");
      } else if (it->second->value != f.value) {
        if (f.secret || it->second->secret)
          change.changes.push_back(f.name + ": " + (f.value.empty() ? "set" : it->second->value.empty() ? "cleared" : "changed") +
                                   " (secret)");
        else
          change.changes.push_back(f.name + ": " + show(f) + " -> " + show(*it->second));
      }
    }
    for (const auto& f : fb) {
      if (old_fields.contains(f.name)) continue;
      change.changes.push_back(f.name + ": added" + (f.secret ? std::string(" (secret)") : " " + show(f)));
    }
    if (!change.changes.empty()) out.push_back(std::move(change));
  }
  return out;
}

std::vector<std::string> keep_restart_only(const Config& running, Config& next) {
  std::vector<std::string> kept;
  auto keep = [&](const char* name, auto& field, const auto& current) {
    if (field != current) {
      kept.emplace_back(name);
      field = current;
    }
  };
  keep("server.listen", next.server.listen, running.server.listen);
  keep("server.max_body_bytes", next.server.max_body_bytes, running.server.max_body_bytes);
  keep("server.request_timeout", next.server.request_timeout, running.server.request_timeout);
  keep("storage.path", next.storage.path, running.storage.path);
  keep("storage.durability", next.storage.durability, running.storage.durability);
  keep("dispatch.max_attempts", next.dispatch.max_attempts, running.dispatch.max_attempts);
  keep("dispatch.base_backoff", next.dispatch.base_backoff, running.dispatch.base_backoff);
  keep("dispatch.max_in_flight_per_channel", next.dispatch.max_in_flight_per_channel,
       running.dispatch.max_in_flight_per_channel);
  keep("dispatch.max_connections_per_host", next.dispatch.max_connections_per_host,
       running.dispatch.max_connections_per_host);
  // Slack's inbound side (Socket Mode's connection, or HTTP mode's routes) is set up at start.
  keep("slack.mode", next.slack.mode, running.slack.mode);
  keep("slack.app_token", next.slack.app_token, running.slack.app_token);
  keep("slack.ca_file", next.slack.ca_file, running.slack.ca_file);
  // Bot Framework JWTs are checked by a validator built at start.
  keep("teams.openid_metadata_url", next.teams.openid_metadata_url, running.teams.openid_metadata_url);
  keep("teams.allow_unauthenticated", next.teams.allow_unauthenticated, running.teams.allow_unauthenticated);
  return kept;
}

void log_reload(const Config& before, const Config& after, const std::vector<std::string>& kept_for_restart,
                const std::vector<std::string>& rebuilt_channels, bool slack_inbound, bool teams_inbound) {
  auto join = [](const std::vector<std::string>& items) {
    std::string out;
    for (const auto& i : items) out += (out.empty() ? "" : "; ") + i;
    return out;
  };
  for (const auto& name : kept_for_restart)
    spdlog::warn("reload: {} changed in the file but needs a restart: the running value stays", name);
  const auto changes = diff_config(before, after);
  for (const auto& c : changes) spdlog::info("reload: {} changed: {}", c.section, join(c.changes));
  if (changes.empty()) spdlog::info("reload: no setting changed");
  spdlog::info("reload: channels rebuilt: {}", rebuilt_channels.empty() ? std::string("none") : [&] {
    std::string out;
    for (const auto& r : rebuilt_channels) out += (out.empty() ? "" : ", ") + r;
    return out;
  }());
  // The frontends (commands, buttons, cards) hold the clients built at start-up.
  if (after.slack.enabled != slack_inbound)
    spdlog::warn("reload: slack {}: its commands and buttons {} at the next restart", after.slack.enabled ? "is on" : "is off",
                 after.slack.enabled ? "start" : "stop");
  else if (slack_inbound && (after.slack.bot_token != before.slack.bot_token || after.slack.base_url != before.slack.base_url))
    spdlog::warn("reload: slack pages use the new token now; answers to commands and buttons use the one baton started "
                 "with until a restart");
  if (after.teams.enabled != teams_inbound)
    spdlog::warn("reload: teams {}: its messages and card actions {} at the next restart",
                 after.teams.enabled ? "is on" : "is off", after.teams.enabled ? "start" : "stop");
  else if (teams_inbound && (after.teams.app_id != before.teams.app_id || after.teams.app_password != before.teams.app_password ||
                             after.teams.tenant_id != before.teams.tenant_id))
    spdlog::warn("reload: teams cards use the new app credentials now; inbound activities are checked against, and "
                 "answered with, the ones baton started with until a restart");
  const auto& d = *after.directory;
  spdlog::info("configuration reloaded: {} services, {} schedules, {} people, {} escalation policies", d.services.size(),
               d.schedules.size(), d.people.size(), d.policies.size());
}

}  // namespace baton::bot
