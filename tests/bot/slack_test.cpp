// Slack end to end: the whole service against a protocol-faithful fake Slack
// (Web API and Socket Mode), with a fake clock. HTTP mode requests are signed
// with Slack's v0 scheme.
#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "integrations/slack/signature.hpp"
#include "integrations/sms/twilio_signature.hpp"
#include "tests/support/fake_slack.hpp"
#include "tests/support/fake_socket_mode.hpp"
#include "tests/support/http_peer.hpp"
#include "tests/support/service_harness.hpp"

using namespace baton;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

constexpr const char* kSigningSecret = "slack-test-signing-secret";

std::string config(test::FakeSlack& fake, const std::string& db, const std::string& mode, const std::string& channel) {
  return R"(
server:
  listen: "127.0.0.1:0"
  public_url: "https://baton.example.com"
  api_tokens: [{name: ops, token: ")" + std::string(test::kApiToken) + R"("}]
storage: {path: ")" + db + R"(", durability: normal}
slack:
  mode: )" + mode + R"(
  base_url: ")" + fake.base_url() + R"("
  bot_token: xoxb-test-token
  app_token: xapp-test-token
  signing_secret: ")" + kSigningSecret + R"("
  messages_per_second_per_channel: 100
dispatch: {workers: 2, max_attempts: 2, base_backoff: 1s}
people:
  alice: {name: Alice, email: alice@example.com, slack_user_id: U0ALICE, contact_chain: [{method: slack, after: 0s}]}
  bob: {name: Bob, email: bob@example.com, contact_chain: [{method: slack, after: 0s}]}
escalation_policies:
  main: {steps: [{targets: [{person: alice}], timeout: 5m}, {targets: [{person: bob}], timeout: 5m}]}
services:
  payments: {name: Payments, escalation_policy: main, integration_keys: [key-pay], slack_channel: ")" + channel + R"("}
)";
}

std::string trigger(std::string dedup) {
  return json::serialize(json::object{
      {"routing_key", "key-pay"},
      {"event_action", "trigger"},
      {"dedup_key", dedup},
      {"payload", json::object{{"summary", "Checkout errors above 5%"}, {"source", "api-1"}, {"severity", "critical"}}}});
}

/// Posts a Slack request to baton signed at the fake clock's current time.
integrations::HttpResponse slack_post(test::ServiceHarness& svc, const std::string& path, const std::string& body,
                                      std::string secret = kSigningSecret, std::int64_t skew_s = 0) {
  const auto ts = std::to_string(engine::to_ms(svc.clock.now()) / 1000 + skew_s);
  return svc.call("POST", path, body, "application/x-www-form-urlencoded", false,
                  {{"X-Slack-Request-Timestamp", ts},
                   {"X-Slack-Signature", slack::slack_signature(secret, ts, body)}});
}

std::string button_payload(const std::string& action_id, std::int64_t incident, const std::string& user) {
  return json::serialize(json::object{
      {"type", "block_actions"},
      {"user", json::object{{"id", user}, {"team_id", test::FakeSlack::kTeam}}},
      {"team", json::object{{"id", test::FakeSlack::kTeam}}},
      {"container", json::object{{"type", "message"}, {"channel_id", "D0"}, {"message_ts", "1.0"}}},
      {"response_url", ""},
      {"trigger_id", "1.2.3"},
      {"actions", json::array{json::object{{"action_id", action_id},
                                           {"block_id", "baton_actions:" + std::to_string(incident)},
                                           {"value", std::to_string(incident)},
                                           {"type", "button"}}}}});
}

std::string form(std::vector<std::pair<std::string, std::string>> fields) {
  return integrations::form_encode(fields);
}

/// A signed HTTP-mode `/baton <text>` from `user`; the ephemeral answer's text.
std::string slash_command(test::ServiceHarness& svc, const std::string& channel, const std::string& user,
                          const std::string& text) {
  auto res = slack_post(svc, "/slack/commands",
                        form({{"command", "/baton"}, {"text", text}, {"user_id", user}, {"channel_id", channel},
                              {"team_id", test::FakeSlack::kTeam}, {"response_url", ""}}));
  REQUIRE(res.status == 200);
  return std::string(json::parse(res.body).at("text").as_string());
}

bool has_action(const std::string& blocks, std::string_view action_id) {
  return blocks.find("\"action_id\":\"" + std::string(action_id) + "\"") != std::string::npos;
}

}  // namespace

TEST_CASE("slack http mode: page with buttons -> Acknowledge pressed -> message updated in place", "[slack]") {
  // Scenario: an alert pages alice in a Slack DM with Acknowledge, Resolve and
  // Escalate buttons and posts in the service's channel. alice presses
  // Acknowledge (a signed interactivity request): the incident is
  // acknowledged by alice via slack, and both messages are updated with the
  // buttons that still apply (no Acknowledge).
  test::TempDb db;
  test::FakeClock clock;
  test::FakeSlack fake;
  fake.add_user({"U0ALICE", "alice@example.com", "Alice"});
  fake.add_user({"U0BOB", "bob@example.com", "Bob"});
  const auto channel = fake.add_channel("payments-alerts");
  test::ServiceHarness svc(clock, config(fake, db.path(), "http", channel));

  REQUIRE(svc.call("POST", "/v2/enqueue", trigger("k1"), "application/json", false).status == 202);
  REQUIRE(test::eventually([&] { return fake.messages(channel).size() == 1 && !fake.dm_channel("U0ALICE").empty(); }));
  REQUIRE(test::eventually(
      [&] { return svc.timeline_text(1).find("Page to Alice via slack delivered") != std::string::npos; }));
  const auto dm = fake.dm_channel("U0ALICE");
  REQUIRE(fake.messages(dm).size() == 1);
  const auto page = fake.messages(dm).front();
  CHECK(has_action(page.blocks_json, "baton_ack"));
  CHECK(has_action(page.blocks_json, "baton_resolve"));
  CHECK(has_action(page.blocks_json, "baton_escalate"));

  auto res = slack_post(svc, "/slack/interactivity", form({{"payload", button_payload("baton_ack", 1, "U0ALICE")}}));
  CHECK(res.status == 200);
  REQUIRE(test::eventually([&] { return svc.get_json("/api/v1/incidents/1").at("state") == "acknowledged"; }));
  REQUIRE(test::eventually([&] {
    auto m = fake.messages(dm);
    return !m.empty() && m.front().edits > 0 && !has_action(m.front().blocks_json, "baton_ack");
  }));
  CHECK(has_action(fake.messages(dm).front().blocks_json, "baton_resolve"));
  REQUIRE(test::eventually([&] { return fake.messages(channel).front().edits > 0; }));
  CHECK(svc.timeline_text(1).find("Acknowledged by alice via slack") != std::string::npos);
}

TEST_CASE("slack: a page posted before a restart is updated in place after it", "[slack]") {
  // Scenario: an alert pages alice in a Slack DM and posts in the service's
  // channel; baton stops and starts again on the same database. The chat
  // references of open incidents are loaded at start-up, so the
  // acknowledgement after the restart edits both messages; nothing is posted anew.
  test::TempDb db;
  test::FakeClock clock;
  test::FakeSlack fake;
  fake.add_user({"U0ALICE", "alice@example.com", "Alice"});
  const auto channel = fake.add_channel("payments-alerts");
  const auto yaml = config(fake, db.path(), "http", channel);
  std::string dm;
  {
    test::ServiceHarness svc(clock, yaml);
    REQUIRE(svc.call("POST", "/v2/enqueue", trigger("k-restart"), "application/json", false).status == 202);
    REQUIRE(test::eventually([&] { return fake.messages(channel).size() == 1 && !fake.dm_channel("U0ALICE").empty(); }));
    REQUIRE(test::eventually(
        [&] { return svc.timeline_text(1).find("Page to Alice via slack delivered") != std::string::npos; }));
    dm = fake.dm_channel("U0ALICE");
    REQUIRE(fake.messages(dm).size() == 1);
    svc.app->stop();
  }
  CHECK(fake.messages(dm).front().edits == 0);

  test::ServiceHarness again(clock, yaml);
  auto ack = again.call("POST", "/api/v1/incidents/1/ack");
  REQUIRE(ack.status == 200);
  REQUIRE(test::eventually([&] {
    auto m = fake.messages(dm);
    return !m.empty() && m.front().edits > 0 && !has_action(m.front().blocks_json, "baton_ack");
  }));
  REQUIRE(test::eventually([&] { return fake.messages(channel).front().edits > 0; }));
  again.app->incidents().drain();
  CHECK(fake.messages(dm).size() == 1);
  CHECK(fake.messages(channel).size() == 1);
}

TEST_CASE("slack http mode: bad signatures, stale requests and unknown users change nothing", "[slack]") {
  test::TempDb db;
  test::FakeClock clock;
  test::FakeSlack fake;
  fake.add_user({"U0ALICE", "alice@example.com", "Alice"});
  fake.add_user({"U0EVE", "eve@elsewhere.example", "Eve"});
  const auto channel = fake.add_channel("payments-alerts");
  test::ServiceHarness svc(clock, config(fake, db.path(), "http", channel));
  REQUIRE(svc.call("POST", "/v2/enqueue", trigger("k2"), "application/json", false).status == 202);
  svc.app->incidents().drain();

  const auto body = form({{"payload", button_payload("baton_ack", 1, "U0ALICE")}});
  CHECK(slack_post(svc, "/slack/interactivity", body, "wrong-secret").status == 401);
  CHECK(slack_post(svc, "/slack/interactivity", body, kSigningSecret, -301).status == 401);
  CHECK(svc.call("POST", "/slack/interactivity", body, "application/x-www-form-urlencoded", false).status == 401);
  // Eve is in the workspace but not a person in baton.
  CHECK(slack_post(svc, "/slack/interactivity", form({{"payload", button_payload("baton_ack", 1, "U0EVE")}})).status ==
        200);
  auto cmd = slack_post(svc, "/slack/commands",
                        form({{"command", "/baton"}, {"text", "incident ack 1"}, {"user_id", "U0EVE"},
                              {"channel_id", channel}, {"team_id", test::FakeSlack::kTeam}, {"response_url", ""}}));
  CHECK(cmd.status == 200);
  CHECK(cmd.body.find("not linked to a person") != std::string::npos);
  svc.app->incidents().drain();
  CHECK(svc.get_json("/api/v1/incidents/1").at("state") == "triggered");

  // url_verification is answered with the challenge.
  auto verify = slack_post(svc, "/slack/events", R"({"type":"url_verification","token":"x","challenge":"abc123"})");
  CHECK(verify.status == 200);
  CHECK(verify.body == "abc123");
}

TEST_CASE("slack slash commands: oncall, incident ack/list/status, help and usage errors", "[slack]") {
  test::TempDb db;
  test::FakeClock clock;
  test::FakeSlack fake;
  fake.add_user({"U0ALICE", "alice@example.com", "Alice"});
  fake.add_user({"U0BOB", "bob@example.com", "Bob"});
  const auto channel = fake.add_channel("payments-alerts");
  test::ServiceHarness svc(clock, config(fake, db.path(), "http", channel));
  REQUIRE(svc.call("POST", "/v2/enqueue", trigger("k3"), "application/json", false).status == 202);
  svc.app->incidents().drain();
  auto command = [&](std::string user, std::string text) { return slash_command(svc, channel, user, text); };
  CHECK(command("U0ALICE", "help").find("incident") != std::string::npos);
  CHECK(command("U0ALICE", "frobnicate").find("incident") != std::string::npos);
  CHECK(command("U0ALICE", "incident list").find("#1") != std::string::npos);
  CHECK(command("U0ALICE", "incident status 1").find("triggered") != std::string::npos);
  // bob is found through users.info -> email, not the config's slack_user_id.
  CHECK(command("U0BOB", "incident ack 1") == "Incident #1 acknowledged.");
  CHECK(svc.get_json("/api/v1/incidents/1").at("owner") == "bob");
  CHECK(command("U0BOB", "incident ack 1").find("already acknowledged") != std::string::npos);
  CHECK(command("U0ALICE", "incident new Checkout slow service:payments").find("Opened incident #2") !=
        std::string::npos);
  CHECK(command("U0ALICE", "page <@U0BOB|bob> please look at db-7").find("paging bob") != std::string::npos);
}

TEST_CASE("slack socket mode: a button press over the WebSocket acknowledges", "[slack]") {
  // Scenario: Socket Mode (no public URL): baton opens the connection with
  // apps.connections.open; an alert pages alice by DM; the fake Slack pushes
  // an `interactive` envelope for her Acknowledge press; baton acks the
  // envelope, acknowledges the incident and updates the message. A
  // refresh_requested disconnect mid-incident loses nothing: an escalation
  // press after it is handled too.
  test::TempDb db;
  test::FakeClock clock;
  test::FakeSlack fake;
  test::FakeSocketMode socket;
  fake.set_socket_url(socket.url());
  fake.add_user({"U0ALICE", "alice@example.com", "Alice"});
  fake.add_user({"U0BOB", "bob@example.com", "Bob"});
  const auto channel = fake.add_channel("payments-alerts");
  test::ServiceHarness svc(clock, config(fake, db.path(), "socket", channel));
  REQUIRE(socket.wait_for_open_connections(1, 10s));

  REQUIRE(svc.call("POST", "/v2/enqueue", trigger("k4"), "application/json", false).status == 202);
  // The button exists once the page is delivered (posted, its reference saved).
  REQUIRE(test::eventually(
      [&] { return svc.timeline_text(1).find("Page to Alice via slack delivered") != std::string::npos; }));
  socket.push_envelope("interactive", button_payload("baton_ack", 1, "U0ALICE"));
  REQUIRE(socket.wait_for_acks(1, 10s));
  REQUIRE(test::eventually([&] { return svc.get_json("/api/v1/incidents/1").at("state") == "acknowledged"; }));
  REQUIRE(test::eventually([&] {
    auto m = fake.messages(fake.dm_channel("U0ALICE"));
    return !m.empty() && m.front().edits > 0 && !has_action(m.front().blocks_json, "baton_ack");
  }));

  fake.set_socket_url(socket.url());
  socket.send_disconnect("refresh_requested");
  REQUIRE(socket.wait_for_connections(2, 10s));
  socket.push_envelope("interactive", button_payload("baton_escalate", 1, "U0ALICE"));
  REQUIRE(socket.wait_for_acks(2, 10s));
  REQUIRE(test::eventually([&] { return svc.get_json("/api/v1/incidents/1").at("owner") == "bob"; }));
  // A slash command over Socket Mode is answered in the envelope's ack.
  socket.push_envelope("slash_commands",
                       json::serialize(json::object{{"command", "/baton"}, {"text", "incident list"},
                                                    {"user_id", "U0ALICE"}, {"channel_id", channel},
                                                    {"team_id", test::FakeSlack::kTeam}, {"response_url", ""}}),
                       true);
  REQUIRE(socket.wait_for_acks(3, 10s));
  REQUIRE(socket.acks().back().payload_json);
  CHECK(socket.acks().back().payload_json->find("#1") != std::string::npos);

  // An abrupt drop (no close frame): baton reconnects and the next press counts.
  fake.set_socket_url(socket.url());
  socket.drop_connection();
  REQUIRE(socket.wait_for_connections(3, 20s));
  REQUIRE(socket.wait_for_open_connections(1, 20s));
  socket.push_envelope("interactive", button_payload("baton_resolve", 1, "U0BOB"));
  REQUIRE(socket.wait_for_acks(4, 20s));
  REQUIRE(test::eventually([&] { return svc.get_json("/api/v1/incidents/1").at("state") == "resolved"; }));
}

TEST_CASE("slack outage: the page falls through to the next contact method", "[slack]") {
  // Scenario: carol's chain is Slack at once, then the webhook after 10
  // minutes. Slack is down (503): after the dispatcher's retries the Slack
  // page fails and the webhook page goes out at once, long before 10 minutes.
  test::TempDb db;
  test::FakeClock clock;
  test::FakeSlack fake;
  test::HttpPeer hook;
  fake.add_user({"U0CAROL", "carol@example.com", "Carol"});
  fake.set_down(true);
  auto yaml = config(fake, db.path(), "http", "");
  // carol pages by Slack, then webhook; she is step 1 of her own service.
  yaml.insert(yaml.find("escalation_policies:"),
              "  carol: {name: Carol, email: carol@example.com, slack_user_id: U0CAROL, contact_chain: "
              "[{method: slack, after: 0s}, {method: webhook, after: 10m}]}\n");
  yaml.insert(yaml.find("services:"), "  carolp: {steps: [{targets: [{person: carol}], timeout: 30m}]}\n");
  yaml.insert(yaml.find("services:") + 10, "  carols: {name: Carol's, escalation_policy: carolp, integration_keys: [key-carol]}\n");
  yaml += "webhook: {url: \"" + hook.url() + "/hook\"}\n";
  test::ServiceHarness svc(clock, yaml);
  auto body = trigger("k5");
  body.replace(body.find("key-pay"), 7, "key-carol");
  REQUIRE(svc.call("POST", "/v2/enqueue", body, "application/json", false).status == 202);
  // The first attempt fails; the retry waits for the (fake) backoff to pass.
  REQUIRE(test::eventually([&] { return !fake.calls().empty(); }));
  for (int i = 0; i < 20 && hook.requests().empty(); ++i) {
    clock.advance(2s);
    std::this_thread::sleep_for(50ms);
  }
  REQUIRE(hook.wait_for_requests(1, 5s));
  REQUIRE(test::eventually([&] {
    return svc.timeline_text(1).find("Trying the next contact method for Carol now: webhook") != std::string::npos;
  }));
  CHECK(clock.now() < test::FakeClock().now() + 10min);
}

TEST_CASE("slack incident channel: opened per incident and given the timeline", "[slack]") {
  // Scenario: a service with incident_channel: true. An alert opens
  // #inc-1-checkout-errors-above-5 (topic set), and the incident's timeline
  // rows (paging, deliveries) are posted there as lines; acknowledging adds the
  // state-change line.
  test::TempDb db;
  test::FakeClock clock;
  test::FakeSlack fake;
  fake.add_user({"U0ALICE", "alice@example.com", "Alice"});
  const auto channel = fake.add_channel("payments-alerts");
  auto yaml = config(fake, db.path(), "http", channel);
  yaml.replace(yaml.find("slack_channel:"), 14, "incident_channel: true, slack_channel:");
  test::ServiceHarness svc(clock, yaml);
  REQUIRE(svc.call("POST", "/v2/enqueue", trigger("ic1"), "application/json", false).status == 202);
  std::string inc_channel;
  REQUIRE(test::eventually([&] {
    auto c = fake.channel_by_name("inc-1-checkout-errors-above-5");
    if (c) inc_channel = c->id;
    return c.has_value();
  }));
  REQUIRE(test::eventually([&] {
    for (const auto& m : fake.messages(inc_channel))
      if (m.text.find("Page to Alice via slack delivered") != std::string::npos) return true;
    return false;
  }));
  auto res = slack_post(svc, "/slack/interactivity", form({{"payload", button_payload("baton_ack", 1, "U0ALICE")}}));
  CHECK(res.status == 200);
  REQUIRE(test::eventually([&] { return fake.messages(inc_channel).size() >= 2; }));
}

TEST_CASE("slack socket mode: a slow users.info does not delay another user's ack", "[slack]") {
  // Scenario: bob is not in the config, so his /baton needs users.info, and
  // Slack takes 4 s to answer it. alice (configured) sends /baton help right
  // after: her envelope is acked first, while bob's lookup is still pending.
  // bob's command is then answered too (his lookup timed out: he is told he
  // is not linked, rather than nothing at all).
  test::TempDb db;
  test::FakeClock clock;
  test::FakeSlack fake;
  test::FakeSocketMode socket;
  fake.set_socket_url(socket.url());
  fake.add_user({"U0ALICE", "alice@example.com", "Alice"});
  fake.add_user({"U0BOB", "bob@example.com", "Bob"});
  const auto channel = fake.add_channel("payments-alerts");
  test::ServiceHarness svc(clock, config(fake, db.path(), "socket", channel));
  REQUIRE(socket.wait_for_open_connections(1, 10s));
  auto slash = [&](const std::string& user, const std::string& text) {
    return socket.push_envelope("slash_commands",
                                json::serialize(json::object{{"command", "/baton"}, {"text", text}, {"user_id", user},
                                                             {"channel_id", channel},
                                                             {"team_id", test::FakeSlack::kTeam},
                                                             {"response_url", ""}}),
                                true);
  };
  fake.delay_next("users.info", 4s);
  const auto bobs = slash("U0BOB", "incident list");
  REQUIRE(test::eventually([&] { return !fake.calls("users.info").empty(); }));
  const auto alices = slash("U0ALICE", "help");
  REQUIRE(socket.wait_for_acks(1, 10s));
  CHECK(socket.acks().front().envelope_id == alices);
  REQUIRE(socket.wait_for_acks(2, 10s));
  CHECK(socket.acks().back().envelope_id == bobs);
}

TEST_CASE("slack: a failed users.info is asked again once its cache entry expires", "[slack]") {
  // Scenario: users.info fails for bob (Slack error), so he is told he is not
  // linked, and that answer is cached: a second try makes no call. 30 s later
  // (fake clock) the entry has expired; the next try asks Slack again, finds
  // his email and acknowledges.
  test::TempDb db;
  test::FakeClock clock;
  test::FakeSlack fake;
  fake.add_user({"U0ALICE", "alice@example.com", "Alice"});
  fake.add_user({"U0BOB", "bob@example.com", "Bob"});
  const auto channel = fake.add_channel("payments-alerts");
  test::ServiceHarness svc(clock, config(fake, db.path(), "http", channel));
  REQUIRE(svc.call("POST", "/v2/enqueue", trigger("k-expire"), "application/json", false).status == 202);
  svc.app->incidents().drain();
  auto command = [&](std::string user, std::string text) { return slash_command(svc, channel, user, text); };
  fake.fail_next("users.info", "internal_error");
  CHECK(command("U0BOB", "incident ack 1").find("not linked") != std::string::npos);
  CHECK(fake.calls("users.info").size() == 1);
  CHECK(command("U0BOB", "incident ack 1").find("not linked") != std::string::npos);
  CHECK(fake.calls("users.info").size() == 1);  // the failure is cached for a while
  clock.advance(31s);
  CHECK(command("U0BOB", "incident ack 1") == "Incident #1 acknowledged.");
  CHECK(fake.calls("users.info").size() == 2);
}

namespace {
// Threads of this process with that name (/proc/self/task/*/comm).
int threads_named(const std::string& name) {
  int n = 0;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string line;
    if (std::getline(comm, line) && line == name) ++n;
  }
  return n;
}
}  // namespace

TEST_CASE("slack socket mode: slow identity lookups hold no thread, and every command is answered", "[slack]") {
  // Scenario: 12 Slack users baton does not know send /baton at once, and
  // Slack takes 1.5 s to answer each users.info. While the 12 lookups are in
  // flight no lookup thread exists (they wait as callbacks on the network
  // client); all 12 envelopes are acked with an answer ("not linked").
  test::TempDb db;
  test::FakeClock clock;
  test::FakeSlack fake;
  test::FakeSocketMode socket;
  fake.set_socket_url(socket.url());
  fake.add_user({"U0ALICE", "alice@example.com", "Alice"});
  constexpr int kUsers = 12;
  for (int i = 0; i < kUsers; ++i) {
    fake.add_user({"U0GUEST" + std::to_string(i), "guest" + std::to_string(i) + "@elsewhere.example", "Guest"});
    fake.delay_next("users.info", 1500ms);
  }
  const auto channel = fake.add_channel("payments-alerts");
  test::ServiceHarness svc(clock, config(fake, db.path(), "socket", channel));
  REQUIRE(socket.wait_for_open_connections(1, 10s));
  for (int i = 0; i < kUsers; ++i) {
    socket.push_envelope("slash_commands",
                         json::serialize(json::object{{"command", "/baton"}, {"text", "incident ack 1"},
                                                      {"user_id", "U0GUEST" + std::to_string(i)},
                                                      {"channel_id", channel}, {"team_id", test::FakeSlack::kTeam},
                                                      {"response_url", ""}}),
                         true);
  }
  REQUIRE(test::eventually([&] { return fake.calls("users.info").size() == kUsers; }));
  CHECK(threads_named("baton-lookup") == 0);
  CHECK(threads_named("baton-slack") == 1);
  REQUIRE(socket.wait_for_acks(kUsers, 20s));
  for (const auto& ack : socket.acks()) {
    REQUIRE(ack.payload_json);
    CHECK(ack.payload_json->find("not linked") != std::string::npos);
  }
}
