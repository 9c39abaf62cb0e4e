#include "integrations/common/command_grammar.hpp"

#include <array>
#include <utility>
#include <vector>
#include "integrations/common/text.hpp"
#include "integrations/common/utf8.hpp"

namespace baton::integrations {
namespace {

constexpr std::size_t kMaxDigits = 18;  // stays well inside int64
constexpr std::chrono::milliseconds kMaxMaintenance = std::chrono::hours(24 * 30);

struct Word {
  std::string_view text;
  std::size_t begin = 0;  // offset in the command text, to cut raw remainders
};

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

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

/// Also drops the trailing '.' and '!' of a short reply ("Ack.", "ack 42!").
std::string_view trim_reply(std::string_view s) {
  s = trim_space(s);
  while (!s.empty() && (is_space(s.back()) || s.back() == '.' || s.back() == '!')) s.remove_suffix(1);
  return s;
}

/// "42", "#42", "INC-42"; positive, at most 18 digits.
std::optional<std::int64_t> parse_number(std::string_view w) {
  if (!w.empty() && w.front() == '#') w.remove_prefix(1);
  if (w.size() > 4 && lower(w.substr(0, 4)) == "inc-") w.remove_prefix(4);
  if (w.empty() || w.size() > kMaxDigits) return std::nullopt;
  std::int64_t n = 0;
  for (char c : w) {
    if (!is_digit(c)) return std::nullopt;
    n = n * 10 + (c - '0');
  }
  if (n <= 0) return std::nullopt;
  return n;
}

/// After an action word: "", " 42", "42", "#42", " # 42", " INC-42". The outer
/// optional is empty for anything else. `need_separator`: the number must
/// follow whitespace or '#' (after a digit code: "242" is not "2 42").
std::optional<std::optional<std::int64_t>> parse_target(std::string_view rest, bool need_separator) {
  if (rest.empty()) return std::optional<std::int64_t>{};
  bool separated = false;
  while (!rest.empty() && is_space(rest.front())) {
    rest.remove_prefix(1);
    separated = true;
  }
  if (!rest.empty() && rest.front() == '#') {
    rest.remove_prefix(1);
    separated = true;
    while (!rest.empty() && is_space(rest.front())) rest.remove_prefix(1);
  }
  if (need_separator && !separated) return std::nullopt;
  if (rest.empty()) return std::nullopt;
  auto n = parse_number(rest);
  if (!n) return std::nullopt;
  return std::optional<std::int64_t>{n};
}

// The error quotes what the user typed, which may be cut mid-character or not
// be UTF-8 at all: it is repaired, since every channel shows it as text.
ParsedCommand invalid(std::string error) {
  ParsedCommand c;
  c.verb = Verb::invalid;
  c.error = repair_utf8(error);
  return c;
}

// At most `n` bytes of `w`, not ending inside a UTF-8 sequence.
std::string clip(std::string_view w, std::size_t n) {
  if (w.size() <= n) return std::string(w);
  while (n > 0 && (static_cast<unsigned char>(w[n]) & 0xC0) == 0x80) --n;
  return std::string(w.substr(0, n));
}

ParsedCommand of(Verb verb) {
  ParsedCommand c;
  c.verb = verb;
  return c;
}

constexpr std::array<std::pair<std::string_view, Verb>, 6> kActions{{
    {"ack", Verb::ack},
    {"acknowledge", Verb::ack},
    {"res", Verb::resolve},
    {"resolve", Verb::resolve},
    {"esc", Verb::escalate},
    {"escalate", Verb::escalate},
}};

constexpr std::array<std::pair<std::string_view, Verb>, 11> kKeywords{{
    {"stop", Verb::stop},
    {"stopall", Verb::stop},
    {"unsubscribe", Verb::stop},
    {"cancel", Verb::stop},
    {"end", Verb::stop},
    {"quit", Verb::stop},
    {"start", Verb::start},
    {"yes", Verb::start},
    {"unstop", Verb::start},
    {"help", Verb::help},
    {"info", Verb::help},
}};

/// ack/resolve/escalate words and digit codes: `text` starts with the action
/// (SMS style: "ACK42", "2 #42"). nullopt when `text` is not an action at all.
std::optional<ParsedCommand> parse_action(std::string_view text) {
  text = trim_reply(text);
  if (text.empty()) return std::nullopt;
  if (is_digit(text.front())) {
    const char code = text.front();
    if (code < '1' || code > '3') return std::nullopt;
    if (text.size() > 1 && !is_space(text[1]) && text[1] != '#') return std::nullopt;
    auto target = parse_target(text.substr(1), true);
    if (!target) return invalid("'" + std::string(text) + "' is not a key with an incident number, e.g. 1 42");
    ParsedCommand c = of(code == '1' ? Verb::ack : code == '2' ? Verb::resolve : Verb::escalate);
    c.incident = *target;
    return c;
  }
  std::size_t end = 0;
  while (end < text.size() && is_alpha(text[end])) ++end;
  const auto word = lower(text.substr(0, end));
  for (const auto& [name, verb] : kActions) {
    if (word != name) continue;
    auto target = parse_target(text.substr(end), false);
    if (!target)
      return invalid(std::string(to_string(verb)) + " takes at most one incident number, e.g. " +
                     std::string(to_string(verb)) + " 42");
    ParsedCommand c = of(verb);
    c.incident = *target;
    return c;
  }
  return std::nullopt;
}

/// A person argument: a Slack mention "<@U123|name>" -> "<@U123>", "@bob" ->
/// "bob", anything else as typed (a person id or an email).
std::optional<std::string> parse_person(std::string_view w) {
  if (w.starts_with("<@")) {
    if (w.size() < 4 || !w.ends_with(">")) return std::nullopt;
    std::string_view inner = w.substr(2, w.size() - 3);
    inner = inner.substr(0, inner.find('|'));
    if (inner.empty()) return std::nullopt;
    for (char c : inner)
      if (!(c >= 'A' && c <= 'Z') && !is_digit(c)) return std::nullopt;
    return "<@" + std::string(inner) + ">";
  }
  if (w.starts_with("@")) w.remove_prefix(1);
  if (w.empty() || w.find_first_of("<>") != std::string_view::npos) return std::nullopt;
  return std::string(w);
}

std::string not_a_person(std::string_view w) {
  return "'" + std::string(w) + "' is not a person: give a person id, an email, or pick the person from the @ menu";
}

// `words` start after "oncall".
ParsedCommand parse_oncall(const std::vector<Word>& words) {
  if (words.size() > 1) return invalid("oncall takes at most one service or schedule, e.g. oncall payments");
  ParsedCommand c = of(Verb::oncall);
  if (!words.empty()) c.target = std::string(words.front().text);
  return c;
}

// `words` start after "page"; `text` is the whole command text.
ParsedCommand parse_page(std::string_view text, const std::vector<Word>& words) {
  if (words.empty()) return invalid("usage: page <person> <message>");
  auto person = parse_person(words[0].text);
  if (!person) return invalid(not_a_person(words[0].text));
  if (words.size() < 2) return invalid("page needs a message after the person, e.g. page ana db-7 is down");
  ParsedCommand c = of(Verb::page);
  c.person = std::move(*person);
  c.text = std::string(trim_space(text.substr(words[1].begin)));
  return c;
}

// `words` start after "reassign".
ParsedCommand parse_reassign(const std::vector<Word>& words) {
  if (words.size() != 2) return invalid("usage: reassign N <person>");
  ParsedCommand c = of(Verb::reassign);
  c.incident = parse_number(words[0].text);
  if (!c.incident) return invalid("'" + std::string(words[0].text) + "' is not an incident number");
  auto person = parse_person(words[1].text);
  if (!person) return invalid(not_a_person(words[1].text));
  c.person = std::move(*person);
  return c;
}

// `words` start after "new".
ParsedCommand parse_incident_new(std::string_view text, const std::vector<Word>& words) {
  if (words.empty()) return invalid("incident new needs a summary, e.g. incident new checkout is failing");
  ParsedCommand c = of(Verb::incident_new);
  std::size_t end = text.size();
  if (lower(words.back().text).starts_with("service:")) {
    c.target = std::string(words.back().text.substr(8));
    if (c.target.empty()) return invalid("service: needs a service id, e.g. service:payments");
    end = words.back().begin;
  }
  const std::size_t begin = words.front().begin;
  c.text = std::string(trim_space(text.substr(begin, end > begin ? end - begin : 0)));
  if (c.text.empty()) return invalid("incident new needs a summary before service:");
  return c;
}

// `words` start after "incident".
ParsedCommand parse_incident(std::string_view text, const std::vector<Word>& words) {
  if (words.empty())
    return invalid("incident needs a subcommand: new, ack, resolve, escalate, reassign, list or status");
  const std::string sub = lower(words[0].text);
  const std::vector<Word> rest(words.begin() + 1, words.end());
  if (sub == "new") return parse_incident_new(text, rest);
  if (sub == "reassign") return parse_reassign(rest);
  if (sub == "list") {
    if (!rest.empty()) return invalid("incident list takes no arguments");
    return of(Verb::incident_list);
  }
  if (sub == "status") {
    if (rest.size() > 1) return invalid("usage: incident status [N]");
    ParsedCommand c = of(Verb::incident_status);
    if (!rest.empty()) {
      c.incident = parse_number(rest[0].text);
      if (!c.incident) return invalid("'" + std::string(rest[0].text) + "' is not an incident number");
    }
    return c;
  }
  if (auto action = parse_action(text.substr(words[0].begin)); action && !is_digit(words[0].text.front()))
    return *action;
  return invalid("unknown incident subcommand '" + std::string(words[0].text) +
                 "'; use new, ack, resolve, escalate, reassign, list or status");
}

// `words` start after "maintenance".
ParsedCommand parse_maintenance(std::string_view text, const std::vector<Word>& words) {
  if (words.size() == 2 && lower(words[0].text) == "end") {
    ParsedCommand c = of(Verb::maintenance_end);
    c.target = std::string(words[1].text);
    return c;
  }
  if (words.size() < 2)
    return invalid("usage: maintenance <service> <duration> [reason], e.g. maintenance payments 1h deploy; or "
                   "maintenance end <service>");
  ParsedCommand c = of(Verb::maintenance_start);
  c.target = std::string(words[0].text);
  c.duration = parse_command_duration(lower(words[1].text), kMaxMaintenance);
  if (!c.duration)
    return invalid("'" + std::string(words[1].text) +
                   "' is not a duration of at most 30 days, e.g. 30m, 1h, 1h30m or 2d");
  if (words.size() > 2) c.text = std::string(trim_space(text.substr(words[2].begin)));
  return c;
}

}  // namespace

const char* to_string(Verb verb) {
  switch (verb) {
    case Verb::ack: return "ack";
    case Verb::resolve: return "resolve";
    case Verb::escalate: return "escalate";
    case Verb::reassign: return "reassign";
    case Verb::oncall: return "oncall";
    case Verb::incident_new: return "incident new";
    case Verb::incident_list: return "incident list";
    case Verb::incident_status: return "incident status";
    case Verb::page: return "page";
    case Verb::maintenance_start: return "maintenance";
    case Verb::maintenance_end: return "maintenance end";
    case Verb::console: return "console";
    case Verb::help: return "help";
    case Verb::stop: return "stop";
    case Verb::start: return "start";
    case Verb::invalid: return "invalid";
  }
  return "invalid";
}

std::optional<std::chrono::milliseconds> parse_command_duration(std::string_view text, std::chrono::milliseconds max) {
  if (text.empty() || text.size() > 32) return std::nullopt;
  std::int64_t total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    std::int64_t n = 0;
    const std::size_t from = i;
    while (i < text.size() && is_digit(text[i]) && i - from < 9) n = n * 10 + (text[i++] - '0');
    if (i == from || i >= text.size()) return std::nullopt;  // no number, or a number without a unit
    std::int64_t unit = 0;
    switch (text[i]) {
      case 's': unit = 1000; break;
      case 'm': unit = 60'000; break;
      case 'h': unit = 3'600'000; break;
      case 'd': unit = 86'400'000; break;
      default: return std::nullopt;
    }
    ++i;
    total += n * unit;
    if (total > max.count()) return std::nullopt;
  }
  if (total <= 0) return std::nullopt;
  return std::chrono::milliseconds(total);
}

ParsedCommand parse_command(std::string_view text) {
  const auto words = split_words(text);
  if (words.empty()) return of(Verb::help);
  const std::string first = lower(words[0].text);
  const std::vector<Word> rest(words.begin() + 1, words.end());
  if (first == "oncall") return parse_oncall(rest);
  if (first == "incident") return parse_incident(text, rest);
  if (first == "page") return parse_page(text, rest);
  if (first == "reassign") return parse_reassign(rest);
  if (first == "maintenance") return parse_maintenance(text, rest);
  if (first == "console") {
    if (!rest.empty()) return invalid("console takes no arguments");
    return of(Verb::console);
  }
  if (auto action = parse_action(text)) return *action;
  // Keywords alone ("STOP", "help", "Info."); "STOP 42" is not one.
  const auto alone = lower(trim_reply(text));
  for (const auto& [name, verb] : kKeywords)
    if (alone == name) return of(verb);
  return invalid("unknown command '" + clip(words[0].text, 40) + "'; try help");
}

std::string command_usage(std::string_view prefix) {
  const std::string p(prefix);
  return p + "oncall [service|schedule]: who is on call now, and any maintenance window in force\n" +
         p + "ack|resolve|escalate [N]: act on incident N (default: this conversation's incident or your page)\n" +
         p + "reassign N <person>: make someone else the owner of incident N\n" +
         p + "incident new <summary> [service:<id>]: open an incident (a last word service:<id> picks the service)\n" +
         p + "incident list: open incidents\n" +
         p + "incident status [N]: state, owner and latest timeline of incident N\n" +
         p + "page <person> <message>: page someone now\n" +
         p + "maintenance <service> <duration> [reason]: page nobody for the service for a while, e.g. " + p +
         "maintenance payments 1h deploy\n" +
         p + "maintenance end <service>: end the service's maintenance now\n" +
         p + "console: a one-time sign-in link to the web console (sent privately)\n" +
         p + "help: this text";
}

}  // namespace baton::integrations
