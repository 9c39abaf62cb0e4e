#include "integrations/slack/commands.hpp"

#include <cctype>

#include <boost/json.hpp>

#include "integrations/common/command_grammar.hpp"
#include "integrations/common/utf8.hpp"
#include "integrations/sms/twilio_signature.hpp"

namespace baton::slack {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Form values are bytes (%FF decodes as such); what baton keeps must be UTF-8.
std::string field(const integrations::FormParams& params, std::string_view key) {
  for (const auto& [k, v] : params)
    if (k == key) return integrations::repair_utf8(v);
  return {};
}

Result<SlashRequest> checked(SlashRequest r) {
  if (r.command.empty()) return fail(ErrorKind::invalid_request, "slash command request without 'command'");
  if (r.user_id.empty()) return fail(ErrorKind::invalid_request, "slash command request without 'user_id'");
  return r;
}

}  // namespace

std::optional<std::string> command_text(std::string_view command, std::string_view text) {
  std::string name(trim(command));
  for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (name.starts_with("/")) name.erase(0, 1);
  if (name == "baton") return std::string(text);
  if (name == "oncall" || name == "incident") return name + " " + std::string(text);
  return std::nullopt;
}

std::string usage_text() {
  // Each line of the grammar is "<command>: <what it does>".
  std::string out = "*baton* commands:";
  const auto usage = integrations::command_usage();
  std::size_t from = 0;
  while (from < usage.size()) {
    auto to = usage.find('\n', from);
    if (to == std::string::npos) to = usage.size();
    const auto line = std::string_view(usage).substr(from, to - from);
    const auto colon = line.find(": ");
    out += "\n- `/baton " + std::string(line.substr(0, colon)) + "`";
    if (colon != std::string_view::npos) out += ": " + std::string(line.substr(colon + 2));
    from = to + 1;
  }
  out += "\n`/oncall ...` and `/incident ...` are short for `/baton oncall ...` and `/baton incident ...`.";
  return out;
}

Result<SlashRequest> parse_slash_form(std::string_view form_body) {
  const auto params = integrations::parse_form(form_body);
  SlashRequest r;
  r.team_id = field(params, "team_id");
  r.channel_id = field(params, "channel_id");
  r.user_id = field(params, "user_id");
  r.command = field(params, "command");
  r.text = field(params, "text");
  r.response_url = field(params, "response_url");
  r.trigger_id = field(params, "trigger_id");
  return checked(std::move(r));
}

bool is_ssl_check(std::string_view form_body) {
  return field(integrations::parse_form(form_body), "ssl_check") == "1";
}

Result<SlashRequest> parse_slash_json(std::string_view json) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(json, ec);
  if (ec) return fail(ErrorKind::invalid_request, "slash command payload is not JSON: " + ec.message());
  const auto* obj = v.if_object();
  if (obj == nullptr) return fail(ErrorKind::invalid_request, "slash command payload is not a JSON object");
  auto str = [&](std::string_view key) -> std::string {
    const auto* f = obj->if_contains(key);
    if (f == nullptr || !f->is_string()) return {};
    return std::string(f->get_string());
  };
  SlashRequest r;
  r.team_id = str("team_id");
  r.channel_id = str("channel_id");
  r.user_id = str("user_id");
  r.command = str("command");
  r.text = str("text");
  r.response_url = str("response_url");
  r.trigger_id = str("trigger_id");
  return checked(std::move(r));
}

}  // namespace baton::slack
