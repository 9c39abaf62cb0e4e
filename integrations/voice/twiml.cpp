#include "integrations/voice/twiml.hpp"

#include "integrations/common/utf8.hpp"

namespace baton::integrations {
namespace {

constexpr std::string_view kXmlDecl = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>";
constexpr std::size_t kSummaryBytes = 200;
constexpr std::size_t kServiceBytes = 60;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// Whitespace runs as one space, trimmed, cut to `max` bytes at a character
// boundary with "..." when cut.
std::string tidy(std::string_view raw, std::size_t max) {
  const std::string text = repair_utf8(raw);
  std::string out;
  bool space = false;
  for (char c : text) {
    if (is_space(c)) {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  if (out.size() <= max) return out;
  std::size_t cut = max - 3;
  while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xc0) == 0x80) --cut;  // not inside a character
  out.resize(cut);
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out + "...";
}

std::string say(std::string_view text) { return "<Say>" + xml_escape(text) + "</Say>"; }

}  // namespace

std::string xml_escape(std::string_view raw) {
  const std::string text = repair_utf8(raw);
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: {
        const auto b = static_cast<unsigned char>(c);
        if ((b < 0x20 && c != '\t' && c != '\n' && c != '\r') || b == 0x7f) break;
        out.push_back(c);
      }
    }
  }
  return out;
}

std::string spoken_page(const engine::Incident& incident, std::string_view service_name) {
  const std::string service = tidy(service_name.empty() ? std::string_view(incident.service_id) : service_name,
                                   kServiceBytes);
  std::string summary = tidy(incident.summary, kSummaryBytes);
  if (summary.empty()) summary = "no summary";
  std::string out = "Incident " + std::to_string(incident.number) + ", service " + service + ", severity " +
                    engine::to_string(incident.severity) + ": " + summary;
  if (out.back() != '.' && out.back() != '!' && out.back() != '?') out.push_back('.');
  return out;
}

std::string twiml_page(std::string_view spoken, std::string_view gather_url, std::string_view preface) {
  std::string out(kXmlDecl);
  out += "<Response><Gather input=\"dtmf\" numDigits=\"1\" timeout=\"10\" action=\"";
  out += xml_escape(gather_url);
  out += "\" method=\"POST\">";
  if (!preface.empty()) out += say(preface);
  // Said twice: the first words are often lost while the phone reaches the ear.
  for (int i = 0; i < 2; ++i) {
    out += say(spoken);
    out += say(kVoiceMenu);
  }
  out += "</Gather>";
  out += say("No key was pressed. The page is not acknowledged. Goodbye.");
  out += "<Hangup/></Response>";
  return out;
}

std::string twiml_say_hangup(std::string_view text) {
  return std::string(kXmlDecl) + "<Response>" + say(text) + "<Hangup/></Response>";
}

std::string twiml_hangup() { return std::string(kXmlDecl) + "<Response><Hangup/></Response>"; }

VoiceKey parse_voice_key(std::string_view digits) {
  if (digits.empty()) return VoiceKey::none;
  if (digits == "1") return VoiceKey::acknowledge;
  if (digits == "2") return VoiceKey::resolve;
  if (digits == "3") return VoiceKey::escalate;
  if (digits == "9") return VoiceKey::repeat;
  return VoiceKey::other;
}

bool answered_by_machine(std::string_view answered_by) {
  return answered_by.starts_with("machine_") || answered_by == "fax";
}

bool call_not_connected(std::string_view call_status) {
  return call_status == "no-answer" || call_status == "busy" || call_status == "failed" || call_status == "canceled";
}

}  // namespace baton::integrations
