#include "integrations/email/message.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <cstdio>

#include "integrations/crypto.hpp"
#include "integrations/email/reply_token.hpp"
#include "integrations/common/text.hpp"

namespace baton::integrations {
namespace {

constexpr auto kLinkLifetime = std::chrono::hours(24);
constexpr std::size_t kMaxLine = 78;
constexpr std::size_t kWordBytes = 42;        // 56 base64 chars: a 68-char encoded-word
constexpr std::size_t kSubjectSummaryBytes = 200;  // the body carries the whole summary
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

std::string base_url(std::string_view url) {
  while (!url.empty() && url.back() == '/') url.remove_suffix(1);
  return std::string(url);
}

std::string base64(std::string_view bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const std::uint32_t v = (std::uint8_t(bytes[i]) << 16) | (std::uint8_t(bytes[i + 1]) << 8) | std::uint8_t(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i + 1 == bytes.size()) {
    const std::uint32_t v = std::uint8_t(bytes[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    const std::uint32_t v = (std::uint8_t(bytes[i]) << 16) | (std::uint8_t(bytes[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

// Length of the valid UTF-8 sequence at s[i], or 0 when it is invalid
// (overlong forms, surrogates and values above U+10FFFF included).
std::size_t utf8_sequence(std::string_view s, std::size_t i, std::uint32_t& cp) {
  const auto b0 = std::uint8_t(s[i]);
  std::size_t len = 0;
  std::uint32_t min = 0;
  if (b0 < 0x80) { cp = b0; return 1; }
  if ((b0 & 0xE0) == 0xC0) { len = 2; cp = b0 & 0x1F; min = 0x80; }
  else if ((b0 & 0xF0) == 0xE0) { len = 3; cp = b0 & 0x0F; min = 0x800; }
  else if ((b0 & 0xF8) == 0xF0) { len = 4; cp = b0 & 0x07; min = 0x10000; }
  else return 0;
  if (i + len > s.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    const auto b = std::uint8_t(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

// One line of alert text fit for a header or a table cell: control characters
// (C0, DEL, C1, U+2028/2029) become spaces, invalid UTF-8 becomes U+FFFD, runs
// of spaces collapse and the ends are trimmed. This is what keeps "\r\nBcc:"
// in a summary from ever starting a header line.
std::string clean_line(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  auto space = [&out] {
    if (!out.empty() && out.back() != ' ') out += ' ';
  };
  for (std::size_t i = 0; i < s.size();) {
    std::uint32_t cp = 0;
    const std::size_t len = utf8_sequence(s, i, cp);
    if (len == 0) {
      out += kReplacement;
      ++i;
      continue;
    }
    if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029) {
      space();
    } else if (cp == ' ') {
      space();
    } else {
      out.append(s.substr(i, len));
    }
    i += len;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// At most `max` bytes of valid UTF-8 `s`, cut at a character boundary, with an
// ellipsis when shortened.
std::string truncate_utf8(std::string_view s, std::size_t max) {
  if (s.size() <= max) return std::string(s);
  std::size_t cut = max;
  while (cut > 0 && (std::uint8_t(s[cut]) & 0xC0) == 0x80) --cut;
  return std::string(s.substr(0, cut)) + "\xE2\x80\xA6";  // U+2026
}

bool printable_ascii(std::string_view s) {
  for (char c : s) {
    if (c < 0x20 || c > 0x7E) return false;
  }
  return true;
}

std::vector<std::string> split_spaces(std::string_view s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    auto end = s.find(' ', start);
    if (end == std::string_view::npos) end = s.size();
    if (end > start) out.emplace_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// "Name: tok tok tok" folded before a token that would pass column 78.
std::string fold_header(std::string_view name, const std::vector<std::string>& tokens) {
  std::string out(name);
  out += ':';
  std::size_t column = out.size();
  bool first = true;
  for (const auto& token : tokens) {
    if (!first && column + 1 + token.size() > kMaxLine) {
      out += "\r\n";
      column = 0;
    }
    out += ' ';
    out += token;
    column += 1 + token.size();
    first = false;
  }
  out += "\r\n";
  return out;
}

// Unstructured text (a Subject) as tokens: plain words when it is printable
// ASCII that folds cleanly and cannot be mistaken for an encoded-word, else
// encoded-words.
std::vector<std::string> text_tokens(std::string_view text, std::size_t name_length) {
  if (printable_ascii(text) && text.find("=?") == std::string_view::npos) {
    auto words = split_spaces(text);
    bool fits = true;
    for (std::size_t i = 0; i < words.size(); ++i) {
      const std::size_t room = i == 0 ? kMaxLine - name_length - 2 : kMaxLine - 1;
      if (words[i].size() > room) fits = false;
    }
    if (fits) return words;
  }
  return encode_header_words(text);
}

// A display name as a quoted-string, or as encoded-words when it is not short
// printable ASCII.
std::vector<std::string> phrase_tokens(std::string_view name) {
  if (printable_ascii(name) && name.size() <= 60 && name.find("=?") == std::string_view::npos) {
    std::string quoted = "\"";
    for (char c : name) {
      if (c == '"' || c == '\\') quoted += '\\';
      quoted += c;
    }
    quoted += '"';
    return {quoted};
  }
  return encode_header_words(name);
}

std::string mailbox_header(std::string_view header, std::string_view name, std::string_view address) {
  std::vector<std::string> tokens;
  if (!name.empty()) tokens = phrase_tokens(name);
  tokens.push_back("<" + std::string(address) + ">");
  return fold_header(header, tokens);
}

// Quoted-printable (RFC 2045 section 6.7) of UTF-8 text whose lines end in
// "\n": CRLF line ends, "=" and non-ASCII escaped, encoded lines <= 76 chars.
std::string quoted_printable(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const auto line = text.substr(start, end - start);
    std::size_t column = 0;
    for (std::size_t i = 0; i < line.size(); ++i) {
      const auto c = std::uint8_t(line[i]);
      const bool last = i + 1 == line.size();
      std::string piece;
      if ((c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !last)) {
        piece = char(c);
      } else {
        piece = {'=', kHex[c >> 4], kHex[c & 15]};
      }
      if (column + piece.size() > 75) {
        out += "=\r\n";
        column = 0;
      }
      out += piece;
      column += piece.size();
    }
    out += "\r\n";
    start = end + 1;
  }
  return out;
}

// The host of a URL ("https://user@baton.example.com:8443/x" -> "baton.example.com").
std::string url_host(std::string_view url) {
  const auto scheme = url.find("://");
  if (scheme == std::string_view::npos) return {};
  auto rest = url.substr(scheme + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) rest.remove_prefix(at + 1);
  if (!rest.empty() && rest.front() == '[') return {};  // IPv6 literals make poor ids
  return std::string(rest.substr(0, rest.find(':')));
}

bool valid_domain(std::string_view d) { return is_valid_mail_domain(d); }

std::string id_domain(const EmailConfig& c) {
  if (valid_domain(c.message_id_domain)) return c.message_id_domain;
  auto host = url_host(c.public_url);
  return valid_domain(host) ? host : "baton.local";
}

struct Links {
  std::vector<std::pair<std::string, std::string>> actions;  // label, URL
  std::string incident;
};

// Everything both parts show, already cleaned of control characters.
struct Facts {
  std::string headline;
  std::vector<std::pair<std::string, std::string>> rows;
  Links links;
  bool replies = false;  ///< replies are read (smtp.replies): the footer says how to answer
};

std::string display_name(const engine::Person& p) {
  auto name = clean_line(p.name);
  return name.empty() ? clean_line(p.id) : name;
}

// Who owns the incident, by name when the owner is the addressee.
std::string owner_name(const Delivery& d) {
  if (d.incident.owner.empty()) return {};
  if (d.person && d.person->id == d.incident.owner) return display_name(*d.person);
  return clean_line(d.incident.owner);
}

// One subject for every mail of an incident (Gmail threads only mails whose
// subjects match); what happened is the body's headline. Severity and summary
// are set when the incident opens and never change.
std::string subject_for(const Delivery& d) {
  const auto& inc = d.incident;
  return "[baton] #" + std::to_string(inc.number) + " " + upper(engine::to_string(inc.severity)) + ": " +
         truncate_utf8(clean_line(inc.summary), kSubjectSummaryBytes);
}

Facts facts_for(const Delivery& d, const EmailConfig& c, const ActionSigner* signer, engine::TimePoint now) {
  const auto& n = d.notification;
  const auto& inc = d.incident;
  const std::string base = base_url(c.public_url);
  const std::string number = "#" + std::to_string(inc.number);
  const bool page = n.kind == engine::NotificationKind::page;

  Facts f;
  if (page) {
    f.headline = "Incident " + number + " needs you: " + upper(engine::to_string(inc.severity));
  } else if (inc.state == engine::IncidentState::acknowledged) {
    const auto who = owner_name(d);
    f.headline = "Incident " + number + " was acknowledged" + (who.empty() ? "" : " by " + who);
  } else if (inc.state == engine::IncidentState::resolved) {
    f.headline = "Incident " + number + " was resolved";
  } else {
    f.headline = "Incident " + number + " was updated";
  }

  const auto service_name = clean_line(d.service_name);
  const auto service_id = clean_line(inc.service_id);
  f.rows = {{"Summary", clean_line(inc.summary)},
            {"Severity", engine::to_string(inc.severity)},
            {"Status", engine::to_string(inc.state)},
            {"Service", service_name.empty() || service_name == service_id
                            ? service_id
                            : service_name + " (" + service_id + ")"},
            {"Source", clean_line(inc.source_name)},
            {"Step", std::to_string(n.step + 1)}};
  if (page && d.person) {
    f.rows.emplace_back("Paged", display_name(*d.person) + " (" + clean_line(d.person->id) + ")");
  } else if (!inc.owner.empty()) {
    f.rows.emplace_back("Owner", owner_name(d));
  }
  f.rows.emplace_back("Started", engine::format_iso8601(inc.created_at));

  if (page && d.person && signer != nullptr) {
    const std::array<std::pair<Action, const char*>, 3> actions{
        {{Action::acknowledge, "Acknowledge"}, {Action::resolve, "Resolve"}, {Action::escalate, "Escalate"}}};
    for (const auto& [action, label] : actions) {
      ActionClaim claim{inc.number, action, d.person->id, now + kLinkLifetime, {}};
      f.links.actions.emplace_back(label, base + "/actions/" + signer->sign(claim));
    }
  }
  f.links.incident = base + "/api/v1/incidents/" + std::to_string(inc.number);
  return f;
}

std::string text_body(const Facts& f) {
  std::string out = f.headline + "\n\n";
  for (const auto& [label, value] : f.rows) {
    std::string name = label + ":";
    name.resize(10, ' ');
    out += name + value + "\n";
  }
  if (!f.links.actions.empty()) {
    out += "\n";
    for (const auto& [label, url] : f.links.actions) {
      std::string name = label + ":";
      name.resize(13, ' ');
      out += name + url + "\n";
    }
    out += "Each link opens a confirmation page and expires in 24 hours.\n";
  }
  out += "\nIncident: " + f.links.incident + "\n\n-- \n" +
         (f.replies ? "baton: reply ack, resolve or escalate (or 1, 2, 3) as the first word to act.\n"
                    : "baton: an automated message; replies are not read.\n");
  return out;
}

std::string html_body(const Facts& f, std::string_view subject) {
  std::string out =
      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" + html_escape(subject) +
      "</title></head>\n<body style=\"font-family: sans-serif\">\n<h2>" + html_escape(f.headline) +
      "</h2>\n<table>\n";
  for (const auto& [label, value] : f.rows) {
    out += "<tr><th align=\"left\">" + html_escape(label) + "</th><td>" + html_escape(value) + "</td></tr>\n";
  }
  out += "</table>\n";
  if (!f.links.actions.empty()) {
    out += "<p>\n";
    for (const auto& [label, url] : f.links.actions) {
      out += "<a href=\"" + html_escape(url) +
             "\" style=\"display: inline-block; padding: 8px 16px; margin-right: 8px; "
             "border: 1px solid #444; border-radius: 4px; text-decoration: none\">" +
             html_escape(label) + "</a>\n";
    }
    out += "</p>\n<p><small>Each link opens a confirmation page and expires in 24 hours.</small></p>\n";
  }
  out += "<p><a href=\"" + html_escape(f.links.incident) + "\">" + html_escape(f.links.incident) +
         "</a></p>\n<p><small>" +
         (f.replies ? std::string("baton: reply ack, resolve or escalate (or 1, 2, 3) as the first word to act.")
                    : std::string("baton: an automated message; replies are not read.")) +
         "</small></p>\n</body></html>\n";
  return out;
}

}  // namespace

std::string rfc5322_date(engine::TimePoint t) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const auto day = std::chrono::floor<std::chrono::days>(t);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::weekday wd{day};
  const std::chrono::hh_mm_ss hms{std::chrono::floor<std::chrono::seconds>(t - day)};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02u %s %04d %02d:%02d:%02d +0000", kDays[wd.c_encoding()],
                unsigned(ymd.day()), kMonths[unsigned(ymd.month()) - 1], int(ymd.year()),
                int(hms.hours().count()), int(hms.minutes().count()), int(hms.seconds().count()));
  return buf;
}

std::vector<std::string> encode_header_words(std::string_view text) {
  std::vector<std::string> words;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = std::min(text.size(), start + kWordBytes);
    // Never split a character across words (RFC 2047 section 5).
    while (end < text.size() && end > start + 1 && (std::uint8_t(text[end]) & 0xC0) == 0x80) --end;
    words.push_back("=?UTF-8?B?" + base64(text.substr(start, end - start)) + "?=");
    start = end;
  }
  return words;
}

std::string email_link_secret(std::string_view action_secret) {
  return hmac_sha256(action_secret, "baton action links: email");
}

EmailMessage build_email(const Delivery& d, const EmailConfig& c, const ActionSigner* signer,
                         engine::TimePoint now, const MailThread& thread) {
  const auto& inc = d.incident;
  const std::string sender_id = thread.sender_id.empty() ? to_hex(random_bytes(8)) : thread.sender_id;

  EmailMessage m;
  m.from = c.from;
  // With replies on, the id ends in the reply token's tag, so a reply's
  // In-Reply-To proves which page it answers (reply_token.hpp).
  std::string reply_token;
  if (!c.reply_secret.empty() && d.person)
    reply_token = ReplyTokenSigner(c.reply_secret).token(inc.number, d.notification.id, d.person->id);
  m.message_id = "<incident-" + std::to_string(inc.number) + ".notification-" +
                 std::to_string(d.notification.id) + "." + sender_id +
                 (reply_token.empty() ? "" : "." + reply_token.substr(reply_token.rfind('.') + 1)) + "@" +
                 id_domain(c) + ">";
  std::string to_address;
  if (d.person && is_valid_email_address(d.person->email)) {
    to_address = d.person->email;
    m.to.push_back(to_address);
  }

  const std::string subject = subject_for(d);
  Facts facts = facts_for(d, c, signer, now);
  facts.replies = !reply_token.empty();
  // "=_" never occurs in quoted-printable output, so the boundary cannot
  // collide with a part's content.
  const std::string boundary = "=_baton_" + to_hex(random_bytes(12));

  std::string& out = m.data;
  out += "Date: " + rfc5322_date(now) + "\r\n";
  out += mailbox_header("From", clean_line(c.from_name), c.from);
  if (!to_address.empty()) {
    out += mailbox_header("To", d.person ? display_name(*d.person) : std::string(), to_address);
  }
  if (!reply_token.empty() && is_valid_email_address(c.reply_address)) {
    out += "Reply-To: <" + reply_plus_address(c.reply_address, reply_token) + ">\r\n";
  }
  out += fold_header("Subject", text_tokens(subject, 7));
  out += "Message-ID: " + m.message_id + "\r\n";
  if (!thread.root.empty()) {
    out += "In-Reply-To: " + thread.root + "\r\n";
    out += "References: " + thread.root + "\r\n";
  }
  out += "MIME-Version: 1.0\r\n";
  out += "Content-Type: multipart/alternative;\r\n boundary=\"" + boundary + "\"\r\n";
  out += "Auto-Submitted: auto-generated\r\n";
  out += "X-Auto-Response-Suppress: All\r\n";
  out += "X-Baton-Incident: " + std::to_string(inc.number) + "\r\n";
  out += "\r\n";
  out += "This is a multipart message in MIME format.\r\n";
  out += "--" + boundary + "\r\n";
  out += "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n";
  out += quoted_printable(text_body(facts));
  out += "--" + boundary + "\r\n";
  out += "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n";
  out += quoted_printable(html_body(facts, subject));
  out += "--" + boundary + "--\r\n";
  return m;
}

}  // namespace baton::integrations
