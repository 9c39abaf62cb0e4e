#include "integrations/slack/interactions.hpp"

#include <boost/json.hpp>

#include "integrations/common/form.hpp"

namespace baton::slack {
namespace {

namespace json = boost::json;

Result<json::object> parse_object(std::string_view text, std::string_view what) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return fail(ErrorKind::invalid_request, std::string(what) + " is not JSON: " + ec.message());
  if (!v.is_object()) return fail(ErrorKind::invalid_request, std::string(what) + " is not a JSON object");
  return std::move(v.get_object());
}

// A string member, or "" when absent or not a string.
std::string str(const json::object* obj, std::string_view key) {
  if (obj == nullptr) return {};
  const auto* v = obj->if_contains(key);
  if (v == nullptr || !v->is_string()) return {};
  return std::string(v->get_string());
}

const json::object* obj_at(const json::object* obj, std::string_view key) {
  if (obj == nullptr) return nullptr;
  const auto* v = obj->if_contains(key);
  return v == nullptr ? nullptr : v->if_object();
}

std::string first_of(std::string a, std::string b) { return a.empty() ? b : a; }

}  // namespace

Result<ButtonPress> parse_block_actions(std::string_view payload_json) {
  auto parsed = parse_object(payload_json, "interaction payload");
  if (!parsed) return tl::unexpected(parsed.error());
  const json::object& root = *parsed;
  const std::string type = str(&root, "type");
  if (type != "block_actions")
    return fail(ErrorKind::invalid_request, "unsupported interaction type '" + type + "'");

  const auto* actions = root.if_contains("actions");
  if (actions == nullptr || !actions->is_array() || actions->get_array().empty() ||
      !actions->get_array().front().is_object())
    return fail(ErrorKind::invalid_request, "block_actions payload without actions");
  const json::object& action = actions->get_array().front().get_object();

  ButtonPress press;
  press.action_id = str(&action, "action_id");
  press.value = str(&action, "value");
  const auto* user = obj_at(&root, "user");
  press.user_id = str(user, "id");
  press.team_id = first_of(str(obj_at(&root, "team"), "id"), str(user, "team_id"));
  const auto* container = obj_at(&root, "container");
  press.channel_id = first_of(str(container, "channel_id"), str(obj_at(&root, "channel"), "id"));
  press.message_ts = first_of(str(container, "message_ts"), str(obj_at(&root, "message"), "ts"));
  press.response_url = str(&root, "response_url");
  press.trigger_id = str(&root, "trigger_id");
  press.action_ts = str(&action, "action_ts");
  if (press.action_id.empty()) return fail(ErrorKind::invalid_request, "block_actions action without action_id");
  if (press.user_id.empty()) return fail(ErrorKind::invalid_request, "block_actions payload without user.id");
  return press;
}

Result<std::string> payload_from_form(std::string_view form_body) {
  for (auto& [k, v] : integrations::parse_form(form_body)) {
    if (k == "payload" && !v.empty()) return std::move(v);
  }
  return fail(ErrorKind::invalid_request, "interactivity request without a 'payload' field");
}

Result<SlackEvent> parse_event(std::string_view text) {
  auto parsed = parse_object(text, "event callback");
  if (!parsed) return tl::unexpected(parsed.error());
  const json::object& root = *parsed;
  const std::string type = str(&root, "type");
  SlackEvent ev;
  if (type == "url_verification") {
    ev.type = type;
    ev.challenge = str(&root, "challenge");
    if (ev.challenge.empty()) return fail(ErrorKind::invalid_request, "url_verification without a challenge");
    return ev;
  }
  if (type != "event_callback") return fail(ErrorKind::invalid_request, "unsupported callback type '" + type + "'");
  const auto* event = obj_at(&root, "event");
  ev.type = str(event, "type");
  ev.event_id = str(&root, "event_id");
  ev.user = str(event, "user");
  ev.channel = str(event, "channel");
  ev.text = str(event, "text");
  if (ev.type.empty()) return fail(ErrorKind::invalid_request, "event_callback without event.type");
  if (ev.event_id.empty()) return fail(ErrorKind::invalid_request, "event_callback without event_id");
  return ev;
}

std::string content_key(std::string_view envelope_type, std::string_view payload_json) {
  auto parsed = parse_object(payload_json, "envelope payload");
  if (!parsed) return {};
  const json::object& root = *parsed;
  auto key = [](std::string_view prefix, const std::string& id) { return id.empty() ? id : std::string(prefix) + id; };
  if (envelope_type == "slash_commands") return key("slack-command:", str(&root, "trigger_id"));
  if (envelope_type == "events_api") return key("slack-event:", str(&root, "event_id"));
  if (envelope_type != "interactive") return {};
  std::string id = str(&root, "trigger_id");
  if (const auto* actions = root.if_contains("actions"); id.empty() && actions && actions->is_array() &&
                                                         !actions->get_array().empty())
    id = str(actions->get_array().front().if_object(), "action_ts");
  return key("slack-action:", id);
}

}  // namespace baton::slack
