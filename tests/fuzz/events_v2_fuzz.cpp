// PagerDuty Events API v2 bodies (POST /v2/enqueue) into parse_events_v2.
// An accepted event must store details that read back as the same JSON, hold
// only UTF-8, and keep what the sender put in custom_details.
#include <boost/json.hpp>

#include "integrations/alerts/events_v2.hpp"
#include "tests/fuzz/alert_checks.hpp"
#include "tests/fuzz/fuzz_checks.hpp"

namespace json = boost::json;
using namespace baton;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body = fuzz::as_text(data, size);
  auto alert = alerts::parse_events_v2(body);
  if (!alert) {
    fuzz::check_errors(alert.error());
    return 0;
  }
  const json::value details = fuzz::check_alert(*alert, engine::Source::events_v2);

  // What was accepted came from a JSON object; compare the stored copy with it.
  const json::value sent = fuzz::parse_input(body);
  fuzz::require(sent.is_object(), "an accepted body is a JSON object", body);
  const json::object& root = sent.get_object();
  fuzz::require(alert->integration_key == root.at("routing_key").as_string(), "integration_key is routing_key");
  if (alert->action != engine::AlertAction::trigger)
    fuzz::require(!alert->dedup_key.empty(), "acknowledge/resolve carry a dedup_key");
  fuzz::require(fuzz::code_points(alert->dedup_key) <= alerts::kMaxDedupKeyChars, "dedup_key within 255 characters",
                alert->dedup_key);
  fuzz::require(fuzz::code_points(alert->summary) <= alerts::kMaxSummaryChars, "summary within 1024 characters");

  const json::value* payload = root.if_contains("payload");
  const json::value* custom =
      payload != nullptr && payload->is_object() && alert->action == engine::AlertAction::trigger
          ? payload->get_object().if_contains("custom_details")
          : nullptr;
  const json::value* stored = details.get_object().if_contains("custom_details");
  if (custom != nullptr && !custom->is_null()) {
    fuzz::require(stored != nullptr, "custom_details kept in the stored details", alert->details_json);
    fuzz::require(fuzz::same_json(*custom, *stored), "custom_details stored as sent", alert->details_json);
  }
  for (std::string_view key : {"links", "images", "client", "client_url"}) {
    const json::value* in = root.if_contains(key);
    const json::value* out = details.get_object().if_contains(key);
    if (in != nullptr && !in->is_null())
      fuzz::require(out != nullptr && fuzz::same_json(*in, *out), "links, images and client stored as sent",
                    std::string(key) + " in " + alert->details_json);
  }
  return 0;
}
