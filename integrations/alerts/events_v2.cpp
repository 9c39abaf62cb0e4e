#include "integrations/alerts/events_v2.hpp"

#include "integrations/alerts/json_fields.hpp"

namespace baton::alerts {
namespace {

using detail::Fields;
namespace json = boost::json;

std::optional<engine::AlertAction> parse_action(std::string_view s) {
  if (s == "trigger") return engine::AlertAction::trigger;
  if (s == "acknowledge") return engine::AlertAction::acknowledge;
  if (s == "resolve") return engine::AlertAction::resolve;
  return std::nullopt;
}

// links[] and images[]: arrays of objects whose `required` key must be a string.
void check_link_array(Fields& root, std::string_view key, std::string_view required,
                      std::initializer_list<std::string_view> optional, json::object& details) {
  const json::array* arr = root.array(key);
  if (arr == nullptr) return;
  if (arr->size() > kMaxLinks) {
    root.error(key, "must hold at most " + std::to_string(kMaxLinks) + " items");
    return;
  }
  std::size_t errors_before = root.errors().count();
  for (std::size_t i = 0; i < arr->size(); ++i) {
    std::string prefix = root.path(key) + "[" + std::to_string(i) + "]";
    const json::object* item = (*arr)[i].if_object();
    if (item == nullptr) {
      root.errors().add("'" + prefix + "' must be an object");
      continue;
    }
    Fields f(*item, prefix + ".", root.errors());
    f.string(required, true);
    for (std::string_view k : optional) f.string(k);
  }
  if (root.errors().count() == errors_before && root.storable(key, *arr)) details.emplace(key, *arr);
}

}  // namespace

tl::expected<engine::Alert, ParseErrors> parse_events_v2(std::string_view body) {
  unsigned char arena[detail::kArenaBytes];
  json::monotonic_resource mr(arena, sizeof arena);
  boost::system::error_code ec;
  json::value doc = json::parse(body, ec, &mr, detail::parse_options());

  ParseErrors errs;
  if (ec) {
    errs.add("malformed JSON: " + ec.message());
    return tl::unexpected(std::move(errs).finish());
  }
  const json::object* obj = doc.if_object();
  if (obj == nullptr) {
    errs.add("the event must be a JSON object");
    return tl::unexpected(std::move(errs).finish());
  }

  engine::Alert alert;
  alert.source = engine::Source::events_v2;
  json::object details(&mr);
  Fields root(*obj, "", errs);

  if (auto key = root.string("routing_key", true)) alert.integration_key = *key;

  std::optional<engine::AlertAction> action;
  if (auto a = root.string("event_action", true)) {
    action = parse_action(*a);
    if (!action) root.error("event_action", "must be one of trigger, acknowledge, resolve");
  }
  if (action) alert.action = *action;
  const bool trigger = action == engine::AlertAction::trigger;
  // Missing/invalid action: we cannot know what is required, so only what is sent is checked.
  const bool known_non_trigger = action.has_value() && !trigger;

  if (auto dedup = root.string("dedup_key", known_non_trigger)) {
    if (detail::utf8_length(*dedup) > kMaxDedupKeyChars)
      root.error("dedup_key", "must be at most 255 characters");
    else if (dedup->find_first_not_of(" \t\r\n") != std::string_view::npos)
      alert.dedup_key = *dedup;
  }

  if (!known_non_trigger) {
    if (const json::object* payload = root.object("payload", trigger)) {
      Fields p(*payload, "payload.", errs);
      if (auto summary = p.string("summary", true))
        alert.summary = detail::utf8_prefix(*summary, kMaxSummaryChars);
      if (auto source = p.string("source", true)) alert.source_name = *source;
      if (auto sev = p.string("severity", true)) {
        if (auto parsed = engine::parse_severity(*sev))
          alert.severity = *parsed;
        else
          p.error("severity", "must be one of critical, error, warning, info");
      }
      for (std::string_view k : {"component", "group", "class"})
        if (auto v = p.string(k)) details.emplace(k, *v);
      if (const json::value* cd = p.get("custom_details"); cd && p.storable("custom_details", *cd))
        details.emplace("custom_details", *cd);
      if (auto ts = p.string("timestamp")) details.emplace("timestamp", *ts);
    }
  }

  if (auto client = root.string("client")) {
    alert.client = *client;
    details.emplace("client", *client);
  }
  if (auto url = root.string("client_url")) {
    alert.client_url = *url;
    details.emplace("client_url", *url);
  }
  check_link_array(root, "links", "href", {"text"}, details);
  check_link_array(root, "images", "src", {"href", "alt"}, details);

  if (!errs.empty()) return tl::unexpected(std::move(errs).finish());
  alert.details_json = json::serialize(details);
  return alert;
}

}  // namespace baton::alerts
