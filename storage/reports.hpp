#pragma once
// Response analytics (docs/reports.md): time to first page, time to
// acknowledge, acknowledgements by channel, escalations before an
// acknowledgement, unacknowledged incidents and out-of-hours pages, per service,
// person and contact method, computed from the timeline and the outbox.
//
// Store::response_report reads the raw rows with three indexed range queries
// (storage/reports_sql.hpp) and compute_report() turns them into the report in
// C++ (percentiles from sorted durations, local times with the tz database).
#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/result.hpp"
#include "engine/time.hpp"

namespace baton::storage {

/// A weekly window of working hours in a person's time zone: it starts on each
/// of `days` (ISO 1 = Monday .. 7 = Sunday) at `start_minute` after local
/// midnight and ends at `end_minute`; end <= start wraps past midnight.
struct WorkingHours {
  std::vector<int> days{1, 2, 3, 4, 5};
  int start_minute = 9 * 60;
  int end_minute = 18 * 60;
  bool operator==(const WorkingHours&) const = default;
};

/// True when the local time `minute_of_day` on ISO weekday `iso_day` (1 =
/// Monday) is inside `wh`.
bool in_working_hours(const WorkingHours& wh, int iso_day, int minute_of_day);

/// What the report needs to know about a configured person.
struct ReportPerson {
  std::string time_zone = "UTC";  ///< unknown zones count as UTC
  WorkingHours working_hours;
};

struct ReportQuery {
  engine::TimePoint from{};  ///< inclusive: incidents created at or after
  engine::TimePoint to{};    ///< exclusive
  std::optional<std::string> service;  ///< only this service's incidents
  std::optional<std::string> person;   ///< only incidents this person was paged in or acknowledged first
  std::string tz = "UTC";              ///< time zone of the daily series
  /// Configured people (time zone, working hours); anyone else: UTC, default hours.
  std::map<std::string, ReportPerson> people;
  /// Configured services, listed even without incidents (with `service`, only it).
  std::vector<std::string> services;
};

/// The longest range a report may cover.
inline constexpr engine::Millis kMaxReportRange{400LL * 24 * 3600 * 1000};

/// Nearest-rank percentiles of a set of durations (milliseconds).
struct DurationStats {
  std::int64_t count = 0;
  std::optional<std::int64_t> p50;
  std::optional<std::int64_t> p90;
};

/// One row of the report (docs/reports.md, "Stats").
struct ReportStats {
  std::int64_t incidents = 0;
  std::int64_t acknowledged = 0;
  std::int64_t unacknowledged = 0;
  DurationStats time_to_first_page;
  DurationStats time_to_acknowledge;
  std::map<std::string, std::int64_t> acknowledged_via;
  std::int64_t escalations_total = 0;  ///< over acknowledged incidents, before their first acknowledgement
  std::int64_t escalations_max = 0;
  std::array<std::int64_t, 4> escalations_histogram{};  ///< incidents that needed 0, 1, 2, 3+
  std::int64_t pages = 0;
  std::int64_t pages_out_of_hours = 0;
};

struct ReportRow {
  std::string key;  ///< service id, person id or channel name
  ReportStats stats;
};

struct DailyPoint {
  std::string date;  ///< YYYY-MM-DD in the query's tz
  std::int64_t incidents = 0;
  std::int64_t acknowledged = 0;
  std::optional<std::int64_t> time_to_acknowledge_p50;  ///< ms
};

struct DailySeries {
  std::string service;
  std::vector<DailyPoint> days;
};

struct ResponseReport {
  ReportStats totals;
  std::vector<ReportRow> services;  ///< by id
  std::vector<ReportRow> people;    ///< by id
  std::vector<ReportRow> channels;  ///< by name
  std::vector<DailySeries> daily;   ///< one per row of `services`, same order
};

// ---- the raw rows the back ends read (storage/reports_sql.hpp) ----
// Strings (service, person, method, actor, channel) are interned: rows hold
// indexes into ReportData::names, so a year of rows stays small and compares
// as integers.

using NameId = std::uint32_t;

struct ReportIncidentRow {
  std::int64_t number = 0;
  NameId service = 0;
  std::int64_t created_ms = 0;
};

/// An `acknowledged` or `escalated` timeline event.
struct ReportEventRow {
  std::int64_t incident = 0;
  std::int64_t id = 0;        ///< insertion order among events at the same time
  std::int64_t at_ms = 0;
  NameId actor = 0;
  NameId channel = 0;
  bool acknowledged = false;  ///< else escalated
};

/// A page (outbox kind = page).
struct ReportPageRow {
  std::int64_t incident = 0;
  std::int64_t created_ms = 0;
  std::int64_t delivered_ms = -1;  ///< when state = delivered: updated_ms; else -1
  NameId person = 0;
  NameId method = 0;
};

struct ReportData {
  std::vector<std::string> names;
  std::vector<ReportIncidentRow> incidents;
  std::vector<ReportEventRow> events;  ///< may hold rows of other incidents: ignored
  std::vector<ReportPageRow> pages;    ///< likewise

  NameId intern(std::string_view name);
  /// The id of `name` if some row uses it.
  std::optional<NameId> find(std::string_view name) const;

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, NameId, Hash, std::equal_to<>> index_;
};

/// Checks a query: from < to, a range of at most kMaxReportRange, a known tz
/// (invalid_request otherwise).
Result<void> validate_report_query(const ReportQuery& q);

/// The report from raw rows (pure; the query must be valid).
ResponseReport compute_report(ReportData data, const ReportQuery& q);

/// Nearest-rank percentile `p` (0 < p <= 100) of sorted values; nullopt if empty.
std::optional<std::int64_t> percentile(const std::vector<std::int64_t>& sorted, int p);

}  // namespace baton::storage
