#include "integrations/alerts/alertmanager.hpp"

#include <algorithm>
#include <cctype>

#include "integrations/alerts/events_v2.hpp"
#include "integrations/alerts/json_fields.hpp"

namespace baton::alerts {
namespace {

using detail::Fields;
namespace json = boost::json;

constexpr std::int64_t kMaxTruncatedAlerts = 1'000'000'000;

// Go's zero time.Time: Alertmanager sends it for "no end yet".
constexpr std::string_view kZeroTime = "0001-01-01T00:00:00Z";

bool iequals(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
  });
}

engine::Severity map_severity(std::optional<std::string_view> label) {
  if (!label) return engine::Severity::warning;
  const std::string_view s = *label;
  if (iequals(s, "critical") || iequals(s, "page")) return engine::Severity::critical;
  if (iequals(s, "error") || iequals(s, "high")) return engine::Severity::error;
  if (iequals(s, "info") || iequals(s, "low")) return engine::Severity::info;
  return engine::Severity::warning;
}

bool valid_status(std::optional<std::string_view> s) { return s && (*s == "firing" || *s == "resolved"); }

struct ParsedAlert {
  bool firing = true;
  std::optional<std::string_view> summary;
  std::optional<std::string_view> alertname;
};

}  // namespace

tl::expected<engine::Alert, ParseErrors> parse_alertmanager(std::string_view body,
                                                            std::string_view integration_key) {
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
    errs.add("the notification must be a JSON object");
    return tl::unexpected(std::move(errs).finish());
  }

  engine::Alert alert;
  alert.source = engine::Source::alertmanager;
  alert.integration_key = integration_key;
  alert.client = "Alertmanager";
  json::object details(&mr);
  Fields root(*obj, "", errs);

  if (const json::value* v = root.get("version")) {
    const json::string* s = v->if_string();
    if (s == nullptr || *s != "4") root.error("version", "must be \"4\"");
  }
  const json::value* status_value = root.get("status");
  auto status = status_value ? root.string("status") : std::nullopt;
  if (!valid_status(status) && (status_value == nullptr || status_value->is_string()))
    root.error("status", "must be firing or resolved");
  if (status == "resolved") alert.action = engine::AlertAction::resolve;

  auto receiver = root.string("receiver");
  auto group_key = root.string("groupKey", true);
  const json::object* group_labels = root.object("groupLabels");
  const json::object* common_labels = root.object("commonLabels");
  const json::object* common_annotations = root.object("commonAnnotations");
  if (group_labels) root.storable("groupLabels", *group_labels);
  if (common_labels) root.storable("commonLabels", *common_labels);
  if (common_annotations) root.storable("commonAnnotations", *common_annotations);
  auto external_url = root.string("externalURL");

  std::int64_t truncated = 0;
  const json::value* truncated_value = root.get("truncatedAlerts");
  if (truncated_value != nullptr) {
    // Bounded so that the count in the summary cannot overflow.
    if (auto n = truncated_value->if_int64(); n && *n >= 0 && *n <= kMaxTruncatedAlerts)
      truncated = *n;
    else if (auto u = truncated_value->if_uint64(); u && *u <= static_cast<std::uint64_t>(kMaxTruncatedAlerts))
      truncated = static_cast<std::int64_t>(*u);
    else
      root.error("truncatedAlerts", "must be an integer from 0 to " + std::to_string(kMaxTruncatedAlerts));
  }

  std::optional<std::string_view> common_summary, common_alertname;
  if (common_annotations) common_summary = Fields(*common_annotations, "commonAnnotations.", errs).string("summary");
  if (common_labels) {
    Fields labels(*common_labels, "commonLabels.", errs);
    common_alertname = labels.string("alertname");
    if (auto instance = labels.string("instance"))
      alert.source_name = *instance;
    if (auto job = labels.string("job"); job && alert.source_name.empty()) alert.source_name = *job;
    alert.severity = map_severity(labels.string("severity"));
  } else {
    alert.severity = engine::Severity::warning;
  }

  json::array details_alerts(&mr);
  std::vector<ParsedAlert> parsed;
  if (const json::array* alerts = root.array("alerts", true)) {
    if (alerts->empty()) root.error("alerts", "must not be empty");
    if (alerts->size() > kMaxGroupAlerts) {
      // Alertmanager's webhook_config.max_alerts keeps a group under this.
      root.error("alerts", "must hold at most " + std::to_string(kMaxGroupAlerts) +
                               " alerts (set max_alerts in Alertmanager's webhook_config)");
      return tl::unexpected(std::move(errs).finish());
    }
    parsed.reserve(alerts->size());
    alert.group.reserve(alerts->size());
    for (std::size_t i = 0; i < alerts->size(); ++i) {
      const std::string prefix = "alerts[" + std::to_string(i) + "]";
      const json::object* item = (*alerts)[i].if_object();
      if (item == nullptr) {
        errs.add("'" + prefix + "' must be an object");
        continue;
      }
      Fields f(*item, prefix + ".", errs);
      json::object out(&mr);
      auto st = f.string("status");
      if (!valid_status(st) && (f.get("status") == nullptr || f.get("status")->is_string()))
        f.error("status", "must be firing or resolved");
      if (st) out.emplace("status", *st);

      ParsedAlert pa;
      pa.firing = st == "firing";
      if (const json::object* labels = f.object("labels")) {
        pa.alertname = Fields(*labels, prefix + ".labels.", errs).string("alertname");
        if (f.storable("labels", *labels)) out.emplace("labels", *labels);
      }
      if (const json::object* annotations = f.object("annotations")) {
        pa.summary = Fields(*annotations, prefix + ".annotations.", errs).string("summary");
        if (f.storable("annotations", *annotations)) out.emplace("annotations", *annotations);
      }
      auto starts_at = f.string("startsAt");
      if (starts_at) out.emplace("startsAt", *starts_at);
      if (auto ends_at = f.string("endsAt"); ends_at && *ends_at != kZeroTime) out.emplace("endsAt", *ends_at);
      if (auto url = f.string("generatorURL")) out.emplace("generatorURL", *url);
      auto fingerprint = f.string("fingerprint");
      if (fingerprint) out.emplace("fingerprint", *fingerprint);

      engine::GroupAlert ga;
      ga.fingerprint = fingerprint.value_or("");
      ga.firing = pa.firing;
      ga.starts_at = starts_at.value_or("");
      ga.summary = pa.summary.value_or(pa.alertname.value_or(""));
      ga.alertname = pa.alertname.value_or("");  // a heartbeat's alertname (Watchdog) beats it
      alert.group.push_back(std::move(ga));
      parsed.push_back(pa);
      details_alerts.emplace_back(std::move(out));
    }
  }

  if (!errs.empty()) return tl::unexpected(std::move(errs).finish());

  std::string dedup = "am:";
  dedup += receiver.value_or("");
  dedup += ':';
  dedup += *group_key;
  if (detail::utf8_length(dedup) > kMaxDedupKeyChars) dedup = "am:" + detail::fnv1a_hex(dedup);
  alert.dedup_key = std::move(dedup);

  // A blank summary or name counts as absent: an incident always has a summary
  // (found by the alertmanager fuzz target: "summary": "" gave an empty one).
  auto present = [](std::optional<std::string_view> v) {
    return v && v->find_first_not_of(" \t\r\n") != std::string_view::npos ? v : std::nullopt;
  };
  std::optional<std::string_view> summary = present(common_summary);
  if (!summary) {
    auto first = std::find_if(parsed.begin(), parsed.end(), [](const ParsedAlert& a) { return a.firing; });
    if (first == parsed.end()) first = parsed.begin();
    if (first != parsed.end()) summary = present(first->summary);
  }
  if (summary) {
    alert.summary = detail::utf8_prefix(*summary, kMaxSummaryChars);
  } else {
    std::optional<std::string_view> first_name = parsed.empty() ? std::nullopt : present(parsed.front().alertname);
    std::string_view name = present(common_alertname).value_or(first_name.value_or(std::string_view("Alertmanager")));
    const std::int64_t count = static_cast<std::int64_t>(parsed.size()) + truncated;
    alert.summary = std::string(detail::utf8_prefix(name, kMaxSummaryChars - 16)) + " (" + std::to_string(count) +
                    (count == 1 ? " alert)" : " alerts)");
  }
  if (external_url) alert.client_url = *external_url;

  if (receiver) details.emplace("receiver", *receiver);
  if (group_labels) details.emplace("groupLabels", *group_labels);
  if (common_labels) details.emplace("commonLabels", *common_labels);
  if (common_annotations) details.emplace("commonAnnotations", *common_annotations);
  if (external_url) details.emplace("externalURL", *external_url);
  if (truncated_value) details.emplace("truncatedAlerts", truncated);
  details.emplace("alerts", std::move(details_alerts));
  alert.details_json = json::serialize(details);
  return alert;
}

}  // namespace baton::alerts
