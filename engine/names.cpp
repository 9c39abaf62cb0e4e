// Names of the engine's enums as they appear in config, JSON and SQL.
#include <array>
#include <string_view>

#include "engine/incident.hpp"
#include "engine/model.hpp"
#include "engine/result.hpp"

namespace baton {

const char* to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::invalid_request: return "invalid_request";
    case ErrorKind::not_found: return "not_found";
    case ErrorKind::conflict: return "conflict";
    case ErrorKind::unauthorized: return "unauthorized";
    case ErrorKind::transient: return "transient";
    case ErrorKind::rate_limited: return "rate_limited";
    case ErrorKind::auth_revoked: return "auth_revoked";
    case ErrorKind::permanent: return "permanent";
    case ErrorKind::fenced: return "fenced";
  }
  return "permanent";
}

namespace engine {
namespace {
template <typename E, std::size_t N>
std::optional<E> parse_by_name(std::string_view s, const std::array<E, N>& values) {
  for (E v : values)
    if (s == to_string(v)) return v;
  return std::nullopt;
}
}  // namespace

const char* to_string(MethodKind m) {
  switch (m) {
    case MethodKind::webhook: return "webhook";
    case MethodKind::slack: return "slack";
    case MethodKind::teams: return "teams";
    case MethodKind::email: return "email";
    case MethodKind::sms: return "sms";
    case MethodKind::voice: return "voice";
  }
  return "webhook";
}
std::optional<MethodKind> parse_method(std::string_view s) {
  return parse_by_name(s, std::array{MethodKind::webhook, MethodKind::slack, MethodKind::teams,
                                     MethodKind::email, MethodKind::sms, MethodKind::voice});
}

const char* to_string(Severity s) {
  switch (s) {
    case Severity::critical: return "critical";
    case Severity::error: return "error";
    case Severity::warning: return "warning";
    case Severity::info: return "info";
  }
  return "error";
}
std::optional<Severity> parse_severity(std::string_view s) {
  return parse_by_name(s, std::array{Severity::critical, Severity::error, Severity::warning, Severity::info});
}

const char* to_string(IncidentState s) {
  switch (s) {
    case IncidentState::triggered: return "triggered";
    case IncidentState::acknowledged: return "acknowledged";
    case IncidentState::resolved: return "resolved";
  }
  return "triggered";
}
std::optional<IncidentState> parse_incident_state(std::string_view s) {
  return parse_by_name(s, std::array{IncidentState::triggered, IncidentState::acknowledged,
                                     IncidentState::resolved});
}

const char* to_string(AlertAction a) {
  switch (a) {
    case AlertAction::trigger: return "trigger";
    case AlertAction::acknowledge: return "acknowledge";
    case AlertAction::resolve: return "resolve";
  }
  return "trigger";
}

const char* to_string(Source s) {
  switch (s) {
    case Source::events_v2: return "events_v2";
    case Source::alertmanager: return "alertmanager";
    case Source::api: return "api";
    case Source::cli: return "cli";
    case Source::webhook: return "webhook";
    case Source::slack: return "slack";
    case Source::teams: return "teams";
    case Source::email: return "email";
    case Source::sms: return "sms";
    case Source::voice: return "voice";
    case Source::engine: return "engine";
    case Source::console: return "console";
  }
  return "engine";
}
std::optional<Source> parse_source(std::string_view s) {
  return parse_by_name(s, std::array{Source::events_v2, Source::alertmanager, Source::api, Source::cli,
                                     Source::webhook, Source::slack, Source::teams, Source::email,
                                     Source::sms, Source::voice, Source::engine, Source::console});
}

const char* to_string(TimelineKind k) {
  switch (k) {
    case TimelineKind::triggered: return "triggered";
    case TimelineKind::alert: return "alert";
    case TimelineKind::acknowledged: return "acknowledged";
    case TimelineKind::resolved: return "resolved";
    case TimelineKind::escalated: return "escalated";
    case TimelineKind::reassigned: return "reassigned";
    case TimelineKind::paged: return "paged";
    case TimelineKind::step_skipped: return "step_skipped";
    case TimelineKind::policy_exhausted: return "policy_exhausted";
    case TimelineKind::notification_sent: return "notification_sent";
    case TimelineKind::notification_failed: return "notification_failed";
    case TimelineKind::note: return "note";
  }
  return "note";
}

const char* to_string(NotificationKind k) {
  switch (k) {
    case NotificationKind::page: return "page";
    case NotificationKind::update: return "update";
    case NotificationKind::open_channel: return "open_channel";
  }
  return "page";
}

}  // namespace engine
}  // namespace baton
