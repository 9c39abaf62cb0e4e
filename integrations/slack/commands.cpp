#include "integrations/slack/commands.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <vector>

#include <boost/json.hpp>

#include "integrations/common/utf8.hpp"
#include "integrations/sms/twilio_signature.hpp"

namespace baton::slack {
namespace {

using Kind = SlashCommand::Kind;

struct Word {
  std::string_view text;
  std::size_t begin = 0;  // offset in the command text, to cut raw remainders
};

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

std::vector<Word> split_words(std::string_view text) {
  std::vector<Word> words;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_space(text[i])) ++i;
    const std::size_t begin = i;
    while (i < text.size() && !is_space(text[i])) ++i;
    if (i > begin) words.push_back({text.substr(begin, i - begin), begin});
  }
  return words;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// "42" or "#42"; positive, at most 18 digits so it fits in int64.
std::optional<std::int64_t> parse_number(std::string_view w) {
  if (!w.empty() && w.front() == '#') w.remove_prefix(1);
  if (w.empty() || w.size() > 18) return std::nullopt;
  std::int64_t n = 0;
  for (char c : w) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  if (n <= 0) return std::nullopt;
  return n;
}

// "<@U123|name>" or "<@U123>" (should_escape: true) -> "U123".
std::optional<std::string> parse_mention(std::string_view w) {
  if (w.size() < 4 || !w.starts_with("<@") || !w.ends_with(">")) return std::nullopt;
  std::string_view inner = w.substr(2, w.size() - 3);
  inner = inner.substr(0, inner.find('|'));
  if (inner.empty()) return std::nullopt;
  for (char c : inner) {
    if (!std::isupper(static_cast<unsigned char>(c)) && !std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
  }
  return std::string(inner);
}

SlashCommand usage_error(std::string error) {
  SlashCommand c;
  c.kind = Kind::usage_error;
  c.error = std::move(error);
  return c;
}

SlashCommand of_kind(Kind kind) {
  SlashCommand c;
  c.kind = kind;
  return c;
}

std::string bad_mention(std::string_view w) {
  return "'" + std::string(w) + "' is not a Slack user mention; pick the person from the @ menu so Slack links them";
}

// `words` start after "oncall".
SlashCommand parse_oncall(const std::vector<Word>& words) {
  if (words.size() > 1) return usage_error("oncall takes at most one service or schedule, e.g. `oncall payments`");
  SlashCommand c = of_kind(Kind::oncall);
  if (!words.empty()) c.target = std::string(words.front().text);
  return c;
}

// `words` start after "page"; `text` is the whole command text.
SlashCommand parse_page(std::string_view text, const std::vector<Word>& words) {
  if (words.empty()) return usage_error("usage: page @person <message>");
  auto user = parse_mention(words[0].text);
  if (!user) return usage_error(bad_mention(words[0].text));
  if (words.size() < 2) return usage_error("page needs a message after the person, e.g. `page @ana db-7 is down`");
  SlashCommand c = of_kind(Kind::page);
  c.user_id = std::move(*user);
  c.message = std::string(trim(text.substr(words[1].begin)));
  return c;
}

SlashCommand parse_incident_new(std::string_view text, const std::vector<Word>& words) {
  // words[0] is the first word of the summary.
  if (words.empty()) return usage_error("incident new needs a summary, e.g. `incident new checkout is failing`");
  SlashCommand c = of_kind(Kind::incident_new);
  std::size_t end = text.size();
  const std::string last = lower(words.back().text);
  if (last.starts_with("service:")) {
    c.service = std::string(words.back().text.substr(8));
    if (c.service.empty()) return usage_error("`service:` needs a service id, e.g. `service:payments`");
    end = words.back().begin;
  }
  const std::size_t begin = words.front().begin;
  c.summary = std::string(trim(text.substr(begin, end > begin ? end - begin : 0)));
  if (c.summary.empty()) return usage_error("incident new needs a summary before `service:`");
  return c;
}

// `words` start after "incident".
SlashCommand parse_incident(std::string_view text, const std::vector<Word>& words) {
  if (words.empty())
    return usage_error("incident needs a subcommand: new, ack, resolve, escalate, reassign, list or status");
  const std::string sub = lower(words[0].text);
  const std::vector<Word> rest(words.begin() + 1, words.end());

  if (sub == "new") return parse_incident_new(text, rest);

  static constexpr std::array<std::pair<std::string_view, Kind>, 3> kActions{{
      {"ack", Kind::incident_ack}, {"resolve", Kind::incident_resolve}, {"escalate", Kind::incident_escalate}}};
  for (const auto& [name, kind] : kActions) {
    if (sub != name) continue;
    if (rest.size() > 1) return usage_error("incident " + sub + " takes at most one incident number");
    SlashCommand c = of_kind(kind);
    if (!rest.empty()) {
      c.incident = parse_number(rest[0].text);
      if (!c.incident) return usage_error("'" + std::string(rest[0].text) + "' is not an incident number");
    }
    return c;
  }

  if (sub == "reassign") {
    if (rest.size() != 2) return usage_error("usage: incident reassign N @person");
    SlashCommand c = of_kind(Kind::incident_reassign);
    c.incident = parse_number(rest[0].text);
    if (!c.incident) return usage_error("'" + std::string(rest[0].text) + "' is not an incident number");
    auto user = parse_mention(rest[1].text);
    if (!user) return usage_error(bad_mention(rest[1].text));
    c.user_id = std::move(*user);
    return c;
  }
  if (sub == "list") {
    if (!rest.empty()) return usage_error("incident list takes no arguments");
    return of_kind(Kind::incident_list);
  }
  if (sub == "status") {
    if (rest.size() != 1) return usage_error("usage: incident status N");
    SlashCommand c = of_kind(Kind::incident_status);
    c.incident = parse_number(rest[0].text);
    if (!c.incident) return usage_error("'" + std::string(rest[0].text) + "' is not an incident number");
    return c;
  }
  return usage_error("unknown incident subcommand '" + std::string(words[0].text) +
                     "'; use new, ack, resolve, escalate, reassign, list or status");
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

SlashCommand parse_slash_command(std::string_view command, std::string_view text) {
  std::string name = lower(trim(command));
  if (name.starts_with("/")) name.erase(0, 1);

  const auto words = split_words(text);
  if (name == "oncall") return parse_oncall(words);
  if (name == "incident") return parse_incident(text, words);
  if (name != "baton") return usage_error("unknown command '" + std::string(command) + "'; use /baton");

  if (words.empty()) return of_kind(Kind::help);
  const std::string first = lower(words[0].text);
  const std::vector<Word> rest(words.begin() + 1, words.end());
  if (first == "help") return of_kind(Kind::help);
  if (first == "oncall") return parse_oncall(rest);
  if (first == "incident") return parse_incident(text, rest);
  if (first == "page") return parse_page(text, rest);
  return usage_error("unknown command '" + std::string(words[0].text) + "'; try `/baton help`");
}

std::string usage_text() {
  return "*baton* commands:\n"
         "- `/baton oncall [service|schedule]`: who is on call now\n"
         "- `/baton incident new <summary> [service:<id>]`: open an incident (a last word `service:<id>` picks the "
         "service)\n"
         "- `/baton incident ack|resolve|escalate [N]`: act on incident N (default: this channel's incident)\n"
         "- `/baton incident reassign N @person`: make someone else the owner\n"
         "- `/baton incident list`: open incidents\n"
         "- `/baton incident status N`: state and owner of incident N\n"
         "- `/baton page @person <message>`: page someone now\n"
         "- `/baton help`: this text\n"
         "`/oncall ...` and `/incident ...` are short for `/baton oncall ...` and `/baton incident ...`.";
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
