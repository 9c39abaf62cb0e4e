// people.<id>.working_hours: the weekly window in the person's time zone outside
// which a page counts as out of hours in the response report (docs/reports.md).
//   working_hours: {days: [mon, tue, wed, thu, fri], from: "09:00", to: "18:00"}
// `days` are the days the window starts on (default Monday to Friday); `to` <=
// `from` wraps past midnight (a night shift), equal times are a whole day.
#include "bot/config_loader.hpp"

namespace baton::bot::config_internal {

void Loader::load_working_hours(const YAML::Node& n, const std::string& person, const std::string& ctx) {
  const std::string wctx = "working_hours of " + ctx;
  Fields f(*this, n, {"days", "from", "to"}, "'working_hours' of " + ctx);
  if (!n.IsMap()) return;
  storage::WorkingHours wh;
  bool ok = true;
  if (const YAML::Node days = f["days"]; !days.IsNull()) {
    wh.days.clear();
    if (!is_seq(days, "'days' of " + wctx)) {
      ok = false;
    } else {
      for (std::size_t k = 0; k < days.size(); ++k) {
        auto day = string(days[k], "day " + std::to_string(k + 1) + " of " + wctx);
        if (!day) {
          ok = false;
        } else if (auto dn = parse_weekday(*day)) {
          if (std::find(wh.days.begin(), wh.days.end(), *dn) == wh.days.end()) wh.days.push_back(*dn);
        } else {
          error(days[k].Mark(), "unknown day " + quoted(*day) + " in " + wctx + " (use mon, tue, ... sun)");
          ok = false;
        }
      }
      if (days.size() == 0) {
        error(days.Mark(), "'days' of " + wctx + " is empty");
        ok = false;
      }
    }
  }
  for (auto [key, out] : {std::pair{"from", &wh.start_minute}, std::pair{"to", &wh.end_minute}}) {
    auto t = required_string(f[key], quoted(key) + " of " + wctx, n.Mark());
    if (!t) {
      ok = false;
    } else if (auto m = parse_hh_mm(*t); m && !(std::string_view(key) == "from" && *t == "24:00")) {
      *out = *m;
    } else {
      error(f[key].Mark(), quoted(key) + " of " + wctx + " must be a time like \"09:00\", not " + quoted(*t));
      ok = false;
    }
  }
  if (ok) {
    std::sort(wh.days.begin(), wh.days.end());
    working_hours_[person] = std::move(wh);
  }
}

}  // namespace baton::bot::config_internal
