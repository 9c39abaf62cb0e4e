#include "integrations/common/text.hpp"
#include "integrations/slack/blocks.hpp"

#include <boost/json.hpp>

#include <cctype>

namespace baton::slack {
namespace json = boost::json;
namespace {

constexpr std::size_t kHeaderMax = 150;
constexpr std::size_t kSectionMax = 3000;
constexpr std::size_t kFieldMax = 2000;
constexpr std::size_t kContextMax = 2000;
constexpr std::size_t kFallbackMax = 3000;

using integrations::upper;

std::string capitalized(std::string_view s) {
  std::string out(s);
  if (!out.empty()) out[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(out[0])));
  return out;
}

// Cuts to `max` bytes with "..." at a character boundary, and never inside an
// "&amp;"-style entity made by escape_mrkdwn().
std::string fit(std::string text, std::size_t max) {
  if (text.size() <= max) return text;
  std::string out = utf8_prefix(text, max - 3);
  const auto amp = out.rfind('&');
  if (amp != std::string::npos && out.find(';', amp) == std::string::npos) out.resize(amp);
  return out + "...";
}

using integrations::trim_slashes;

std::string slack_date(engine::TimePoint t) {
  const auto secs = std::chrono::floor<std::chrono::seconds>(t).time_since_epoch().count();
  return "<!date^" + std::to_string(secs) + "^{date_short_pretty} {time}|" + engine::format_iso8601(t) + ">";
}

json::object plain(std::string_view text) { return {{"type", "plain_text"}, {"text", text}, {"emoji", true}}; }
json::object mrkdwn(std::string_view text) { return {{"type", "mrkdwn"}, {"text", text}}; }

json::object button(std::string_view label, std::string_view action_id, const std::string& value, const char* style) {
  json::object b{{"type", "button"}, {"text", plain(label)}, {"action_id", action_id}, {"value", value}};
  if (style != nullptr) b["style"] = style;
  return b;
}

std::string owner_or_nobody(std::string_view owner_display) {
  return owner_display.empty() ? std::string("nobody") : escape_mrkdwn(owner_display);
}

}  // namespace

std::string utf8_prefix(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  std::size_t end = max_bytes;
  // Back up over continuation bytes so the cut lands before a lead byte.
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xc0) == 0x80) --end;
  return std::string(text.substr(0, end));
}

std::string escape_mrkdwn(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string page_blocks(const engine::Incident& inc, std::string_view service_name, std::string_view owner_display,
                        std::string_view public_url) {
  const std::string number = std::to_string(inc.number);
  const std::string service = service_name.empty() ? inc.service_id : std::string(service_name);
  json::array blocks;

  blocks.push_back(json::object{
      {"type", "header"},
      {"text", plain(fit("#" + number + " " + upper(engine::to_string(inc.severity)) + " \u00b7 " + service, kHeaderMax))}});

  std::string summary = escape_mrkdwn(inc.summary.empty() ? std::string("(no summary)") : inc.summary);
  std::string link;
  if (!public_url.empty()) link = "\n<" + trim_slashes(public_url) + "/api/v1/incidents/" + number + "|Incident #" + number + ">";
  blocks.push_back(json::object{{"type", "section"},
                                {"text", mrkdwn(fit(summary, kSectionMax - link.size()) + link)}});

  json::array fields;
  fields.push_back(mrkdwn("*State*\n" + capitalized(engine::to_string(inc.state))));
  fields.push_back(mrkdwn(fit("*Owner*\n" + owner_or_nobody(owner_display), kFieldMax)));
  fields.push_back(mrkdwn("*Step*\n" + std::to_string(inc.escalation.step + 1)));
  fields.push_back(mrkdwn("*Created*\n" + slack_date(inc.created_at)));
  blocks.push_back(json::object{{"type", "section"}, {"fields", std::move(fields)}});

  std::string context;
  switch (inc.state) {
    case engine::IncidentState::triggered:
      context = owner_display.empty() ? std::string("Nobody is paged")
                                      : "Waiting for " + escape_mrkdwn(owner_display) + " to acknowledge";
      break;
    case engine::IncidentState::acknowledged:
      context = "Acknowledged by " + owner_or_nobody(owner_display);
      if (inc.acknowledged_at) context += " " + slack_date(*inc.acknowledged_at);
      break;
    case engine::IncidentState::resolved:
      context = "Resolved";
      if (inc.resolved_at) context += " " + slack_date(*inc.resolved_at);
      if (inc.acknowledged_at && !owner_display.empty()) context += " \u00b7 owner " + escape_mrkdwn(owner_display);
      break;
  }
  blocks.push_back(json::object{{"type", "context"}, {"elements", json::array{mrkdwn(fit(context, kContextMax))}}});

  json::array buttons;
  if (inc.state == engine::IncidentState::triggered) {
    buttons.push_back(button("Acknowledge", kAckActionId, number, "primary"));
  }
  if (inc.state != engine::IncidentState::resolved) {
    auto resolve = button("Resolve", kResolveActionId, number, "danger");
    resolve["confirm"] = json::object{
        {"title", plain("Resolve #" + number + "?")},
        {"text", mrkdwn(fit("This resolves the incident for everyone: " + escape_mrkdwn(inc.summary), 300))},
        {"confirm", plain("Resolve")},
        {"deny", plain("Cancel")}};
    buttons.push_back(std::move(resolve));
    buttons.push_back(button("Escalate", kEscalateActionId, number, nullptr));
    blocks.push_back(json::object{
        {"type", "actions"}, {"block_id", std::string(kActionsBlockPrefix) + number}, {"elements", std::move(buttons)}});
  }
  return json::serialize(blocks);
}

std::string page_text(const engine::Incident& inc, std::string_view service_name, std::string_view owner_display) {
  const std::string service = service_name.empty() ? inc.service_id : std::string(service_name);
  std::string text = "#" + std::to_string(inc.number) + " " + upper(engine::to_string(inc.severity)) + " " +
                     escape_mrkdwn(service) + ": " + escape_mrkdwn(inc.summary);
  std::string tail;
  if (inc.state == engine::IncidentState::acknowledged && !owner_display.empty()) {
    tail = " (acknowledged by " + escape_mrkdwn(owner_display) + ")";
  } else if (inc.state == engine::IncidentState::resolved) {
    tail = " (resolved)";
  }
  return fit(text, kFallbackMax - tail.size()) + tail;
}

}  // namespace baton::slack
