// The services section's `heartbeats` and `maintenance` keys: what a valid
// entry becomes in the Directory, and every error with its location.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>

#include "bot/config.hpp"

using baton::bot::load_config_string;
namespace engine = baton::engine;
using namespace std::chrono_literals;

namespace {

std::optional<std::string> env(std::string_view name) {
  if (name == "HB_KEY") return std::string("hb-from-env");
  return std::nullopt;
}

std::string with_services(std::string_view services) {
  return std::string(R"(people:
  alice: {name: Alice}
escalation_policies:
  p1:
    steps:
      - targets: [{person: alice}]
services:
)") + std::string(services);
}

std::vector<std::string> errors_of(const std::string& yaml) {
  auto r = load_config_string(yaml, "t.yaml", env);
  REQUIRE_FALSE(r.has_value());
  std::vector<std::string> out;
  for (const auto& e : r.error()) out.push_back(e.to_string());
  return out;
}

bool has_error(const std::vector<std::string>& errors, std::string_view text) {
  return std::any_of(errors.begin(), errors.end(), [&](const std::string& e) { return e.find(text) != std::string::npos; });
}

}  // namespace

TEST_CASE("config: heartbeats and weekly maintenance windows of a service", "[config][heartbeat][maintenance]") {
  // Scenario: a service with two heartbeats (one key from the environment, one
  // fed by the Alertmanager alertname Watchdog, grace defaulting to 0) and two
  // weekly windows (one on every day by default, in UTC).
  auto r = load_config_string(with_services(R"(  svc:
    escalation_policy: p1
    integration_keys: [k1]
    heartbeats:
      - {name: nightly, interval: 1h, grace: 10m, key: "${HB_KEY}"}
      - {name: watchdog, interval: 5m, key: hb-wd, alertname: Watchdog}
    maintenance:
      - {days: [tue, thursday], start: "02:00", duration: 1h, time_zone: Europe/Berlin, reason: deploys}
      - {start: "23:30", duration: 90m}
)"),
                              "t.yaml", env);
  if (!r)
    for (const auto& e : r.error()) UNSCOPED_INFO(e.to_string());
  REQUIRE(r.has_value());
  const auto& d = *r->directory;
  const auto& s = d.services.at("svc");
  REQUIRE(s.heartbeats.size() == 2);
  CHECK(s.heartbeats[0].name == "nightly");
  CHECK(s.heartbeats[0].interval == 1h);
  CHECK(s.heartbeats[0].grace == 10min);
  CHECK(s.heartbeats[0].key == "hb-from-env");
  CHECK(s.heartbeats[1].grace == 0ms);
  CHECK(s.heartbeats[1].alertname == "Watchdog");
  auto [svc, hb] = d.heartbeat_by_key("hb-from-env");
  REQUIRE(svc != nullptr);
  CHECK(svc->id == "svc");
  CHECK(hb->name == "nightly");
  CHECK(d.heartbeat_by_key("nope").first == nullptr);
  REQUIRE(s.maintenance.size() == 2);
  CHECK(s.maintenance[0].days == std::vector<int>{2, 4});
  CHECK(s.maintenance[0].start_minute == 120);
  CHECK(s.maintenance[0].duration == 1h);
  CHECK(s.maintenance[0].time_zone == "Europe/Berlin");
  CHECK(s.maintenance[0].reason == "deploys");
  CHECK(s.maintenance[1].days == std::vector<int>{1, 2, 3, 4, 5, 6, 7});
  CHECK(s.maintenance[1].start_minute == 23 * 60 + 30);
  CHECK(s.maintenance[1].time_zone == "UTC");
  CHECK(s.maintenance[1].reason.empty());
}

TEST_CASE("config: bad heartbeats and maintenance windows are reported where they are", "[config][heartbeat][maintenance]") {
  // Scenario: every mistake at once, each with its line: a zero and a
  // negative-looking interval, a missing key, a key used twice (also as an
  // integration key), a duplicate name, two heartbeats on one alertname, an
  // unknown key; a window on an unknown day, at 24:00, without a duration, of
  // more than a week, in an unknown zone.
  auto errors = errors_of(with_services(R"(  svc:
    escalation_policy: p1
    integration_keys: [k1]
    heartbeats:
      - {name: a, interval: 0s, key: ka}
      - {name: b, interval: 1h}
      - {name: c, interval: 1h, key: kc}
      - {name: c, interval: 1h, key: kc}
      - {name: d, interval: 1h, key: k1}
      - {name: e, interval: 1h, key: ke, alertname: Watchdog}
      - {name: f, interval: 1h, key: kf, alertname: Watchdog}
      - {name: g, interval: 1h, key: kg, colour: red}
      - {name: h, interval: soon, key: kh}
    maintenance:
      - {days: [funday], start: "02:00", duration: 1h}
      - {start: "24:00", duration: 1h}
      - {start: "02:00"}
      - {start: "02:00", duration: 8d}
      - {start: "02:00", duration: 1h, time_zone: Mars/Olympus}
  other:
    escalation_policy: p1
    integration_keys: [ke]
)"));
  for (const auto& e : errors) UNSCOPED_INFO(e);
  CHECK(has_error(errors, "t.yaml:12:29: 'interval' of heartbeat 1 of service 'svc' must be longer than zero"));
  CHECK(has_error(errors, "t.yaml:13:9: 'key' of heartbeat 2 of service 'svc' is required"));
  CHECK(has_error(errors, "t.yaml:15:16: duplicate heartbeat 'c' in service 'svc'"));
  CHECK(has_error(errors, "t.yaml:15:38: 'key' of heartbeat 4 of service 'svc' is already used"));
  CHECK(has_error(errors, "t.yaml:16:38: 'key' of heartbeat 5 of service 'svc' is already used"));
  CHECK(has_error(errors, "t.yaml:18:53: alertname 'Watchdog' already feeds heartbeat 'e'"));
  CHECK(has_error(errors, "t.yaml:19:42: unknown key 'colour' in heartbeat 8 of service 'svc'"));
  CHECK(has_error(errors, "t.yaml:20:29: invalid duration 'soon'"));
  CHECK(has_error(errors, "unknown day 'funday' in maintenance window 1 of service 'svc'"));
  CHECK(has_error(errors, "'start' of maintenance window 2 of service 'svc' must be a time like"));
  CHECK(has_error(errors, "'duration' of maintenance window 3 of service 'svc' is required"));
  CHECK(has_error(errors, "'duration' of maintenance window 4 of service 'svc' must be at most 7 days"));
  CHECK(has_error(errors, "unknown time zone 'Mars/Olympus' for maintenance window 5 of service 'svc'"));
  CHECK(has_error(errors, "heartbeat key of 'e' in service 'svc' is also an integration key of service 'other'"));
}
