// The response report from raw timeline and outbox rows (storage/reports.hpp,
// docs/reports.md for every definition).
#include "storage/reports.hpp"

#include <date/date.h>
#include <date/tz.h>

#include <algorithm>
#include <cstdio>
#include <set>
#include <span>
#include <tuple>
#include <climits>
#include <unordered_map>

namespace baton::storage {
namespace {

using std::int64_t;

const date::time_zone* zone_or_null(const std::string& name) {
  try {
    return date::locate_zone(name);
  } catch (const std::exception&) {
    return nullptr;
  }
}

const date::time_zone* utc_zone() {
  static const date::time_zone* utc = date::locate_zone("UTC");
  return utc;
}

std::string format_date(date::local_days d) {
  const date::year_month_day ymd{d};
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()));
  return buf;
}

date::local_days local_day(const date::time_zone* zone, int64_t at_ms) {
  return date::floor<date::days>(zone->to_local(engine::from_ms(at_ms)));
}

/// A row being built: the stats and the durations behind its percentiles.
struct Acc {
  ReportStats s;
  std::vector<int64_t> ttfp;
  std::vector<int64_t> tta;

  void acknowledged(const std::string& channel, int64_t tta_ms, int64_t escalations) {
    ++s.acknowledged;
    ++s.acknowledged_via[channel];
    tta.push_back(std::max<int64_t>(0, tta_ms));
    s.escalations_total += escalations;
    s.escalations_max = std::max(s.escalations_max, escalations);
    ++s.escalations_histogram[static_cast<std::size_t>(std::min<int64_t>(escalations, 3))];
  }

  ReportStats finish() {
    auto stats = [](std::vector<int64_t>& v) {
      std::sort(v.begin(), v.end());
      return DurationStats{static_cast<int64_t>(v.size()), percentile(v, 50), percentile(v, 90)};
    };
    s.time_to_first_page = stats(ttfp);
    s.time_to_acknowledge = stats(tta);
    return s;
  }
};

struct DayAcc {
  int64_t incidents = 0;
  std::vector<int64_t> tta;
};

/// What one incident contributes.
struct Ack {
  int64_t at_ms = 0;
  NameId actor = 0;
  NameId channel = 0;
  int64_t escalations = 0;  ///< escalated events before it
};

/// A paged person's local time: the zone and the UTC offset valid over
/// [begin, end), reused while pages stay inside it (they come in time order).
struct LocalClock {
  const date::time_zone* zone = nullptr;
  WorkingHours hours;
  bool configured = false;  ///< in ReportQuery::people
  int64_t begin = 1, end = 0;
  int64_t offset_ms = 0;

  int64_t offset_at(int64_t at_ms) {
    if (at_ms < begin || at_ms >= end) {
      const auto info = zone->get_info(engine::from_ms(at_ms));
      // The first and last periods may reach the representable limits: clamp before scaling.
      const auto b = static_cast<int64_t>(info.begin.time_since_epoch().count());
      const auto e = static_cast<int64_t>(info.end.time_since_epoch().count());
      begin = b <= INT64_MIN / 1000 ? INT64_MIN : b * 1000;
      end = e >= INT64_MAX / 1000 ? INT64_MAX : e * 1000;
      offset_ms = info.offset.count() * 1000;
    }
    return offset_ms;
  }

  bool out_of_hours(int64_t at_ms) {
    const int64_t local = at_ms + offset_at(at_ms);
    const int64_t day = local >= 0 ? local / 86'400'000 : (local - 86'399'999) / 86'400'000;
    const int minute = static_cast<int>((local - day * 86'400'000) / 60'000);
    const int iso_day = static_cast<int>(((day + 3) % 7 + 7) % 7) + 1;  // 1970-01-01 was a Thursday (4)
    return !in_working_hours(hours, iso_day, minute);
  }
};

/// Per name id: the row being built (services, people, channels each have one table).
struct Table {
  std::vector<Acc> accs;
  std::vector<char> used;
  Acc& at(NameId id) {
    if (accs.size() <= id) {
      accs.resize(id + 1);
      used.resize(id + 1, 0);
    }
    used[id] = 1;
    return accs[id];
  }
  std::vector<ReportRow> finish(const std::vector<std::string>& names) {
    std::vector<ReportRow> rows;
    for (std::size_t i = 0; i < accs.size(); ++i)
      if (used[i]) rows.push_back(ReportRow{names[i], accs[i].finish()});
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
    return rows;
  }
};

/// First page issued / delivered to one person or by one method in an incident.
struct FirstPage {
  NameId key;
  int64_t issued;
  int64_t delivered;  ///< -1: none delivered
  int64_t pages = 0;
  int64_t out_of_hours = 0;
};

void note_page(std::vector<FirstPage>& v, NameId key, const ReportPageRow& p, bool out) {
  for (auto& f : v) {
    if (f.key != key) continue;
    f.issued = std::min(f.issued, p.created_ms);
    if (p.delivered_ms >= 0 && (f.delivered < 0 || p.delivered_ms < f.delivered)) f.delivered = p.delivered_ms;
    ++f.pages;
    f.out_of_hours += out ? 1 : 0;
    return;
  }
  v.push_back(FirstPage{key, p.created_ms, p.delivered_ms, 1, out ? 1 : 0});
}

const FirstPage* find_page(const std::vector<FirstPage>& v, NameId key) {
  for (const auto& f : v)
    if (f.key == key) return &f;
  return nullptr;
}

}  // namespace

bool in_working_hours(const WorkingHours& wh, int iso_day, int minute_of_day) {
  auto has = [&](int d) { return std::find(wh.days.begin(), wh.days.end(), d) != wh.days.end(); };
  const int previous = iso_day == 1 ? 7 : iso_day - 1;
  if (wh.start_minute < wh.end_minute)
    return has(iso_day) && minute_of_day >= wh.start_minute && minute_of_day < wh.end_minute;
  // Wraps past midnight (end <= start; start == end is a whole day from start).
  return (has(iso_day) && minute_of_day >= wh.start_minute) || (has(previous) && minute_of_day < wh.end_minute);
}

std::optional<int64_t> percentile(const std::vector<int64_t>& sorted, int p) {
  if (sorted.empty()) return std::nullopt;
  // Nearest rank: ceil(p/100 * n), 1-based.
  const auto n = static_cast<int64_t>(sorted.size());
  int64_t rank = (p * n + 99) / 100;
  rank = std::clamp<int64_t>(rank, 1, n);
  return sorted[static_cast<std::size_t>(rank - 1)];
}

Result<void> validate_report_query(const ReportQuery& q) {
  if (q.from >= q.to) return fail(ErrorKind::invalid_request, "'from' must be before 'to'");
  if (q.to - q.from > kMaxReportRange) return fail(ErrorKind::invalid_request, "the range is longer than 400 days");
  if (!zone_or_null(q.tz))
    return fail(ErrorKind::invalid_request,
                "unknown time zone '" + (q.tz.size() <= 64 ? q.tz : q.tz.substr(0, 64) + "...") + "'");
  return {};
}

NameId ReportData::intern(std::string_view name) {
  auto it = index_.find(name);
  if (it != index_.end()) return it->second;
  const auto id = static_cast<NameId>(names.size());
  names.emplace_back(name);
  index_.emplace(names.back(), id);
  return id;
}

std::optional<NameId> ReportData::find(std::string_view name) const {
  auto it = index_.find(name);
  if (it == index_.end()) return std::nullopt;
  return it->second;
}

ResponseReport compute_report(ReportData data, const ReportQuery& q) {
  // `data.names` grows with the configured services and the filters.
  for (const auto& s : q.services)
    if (!q.service || *q.service == s) data.intern(s);
  const std::optional<NameId> only_service = q.service ? std::optional(data.intern(*q.service)) : std::nullopt;
  const std::optional<NameId> only_person = q.person ? std::optional(data.intern(*q.person)) : std::nullopt;

  std::vector<const ReportIncidentRow*> incidents;
  incidents.reserve(data.incidents.size());
  for (const auto& inc : data.incidents) incidents.push_back(&inc);
  std::sort(incidents.begin(), incidents.end(), [](auto* a, auto* b) { return a->number < b->number; });
  auto& events = data.events;
  std::sort(events.begin(), events.end(), [](const auto& a, const auto& b) {
    return std::tie(a.incident, a.at_ms, a.id) < std::tie(b.incident, b.at_ms, b.id);
  });
  auto& pages = data.pages;
  std::stable_sort(pages.begin(), pages.end(), [](const auto& a, const auto& b) {
    return std::tie(a.incident, a.created_ms) < std::tie(b.incident, b.created_ms);
  });

  // Per name id: the person's clock (zone, working hours), looked up once.
  std::vector<std::optional<LocalClock>> clocks(data.names.size());
  auto clock_of = [&](NameId id) -> LocalClock& {
    auto& c = clocks[id];
    if (!c) {
      c.emplace();
      c->zone = utc_zone();
      if (auto p = q.people.find(data.names[id]); p != q.people.end()) {
        c->configured = true;
        if (const auto* z = zone_or_null(p->second.time_zone)) c->zone = z;
        c->hours = p->second.working_hours;
      }
    }
    return *c;
  };

  const date::time_zone* day_zone = zone_or_null(q.tz);
  if (!day_zone) day_zone = utc_zone();
  const auto first_day = local_day(day_zone, engine::to_ms(q.from));
  const auto last_day = local_day(day_zone, engine::to_ms(q.to) - 1);
  const auto n_days = static_cast<std::size_t>(std::max<int64_t>(0, (last_day - first_day).count() + 1));

  Acc total;
  Table services, people, channels;
  std::vector<std::vector<DayAcc>> daily(data.names.size());
  for (const auto& s : q.services)
    if (!q.service || *q.service == s) services.at(*data.find(s));
  if (only_person) people.at(*only_person);
  LocalClock day_clock{day_zone, {}, false};

  std::vector<FirstPage> by_person, by_method;
  std::vector<NameId> who;
  std::size_t ei = 0, pi = 0;
  for (const ReportIncidentRow* inc : incidents) {
    const int64_t number = inc->number;
    while (ei < events.size() && events[ei].incident < number) ++ei;
    while (pi < pages.size() && pages[pi].incident < number) ++pi;
    // First acknowledgement and the escalations before it.
    std::optional<Ack> ack;
    int64_t escalations = 0;
    for (; ei < events.size() && events[ei].incident == number; ++ei) {
      const auto& e = events[ei];
      if (ack) continue;
      if (e.acknowledged)
        ack = Ack{e.at_ms, e.actor, e.channel, escalations};
      else
        ++escalations;
    }
    const std::size_t p_begin = pi;
    while (pi < pages.size() && pages[pi].incident == number) ++pi;
    if (only_service && inc->service != *only_service) continue;

    // Pages: first issued / delivered per person and per method, out of hours.
    by_person.clear();
    by_method.clear();
    int64_t first_delivered = -1, ooh = 0;
    for (std::size_t i = p_begin; i < pi; ++i) {
      const auto& p = pages[i];
      const bool out = clock_of(p.person).out_of_hours(p.created_ms);
      note_page(by_person, p.person, p, out);
      note_page(by_method, p.method, p, out);
      if (p.delivered_ms >= 0 && (first_delivered < 0 || p.delivered_ms < first_delivered))
        first_delivered = p.delivered_ms;
      ooh += out ? 1 : 0;
    }
    const bool ack_by_person = ack && (clock_of(ack->actor).configured || find_page(by_person, ack->actor));
    if (only_person && !find_page(by_person, *only_person) && !(ack && ack->actor == *only_person)) continue;

    const int64_t created = inc->created_ms;
    const auto n_pages = static_cast<int64_t>(pi - p_begin);
    for (Acc* acc : {&total, &services.at(inc->service)}) {
      ++acc->s.incidents;
      if (first_delivered >= 0) acc->ttfp.push_back(std::max<int64_t>(0, first_delivered - created));
      if (ack)
        acc->acknowledged(data.names[ack->channel], ack->at_ms - created, ack->escalations);
      else
        ++acc->s.unacknowledged;
      acc->s.pages += n_pages;
      acc->s.pages_out_of_hours += ooh;
    }
    auto& days = daily[inc->service];
    if (days.size() != n_days) days.resize(n_days);
    const int64_t created_local = created + day_clock.offset_at(created);
    const int64_t local_day_number =
        created_local >= 0 ? created_local / 86'400'000 : (created_local - 86'399'999) / 86'400'000;
    const auto day = local_day_number - first_day.time_since_epoch().count();
    if (day >= 0 && static_cast<std::size_t>(day) < n_days) {
      auto& d = days[static_cast<std::size_t>(day)];
      ++d.incidents;
      if (ack) d.tta.push_back(std::max<int64_t>(0, ack->at_ms - created));
    }

    // People: those paged, and whoever acknowledged first.
    who.clear();
    for (const auto& f : by_person) who.push_back(f.key);
    if (ack_by_person && !find_page(by_person, ack->actor)) who.push_back(ack->actor);
    for (NameId person : who) {
      if (only_person && person != *only_person) continue;
      Acc& acc = people.at(person);
      ++acc.s.incidents;
      const FirstPage* page = find_page(by_person, person);
      if (page && page->delivered >= 0) acc.ttfp.push_back(std::max<int64_t>(0, page->delivered - created));
      if (ack && ack->actor == person)
        acc.acknowledged(data.names[ack->channel], ack->at_ms - (page ? page->issued : created), ack->escalations);
      if (!ack) ++acc.s.unacknowledged;
      if (page) {
        acc.s.pages += page->pages;
        acc.s.pages_out_of_hours += page->out_of_hours;
      }
    }

    // Channels: every method paged by, and the channel of the first acknowledgement.
    who.clear();
    for (const auto& f : by_method) who.push_back(f.key);
    if (ack && !find_page(by_method, ack->channel)) who.push_back(ack->channel);
    for (NameId channel : who) {
      Acc& acc = channels.at(channel);
      ++acc.s.incidents;
      const FirstPage* page = find_page(by_method, channel);
      if (page && page->delivered >= 0) acc.ttfp.push_back(std::max<int64_t>(0, page->delivered - created));
      if (ack && ack->channel == channel)
        acc.acknowledged(data.names[channel], ack->at_ms - (page ? page->issued : created), ack->escalations);
      if (!ack) ++acc.s.unacknowledged;
      if (page) {
        acc.s.pages += page->pages;
        acc.s.pages_out_of_hours += page->out_of_hours;
      }
    }
  }

  ResponseReport out;
  out.totals = total.finish();
  out.services = services.finish(data.names);
  out.people = people.finish(data.names);
  out.channels = channels.finish(data.names);
  for (const auto& row : out.services) {
    DailySeries series{row.key, {}};
    series.days.reserve(n_days);
    auto& acc = daily[*data.find(row.key)];
    for (std::size_t i = 0; i < n_days; ++i) {
      DailyPoint point{format_date(first_day + date::days{static_cast<int>(i)}), 0, 0, std::nullopt};
      if (i < acc.size()) {
        auto& d = acc[i];
        std::sort(d.tta.begin(), d.tta.end());
        point.incidents = d.incidents;
        point.acknowledged = static_cast<int64_t>(d.tta.size());
        point.time_to_acknowledge_p50 = percentile(d.tta, 50);
      }
      series.days.push_back(std::move(point));
    }
    out.daily.push_back(std::move(series));
  }
  return out;
}

}  // namespace baton::storage
