#include "integrations/email/reply_confirmation.hpp"

#include <cctype>

#include "integrations/crypto.hpp"
#include "integrations/email/message.hpp"

namespace baton::integrations {
namespace {

// Control characters (CR and LF included) become spaces: nothing from a reply
// may start a header line of ours.
std::string clean(std::string_view s, std::size_t max) {
  std::string out;
  for (char c : s) {
    if (out.size() >= max) break;
    const auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u == 0x7F) ? ' ' : c;
  }
  return out;
}

bool ascii(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  return true;
}

std::string header_text(std::string_view name, std::string_view text) {
  if (ascii(text) && text.find("=?") == std::string_view::npos) return std::string(name) + ": " + std::string(text) + "\r\n";
  std::string out = std::string(name) + ":";
  for (const auto& word : encode_header_words(text)) out += " " + word + "\r\n";
  return out;
}

bool is_msg_id(std::string_view id) {
  if (id.size() < 3 || id.size() > 250 || id.front() != '<' || id.back() != '>') return false;
  for (char c : id.substr(1, id.size() - 2))
    if (c <= 0x20 || c >= 0x7F || c == '<' || c == '>') return false;
  return true;
}

}  // namespace

std::string build_reply_confirmation(const ReplyConfirmation& c, engine::TimePoint now) {
  std::string subject = clean(c.subject, 200);
  while (!subject.empty() && subject.front() == ' ') subject.erase(0, 1);
  if (subject.size() < 3 || (std::tolower(static_cast<unsigned char>(subject[0])) != 'r' ||
                             std::tolower(static_cast<unsigned char>(subject[1])) != 'e' || subject[2] != ':'))
    subject = "Re: " + subject;
  std::string refs;
  for (const auto& r : c.reply_refs)
    if (is_msg_id(r) && refs.size() < 800) refs += (refs.empty() ? "" : " ") + r;
  const bool threaded = is_msg_id(c.reply_id);
  if (threaded) refs += (refs.empty() ? "" : " ") + c.reply_id;

  std::string out;
  out += "Date: " + rfc5322_date(now) + "\r\n";
  std::string name;
  for (char ch : clean(c.from_name, 60))
    if (ch != '"' && ch != '\\') name += ch;
  if (name.empty()) out += "From: <" + c.from + ">\r\n";
  else if (ascii(name)) out += "From: \"" + name + "\" <" + c.from + ">\r\n";
  else {
    out += "From:";
    for (const auto& word : encode_header_words(name)) out += " " + word + "\r\n";
    out += " <" + c.from + ">\r\n";
  }
  out += "To: <" + c.to + ">\r\n";
  out += header_text("Subject", subject);
  out += "Message-ID: <reply-confirmation." + to_hex(random_bytes(12)) + "@" + c.domain + ">\r\n";
  if (threaded) out += "In-Reply-To: " + c.reply_id + "\r\n";
  if (!refs.empty()) out += "References: " + refs + "\r\n";
  out += "Auto-Submitted: auto-replied\r\n";
  out += "X-Auto-Response-Suppress: All\r\n";
  out += "X-Baton-Reply: confirmation\r\n";
  out += "MIME-Version: 1.0\r\n";
  out += "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n";
  out += clean(c.line, 500) + "\r\n";
  return out;
}

}  // namespace baton::integrations
