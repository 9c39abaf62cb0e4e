// Slack end to end: the whole service against a protocol-faithful fake Slack
// (Web API and Socket Mode), with a fake clock. HTTP mode requests are signed
// with Slack's v0 scheme.
#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "integrations/slack/channel_name.hpp"
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

/// A button press as Slack sends it: every interaction has its own trigger_id.
std::string button_payload(const std::string& action_id, std::int64_t incident, const std::string& user) {
  static std::atomic<int> presses{0};
  return json::serialize(json::object{
      {"type", "block_actions"},
      {"user", json::object{{"id", user}, {"team_id", test::FakeSlack::kTeam}}},
      {"team", json::object{{"id", test::FakeSlack::kTeam}}},
      {"container", json::object{{"type", "message"}, {"channel_id", "D0"}, {"message_ts", "1.0"}}},
      {"response_url", ""},
      {"trigger_id", std::to_string(++presses) + ".2.3"},
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
  // state-change line. Lines take their turns in the channel's pace by the
  // service's clock, so the test moves the clock along.
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
    clock.advance(100ms);
    for (const auto& m : fake.messages(inc_channel))
      if (m.text.find("Page to Alice via slack delivered") != std::string::npos) return true;
    return false;
  }));
  auto res = slack_post(svc, "/slack/interactivity", form({{"payload", button_payload("baton_ack", 1, "U0ALICE")}}));
  CHECK(res.status == 200);
  REQUIRE(test::eventually([&] {
    clock.advance(100ms);
    const auto messages = fake.messages(inc_channel);
    return std::any_of(messages.begin(), messages.end(), [](const auto& m) { return m.text == "Acknowledged by Alice"; });
  }));
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
  CHECK(threads_named("baton-commands") == 1);  // the command layer's one worker
  REQUIRE(socket.wait_for_acks(kUsers, 20s));
  for (const auto& ack : socket.acks()) {
    REQUIRE(ack.payload_json);
    CHECK(ack.payload_json->find("not linked") != std::string::npos);
  }
}

TEST_CASE("slack manifests: metadata, the Messages tab and the scopes baton needs", "[slack]") {
  // Scenario: both manifests (Socket Mode and HTTP mode) are what Slack's
  // manifest schema (api.slack.com/reference/manifests) takes and what baton
  // needs: _metadata.major_version 1; the App Home's Messages tab on and
  // read-only, where people find their page DMs again; chat:write.public, so
  // a public service channel works without inviting the bot; and the scopes
  // baton's calls use.
  for (const std::string name : {"socket-mode.yaml", "http-mode.yaml"}) {
    INFO(name);
    const auto m = YAML::LoadFile(std::string(BATON_SOURCE_DIR) + "/manifests/slack/" + name);
    REQUIRE(m["_metadata"]);
    CHECK(m["_metadata"]["major_version"].as<int>() == 1);
    REQUIRE(m["features"]["app_home"]);
    CHECK(m["features"]["app_home"]["messages_tab_enabled"].as<bool>());
    CHECK(m["features"]["app_home"]["messages_tab_read_only_enabled"].as<bool>());
    const auto scopes = m["oauth_config"]["scopes"]["bot"].as<std::vector<std::string>>();
    for (const std::string scope :
         {"chat:write", "chat:write.public", "commands", "im:write", "channels:manage", "users:read", "users:read.email"}) {
      INFO(scope);
      CHECK(std::find(scopes.begin(), scopes.end(), scope) != scopes.end());
    }
    CHECK(m["settings"]["socket_mode_enabled"].as<bool>() == (name == "socket-mode.yaml"));
  }
}

TEST_CASE("slack http mode: Slack's ssl_check is answered 200 and does nothing", "[slack]") {
  // Scenario: Slack checks the certificate of the slash command URL with a
  // form post of ssl_check=1 and a token (api.slack.com/interactivity/slash-commands).
  // Unsigned, it is answered 200 at once; signed, the signature is checked
  // first (a bad one is 401, as for any request). Nothing is done either way:
  // no Slack call, no incident. An ordinary unsigned command is still refused.
  test::TempDb db;
  test::FakeClock clock;
  test::FakeSlack fake;
  test::ServiceHarness svc(clock, config(fake, db.path(), "http", ""));
  const auto check = form({{"ssl_check", "1"}, {"token", "legacy-verification-token"}});
  auto plain = svc.call("POST", "/slack/commands", check, "application/x-www-form-urlencoded", false);
  CHECK(plain.status == 200);
  CHECK(plain.body.empty());
  CHECK(slack_post(svc, "/slack/commands", check).status == 200);
  CHECK(slack_post(svc, "/slack/commands", check, "wrong-secret").status == 401);
  const auto command = form({{"command", "/baton"}, {"text", "incident new Disk full"}, {"user_id", "U0ALICE"}});
  CHECK(svc.call("POST", "/slack/commands", command, "application/x-www-form-urlencoded", false).status == 401);
  CHECK(fake.calls().empty());
  CHECK(svc.call("GET", "/api/v1/incidents/1").status == 404);
}

TEST_CASE("slack: a service channel baton cannot post in shows on the incident's timeline", "[slack]") {
  // Scenario: the service's slack_channel exists but the bot was never
  // invited (and the app lacks chat:write.public): Slack answers
  // not_in_channel. alice still gets her DM, so the page is delivered; the
  // timeline says why the channel got nothing, not only the log.
  test::TempDb db;
  test::FakeClock clock;
  test::FakeSlack fake;
  fake.add_user({"U0ALICE", "alice@example.com", "Alice"});
  const auto channel = fake.add_channel("payments-alerts", false, false);
  test::ServiceHarness svc(clock, config(fake, db.path(), "http", channel));
  REQUIRE(svc.call("POST", "/v2/enqueue", trigger("nic1"), "application/json", false).status == 202);
  REQUIRE(test::eventually(
      [&] { return svc.timeline_text(1).find("Page to Alice via slack delivered") != std::string::npos; }));
  REQUIRE(test::eventually([&] { return svc.timeline_text(1).find("not_in_channel") != std::string::npos; }));
  const auto timeline = svc.timeline_text(1);
  CHECK(timeline.find(channel) != std::string::npos);
  CHECK(fake.messages(channel).empty());
}

TEST_CASE("slack socket mode: a command retried under a new envelope id opens one incident", "[slack]") {
  // Scenario: alice types `/baton incident new ...`; Slack delivers the
  // envelope, then (its ack counted as lost) delivers it again under a NEW
  // envelope id with retry_attempt 1. Both are acked; the second is known by
  // its content (the same trigger_id) and handled no more: one incident, not
  // two. The answer to the first says #1.
  test::TempDb db;
  test::FakeClock clock;
  test::FakeSlack fake;
  test::FakeSocketMode socket;
  fake.set_socket_url(socket.url());
  fake.add_user({"U0ALICE", "alice@example.com", "Alice"});
  test::ServiceHarness svc(clock, config(fake, db.path(), "socket", ""));
  REQUIRE(socket.wait_for_open_connections(1, 10s));
  const auto command = json::serialize(json::object{{"command", "/baton"}, {"text", "incident new Disk full on db-9"},
                                                    {"user_id", "U0ALICE"}, {"channel_id", "C0SOMEWHERE"},
                                                    {"team_id", test::FakeSlack::kTeam}, {"response_url", ""},
                                                    {"trigger_id", "4242.5151.deadbeef"}});
  const auto first = socket.push_envelope("slash_commands", command, true);
  REQUIRE(socket.wait_for_acks(1, 10s));
  const auto retry = socket.push_envelope("slash_commands", command, true, 1);
  REQUIRE(socket.wait_for_acks(2, 10s));
  CHECK(retry != first);
  const auto acks = socket.acks();
  REQUIRE(acks[0].payload_json);
  CHECK(acks[0].payload_json->find("#1") != std::string::npos);
  CHECK(acks[1].envelope_id == retry);
  // Had the retry been handled, its ack (sent after the commit) would name #2.
  CHECK_FALSE(acks[1].payload_json);
  CHECK(svc.call("GET", "/api/v1/incidents/1").status == 200);
  CHECK(svc.call("GET", "/api/v1/incidents/2").status == 404);
}

namespace {

/// Waits until Slack has seen no new call for a while (everything the last
/// clock step released has gone out); bounded.
void settle(const test::FakeSlack& fake) {
  std::size_t seen = fake.calls().size();
  int quiet = 0;
  for (int i = 0; i < 200 && quiet < 5; ++i) {
    std::this_thread::sleep_for(40ms);
    const auto now = fake.calls().size();
    quiet = now == seen ? quiet + 1 : 0;
    seen = now;
  }
}

}  // namespace

TEST_CASE("slack incident channels under load: 30 at once, quick acks, one pace per channel", "[slack]") {
  // Scenario: 30 alerts open 30 incidents of a service with incident
  // channels, and alice acknowledges each at once; once the channels are
  // there she resolves all 30 at once. With a fake clock moved a second at a
  // time (after Slack has seen everything each step released):
  // - every incident gets its channel, although conversations.create (Tier 2)
  //   lets 20 go at once and then one every 3 s: waiting for a slot baton's
  //   own pacing sets is no failed attempt (max_attempts is 2 here);
  // - in every channel, the timeline lines ("Resolved by alice via slack")
  //   and the state-change lines ("Resolved") share one pace: posts are at
  //   least a second apart by the clock (they used to keep two timers, 4
  //   posts within 1.01 s);
  // - nothing on any timeline gave up.
  test::TempDb db;
  test::FakeClock clock;
  test::FakeSlack fake;
  fake.set_clock(&clock);
  fake.add_user({"U0ALICE", "alice@example.com", "Alice"});
  const auto service_channel = fake.add_channel("payments-alerts");
  auto yaml = config(fake, db.path(), "http", service_channel);
  yaml.replace(yaml.find("slack_channel:"), 14, "incident_channel: true, slack_channel:");
  yaml.replace(yaml.find("messages_per_second_per_channel: 100"), 36, "messages_per_second_per_channel: 1");
  test::ServiceHarness svc(clock, yaml);
  constexpr int kIncidents = 30;
  for (int i = 1; i <= kIncidents; ++i)
    REQUIRE(svc.call("POST", "/v2/enqueue", trigger("load-" + std::to_string(i)), "application/json", false).status == 202);
  for (int i = 1; i <= kIncidents; ++i)
    REQUIRE(slack_post(svc, "/slack/interactivity", form({{"payload", button_payload("baton_ack", i, "U0ALICE")}})).status == 200);
  REQUIRE(test::eventually([&] {
    for (int i = 1; i <= kIncidents; ++i)
      if (svc.get_json("/api/v1/incidents/" + std::to_string(i)).at("state") != "acknowledged") return false;
    return true;
  }));

  auto channels = [&] {
    std::map<std::string, int> out;  // channel id -> incident
    for (int i = 1; i <= kIncidents; ++i)
      if (auto c = fake.channel_by_name(slack::incident_channel_name(i, "Checkout errors above 5%"))) out[c->id] = i;
    return out;
  };
  // Steps until two steps in a row release nothing more (and `done` holds).
  auto run_until_idle = [&](auto done) {
    int idle_steps = 0;
    for (int step = 0; step < 240 && idle_steps < 2; ++step) {
      settle(fake);
      const auto before = fake.calls().size();
      clock.advance(1s);
      settle(fake);
      idle_steps = done() && fake.calls().size() == before ? idle_steps + 1 : 0;
    }
  };
  run_until_idle([&] { return channels().size() == kIncidents; });
  const auto opened = channels();
  REQUIRE(opened.size() == kIncidents);
  for (int i = 1; i <= kIncidents; ++i)
    REQUIRE(slack_post(svc, "/slack/interactivity", form({{"payload", button_payload("baton_resolve", i, "U0ALICE")}})).status == 200);
  run_until_idle([&] {
    for (const auto& [channel, incident] : opened) {
      const auto messages = fake.messages(channel);
      if (std::none_of(messages.begin(), messages.end(), [](const auto& m) { return m.text == "Resolved"; })) return false;
    }
    return true;
  });
  std::map<std::string, std::vector<engine::TimePoint>> posts;
  for (const auto& call : fake.calls("chat.postMessage"))
    if (opened.contains(call.arg("channel"))) posts[call.arg("channel")].push_back(call.at);
  for (const auto& [channel, at] : posts) {
    INFO("incident #" << opened.at(channel) << " (" << at.size() << " posts)");
    CHECK(at.size() >= 2);  // timeline lines and the state change
    for (std::size_t k = 1; k < at.size(); ++k) CHECK(at[k] - at[k - 1] >= 1s);
  }
  for (int i = 1; i <= kIncidents; ++i) {
    const auto timeline = svc.timeline_text(i);
    INFO("incident #" << i << "\n" << timeline);
    CHECK(timeline.find("gave up") == std::string::npos);
    CHECK(timeline.find("Incident channel to the service via slack delivered") != std::string::npos);
  }
}
