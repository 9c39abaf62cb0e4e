// Email end to end: the whole service with a real SMTP server (Debian's
// aiosmtpd, STARTTLS with a certificate made at test time) and a fake clock.
// A page's one-click link acts as the person, via email; every mail about the
// incident threads under the first one.
#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "tests/support/service_harness.hpp"
#include "tests/support/smtp_server.hpp"

using namespace baton;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

constexpr const char* kPublicUrl = "https://baton.example.com";

std::string config(const test::SmtpServer& smtp, const std::string& db) {
  return R"(
server:
  listen: "127.0.0.1:0"
  public_url: ")" + std::string(kPublicUrl) + R"("
  action_secret: "test-action-secret"
  api_tokens: [{name: ops, token: ")" + std::string(test::kApiToken) + R"("}]
storage: {path: ")" + db + R"(", durability: normal}
smtp:
  url: ")" + smtp.url() + R"("
  from: pager@baton.example.com
  ca_file: ")" + smtp.ca_file() + R"("
dispatch: {workers: 2, max_attempts: 2, base_backoff: 1s}
people:
  olga: {name: Olga, email: olga@example.com, contact_chain: [{method: email, after: 0s}]}
escalation_policies:
  olga: {steps: [{targets: [{person: olga}], timeout: 30m}]}
services:
  olga: {name: Olga's, escalation_policy: olga, integration_keys: [key-olga]}
)";
}

std::string trigger(std::string dedup) {
  return json::serialize(json::object{
      {"routing_key", "key-olga"},
      {"event_action", "trigger"},
      {"dedup_key", dedup},
      {"payload", json::object{{"summary", "Checkout errors above 5%"}, {"source", "api-1"}, {"severity", "critical"}}}});
}

/// The unfolded value of header `name` in `data` ("" when absent).
std::string header(const std::string& data, const std::string& name) {
  const auto end = data.find("\r\n\r\n");
  std::string out;
  bool in = false;
  for (std::size_t pos = 0; pos < end;) {
    auto eol = data.find("\r\n", pos);
    const auto line = data.substr(pos, eol - pos);
    pos = eol + 2;
    if (in && !line.empty() && (line[0] == ' ' || line[0] == '\t')) {
      out += line;
      continue;
    }
    if (in) break;
    if (line.size() > name.size() && Catch::toLower(line.substr(0, name.size() + 1)) == Catch::toLower(name) + ":") {
      in = true;
      out = line.substr(name.size() + 2);
    }
  }
  return out;
}

/// The path of the first one-click link of `action` in a mail's text part
/// (quoted-printable soft line breaks removed).
std::string link_path(std::string data, const std::string& label) {
  for (auto pos = data.find("=\r\n"); pos != std::string::npos; pos = data.find("=\r\n", pos)) data.erase(pos, 3);
  const auto at = data.find(label + ": " + kPublicUrl + "/actions/");
  REQUIRE(at != std::string::npos);
  const auto start = at + label.size() + 2 + std::string(kPublicUrl).size();
  return data.substr(start, data.find_first_of("\r\n ", start) - start);
}

}  // namespace

TEST_CASE("email: a one-click link acts via email, and every mail threads under the first", "[email][smtp]") {
  // Scenario: olga is paged by email. She follows the mail's Acknowledge link
  // and confirms (the POST): the incident is acknowledged by olga via email
  // (the link came from an email, and says so by the key it is signed with;
  // it used to say "via webhook"). The acknowledgement's mail has the page's
  // subject and answers the page itself (In-Reply-To and References name the
  // page's Message-ID, a mail that was sent), so Gmail keeps one thread.
  test::TempDb db;
  test::FakeClock clock;
  test::SmtpServer smtp;
  test::ServiceHarness svc(clock, config(smtp, db.path()));
  REQUIRE(svc.call("POST", "/v2/enqueue", trigger("e1"), "application/json", false).status == 202);
  REQUIRE(smtp.wait_for_messages(1, 10s));
  const auto page = smtp.messages()[0].data;

  const auto ack = link_path(page, "Acknowledge");
  CHECK(svc.call("GET", ack, "", "", false).status == 200);  // a mail scanner's GET does nothing
  CHECK(svc.get_json("/api/v1/incidents/1").at("state") == "triggered");
  const auto done = svc.call("POST", ack, "", "application/x-www-form-urlencoded", false);
  CHECK((done.status == 200 || done.status == 202));
  REQUIRE(test::eventually([&] { return svc.get_json("/api/v1/incidents/1").at("state") == "acknowledged"; }));
  const auto timeline = svc.timeline_text(1);
  INFO(timeline);
  CHECK(timeline.find("via email") != std::string::npos);
  CHECK(timeline.find("via webhook") == std::string::npos);

  REQUIRE(smtp.wait_for_messages(2, 10s));
  const auto update = smtp.messages()[1].data;
  const auto root = header(page, "Message-ID");
  CHECK(root.starts_with("<incident-1.notification-"));
  CHECK(header(page, "In-Reply-To").empty());
  CHECK(header(update, "Subject") == header(page, "Subject"));
  CHECK(header(update, "In-Reply-To") == root);
  CHECK(header(update, "References") == root);
  CHECK(header(update, "Message-ID") != root);
}
