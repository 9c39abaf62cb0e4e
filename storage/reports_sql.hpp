#pragma once
// Private to storage/: the SQL of the response report (storage/reports.hpp),
// shared by both back ends so that they read exactly the same rows. Each
// statement is a range scan on an index of migration 0006 (SQLite) / 0004
// (PostgreSQL); the WHERE terms repeat the partial indexes' predicates so that
// the planners can use them. `param(i)` spells parameter i (1-based): "?" for
// SQLite, "$i::bigint" / "$i" for PostgreSQL. Rows decode through codec's Row
// interface (is_null, i64, text).
#include <algorithm>
#include <string>
#include <utility>

#include "storage/reports.hpp"

namespace baton::storage::report_sql {

/// Parameters: from_ms, to_ms[, service]. Columns: number, service_id, created_ms.
inline std::string incidents(std::string (*param)(int, bool), bool by_service) {
  std::string sql = "SELECT number, service_id, created_ms FROM incidents WHERE created_ms >= " + param(1, true) +
                    " AND created_ms < " + param(2, true);
  if (by_service) sql += " AND service_id = " + param(3, false);
  return sql;  // any order: compute_report sorts
}

/// Which incidents events() and pages() read: without a service filter, the
/// range of incident numbers read by incidents() (one range scan; rows of other
/// incidents in between are ignored by compute_report); with one, the same
/// incidents again by subquery (an index lookup per incident, much less than a
/// year's range). Parameters: lo, hi; or from_ms, to_ms, service.
inline std::string which_incidents(std::string (*param)(int, bool), bool by_service) {
  if (!by_service) return "incident >= " + param(1, true) + " AND incident <= " + param(2, true);
  return "incident IN (SELECT number FROM incidents WHERE created_ms >= " + param(1, true) + " AND created_ms < " +
         param(2, true) + " AND service_id = " + param(3, false) + ")";
}

inline std::string events(std::string (*param)(int, bool), bool by_service) {
  return "SELECT incident, id, CASE WHEN kind = 'acknowledged' THEN 1 ELSE 0 END, at_ms, actor, channel FROM timeline "
         "WHERE kind IN ('acknowledged', 'escalated') AND " + which_incidents(param, by_service);
}

/// Column 4: when the page was delivered (NULL: not delivered).
inline std::string pages(std::string (*param)(int, bool), bool by_service) {
  return "SELECT incident, person, method, created_ms, CASE WHEN state = 'delivered' THEN updated_ms END FROM outbox "
         "WHERE kind = 'page' AND " + which_incidents(param, by_service);
}

/// Column `c` of `r` interned; without copying where the Row can give a view.
template <typename Row>
NameId name(const Row& r, int c, ReportData& data) {
  if constexpr (requires { r.view(c); })
    return data.intern(r.view(c));
  else
    return data.intern(r.text(c));
}

/// The lowest and highest incident number read (incidents must not be empty).
inline std::pair<std::int64_t, std::int64_t> number_range(const ReportData& data) {
  std::int64_t lo = data.incidents.front().number, hi = lo;
  for (const auto& i : data.incidents) {
    lo = std::min(lo, i.number);
    hi = std::max(hi, i.number);
  }
  return {lo, hi};
}

template <typename Row>
void decode_incident(const Row& r, ReportData& data) {
  data.incidents.push_back(ReportIncidentRow{r.i64(0), name(r, 1, data), r.i64(2)});
}

template <typename Row>
void decode_event(const Row& r, ReportData& data) {
  ReportEventRow e;
  e.incident = r.i64(0);
  e.id = r.i64(1);
  e.acknowledged = r.i64(2) != 0;
  e.at_ms = r.i64(3);
  e.actor = name(r, 4, data);
  e.channel = name(r, 5, data);
  data.events.push_back(e);
}

template <typename Row>
void decode_page(const Row& r, ReportData& data) {
  ReportPageRow p;
  p.incident = r.i64(0);
  p.person = name(r, 1, data);
  p.method = name(r, 2, data);
  p.created_ms = r.i64(3);
  p.delivered_ms = r.is_null(4) ? -1 : r.i64(4);
  data.pages.push_back(p);
}

}  // namespace baton::storage::report_sql
