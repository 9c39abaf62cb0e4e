#pragma once
// Prometheus Alertmanager webhook_config intake: one notification -> one Alert.
#include <string_view>

#include <tl/expected.hpp>

#include "engine/incident.hpp"
#include "integrations/alerts/parse_errors.hpp"

namespace baton::alerts {

/// At most this many alerts in one notification (Alertmanager's
/// webhook_config.max_alerts keeps a group under it); more is refused (400).
inline constexpr std::size_t kMaxGroupAlerts = 10000;

/// The Alertmanager webhook payload, version "4" (prometheus.io/docs/alerting/latest/configuration/#webhook_config).
/// One notification = one group = one Alert (Source::alertmanager, integration_key as given):
/// - dedup_key = "am:" + receiver + ":" + groupKey; when that is longer than 255 characters,
///   "am:" + the 16-hex-digit FNV-1a 64 of the whole of it (stable across restarts);
/// - action = resolve when status == "resolved", else trigger;
/// - summary = commonAnnotations.summary, else the first firing alert's annotations.summary
///   (the first alert's when none is firing), else alertname + a count
///   ("HighErrorRate (3 alerts)", "(1 alert)"; the count includes truncatedAlerts), where
///   alertname comes from commonLabels, else the first alert's labels, else "Alertmanager";
/// - source_name = commonLabels.instance, else commonLabels.job, else empty;
/// - severity = commonLabels.severity: critical/error/warning/info as such, "page" ->
///   critical, "high" -> error, "low" -> info, missing or other -> warning (case-insensitive);
/// - client = "Alertmanager", client_url = externalURL;
/// - group = one GroupAlert per alert (fingerprint, firing = status == "firing", startsAt,
///   summary = annotations.summary else labels.alertname, alertname = labels.alertname).
/// endsAt "0001-01-01T00:00:00Z" (Go's zero time) means unset.
/// Validates: body is an object; version == "4" (missing accepted); status firing|resolved;
/// groupKey present; alerts a non-empty array of objects, each with status firing|resolved;
/// labels/annotations objects; the strings used are strings. Errors name the field
/// ("'alerts[2].status' must be firing or resolved"); up to 20 problems are listed, and
/// numbers that are not finite (1e999) in labels or annotations are refused.
/// details_json = {receiver, groupLabels, commonLabels, commonAnnotations, externalURL,
/// truncatedAlerts, alerts: [{status, labels, annotations, startsAt, endsAt (omitted when
/// unset), generatorURL, fingerprint}]}, each only when present.
/// Pure and thread-safe; parses once into a stack-buffered arena.
tl::expected<engine::Alert, ParseErrors> parse_alertmanager(std::string_view body,
                                                            std::string_view integration_key);

}  // namespace baton::alerts
