// Alertmanager webhook notifications (version 4) into parse_alertmanager. An
// accepted group must store details that read back as the same JSON, hold
// only UTF-8, and keep the group's labels and alerts as sent.
#include <boost/json.hpp>

#include "integrations/alerts/alertmanager.hpp"
#include "integrations/alerts/events_v2.hpp"
#include "tests/fuzz/alert_checks.hpp"
#include "tests/fuzz/fuzz_checks.hpp"

namespace json = boost::json;
using namespace baton;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body = fuzz::as_text(data, size);
  auto alert = alerts::parse_alertmanager(body, "am-key");
  if (!alert) {
    fuzz::check_errors(alert.error());
    return 0;
  }
  const json::value details = fuzz::check_alert(*alert, engine::Source::alertmanager);
  const json::object& stored = details.get_object();

  const json::value sent = fuzz::parse_input(body);
  fuzz::require(sent.is_object(), "an accepted body is a JSON object", body);
  const json::object& root = sent.get_object();
  fuzz::require(alert->integration_key == "am-key", "integration_key as given");
  fuzz::require(alert->client == "Alertmanager", "client is Alertmanager");
  fuzz::require(alert->dedup_key.starts_with("am:"), "dedup_key starts with am:", alert->dedup_key);
  fuzz::require(fuzz::code_points(alert->dedup_key) <= alerts::kMaxDedupKeyChars, "dedup_key within 255 characters",
                alert->dedup_key);
  fuzz::require(!alert->summary.empty(), "an accepted group has a summary");
  fuzz::require(fuzz::code_points(alert->summary) <= alerts::kMaxSummaryChars, "summary within 1024 characters");
  const json::value* status = root.if_contains("status");
  const bool resolved = status != nullptr && status->is_string() && status->get_string() == "resolved";
  fuzz::require((alert->action == engine::AlertAction::resolve) == resolved, "action follows status");

  const json::array& sent_alerts = root.at("alerts").as_array();
  fuzz::require(alert->group.size() == sent_alerts.size(), "one GroupAlert per alert");
  const json::value* stored_alerts = stored.if_contains("alerts");
  fuzz::require(
      stored_alerts != nullptr && stored_alerts->is_array() && stored_alerts->get_array().size() == sent_alerts.size(),
      "every alert kept in the stored details", alert->details_json);
  for (std::size_t i = 0; i < sent_alerts.size(); ++i) {
    const json::object& in = sent_alerts[i].as_object();
    const json::object& out = stored_alerts->get_array()[i].as_object();
    for (std::string_view key : {"status", "labels", "annotations", "startsAt", "generatorURL", "fingerprint"}) {
      const json::value* a = in.if_contains(key);
      if (a == nullptr || a->is_null()) continue;
      const json::value* b = out.if_contains(key);
      fuzz::require(b != nullptr && fuzz::same_json(*a, *b), "each alert stored as sent",
                    "alerts[" + std::to_string(i) + "]." + std::string(key) + " in " + alert->details_json);
    }
  }
  for (std::string_view key :
       {"receiver", "groupLabels", "commonLabels", "commonAnnotations", "externalURL", "truncatedAlerts"}) {
    const json::value* a = root.if_contains(key);
    if (a == nullptr || a->is_null()) continue;
    const json::value* b = stored.if_contains(key);
    fuzz::require(b != nullptr && fuzz::same_json(*a, *b), "group fields stored as sent",
                  std::string(key) + " in " + alert->details_json);
  }
  return 0;
}
