#include "integrations/teams/cards.hpp"

#include <boost/json.hpp>

#include <cctype>
#include <stdexcept>

#include "integrations/common/text.hpp"

namespace baton::teams {
namespace json = boost::json;
namespace {

constexpr std::size_t kSummaryMax = 2000;
constexpr std::size_t kShortMax = 200;
constexpr std::size_t kTextMax = 4000;

using integrations::upper;

std::string capitalized(std::string_view s) {
  std::string out(s);
  if (!out.empty()) out[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(out[0])));
  return out;
}

std::string utf8_prefix(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  std::size_t end = max_bytes;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xc0) == 0x80) --end;
  return std::string(text.substr(0, end));
}

std::string fit(std::string_view text, std::size_t max) {
  if (text.size() <= max) return std::string(text);
  return utf8_prefix(text, max - 3) + "...";
}

using integrations::trim_slashes;

// "2026-01-01T00:01:00Z": the RFC 3339 form the card's DATE()/TIME() functions take (no fraction).
std::string rfc3339_seconds(engine::TimePoint t) {
  std::string iso = engine::format_iso8601(t);  // "2026-01-01T00:01:00.000Z"
  if (const auto dot = iso.find('.'); dot != std::string::npos) iso = iso.substr(0, dot) + "Z";
  return iso;
}

// Rendered in the reader's time zone by Teams.
std::string card_when(engine::TimePoint t) {
  const std::string at = rfc3339_seconds(t);
  return "{{DATE(" + at + ", SHORT)}} {{TIME(" + at + ")}}";
}

// "2026-01-01 00:00 UTC", for facts (where the functions are not promised).
std::string utc_minutes(engine::TimePoint t) {
  const std::string iso = engine::format_iso8601(t);
  return iso.substr(0, 10) + " " + iso.substr(11, 5) + " UTC";
}

json::object text_block(std::string_view text) { return {{"type", "TextBlock"}, {"text", text}, {"wrap", true}}; }

json::object fact(std::string_view title, std::string_view value) { return {{"title", title}, {"value", value}}; }

json::object action(std::string_view title, std::string_view verb, std::int64_t number) {
  json::object submit_data{{"incident", number}, {"verb", verb}};
  json::object fallback{{"type", "Action.Submit"}, {"title", title}, {"data", std::move(submit_data)}};
  return {{"type", "Action.Execute"},
          {"title", title},
          {"verb", verb},
          {"data", json::object{{"incident", number}}},
          {"fallback", std::move(fallback)}};
}

json::value parse_card(std::string_view card_json) {
  boost::system::error_code ec;
  json::value card = json::parse(card_json, ec);
  if (ec || !card.is_object()) throw std::invalid_argument("teams: the card is not a JSON object");
  return card;
}

const char* error_code(int status) {
  switch (status) {
    case 400: return "BadRequest";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "NotFound";
    case 409: return "Conflict";
    case 429: return "TooManyRequests";
    case 503: return "ServiceUnavailable";
    default: return status < 500 ? "BadRequest" : "InternalServerError";
  }
}

}  // namespace

std::string incident_card(const engine::Incident& inc, std::string_view service_name, std::string_view owner_display,
                          std::string_view public_url) {
  const std::string number = std::to_string(inc.number);
  const std::string service = fit(service_name.empty() ? inc.service_id : service_name, kShortMax);
  const std::string owner = owner_display.empty() ? std::string("nobody") : fit(owner_display, kShortMax);
  const std::string severity = upper(engine::to_string(inc.severity));
  const bool loud = inc.severity == engine::Severity::critical || inc.severity == engine::Severity::error;

  json::array body;
  auto title = text_block("#" + number + " " + severity + " \u00b7 " + service);
  title["size"] = "Large";
  title["weight"] = "Bolder";
  if (inc.state != engine::IncidentState::resolved && loud) title["color"] = "Attention";
  if (inc.state == engine::IncidentState::resolved) title["color"] = "Good";
  body.push_back(std::move(title));
  body.push_back(text_block(fit(inc.summary.empty() ? std::string_view("(no summary)") : inc.summary, kSummaryMax)));

  json::array facts;
  facts.push_back(fact("Severity", severity));
  facts.push_back(fact("Service", service));
  facts.push_back(fact("State", capitalized(engine::to_string(inc.state))));
  facts.push_back(fact("Owner", owner));
  facts.push_back(fact("Step", std::to_string(inc.escalation.step + 1)));
  facts.push_back(fact("Created", utc_minutes(inc.created_at)));
  body.push_back(json::object{{"type", "FactSet"}, {"facts", std::move(facts)}});

  std::string status;
  switch (inc.state) {
    case engine::IncidentState::triggered:
      status = owner_display.empty() ? std::string("Nobody is paged") : "Waiting for " + owner + " to acknowledge";
      break;
    case engine::IncidentState::acknowledged:
      status = "Acknowledged by " + owner;
      if (inc.acknowledged_at) status += " at " + card_when(*inc.acknowledged_at);
      break;
    case engine::IncidentState::resolved:
      status = "Resolved";
      if (inc.resolved_at) status += " at " + card_when(*inc.resolved_at);
      if (inc.acknowledged_at && !owner_display.empty()) status += " \u00b7 owner " + owner;
      break;
  }
  auto status_block = text_block(status);
  status_block["isSubtle"] = true;
  status_block["spacing"] = "Small";
  body.push_back(std::move(status_block));

  if (!public_url.empty()) {
    body.push_back(text_block("[Incident #" + number + "](" + trim_slashes(public_url) + "/api/v1/incidents/" + number + ")"));
  }

  json::array actions;
  if (inc.state == engine::IncidentState::triggered) actions.push_back(action("Acknowledge", kAckVerb, inc.number));
  if (inc.state != engine::IncidentState::resolved) {
    actions.push_back(action("Resolve", kResolveVerb, inc.number));
    actions.push_back(action("Escalate", kEscalateVerb, inc.number));
  }

  json::object card{{"type", "AdaptiveCard"},
                    {"$schema", "http://adaptivecards.io/schemas/adaptive-card.json"},
                    {"version", "1.5"},
                    {"body", std::move(body)},
                    {"actions", std::move(actions)},
                    {"msteams", json::object{{"width", "Full"}}}};
  return json::serialize(card);
}

std::string incident_text(const engine::Incident& inc, std::string_view service_name, std::string_view owner_display) {
  const std::string service = service_name.empty() ? inc.service_id : std::string(service_name);
  std::string text = "#" + std::to_string(inc.number) + " " + upper(engine::to_string(inc.severity)) + " " + service +
                     ": " + inc.summary;
  std::string tail;
  if (inc.state == engine::IncidentState::acknowledged && !owner_display.empty()) {
    tail = " (acknowledged by " + fit(owner_display, kShortMax) + ")";
  } else if (inc.state == engine::IncidentState::resolved) {
    tail = " (resolved)";
  }
  return fit(text, kTextMax - tail.size()) + tail;
}

std::string card_activity(std::string_view card_json, std::string_view text) {
  json::object attachment{{"contentType", kAdaptiveCardContentType}, {"content", parse_card(card_json)}};
  json::object activity{{"type", "message"}};
  if (!text.empty()) activity["text"] = text;
  activity["attachments"] = json::array{std::move(attachment)};
  return json::serialize(activity);
}

std::string invoke_response(std::string_view card_json) {
  json::object out{{"statusCode", 200}, {"type", kAdaptiveCardContentType}, {"value", parse_card(card_json)}};
  return json::serialize(out);
}

std::string invoke_message(int status, std::string_view text) {
  json::object out{{"statusCode", status}};
  if (status < 400) {
    out["type"] = "application/vnd.microsoft.activity.message";
    out["value"] = text;
  } else {
    out["type"] = "application/vnd.microsoft.error";
    out["value"] = json::object{{"code", error_code(status)}, {"message", text}};
  }
  return json::serialize(out);
}

}  // namespace baton::teams
