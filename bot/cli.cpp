#include "bot/cli.hpp"

#include <boost/json.hpp>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iomanip>
#include <ostream>
#include <pthread.h>

#include <spdlog/spdlog.h>

#include "bot/app.hpp"
#include "bot/config.hpp"
#include "bot/config_reload.hpp"
#include "bot/console_auth.hpp"
#include "bot/online_check.hpp"
#include "bot/report_table.hpp"
#include "engine/oncall.hpp"
#include "integrations/http_client.hpp"
#include "storage/store.hpp"

namespace baton::bot {
namespace {

namespace json = boost::json;

constexpr const char* kUsage = R"(usage:
  baton serve [--config FILE] [--listen HOST:PORT] [--db PATH]
  baton check-config FILE [--online]
  baton oncall [SCHEDULE] [--at TIME] [--config FILE]
  baton incident list [--state STATE] [--limit N] [--url URL]
  baton incident show N [--url URL]
  baton incident ack N | resolve N | escalate N [--url URL]
  baton report [--from TIME] [--to TIME] [--service S] [--person P] [--tz ZONE] [--json] [--url URL]
  baton migrate --from SQLITE_FILE --to postgres://USER@HOST/DB
  baton console-link --person PERSON [--config FILE]

  FILE defaults to $BATON_CONFIG, else ./baton.yaml. The incident and report
  commands use the API of a running baton (default: the config's server.listen)
  with the token in $BATON_API_TOKEN.

  migrate copies an SQLite database (incidents open or resolved, with their
  timers and pending notifications, timeline, alerts, overrides, chat messages,
  used tokens) into an empty PostgreSQL database, in one transaction. It only
  reads the SQLite file, so a running baton is not disturbed, but what that
  baton accepts after the copy started (alerts, acks) is not copied: stop it
  first for a clean cut-over, then start baton with storage.path set to the URI.
)";

struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::string> flags;
};

std::optional<Args> parse_args(const std::vector<std::string>& in, std::ostream& err) {
  Args a;
  for (std::size_t i = 0; i < in.size(); ++i) {
    const auto& s = in[i];
    if (s == "--online" || s == "--json") {  // the flags without a value
      a.flags[s.substr(2)] = "";
    } else if (s.starts_with("--")) {
      auto eq = s.find('=');
      if (eq != std::string::npos) {
        a.flags[s.substr(2, eq - 2)] = s.substr(eq + 1);
      } else if (i + 1 < in.size()) {
        a.flags[s.substr(2)] = in[++i];
      } else {
        err << "baton: " << s << " needs a value\n";
        return std::nullopt;
      }
    } else {
      a.positional.push_back(s);
    }
  }
  return a;
}

std::string default_config_path(const Args& a) {
  if (auto it = a.flags.find("config"); it != a.flags.end()) return it->second;
  if (const char* env = std::getenv("BATON_CONFIG"); env && *env) return env;
  return "baton.yaml";
}

std::optional<Config> load(const std::string& path, std::ostream& err) {
  auto cfg = load_config_file(path);
  if (!cfg) {
    for (const auto& e : cfg.error()) err << e.to_string() << "\n";
    err << path << ": " << cfg.error().size() << " error(s)\n";
    return std::nullopt;
  }
  return std::move(*cfg);
}

// A one-time sign-in link to the web console (docs/console.md), signed with the
// config's keys: no running baton is needed to make one, the server that
// receives it enforces its single use.
int cmd_console_link(const Args& a, std::ostream& out, std::ostream& err) {
  auto person = a.flags.find("person");
  if (a.positional.size() != 1 || person == a.flags.end()) {
    err << "usage: baton console-link --person PERSON [--config FILE]\n";
    return 2;
  }
  auto cfg = load(default_config_path(a), err);
  if (!cfg) return 1;
  auto link = console_link(*cfg, person->second, engine::SystemClock().now());
  if (!link) {
    err << "baton: " << link.error().message << "\n";
    return 1;
  }
  out << *link << "\n";
  err << "valid for " << kConsoleLinkTtl.count() << " minutes, once\n";
  return 0;
}

int cmd_check_config(const Args& a, std::ostream& out, std::ostream& err) {
  if (a.positional.size() != 2) {
    err << "usage: baton check-config FILE [--online]\n";
    return 2;
  }
  auto cfg = load(a.positional[1], err);
  if (!cfg) return 1;
  for (const auto& w : cfg->warnings) err << "warning: " << w << "\n";
  const auto& d = *cfg->directory;
  out << a.positional[1] << ": ok (" << d.services.size() << " services, " << d.policies.size()
      << " escalation policies, " << d.schedules.size() << " schedules, " << d.people.size() << " people)\n";
  if (!a.flags.contains("online")) return 0;
  // Credentials and targets against the real services (bot/online_check.hpp).
  const auto checks = run_online_checks(*cfg);
  int failed = 0;
  for (const auto& c : checks) {
    out << c.line() << "\n";
    failed += c.ok ? 0 : 1;
  }
  if (checks.empty()) out << "online: no channel with credentials to check (slack, twilio, smtp, teams)\n";
  if (failed) err << failed << " online check(s) failed\n";
  return failed ? 1 : 0;
}

int cmd_serve(const Args& a, std::ostream& out, std::ostream& err) {
  const auto path = default_config_path(a);
  auto cfg = load(path, err);
  if (!cfg) return 1;
  if (auto it = a.flags.find("listen"); it != a.flags.end()) cfg->server.listen = it->second;
  if (auto it = a.flags.find("db"); it != a.flags.end()) cfg->storage.path = it->second;
  if (a.flags.contains("listen") && cfg->server.public_url.empty()) cfg->server.public_url = "http://" + cfg->server.listen;
  for (const auto& w : cfg->warnings) spdlog::warn("{}", w);
  static engine::SystemClock clock;
  auto app = App::create(*cfg, clock);
  if (!app) {
    err << "baton: cannot open " << storage::redact_uri(cfg->storage.path) << ": " << app.error().message << "\n";
    return 1;
  }
  auto port = (*app)->start();
  if (!port) {
    err << "baton: " << port.error().message << "\n";
    return 1;
  }
  out << "baton serving on " << cfg->server.listen << " (database " << storage::redact_uri(cfg->storage.path) << ")" << std::endl;

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  while (true) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    if (sig == SIGHUP) {
      spdlog::info("SIGHUP");
      (void)reload_config_file(**app, path);  // logs what changed, or why nothing did
      continue;
    }
    spdlog::info("{}: shutting down gracefully", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    break;
  }
  (*app)->stop();
  spdlog::info("stopped; every accepted change is committed");
  return 0;
}

int cmd_oncall(const Args& a, std::ostream& out, std::ostream& err) {
  auto cfg = load(default_config_path(a), err);
  if (!cfg) return 1;
  auto at = engine::SystemClock().now();
  if (auto it = a.flags.find("at"); it != a.flags.end()) {
    auto t = engine::parse_iso8601(it->second);
    if (!t) {
      err << "baton: --at must be an ISO 8601 time such as 2026-11-25T10:00:00Z\n";
      return 2;
    }
    at = *t;
  }
  std::vector<engine::Override> overrides;
  if (storage::is_postgres_uri(cfg->storage.path) || std::filesystem::exists(cfg->storage.path)) {
    if (auto store = storage::Store::open_reader(cfg->storage.path))
      if (auto state = (*store)->load()) overrides = std::move(state->overrides);
  }
  std::optional<std::string> only = a.positional.size() > 1 ? std::optional(a.positional[1]) : std::nullopt;
  if (only && !cfg->directory->schedule(*only)) {
    err << "baton: unknown schedule '" << *only << "'\n";
    return 1;
  }
  out << "On call at " << engine::format_iso8601(at) << ":\n";
  for (const auto& [id, s] : cfg->directory->schedules) {
    if (only && *only != id) continue;
    auto who = engine::on_call_at(s, overrides, at);
    std::string name = "nobody";
    if (who) {
      const auto* p = cfg->directory->person(*who);
      name = p && !p->name.empty() ? p->name + " (" + *who + ")" : *who;
    }
    out << "  " << std::left << std::setw(20) << id << " " << name;
    auto next = engine::next_handoffs(s, overrides, at, 3);
    if (!next.empty()) out << "  until " << engine::format_iso8601(next.front().start);
    out << "\n";
    for (const auto& h : next)
      out << "      then " << (h.person.empty() ? "nobody" : h.person) << " from " << engine::format_iso8601(h.start)
          << "\n";
  }
  return 0;
}

int cmd_incident(const Args& a, std::ostream& out, std::ostream& err) {
  if (a.positional.size() < 2) {
    err << kUsage;
    return 2;
  }
  const auto& sub = a.positional[1];
  std::string base;
  if (auto it = a.flags.find("url"); it != a.flags.end()) {
    base = it->second;
  } else {
    auto cfg = load_config_file(default_config_path(a));
    base = "http://" + (cfg ? cfg->server.listen : std::string("127.0.0.1:8080"));
  }
  const char* token = std::getenv("BATON_API_TOKEN");
  integrations::HttpRequest req;
  req.method = "GET";
  if (token && *token) req.headers.emplace_back("Authorization", std::string("Bearer ") + token);
  auto need_number = [&]() -> std::optional<std::string> {
    if (a.positional.size() != 3 || a.positional[2].find_first_not_of("0123456789") != std::string::npos) {
      err << "usage: baton incident " << sub << " N\n";
      return std::nullopt;
    }
    return a.positional[2];
  };
  if (sub == "list") {
    req.url = base + "/api/v1/incidents?limit=" + (a.flags.contains("limit") ? a.flags.at("limit") : "50");
    if (a.flags.contains("state")) req.url += "&state=" + a.flags.at("state");
  } else if (sub == "show") {
    auto n = need_number();
    if (!n) return 2;
    req.url = base + "/api/v1/incidents/" + *n;
  } else if (sub == "ack" || sub == "resolve" || sub == "escalate") {
    auto n = need_number();
    if (!n) return 2;
    req.method = "POST";
    req.url = base + "/api/v1/incidents/" + *n + "/" + sub;
  } else {
    err << kUsage;
    return 2;
  }
  integrations::HttpClient client;
  auto res = client.request(req);
  if (!res) {
    err << "baton: cannot reach " << base << ": " << res.error().message << "\n";
    return 1;
  }
  boost::system::error_code ec;
  auto body = json::parse(res->body, ec);
  if (res->status >= 300 || ec || !body.is_object()) {
    std::string message = res->body;
    if (!ec && body.is_object() && body.as_object().contains("message"))
      message = json::value_to<std::string>(body.as_object().at("message"));
    err << "baton: " << res->status << ": " << message << "\n";
    return 1;
  }
  auto str = [](const json::value& v) -> std::string {
    if (v.is_string()) return std::string(v.as_string());
    if (v.is_null()) return "-";
    return json::serialize(v);
  };
  auto line = [&](const json::object& i) {
    out << "#" << str(i.at("number")) << "  " << std::left << std::setw(12) << str(i.at("state")) << " "
        << std::setw(8) << str(i.at("severity")) << " " << std::setw(14) << str(i.at("service")) << " owner "
        << std::setw(10) << str(i.at("owner")) << " " << str(i.at("summary"));
    // Held by a maintenance window: nobody is paged until it ends.
    if (const auto* m = i.if_contains("maintenance"); m && m->is_object())
      out << "  [suppressed by maintenance (" << str(m->as_object().at("reason")) << ") until "
          << str(m->as_object().at("until")) << "]";
    out << "\n";
  };
  const auto& o = body.as_object();
  if (sub == "list") {
    const auto& arr = o.at("incidents").as_array();
    if (arr.empty()) out << "no incidents\n";
    for (const auto& i : arr) line(i.as_object());
  } else {
    line(o);
    out << "  created " << str(o.at("created_at")) << ", acknowledged " << str(o.at("acknowledged_at"))
        << ", resolved " << str(o.at("resolved_at")) << "\n";
    if (auto* tl = o.if_contains("timeline")) {
      out << "timeline:\n";
      for (const auto& e : tl->as_array()) {
        const auto& ev = e.as_object();
        out << "  " << str(ev.at("at")) << "  " << std::left << std::setw(20) << str(ev.at("kind")) << " "
            << str(ev.at("message")) << "  [" << str(ev.at("actor")) << " via " << str(ev.at("channel")) << "]\n";
      }
    }
  }
  return 0;
}

// baton migrate --from SQLITE_FILE --to postgres://...: Store::copy_to from a
// read-only SQLite reader into a migrated, empty PostgreSQL database
// (docs/storage.md, "Moving from SQLite to PostgreSQL"). The URI is only ever
// printed through storage::redact_uri.
int cmd_migrate(const Args& a, std::ostream& out, std::ostream& err) {
  constexpr const char* usage = "usage: baton migrate --from SQLITE_FILE --to postgres://USER@HOST/DB\n";
  bool known_flags = true;
  for (const auto& [flag, value] : a.flags)
    if (flag != "from" && flag != "to") {
      err << "baton: migrate: unknown option --" << flag << "\n";
      known_flags = false;
    }
  if (!known_flags || a.positional.size() != 1 || !a.flags.contains("from") || !a.flags.contains("to")) {
    err << usage;
    return 2;
  }
  const auto& from = a.flags.at("from");
  const auto& to = a.flags.at("to");
  const auto shown_to = storage::redact_uri(to);
  if (from.empty() || storage::is_postgres_uri(from)) {
    err << "baton: migrate: --from must be the SQLite file of the running installation\n" << usage;
    return 2;
  }
  if (!storage::is_postgres_uri(to)) {
    err << "baton: migrate: --to must be a postgres:// or postgresql:// URI\n" << usage;
    return 2;
  }
  if (!std::filesystem::is_regular_file(from)) {
    err << "baton: migrate: no SQLite database at " << from << "\n";
    return 1;
  }
  auto source = storage::Store::open_reader(from);
  if (!source) {
    err << "baton: migrate: cannot open " << from << ": " << source.error().message << "\n";
    return 1;
  }
  auto target = storage::Store::open(to);  // creates the schema on a fresh database
  if (!target) {
    err << "baton: migrate: cannot open " << shown_to << ": " << target.error().message << "\n";
    return 1;
  }
  out << "copying " << from << " to " << shown_to << "\n" << std::flush;
  auto copied = (*source)->copy_to(**target);
  if (!copied) {
    err << "baton: migrate: " << copied.error().message << "\n"
        << "baton: migrate: nothing was copied into " << shown_to << "\n";
    return 1;
  }
  std::int64_t total = 0;
  for (const auto& t : *copied) {
    out << "  " << std::left << std::setw(16) << t.table << std::right << std::setw(10) << t.rows << " rows\n";
    total += t.rows;
  }
  auto count = [&](engine::IncidentState s) { return (*target)->count_incidents(s).value_or(0); };
  const auto open = count(engine::IncidentState::triggered) + count(engine::IncidentState::acknowledged);
  out << "migrated " << total << " rows in " << copied->size() << " tables (" << open << " open incidents, "
      << count(engine::IncidentState::resolved) << " resolved) from " << from << " to " << shown_to << "\n"
      << "next: stop the old baton if it still runs, then start baton with storage.path set to the URI\n";
  return 0;
}

}  // namespace

int run_cli(const std::vector<std::string>& in, std::ostream& out, std::ostream& err) {
  auto args = parse_args(in, err);
  if (!args) return 2;
  if (args->positional.empty() || args->positional[0] == "help" || args->flags.contains("help")) {
    (args->positional.empty() ? err : out) << kUsage;
    return args->positional.empty() ? 2 : 0;
  }
  const auto& cmd = args->positional[0];
  if (cmd == "serve") return cmd_serve(*args, out, err);
  if (cmd == "check-config") return cmd_check_config(*args, out, err);
  if (cmd == "oncall") return cmd_oncall(*args, out, err);
  if (cmd == "incident") return cmd_incident(*args, out, err);
  if (cmd == "report") return run_report_command(args->flags, args->positional.size(), default_config_path(*args), out, err);
  if (cmd == "migrate") return cmd_migrate(*args, out, err);
  if (cmd == "console-link") return cmd_console_link(*args, out, err);
  err << "baton: unknown command '" << cmd << "'\n" << kUsage;
  return 2;
}

}  // namespace baton::bot
