// What an alert's sender put in its details is what the API shows, however
// deep the parser accepted it (found by the events_v2 fuzz target: details
// nested 32 to 62 levels were stored but shown as {}).
#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "tests/support/fake_clock.hpp"
#include "tests/support/service_harness.hpp"

using namespace baton;
namespace json = boost::json;

TEST_CASE("deeply nested custom_details read back through the API", "[service][hostile]") {
  test::TempDb db;
  test::FakeClock clock;
  test::ServiceHarness svc(clock, R"(
server:
  listen: "127.0.0.1:0"
  api_tokens: [{name: ops, token: ")" + std::string(test::kApiToken) + R"("}]
storage: {path: ")" + db.path() + R"(", durability: normal}
people:
  alice: {name: Alice, email: alice@example.com}
escalation_policies:
  main: {steps: [{targets: [{person: alice}], timeout: 5m}]}
services:
  payments: {name: Payments, escalation_policy: main, integration_keys: [key-pay]}
)");
  std::string nested = "1";
  for (int i = 0; i < 60; ++i) nested = "[" + nested + "]";
  const std::string body = R"({"routing_key":"key-pay","event_action":"trigger","dedup_key":"deep",
    "payload":{"summary":"s","source":"h","severity":"info","custom_details":{"d":)" + nested + "}}}";
  REQUIRE(svc.call("POST", "/v2/enqueue", body).status == 202);
  svc.app->incidents().drain();
  auto res = svc.call("GET", "/api/v1/incidents/1", "", "");
  REQUIRE(res.status == 200);
  json::parse_options deep;
  deep.max_depth = 100;
  auto inc = json::parse(res.body, {}, deep);
  const json::value* v = &inc.at("details").at("custom_details").at("d");
  int depth = 0;
  while (v->is_array()) {
    v = &v->as_array().at(0);
    ++depth;
  }
  CHECK(depth == 60);
  CHECK(*v == 1);
}
