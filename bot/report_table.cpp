// `baton report`: the response report as tables (docs/reports.md).
#include "bot/report_table.hpp"

#include <boost/json.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iomanip>
#include <ostream>
#include <sstream>
#include <vector>

#include "bot/config.hpp"
#include "integrations/http_client.hpp"

namespace baton::bot {
namespace {

namespace json = boost::json;

/// 0.4s, 42s, 4m05s, 2h10m, 3d04h.
std::string duration(const json::value& v) {
  if (!v.is_number()) return "-";
  const double s = v.to_number<double>();
  char buf[32];
  if (s < 10) {
    std::snprintf(buf, sizeof buf, "%.1fs", s);
  } else if (s < 60) {
    std::snprintf(buf, sizeof buf, "%.0fs", s);
  } else if (s < 3600) {
    const auto t = static_cast<long long>(std::llround(s));
    std::snprintf(buf, sizeof buf, "%lldm%02llds", t / 60, t % 60);
  } else if (s < 86400) {
    const auto t = static_cast<long long>(std::llround(s / 60));
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", t / 60, t % 60);
  } else {
    const auto t = static_cast<long long>(std::llround(s / 3600));
    std::snprintf(buf, sizeof buf, "%lldd%02lldh", t / 24, t % 24);
  }
  return buf;
}

std::string text(const json::value& v) {
  if (v.is_string()) return std::string(v.as_string());
  if (v.is_null()) return "-";
  return json::serialize(v);
}

std::string via(const json::object& stats) {
  std::string out;
  for (const auto& [channel, n] : stats.at("acknowledged_via").as_object())
    out += (out.empty() ? "" : ", ") + std::string(channel) + " " + text(n);
  return out.empty() ? "-" : out;
}

std::string escalations(const json::object& stats) {
  const auto& e = stats.at("escalations_before_ack").as_object();
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.2f / %s", e.at("mean").to_number<double>(), text(e.at("max")).c_str());
  return buf;
}

void table(std::ostream& out, const char* title, const char* key, const json::array& rows) {
  const std::vector<std::string> head = {title,     "INCIDENTS", "ACKED",    "UNACKED",    "TTFP p50", "TTFP p90",
                                         "TTA p50", "TTA p90",   "ESC mean/max", "PAGES", "OUT OF HOURS", "ACKED VIA"};
  std::vector<std::vector<std::string>> cells{head};
  for (const auto& r : rows) {
    const auto& o = r.as_object();
    const auto& ttfp = o.at("time_to_first_page_seconds").as_object();
    const auto& tta = o.at("time_to_acknowledge_seconds").as_object();
    cells.push_back({text(o.at(key)), text(o.at("incidents")), text(o.at("acknowledged")),
                     text(o.at("unacknowledged")), duration(ttfp.at("p50")), duration(ttfp.at("p90")),
                     duration(tta.at("p50")), duration(tta.at("p90")), escalations(o), text(o.at("pages")),
                     text(o.at("pages_out_of_hours")), via(o)});
  }
  std::vector<std::size_t> width(head.size(), 0);
  for (const auto& row : cells)
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  for (const auto& row : cells) {
    for (std::size_t i = 0; i < row.size(); ++i) {
      const bool last = i + 1 == row.size();
      if (i == 0 || last)
        out << std::left << std::setw(last ? 0 : static_cast<int>(width[i])) << row[i];
      else
        out << std::right << std::setw(static_cast<int>(width[i])) << row[i];
      if (!last) out << "  ";
    }
    out << "\n";
  }
  if (rows.empty()) out << "(none)\n";
}

std::string url_encode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == ':') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

}  // namespace

Result<std::string> report_table(std::string_view json_body) {
  boost::system::error_code ec;
  auto doc = json::parse(json_body, ec);
  if (ec || !doc.is_object()) return fail(ErrorKind::invalid_request, "the report is not a JSON object");
  try {
    const auto& o = doc.as_object();
    std::ostringstream out;
    const auto& totals = o.at("totals").as_object();
    out << "Response report, incidents created " << text(o.at("from")) << " .. " << text(o.at("to"))
        << " (service " << (o.at("service").is_null() ? "all" : text(o.at("service"))) << ", person "
        << (o.at("person").is_null() ? "all" : text(o.at("person"))) << ")\n";
    out << "Totals: " << text(totals.at("incidents")) << " incidents, " << text(totals.at("acknowledged"))
        << " acknowledged, " << text(totals.at("unacknowledged")) << " never acknowledged; time to acknowledge p50 "
        << duration(totals.at("time_to_acknowledge_seconds").as_object().at("p50")) << ", p90 "
        << duration(totals.at("time_to_acknowledge_seconds").as_object().at("p90")) << "; "
        << text(totals.at("pages")) << " pages, " << text(totals.at("pages_out_of_hours"))
        << " out of working hours\n\n";
    table(out, "SERVICE", "service", o.at("services").as_array());
    out << "\n";
    table(out, "PERSON", "person", o.at("people").as_array());
    out << "\n";
    table(out, "CHANNEL", "channel", o.at("channels").as_array());
    out << "\nTTFP: time to first page; TTA: time to acknowledge; ESC: escalations before the acknowledgement "
           "(docs/reports.md).\n";
    return out.str();
  } catch (const std::exception& e) {
    return fail(ErrorKind::invalid_request, std::string("the report has an unexpected shape: ") + e.what());
  }
}

int run_report_command(const std::map<std::string, std::string>& flags, std::size_t positional,
                       const std::string& config_path, std::ostream& out, std::ostream& err) {
  constexpr const char* usage =
      "usage: baton report [--from TIME] [--to TIME] [--service S] [--person P] [--tz ZONE] [--json] [--url URL]\n";
  for (const auto& [flag, value] : flags) {
    if (flag != "from" && flag != "to" && flag != "service" && flag != "person" && flag != "tz" && flag != "json" &&
        flag != "url" && flag != "config") {
      err << "baton: report: unknown option --" << flag << "\n" << usage;
      return 2;
    }
  }
  if (positional != 1) {
    err << usage;
    return 2;
  }
  std::string base;
  if (auto it = flags.find("url"); it != flags.end()) {
    base = it->second;
  } else {
    auto cfg = load_config_file(config_path);
    base = "http://" + (cfg ? cfg->server.listen : std::string("127.0.0.1:8080"));
  }
  integrations::HttpRequest req;
  req.method = "GET";
  req.url = base + "/api/v1/reports/response";
  char sep = '?';
  for (const char* name : {"from", "to", "service", "person", "tz"}) {
    if (auto it = flags.find(name); it != flags.end()) {
      req.url += sep + std::string(name) + "=" + url_encode(it->second);
      sep = '&';
    }
  }
  if (const char* token = std::getenv("BATON_API_TOKEN"); token && *token)
    req.headers.emplace_back("Authorization", std::string("Bearer ") + token);
  integrations::HttpClient client;
  auto res = client.request(req);
  if (!res) {
    err << "baton: cannot reach " << base << ": " << res.error().message << "\n";
    return 1;
  }
  if (res->status != 200) {
    std::string message = res->body;
    boost::system::error_code ec;
    auto body = json::parse(res->body, ec);
    if (!ec && body.is_object() && body.as_object().contains("message")) message = text(body.as_object().at("message"));
    err << "baton: " << res->status << ": " << message << "\n";
    return 1;
  }
  auto json_flag = flags.find("json");
  if (json_flag != flags.end() && json_flag->second != "false" && json_flag->second != "0") {
    out << res->body << "\n";
    return 0;
  }
  auto tables = report_table(res->body);
  if (!tables) {
    err << "baton: " << tables.error().message << "\n";
    return 1;
  }
  out << *tables;
  return 0;
}

}  // namespace baton::bot
