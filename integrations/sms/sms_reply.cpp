#include "integrations/sms/sms_reply.hpp"

#include <array>
#include <cctype>
#include <utility>

namespace baton::integrations {
namespace {

using Kind = SmsReply::Kind;

constexpr std::size_t kMaxDigits = 18;  // stays well inside int64

constexpr std::array<std::pair<std::string_view, Kind>, 6> kCommands{{
    {"ACK", Kind::ack},
    {"ACKNOWLEDGE", Kind::ack},
    {"RES", Kind::resolve},
    {"RESOLVE", Kind::resolve},
    {"ESC", Kind::escalate},
    {"ESCALATE", Kind::escalate},
}};

constexpr std::array<std::pair<std::string_view, Kind>, 11> kKeywords{{
    {"STOP", Kind::stop},
    {"STOPALL", Kind::stop},
    {"UNSUBSCRIBE", Kind::stop},
    {"CANCEL", Kind::stop},
    {"END", Kind::stop},
    {"QUIT", Kind::stop},
    {"START", Kind::start},
    {"YES", Kind::start},
    {"UNSTOP", Kind::start},
    {"HELP", Kind::help},
    {"INFO", Kind::help},
}};

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && (is_space(s.back()) || s.back() == '.' || s.back() == '!')) s.remove_suffix(1);
  return s;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// "", "42", "#42", " # 42": the incident, or an error for anything else.
// `need_separator`: the number must be preceded by whitespace or '#'.
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
  if (rest.empty() || rest.size() > kMaxDigits) return std::nullopt;
  std::int64_t n = 0;
  for (char c : rest) {
    if (!is_digit(c)) return std::nullopt;
    n = n * 10 + (c - '0');
  }
  if (n <= 0) return std::nullopt;
  return std::optional<std::int64_t>{n};
}

void append_escaped(std::string& out, std::string_view text) {
  for (char c : text) {
    const auto b = static_cast<unsigned char>(c);
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        if (b < 0x20 && c != '\t' && c != '\n' && c != '\r') break;  // not allowed in XML 1.0
        out.push_back(c);
    }
  }
}

constexpr std::string_view kXmlDecl = R"(<?xml version="1.0" encoding="UTF-8"?>)";

}  // namespace

SmsReply parse_sms_reply(std::string_view body) {
  const auto text = trim(body);
  if (text.empty()) return {};

  // A digit code: 1, 2 or 3, then an optional separated incident.
  if (is_digit(text.front())) {
    const char code = text.front();
    if (code < '1' || code > '3') return {};
    auto target = parse_target(text.substr(1), true);
    if (!target) return {};
    const Kind kind = code == '1' ? Kind::ack : code == '2' ? Kind::resolve : Kind::escalate;
    return SmsReply{kind, *target};
  }

  std::size_t word_end = 0;
  while (word_end < text.size() && is_alpha(text[word_end])) ++word_end;
  const auto word = upper(text.substr(0, word_end));
  const auto rest = text.substr(word_end);

  for (const auto& [name, kind] : kCommands) {
    if (word != name) continue;
    auto target = parse_target(rest, false);
    if (!target) return {};
    return SmsReply{kind, *target};
  }
  if (rest.empty()) {
    for (const auto& [name, kind] : kKeywords) {
      if (word == name) return SmsReply{kind, std::nullopt};
    }
  }
  return {};
}

std::string twiml_message(std::string_view text) {
  std::string out(kXmlDecl);
  out += "<Response><Message>";
  append_escaped(out, text);
  out += "</Message></Response>";
  return out;
}

std::string twiml_empty() { return std::string(kXmlDecl) + "<Response/>"; }

}  // namespace baton::integrations
