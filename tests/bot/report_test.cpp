// GET /api/v1/reports/response, `baton report` and the time-to-acknowledge
// histogram (docs/reports.md), against a running App on the hand-computed
// scenario of tests/storage/report_fixture.hpp.
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <sstream>

#include "bot/cli.hpp"
#include "bot/report_table.hpp"
#include "storage/store.hpp"
#include "tests/storage/report_fixture.hpp"
#include "tests/support/cluster_harness.hpp"
#include "tests/support/fake_clock.hpp"
#include "tests/support/pg_cluster.hpp"
#include "tests/support/service_harness.hpp"

using namespace baton;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

std::string config(const std::string& db_path) {
  return R"(
server:
  listen: "127.0.0.1:0"
  api_tokens: [{name: ops, token: ")" +
         std::string(test::kApiToken) + R"("}]
storage: {path: ")" + db_path + R"(", durability: normal}
people:
  alice: {name: Alice, email: alice@example.com, time_zone: Europe/Berlin}
  bob: {name: Bob, email: bob@example.com, time_zone: America/New_York}
escalation_policies:
  main: {steps: [{targets: [{person: alice}], timeout: 5m}]}
services:
  payments: {name: Payments, escalation_policy: main, integration_keys: [key-pay]}
  search: {name: Search, escalation_policy: main, integration_keys: [key-search]}
  web: {name: Web, escalation_policy: main, integration_keys: [key-web]}
)";
}

void seed(const std::string& path) {
  auto store = storage::Store::open(path, storage::Durability::normal);
  REQUIRE(store);
  REQUIRE(test::report::seed(**store));
}

const json::object& row(const json::value& doc, const char* list, const char* key_name, const char* key) {
  for (const auto& r : doc.at(list).as_array())
    if (r.at(key_name).as_string() == key) return r.as_object();
  FAIL("no " << key << " in " << list);
  throw std::logic_error("unreachable");
}

constexpr const char* kRange = "from=2026-11-02T10:00:00Z&to=2026-11-10T00:00:00Z";

struct Run {
  int code;
  std::string out;
  std::string err;
};

Run cli(std::vector<std::string> args) {
  std::ostringstream out, err;
  int code = bot::run_cli(args, out, err);
  return {code, out.str(), err.str()};
}

}  // namespace

TEST_CASE("the response report over the API", "[service][report]") {
  test::TempDb db;
  seed(db.path());
  test::FakeClock clock(test::report::at("2026-11-20T00:00:00Z"));
  test::ServiceHarness svc(clock, config(db.path()));

  SECTION("the document of docs/reports.md") {
    const auto doc = svc.get_json(std::string("/api/v1/reports/response?") + kRange);
    CHECK(doc.at("from") == "2026-11-02T10:00:00.000Z");
    CHECK(doc.at("to") == "2026-11-10T00:00:00.000Z");
    CHECK(doc.at("tz") == "UTC");
    CHECK(doc.at("service").is_null());
    CHECK(doc.at("working_hours_default").at("start") == "09:00");
    const auto& totals = doc.at("totals");
    CHECK(totals.at("incidents") == 3);
    CHECK(totals.at("acknowledged") == 2);
    CHECK(totals.at("unacknowledged") == 1);
    CHECK(totals.at("time_to_acknowledge_seconds").at("p50").to_number<double>() == 60.0);
    CHECK(totals.at("time_to_acknowledge_seconds").at("p90").to_number<double>() == 420.0);
    CHECK(totals.at("time_to_first_page_seconds").at("p50").to_number<double>() == 2.0);
    CHECK(totals.at("acknowledged_via") == json::parse(R"({"sms":1,"voice":1})"));
    CHECK(totals.at("escalations_before_ack") ==
          json::parse(R"({"total":1,"mean":0.5,"max":1,"histogram":{"0":1,"1":1,"2":0,"3+":0}})"));
    CHECK(totals.at("pages") == 5);
    CHECK(totals.at("pages_out_of_hours") == 3);

    REQUIRE(doc.at("services").as_array().size() == 3);
    const auto& pay = row(doc, "services", "service", "payments");
    CHECK(pay.at("name") == "Payments");
    CHECK(pay.at("incidents") == 2);
    CHECK(row(doc, "services", "service", "web").at("time_to_acknowledge_seconds").at("p50").is_null());
    const auto& bob = row(doc, "people", "person", "bob");
    CHECK(bob.at("name") == "Bob");
    CHECK(bob.at("time_zone") == "America/New_York");
    CHECK(bob.at("time_to_acknowledge_seconds").at("p50").to_number<double>() == 120.0);
    CHECK(bob.at("pages_out_of_hours") == 2);
    const auto& sms = row(doc, "channels", "channel", "sms");
    CHECK(sms.at("acknowledged_via") == json::parse(R"({"sms":1})"));
    const auto& daily = doc.at("daily").as_array();
    REQUIRE(daily.size() == 3);
    CHECK(daily[0].at("service") == "payments");
    REQUIRE(daily[0].at("days").as_array().size() == 8);
    CHECK(daily[0].at("days").at(0) ==
          json::parse(R"({"date":"2026-11-02","incidents":2,"acknowledged":1,"time_to_acknowledge_p50_seconds":420.0})"));
  }
  SECTION("filters") {
    auto doc = svc.get_json(std::string("/api/v1/reports/response?") + kRange + "&service=search");
    CHECK(doc.at("service") == "search");
    CHECK(doc.at("totals").at("incidents") == 1);
    doc = svc.get_json(std::string("/api/v1/reports/response?") + kRange + "&person=bob&tz=America/New_York");
    CHECK(doc.at("totals").at("incidents") == 2);
    CHECK(doc.at("people").as_array().size() == 1);
    CHECK(doc.at("tz") == "America/New_York");
  }
  SECTION("defaults: the last 30 days up to now") {
    const auto doc = svc.get_json("/api/v1/reports/response");
    CHECK(doc.at("to") == "2026-11-20T00:00:00.000Z");
    CHECK(doc.at("from") == "2026-10-21T00:00:00.000Z");
    CHECK(doc.at("totals").at("incidents") == 5);  // #4 and #5 too
    CHECK(doc.at("daily").at(0).at("days").as_array().size() == 30);
  }
  SECTION("bad requests change nothing and say why") {
    auto status = [&](const std::string& query) {
      return svc.call("GET", "/api/v1/reports/response?" + query, "", "").status;
    };
    CHECK(status("service=nope") == 404);
    CHECK(status("person=nobody") == 404);
    CHECK(status("from=yesterday") == 400);
    CHECK(status("from=2026-11-10T00:00:00Z&to=2026-11-02T00:00:00Z") == 400);
    CHECK(status("from=2025-01-01T00:00:00Z&to=2026-11-10T00:00:00Z") == 400);  // over 400 days
    CHECK(status("tz=Mars/Olympus") == 400);
    auto res = svc.call("GET", "/api/v1/reports/response?tz=Mars/Olympus", "", "");
    CHECK(res.body.find("unknown time zone") != std::string::npos);
    res = svc.call("GET", "/api/v1/reports/response?service=" + std::string(5000, 'x'), "", "");
    CHECK(res.status == 404);
    CHECK(res.body.size() < 200);  // the unknown value is shown cut short
    CHECK(svc.call("GET", "/api/v1/reports/response", "", "", /*auth=*/false).status == 401);
    CHECK(svc.call("POST", "/api/v1/reports/response", "{}").status == 405);
  }
  SECTION("baton report prints the same as tables") {
    ::setenv("BATON_API_TOKEN", test::kApiToken, 1);
    auto r = cli({"report", "--url", svc.base, "--from", "2026-11-02T10:00:00Z", "--to", "2026-11-10T00:00:00Z"});
    INFO(r.err);
    REQUIRE(r.code == 0);
    INFO(r.out);
    CHECK(r.out.find("Totals: 3 incidents, 2 acknowledged, 1 never acknowledged") != std::string::npos);
    CHECK(r.out.find("time to acknowledge p50 1m00s, p90 7m00s") != std::string::npos);
    CHECK(r.out.find("SERVICE") != std::string::npos);
    CHECK(r.out.find("sms 1") != std::string::npos);
    CHECK(r.out.find("PERSON") != std::string::npos);
    CHECK(r.out.find("America") == std::string::npos);  // tables, not JSON
    auto j = cli({"report", "--json", "--url", svc.base, "--service", "search", "--from", "2026-11-02T10:00:00Z"});
    REQUIRE(j.code == 0);
    CHECK(json::parse(j.out).at("totals").at("incidents") == 1);
    auto bad = cli({"report", "--url", svc.base, "--service", "nope"});
    CHECK(bad.code == 1);
    CHECK(bad.err.find("404: unknown service 'nope'") != std::string::npos);
    auto usage = cli({"report", "--frm", "x"});
    CHECK(usage.code == 2);
    ::unsetenv("BATON_API_TOKEN");
  }
}

TEST_CASE("an acknowledgement is observed in baton_time_to_acknowledge_seconds", "[service][report][metrics]") {
  test::TempDb db;
  test::FakeClock clock;
  test::ServiceHarness svc(clock, config(db.path()));
  REQUIRE(svc.call("POST", "/v2/enqueue",
                   R"({"routing_key":"key-pay","event_action":"trigger","dedup_key":"m1",
                       "payload":{"summary":"s","source":"h","severity":"critical"}})")
              .status == 202);
  svc.app->incidents().drain();
  clock.advance(90s);
  REQUIRE(svc.call("POST", "/api/v1/incidents/1/ack", "").status == 200);
  svc.app->incidents().drain();
  const auto text = svc.call("GET", "/metrics", "", "").body;
  INFO(text);
  CHECK(text.find("# TYPE baton_time_to_acknowledge_seconds histogram") != std::string::npos);
  CHECK(text.find("baton_time_to_acknowledge_seconds_bucket{service=\"payments\",channel=\"api\",le=\"60\"} 0") !=
        std::string::npos);
  CHECK(text.find("baton_time_to_acknowledge_seconds_bucket{service=\"payments\",channel=\"api\",le=\"120\"} 1") !=
        std::string::npos);
  CHECK(text.find("baton_time_to_acknowledge_seconds_sum{service=\"payments\",channel=\"api\"} 90.000") !=
        std::string::npos);
  CHECK(text.find("baton_time_to_acknowledge_seconds_count{service=\"payments\",channel=\"api\"} 1") !=
        std::string::npos);
}

TEST_CASE("report tables refuse what is not a report", "[report]") {
  CHECK_FALSE(bot::report_table("[]"));
  CHECK_FALSE(bot::report_table("{\"totals\":{}}"));
}

TEST_CASE("cluster: an instance that does not run the engine answers the report from the database",
          "[cluster][postgres][report]") {
  BATON_REQUIRE_POSTGRES();
  const auto db = test::PgCluster::shared().create_database();
  seed(db);
  test::FakeClock clock(test::report::at("2026-11-20T00:00:00Z"));
  test::ServiceHarness a(clock, config(db));
  REQUIRE(test::within_a_minute([&] { return test::owner(a); }));
  test::ServiceHarness b(clock, config(db));
  REQUIRE(test::within_a_minute([&] { return b.call("GET", "/readyz").status == 200; }));
  REQUIRE_FALSE(test::owner(b));
  const auto path = std::string("/api/v1/reports/response?") + kRange;
  const auto on_b = b.get_json(path);
  CHECK(on_b.at("totals").at("incidents") == 3);
  CHECK(on_b.at("totals").at("time_to_acknowledge_seconds").at("p90").to_number<double>() == 420.0);
  CHECK(on_b.at("people") == a.get_json(path).at("people"));
}

TEST_CASE("people.<id>.working_hours is read and checked", "[config][report]") {
  auto no_env = [](std::string_view) { return std::optional<std::string>{}; };
  auto cfg = bot::load_config_string(R"(
people:
  alice: {name: Alice, time_zone: Europe/Berlin}
  bob: {name: Bob, time_zone: America/New_York, working_hours: {days: [sun, mon], from: "22:00", to: "06:00"}}
  carol: {name: Carol, working_hours: {from: "08:00", to: "24:00"}}
)",
                                     "wh.yaml", no_env);
  REQUIRE(cfg);
  CHECK_FALSE(cfg->working_hours.contains("alice"));
  CHECK(cfg->working_hours.at("bob") == storage::WorkingHours{{1, 7}, 22 * 60, 6 * 60});
  CHECK(cfg->working_hours.at("carol") == storage::WorkingHours{{1, 2, 3, 4, 5}, 8 * 60, 0});

  auto bad = bot::load_config_string(R"(
people:
  bob: {name: Bob, working_hours: {days: [funday], from: "9am", too: "18:00"}}
)",
                                     "wh.yaml", no_env);
  REQUIRE_FALSE(bad);
  std::string all;
  for (const auto& e : bad.error()) all += e.to_string() + "\n";
  INFO(all);
  CHECK(all.find("unknown day 'funday'") != std::string::npos);
  CHECK(all.find("must be a time like \"09:00\", not '9am'") != std::string::npos);
  CHECK(all.find("too") != std::string::npos);
}

TEST_CASE("a person's own working hours count in the report's pager load", "[service][report]") {
  test::TempDb db;
  seed(db.path());
  test::FakeClock clock(test::report::at("2026-11-20T00:00:00Z"));
  auto yaml = config(db.path());
  const std::string bob = "bob: {name: Bob, email: bob@example.com, time_zone: America/New_York}";
  yaml.replace(yaml.find(bob), bob.size(),
               "bob: {name: Bob, email: bob@example.com, time_zone: America/New_York, "
               "working_hours: {from: \"05:00\", to: \"14:00\"}}");
  test::ServiceHarness svc(clock, yaml);
  const auto doc = svc.get_json(std::string("/api/v1/reports/response?") + kRange);
  const auto& b = row(doc, "people", "person", "bob");
  CHECK(b.at("pages_out_of_hours") == 0);  // 05:05 and 07:05 New York are inside 05:00-14:00
  CHECK(b.at("working_hours") == json::parse(R"({"days":[1,2,3,4,5],"start":"05:00","end":"14:00"})"));
  CHECK(doc.at("totals").at("pages_out_of_hours") == 1);
}
