// The one command layer (bot/commands.hpp) end to end, through every chat
// channel at once: Slack (HTTP mode, signed requests, a fake Slack), Teams
// (Bot Framework JWTs minted by a fake, replies into a channel the fake
// knows) and SMS (Twilio-signed webhooks). The same command text must give
// the same effect everywhere; a person baton does not know is refused
// everywhere; maintenance windows set from chat hold pages.
#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <atomic>

#include "integrations/slack/signature.hpp"
#include "integrations/sms/twilio_signature.hpp"
#include "tests/support/fake_slack.hpp"
#include "tests/support/fake_teams.hpp"
#include "tests/support/http_peer.hpp"
#include "tests/support/service_harness.hpp"

using namespace baton;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

constexpr const char* kSigningSecret = "commands-test-signing-secret";
constexpr const char* kTwilioToken = "commands-test-twilio-token";
constexpr const char* kPublicUrl = "https://baton.example.com";
constexpr const char* kTeamsChannel = "19:ops@thread.tacv2";
constexpr const char* kAlicePhone = "+15551230001";

struct Peers {
  test::FakeClock& clock;
  test::FakeSlack slack;
  test::FakeTeams teams;
  test::HttpPeer twilio;  // Twilio's REST API: accepts every message
  std::string slack_channel;

  explicit Peers(test::FakeClock& c) : clock(c), teams(c) {
    slack.add_user({"U0ALICE", "alice@example.com", "Alice"});
    slack.add_user({"U0MAL", "mallory@elsewhere.example", "Mallory"});
    slack_channel = slack.add_channel("payments-alerts");
    teams.add_channel(kTeamsChannel);
    twilio.set_handler([](const test::RecordedRequest&) -> std::optional<test::ScriptedResponse> {
      return test::ScriptedResponse{201, {}, R"({"sid":"SM00000000000000000000000000000001","status":"queued"})", 0ms};
    });
  }
};

/// alice is linked in every channel (Slack id, Teams AAD id, phone); bob is on
/// the schedule of another service only; mallory is nobody.
std::string config(Peers& p, const std::string& db) {
  auto t = p.teams.config();
  return R"(
server:
  listen: "127.0.0.1:0"
  public_url: ")" + std::string(kPublicUrl) + R"("
  action_secret: "commands-test-action-secret"
  api_tokens: [{name: ops, token: ")" + std::string(test::kApiToken) + R"("}]
storage: {path: ")" + db + R"(", durability: normal}
slack:
  mode: http
  base_url: ")" + p.slack.base_url() + R"("
  bot_token: xoxb-test-token
  signing_secret: ")" + kSigningSecret + R"("
  messages_per_second_per_channel: 100
teams:
  app_id: ")" + t.app_id + R"("
  app_password: ")" + t.app_password + R"("
  tenant_id: ")" + t.tenant_id + R"("
  login_base: ")" + t.login_base + R"("
  openid_metadata_url: ")" + t.openid_metadata_url + R"("
  connector_base: ")" + p.teams.service_url() + R"("
  graph_base: ")" + t.graph_base + R"("
twilio:
  base_url: ")" + p.twilio.url() + R"("
  account_sid: ACtest
  auth_token: ")" + kTwilioToken + R"("
  from: "+15559870002"
  messages_per_second: 100
dispatch: {workers: 2, max_attempts: 2, base_backoff: 1s}
people:
  alice: {name: Alice, email: alice@example.com, slack_user_id: U0ALICE, teams_user_id: aad-alice, phone: ")" +
         kAlicePhone + R"(", contact_chain: [{method: slack, after: 0s}]}
  bob: {name: Bob, email: bob@example.com, contact_chain: [{method: slack, after: 0s}]}
schedules:
  primary:
    name: Primary
    layers:
      - rotation: {unit: days, length: 1, start: "2025-01-01T00:00"}
        participants: [alice]
  storage-rota:
    name: Storage rota
    layers:
      - rotation: {unit: days, length: 1, start: "2025-01-01T00:00"}
        participants: [bob]
escalation_policies:
  main: {steps: [{targets: [{schedule: primary}], timeout: 5m}]}
  storage: {steps: [{targets: [{schedule: storage-rota}], timeout: 5m}]}
services:
  payments: {name: Payments, escalation_policy: main, integration_keys: [key-pay], slack_channel: ")" +
         p.slack_channel + R"("}
  storage: {name: Storage, escalation_policy: storage, integration_keys: [key-sto]}
)";
}

std::string trigger(std::string dedup) {
  return json::serialize(json::object{
      {"routing_key", "key-pay"},
      {"event_action", "trigger"},
      {"dedup_key", dedup},
      {"payload", json::object{{"summary", "Checkout errors above 5%"}, {"source", "api-1"}, {"severity", "critical"}}}});
}

/// A signed HTTP-mode `/baton <text>` from `user`; the ephemeral answer's text.
std::string via_slack(test::ServiceHarness& svc, const Peers& p, const std::string& user, const std::string& text) {
  static std::atomic<int> n{0};
  const auto body = integrations::form_encode({{"command", "/baton"},
                                               {"text", text},
                                               {"user_id", user},
                                               {"channel_id", p.slack_channel},
                                               {"team_id", test::FakeSlack::kTeam},
                                               {"trigger_id", std::to_string(++n) + ".1.1"},
                                               {"response_url", ""}});
  const auto ts = std::to_string(engine::to_ms(svc.clock.now()) / 1000);
  auto res = svc.call("POST", "/slack/commands", body, "application/x-www-form-urlencoded", false,
                      {{"X-Slack-Request-Timestamp", ts},
                       {"X-Slack-Signature", slack::slack_signature(kSigningSecret, ts, body)}});
  REQUIRE(res.status == 200);
  return std::string(json::parse(res.body).at("text").as_string());
}

/// `@baton <text>` from `aad` in the Teams channel; the reply's text once it arrives.
std::string via_teams(test::ServiceHarness& svc, Peers& p, const std::string& aad, const std::string& text) {
  static std::atomic<int> n{0};
  const std::string id = "cmd-" + std::to_string(++n);
  json::object a{
      {"type", "message"},
      {"id", id},
      {"timestamp", "2026-01-01T00:00:00.000Z"},
      {"serviceUrl", p.teams.service_url()},
      {"channelId", "msteams"},
      {"from", json::object{{"id", "29:" + aad}, {"aadObjectId", aad}, {"name", aad}}},
      {"conversation", json::object{{"id", kTeamsChannel}, {"conversationType", "channel"},
                                    {"tenantId", test::FakeTeams::kTenantId}}},
      {"recipient", json::object{{"id", std::string("28:") + test::FakeTeams::kAppId}, {"name", "baton"}}},
      {"channelData", json::object{{"tenant", json::object{{"id", test::FakeTeams::kTenantId}}}}},
      {"text", "<at>baton</at> " + text},
      {"entities", json::array{json::object{
                       {"type", "mention"},
                       {"text", "<at>baton</at>"},
                       {"mentioned", json::object{{"id", std::string("28:") + test::FakeTeams::kAppId}, {"name", "baton"}}}}}}};
  auto res = svc.call("POST", "/api/messages", json::serialize(a), "application/json", false,
                      {{"Authorization", "Bearer " + p.teams.mint_token()}});
  REQUIRE(res.status == 200);
  std::string reply;
  REQUIRE(test::eventually([&] {
    for (const auto& act : p.teams.activities(kTeamsChannel))
      if (act.reply_to_id == id) reply = std::string(json::parse(act.json).at("text").as_string());
    return !reply.empty();
  }));
  return reply;
}

/// A Twilio-signed SMS reply from `from`; baton's TwiML answer.
std::string via_sms(test::ServiceHarness& svc, const std::string& from, const std::string& body) {
  static std::atomic<int> n{0};
  integrations::FormParams params{{"MessageSid", "SMcmd" + std::to_string(++n)},
                                  {"AccountSid", "ACtest"},
                                  {"From", from},
                                  {"To", "+15559870002"},
                                  {"Body", body}};
  auto signature = integrations::twilio_signature(kTwilioToken, std::string(kPublicUrl) + "/sms/twilio", params);
  auto res = svc.call("POST", "/sms/twilio", integrations::form_encode(params), "application/x-www-form-urlencoded",
                      false, {{"X-Twilio-Signature", signature}});
  REQUIRE(res.status == 200);
  return res.body;
}

bool has(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("commands: the same text does the same in Slack, Teams and SMS", "[commands][slack][teams][sms]") {
  test::TempDb db;
  test::FakeClock clock;
  Peers p(clock);
  test::ServiceHarness svc(clock, config(p, db.path()));
  for (const char* k : {"k1", "k2", "k3"})
    REQUIRE(svc.call("POST", "/v2/enqueue", trigger(k), "application/json", false).status == 202);
  svc.app->incidents().drain();

  // `oncall payments`: the schedule the service pages, and not the others, in every channel.
  const auto in_slack = via_slack(svc, p, "U0ALICE", "oncall payments");
  const auto in_teams = via_teams(svc, p, "aad-alice", "oncall payments");
  const auto in_sms = via_sms(svc, kAlicePhone, "oncall payments");
  for (const auto* answer : {&in_slack, &in_teams, &in_sms}) {
    INFO(*answer);
    CHECK(has(*answer, "On call now"));
    CHECK(has(*answer, "Primary"));
    CHECK_FALSE(has(*answer, "Storage rota"));
  }
  CHECK(has(in_slack, "<@U0ALICE>"));  // Slack renders the person as a mention
  CHECK(has(in_teams, "Alice"));
  CHECK(has(in_sms, "Alice"));

  // `ack N`: one incident each, the same effect and answer, recorded with the channel.
  CHECK(via_slack(svc, p, "U0ALICE", "ack 1") == "Incident #1 acknowledged.");
  CHECK(via_teams(svc, p, "aad-alice", "ack 2") == "Incident #2 acknowledged.");
  CHECK(has(via_sms(svc, kAlicePhone, "ack 3"), "Incident #3 acknowledged."));
  const char* via[] = {"", "slack", "teams", "sms"};
  for (int n = 1; n <= 3; ++n) {
    INFO("incident " << n);
    CHECK(svc.get_json("/api/v1/incidents/" + std::to_string(n)).at("state") == "acknowledged");
    CHECK(has(svc.timeline_text(n), std::string("Acknowledged by alice via ") + via[n]));
  }
  // And the same refusal for doing it twice.
  CHECK(has(via_slack(svc, p, "U0ALICE", "ack 2"), "already acknowledged"));
  CHECK(has(via_teams(svc, p, "aad-alice", "ack 3"), "already acknowledged"));
  CHECK(has(via_sms(svc, kAlicePhone, "ack 1"), "already acknowledged"));
}

TEST_CASE("commands: Teams' oncall takes a service, as Slack's does", "[commands][teams]") {
  // The bug: Teams compared the word after `oncall` with schedule ids only, so
  // `oncall payments` listed nobody.
  test::TempDb db;
  test::FakeClock clock;
  Peers p(clock);
  test::ServiceHarness svc(clock, config(p, db.path()));
  const auto payments = via_teams(svc, p, "aad-alice", "oncall payments");
  CHECK(has(payments, "Primary: Alice"));
  CHECK_FALSE(has(payments, "Bob"));
  const auto storage = via_teams(svc, p, "aad-alice", "oncall Storage");  // a service's name, in any case
  CHECK(has(storage, "Storage rota: Bob"));
  CHECK_FALSE(has(storage, "Alice"));
  CHECK(has(via_teams(svc, p, "aad-alice", "oncall nowhere"), "No service or schedule called 'nowhere'"));
}

TEST_CASE("commands: a person baton does not know is refused in every channel", "[commands][slack][teams][sms]") {
  test::TempDb db;
  test::FakeClock clock;
  Peers p(clock);
  test::ServiceHarness svc(clock, config(p, db.path()));
  REQUIRE(svc.call("POST", "/v2/enqueue", trigger("k1"), "application/json", false).status == 202);
  svc.app->incidents().drain();

  CHECK(has(via_slack(svc, p, "U0MAL", "ack 1"), "not linked"));
  CHECK(has(via_teams(svc, p, "aad-mallory", "ack 1"), "not linked"));
  CHECK(has(via_sms(svc, "+15557777777", "ack 1"), "not registered"));
  CHECK(has(via_slack(svc, p, "U0MAL", "maintenance payments 1h quiet please"), "not linked"));
  CHECK(has(via_teams(svc, p, "aad-mallory", "maintenance payments 1h quiet please"), "not linked"));
  CHECK(has(via_slack(svc, p, "U0MAL", "incident new something service:payments"), "not linked"));
  svc.app->incidents().drain();
  CHECK(svc.get_json("/api/v1/incidents/1").at("state") == "triggered");
  CHECK_FALSE(svc.app->incidents().active_maintenance("payments"));
  CHECK(svc.get_json("/api/v1/incidents?state=triggered").at("incidents").as_array().size() == 1);
  // Reading is open to anyone: the on-call answer is not refused.
  CHECK(has(via_slack(svc, p, "U0MAL", "oncall"), "On call now"));
}

TEST_CASE("commands: maintenance from Slack and from Teams holds pages; oncall shows the window",
          "[commands][slack][teams][maintenance]") {
  test::TempDb db;
  test::FakeClock clock;
  Peers p(clock);
  test::ServiceHarness svc(clock, config(p, db.path()));

  // Slack: `/baton maintenance payments 1h deploy`.
  const auto started = via_slack(svc, p, "U0ALICE", "maintenance payments 1h deploy");
  INFO(started);
  CHECK(has(started, "Payments is in maintenance until"));
  CHECK(has(started, "(deploy)"));
  REQUIRE(svc.app->incidents().active_maintenance("payments"));
  CHECK(svc.app->incidents().active_maintenance("payments")->reason == "deploy");

  // An alert meanwhile is recorded and held: nobody is paged.
  REQUIRE(svc.call("POST", "/v2/enqueue", trigger("during-1"), "application/json", false).status == 202);
  svc.app->incidents().drain();
  auto held = svc.get_json("/api/v1/incidents/1");
  CHECK(held.at("suppressed") == true);
  CHECK(held.at("maintenance").at("reason") == "deploy");
  CHECK_FALSE(has(svc.timeline_text(1), "Page to Alice"));

  // oncall shows the window, in Slack and in Teams; not for another service.
  CHECK(has(via_slack(svc, p, "U0ALICE", "oncall payments"), "In maintenance: Payments until"));
  CHECK(has(via_teams(svc, p, "aad-alice", "oncall payments"), "In maintenance: Payments until"));
  CHECK(has(via_teams(svc, p, "aad-alice", "oncall"), "(deploy)"));
  CHECK_FALSE(has(via_teams(svc, p, "aad-alice", "oncall storage"), "In maintenance"));

  // Teams ends it: the held incident is paged now.
  CHECK(has(via_teams(svc, p, "aad-alice", "maintenance end payments"), "Maintenance of payments ended"));
  CHECK_FALSE(svc.app->incidents().active_maintenance("payments"));
  svc.app->incidents().drain();
  REQUIRE(test::eventually([&] { return has(svc.timeline_text(1), "Page to Alice via slack delivered"); }));
  CHECK(has(via_teams(svc, p, "aad-alice", "maintenance end payments"), "no maintenance window in force"));

  // Teams starts one too: `@baton maintenance payments 30m db migration`.
  CHECK(has(via_teams(svc, p, "aad-alice", "maintenance payments 30m db migration"), "in maintenance until"));
  REQUIRE(svc.call("POST", "/v2/enqueue", trigger("during-2"), "application/json", false).status == 202);
  svc.app->incidents().drain();
  CHECK(svc.get_json("/api/v1/incidents/2").at("suppressed") == true);
  CHECK(svc.get_json("/api/v1/incidents/2").at("maintenance").at("reason") == "db migration");

  // Bad input changes nothing and says why.
  CHECK(has(via_slack(svc, p, "U0ALICE", "maintenance nowhere 1h"), "No service called 'nowhere'"));
  CHECK(has(via_slack(svc, p, "U0ALICE", "maintenance payments forever"), "is not a duration"));
}

TEST_CASE("commands: the console link is answered only privately", "[commands][slack][teams]") {
  test::TempDb db;
  test::FakeClock clock;
  Peers p(clock);
  test::ServiceHarness svc(clock, config(p, db.path()));
  // Slack answers are ephemeral: only the asker sees the link.
  const auto link = via_slack(svc, p, "U0ALICE", "console");
  INFO(link);
  CHECK(has(link, std::string(kPublicUrl) + "/console/login/"));
  // A Teams channel is not private: no link, and it says where to ask.
  const auto refused = via_teams(svc, p, "aad-alice", "console");
  CHECK_FALSE(has(refused, "/console/login/"));
  CHECK(has(refused, "direct message"));
  // Nobody's link for somebody baton does not know.
  CHECK(has(via_slack(svc, p, "U0MAL", "console"), "not linked"));
}
