#include "integrations/teams/activities.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cctype>
#include "integrations/common/text.hpp"

namespace baton::teams {
namespace json = boost::json;
using integrations::lower;
using integrations::trim_space;
namespace {

// "42", "#42" or "inc-42" (any case); positive, at most 18 digits.
std::optional<std::int64_t> parse_number(std::string_view w) {
  if (w.size() > 4 && lower(w.substr(0, 4)) == "inc-") w.remove_prefix(4);
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

const json::object* obj_at(const json::object* obj, std::string_view key) {
  if (obj == nullptr) return nullptr;
  const auto* v = obj->if_contains(key);
  return v == nullptr ? nullptr : v->if_object();
}

std::string str(const json::object* obj, std::string_view key) {
  if (obj == nullptr) return {};
  const auto* v = obj->if_contains(key);
  if (v == nullptr || !v->is_string()) return {};
  return std::string(v->get_string());
}

std::optional<std::int64_t> incident_of(const json::object* data) {
  if (data == nullptr) return std::nullopt;
  const auto* v = data->if_contains("incident");
  if (v == nullptr) return std::nullopt;
  if (v->is_int64() && v->get_int64() > 0) return v->get_int64();
  if (v->is_uint64() && v->get_uint64() > 0 && v->get_uint64() < (1ull << 62))
    return static_cast<std::int64_t>(v->get_uint64());
  if (v->is_string()) return parse_number(std::string_view(v->get_string()));
  return std::nullopt;
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
}

bool names_bot(std::string_view id, std::string_view bot_app_id) {
  if (bot_app_id.empty()) return false;
  if (id.starts_with("28:")) id.remove_prefix(3);
  return lower(id) == lower(bot_app_id);
}

// Removes the bot's mentions from a message's text (see the header). The bot
// is the app id, or the activity's recipient (all there is without an app id).
std::string strip_mentions(std::string text, const json::object& root, std::string_view bot_app_id) {
  const std::string recipient = str(obj_at(&root, "recipient"), "id");
  bool any_mention_entity = false;
  if (const auto* entities = root.if_contains("entities"); entities != nullptr && entities->is_array()) {
    for (const auto& e : entities->get_array()) {
      const auto* entity = e.if_object();
      if (entity == nullptr || str(entity, "type") != "mention") continue;
      any_mention_entity = true;
      const std::string mention_text = str(entity, "text");
      const std::string mentioned = str(obj_at(entity, "mentioned"), "id");
      if (mention_text.empty() || (!names_bot(mentioned, bot_app_id) && (recipient.empty() || mentioned != recipient)))
        continue;
      for (auto at = text.find(mention_text); at != std::string::npos; at = text.find(mention_text)) {
        text.erase(at, mention_text.size());
      }
    }
  }
  if (!any_mention_entity) {
    const auto lead = text.find_first_not_of(" \t\r\n");
    if (lead != std::string::npos && text.compare(lead, 4, "<at>") == 0) {
      const auto close = text.find("</at>", lead);
      if (close != std::string::npos) text.erase(lead, close + 5 - lead);
    }
  }
  replace_all(text, "&nbsp;", " ");
  replace_all(text, "&lt;", "<");
  replace_all(text, "&gt;", ">");
  replace_all(text, "&quot;", "\"");
  replace_all(text, "&#39;", "'");
  replace_all(text, "&amp;", "&");
  return std::string(trim_space(text));
}

}  // namespace

Result<TeamsActivity> parse_activity(std::string_view text, std::string_view bot_app_id) {
  boost::system::error_code ec;
  json::value parsed = json::parse(text, ec);
  if (ec) return fail(ErrorKind::invalid_request, "activity is not JSON: " + ec.message());
  const json::object* root = parsed.if_object();
  if (root == nullptr) return fail(ErrorKind::invalid_request, "activity is not a JSON object");

  TeamsActivity a;
  a.type = str(root, "type");
  if (a.type.empty()) return fail(ErrorKind::invalid_request, "activity without a type");
  a.id = str(root, "id");
  a.service_url = str(root, "serviceUrl");
  a.bf_channel = str(root, "channelId");
  a.reply_to_id = str(root, "replyToId");
  const auto* conversation = obj_at(root, "conversation");
  a.conversation_id = str(conversation, "id");
  a.conversation_type = str(conversation, "conversationType");
  const auto* from = obj_at(root, "from");
  a.from_id = str(from, "id");
  a.from_aad_object_id = str(from, "aadObjectId");
  a.from_name = str(from, "name");
  const auto* channel_data = obj_at(root, "channelData");
  a.tenant_id = str(conversation, "tenantId");
  if (a.tenant_id.empty()) a.tenant_id = str(obj_at(channel_data, "tenant"), "id");
  a.team_id = str(obj_at(channel_data, "team"), "id");
  a.channel_id = str(obj_at(channel_data, "channel"), "id");
  a.invoke_name = str(root, "name");

  const json::value* value = root->if_contains("value");
  if (value != nullptr && !value->is_null()) a.value_json = json::serialize(*value);
  const json::object* value_obj = value == nullptr ? nullptr : value->if_object();

  if (a.type == "message") {
    a.text = strip_mentions(str(root, "text"), *root, bot_app_id);
    if (value_obj != nullptr) {
      a.action_verb = str(value_obj, "verb");
      a.action_data_json = a.value_json;
      a.incident = incident_of(value_obj);
    }
  } else if (a.type == "invoke") {
    const auto* action = obj_at(value_obj, "action");
    a.action_verb = str(action, "verb");
    if (const auto* data = action == nullptr ? nullptr : action->if_contains("data"); data != nullptr && !data->is_null()) {
      a.action_data_json = json::serialize(*data);
      a.incident = incident_of(data->if_object());
    }
  } else if (a.type == "conversationUpdate") {
    if (str(channel_data, "eventType") == "channelCreated" && !a.channel_id.empty()) a.channels_added.push_back(a.channel_id);
    const std::string recipient = str(obj_at(root, "recipient"), "id");
    if (const auto* added = root->if_contains("membersAdded"); added != nullptr && added->is_array()) {
      for (const auto& m : added->get_array()) {
        const std::string id = str(m.if_object(), "id");
        if (!id.empty() && ((!recipient.empty() && id == recipient) || names_bot(id, bot_app_id))) a.bot_added = true;
      }
    }
  } else if (a.type == "installationUpdate") {
    a.bot_added = str(root, "action") == "add";
  }
  return a;
}

std::string text_activity(std::string_view text) {
  return json::serialize(json::object{{"type", "message"}, {"textFormat", "plain"}, {"text", text}});
}

}  // namespace baton::teams
