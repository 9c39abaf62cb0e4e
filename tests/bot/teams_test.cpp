// Microsoft Teams end to end: the whole service against a protocol-faithful fake
// of the login endpoint, OpenID metadata and JWKS (RSA keys made at test
// time), the Bot Connector and Graph, with a fake clock. Inbound activities
// carry Bot Framework JWTs minted by the fake.
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <atomic>
#include <set>
#include <thread>

#include "tests/support/fake_teams.hpp"
#include "tests/support/http_peer.hpp"
#include "tests/support/service_harness.hpp"

using namespace baton;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

constexpr const char* kChannel = "19:payments@thread.tacv2";

std::string config(const test::FakeTeams& fake, const std::string& db, const std::string& extra = "") {
  auto c = fake.config();
  return R"(
server:
  listen: "127.0.0.1:0"
  public_url: "https://baton.example.com"
  api_tokens: [{name: ops, token: ")" + std::string(test::kApiToken) + R"("}]
storage: {path: ")" + db + R"(", durability: normal}
teams:
  app_id: ")" + c.app_id + R"("
  app_password: ")" + c.app_password + R"("
  tenant_id: ")" + c.tenant_id + R"("
  login_base: ")" + c.login_base + R"("
  openid_metadata_url: ")" + c.openid_metadata_url + R"("
  connector_base: ")" + fake.service_url() + R"("
  graph_base: ")" + c.graph_base + R"("
dispatch: {workers: 2, max_attempts: 2, base_backoff: 1s}
)" + extra + R"(
people:
  alice: {name: Alice, email: alice@example.com, teams_user_id: aad-alice, contact_chain: [{method: teams, after: 0s}, {method: webhook, after: 10m}]}
  bob: {name: Bob, email: bob@example.com, teams_user_id: aad-bob, contact_chain: [{method: teams, after: 0s}]}
  carol: {name: Carol, email: Carol@Example.com}
  dave: {name: Dave, email: dave@example.com}
escalation_policies:
  main: {steps: [{targets: [{person: alice}], timeout: 5m}, {targets: [{person: bob}], timeout: 5m}]}
services:
  payments: {name: Payments, escalation_policy: main, integration_keys: [key-pay], teams_channel: ")" +
         kChannel + R"("}
)";
}

std::string trigger(std::string dedup) {
  return json::serialize(json::object{
      {"routing_key", "key-pay"},
      {"event_action", "trigger"},
      {"dedup_key", dedup},
      {"payload", json::object{{"summary", "Checkout errors above 5%"}, {"source", "api-1"}, {"severity", "critical"}}}});
}

json::object base_activity(const test::FakeTeams& fake, std::string type, std::string aad, std::string conversation) {
  return json::object{
      {"type", type},
      {"id", "act-" + aad},
      {"timestamp", "2026-01-01T00:00:00.000Z"},
      {"serviceUrl", fake.service_url()},
      {"channelId", "msteams"},
      {"from", json::object{{"id", "29:" + aad}, {"aadObjectId", aad}, {"name", aad}}},
      {"conversation", json::object{{"id", conversation}, {"conversationType", "personal"},
                                    {"tenantId", test::FakeTeams::kTenantId}}},
      {"recipient", json::object{{"id", std::string("28:") + test::FakeTeams::kAppId}, {"name", "baton"}}},
      {"channelData", json::object{{"tenant", json::object{{"id", test::FakeTeams::kTenantId}}}}}};
}

std::string execute(const test::FakeTeams& fake, std::string verb, std::int64_t incident, std::string aad) {
  auto a = base_activity(fake, "invoke", aad, "a:personal-" + aad);
  a["name"] = "adaptiveCard/action";
  a["value"] = json::object{
      {"action", json::object{{"type", "Action.Execute"}, {"verb", verb}, {"data", json::object{{"incident", incident}}}}},
      {"trigger", "manual"}};
  return json::serialize(a);
}

std::string mention(const test::FakeTeams& fake, std::string text, std::string aad) {
  auto a = base_activity(fake, "message", aad, "a:personal-" + aad);
  a["text"] = "<at>baton</at> " + text;
  a["entities"] = json::array{json::object{
      {"type", "mention"},
      {"text", "<at>baton</at>"},
      {"mentioned", json::object{{"id", std::string("28:") + test::FakeTeams::kAppId}, {"name", "baton"}}}}};
  return json::serialize(a);
}

integrations::HttpResponse post_activity(test::ServiceHarness& svc, const std::string& body, const std::string& token) {
  std::vector<std::pair<std::string, std::string>> headers;
  if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
  return svc.call("POST", "/api/messages", body, "application/json", false, headers);
}

/// alice and bob install the app (personal scope): Teams tells baton their ids.
void install_for(test::ServiceHarness& svc, const test::FakeTeams& fake, std::initializer_list<std::string> aads) {
  for (const auto& aad : aads) {
    auto a = base_activity(fake, "conversationUpdate", aad, "a:personal-" + aad);
    a["membersAdded"] = json::array{json::object{{"id", std::string("28:") + test::FakeTeams::kAppId}}};
    REQUIRE(post_activity(svc, json::serialize(a), fake.mint_token()).status == 200);
  }
}

/// The same service with its OpenID metadata on the fake's holdable listener.
std::string held_keys_config(const test::FakeTeams& fake, const std::string& db) {
  auto yaml = config(fake, db);
  const auto metadata = fake.config().openid_metadata_url;
  yaml.replace(yaml.find(metadata), metadata.size(), fake.held_metadata_url());
  return yaml;
}

/// Roster requests (GET .../members/{user}) the connector has received.
std::size_t roster_calls(const test::FakeTeams& fake) {
  std::size_t n = 0;
  for (const auto& c : fake.connector_calls())
    if (c.method == "GET" && c.path.find("/members/") != std::string::npos) ++n;
  return n;
}

bool card_has_verb(const std::string& json_text, std::string_view verb) {
  return json_text.find("\"verb\":\"" + std::string(verb) + "\"") != std::string::npos;
}

}  // namespace

TEST_CASE("teams: card in the channel and the owner's chat -> Action.Execute ack -> card refreshed", "[teams]") {
  // Scenario: an alert posts an Adaptive Card as a new thread in the service's
  // channel and in a 1:1 chat with alice (step 1). alice presses Acknowledge
  // (Action.Execute, a signed invoke): the response carries the refreshed card
  // without the Acknowledge action, the incident is acknowledged by alice via
  // teams, the escalation stops (bob is never paged), and the channel card is
  // updated in place.
  test::TempDb db;
  test::FakeClock clock;
  test::FakeTeams fake(clock);
  fake.add_channel(kChannel);
  test::ServiceHarness svc(clock, config(fake, db.path()));
  install_for(svc, fake, {"aad-alice", "aad-bob"});

  REQUIRE(svc.call("POST", "/v2/enqueue", trigger("t1"), "application/json", false).status == 202);
  const bool posted = test::eventually([&] { return fake.activities().size() >= 2; });
  INFO(svc.timeline_text(1));
  REQUIRE(posted);
  bool personal = false, channel = false;
  for (const auto& c : fake.conversations()) {
    if (!c.is_group && c.member_id == "29:aad-alice") personal = true;
    if (c.is_group && c.channel_id == kChannel) channel = true;
  }
  CHECK(personal);
  CHECK(channel);
  CHECK(card_has_verb(fake.activities().front().json, "baton.ack"));

  auto res = post_activity(svc, execute(fake, "baton.ack", 1, "aad-alice"), fake.mint_token());
  REQUIRE(res.status == 200);
  CHECK(res.body.find("application/vnd.microsoft.card.adaptive") != std::string::npos);
  CHECK_FALSE(card_has_verb(res.body, "baton.ack"));
  CHECK(card_has_verb(res.body, "baton.resolve"));
  auto inc = svc.get_json("/api/v1/incidents/1");
  CHECK(inc.at("state") == "acknowledged");
  CHECK(svc.timeline_text(1).find("Acknowledged by alice via teams") != std::string::npos);
  REQUIRE(test::eventually([&] {
    for (const auto& a : fake.activities())
      if (a.edits > 0) return true;
    return false;
  }));
  clock.advance(1h);
  svc.app->incidents().poke();
  svc.app->incidents().drain();
  for (const auto& c : fake.conversations()) CHECK(c.member_id != "29:aad-bob");
}

TEST_CASE("teams: Action.Submit fallback and @mention commands", "[teams]") {
  // Scenario: a client without Universal Actions sends Action.Submit (a
  // message whose value holds the verb); @mention commands ack and list; an
  // unknown user is refused and nothing changes.
  test::TempDb db;
  test::FakeClock clock;
  test::FakeTeams fake(clock);
  fake.add_channel(kChannel);
  test::ServiceHarness svc(clock, config(fake, db.path()));
  install_for(svc, fake, {"aad-alice", "aad-bob"});
  REQUIRE(svc.call("POST", "/v2/enqueue", trigger("t2"), "application/json", false).status == 202);
  REQUIRE(svc.call("POST", "/v2/enqueue", trigger("t3"), "application/json", false).status == 202);
  svc.app->incidents().drain();

  auto submit = base_activity(fake, "message", "aad-alice", "a:personal-aad-alice");
  submit["value"] = json::object{{"verb", "baton.ack"}, {"incident", 1}};
  CHECK(post_activity(svc, json::serialize(submit), fake.mint_token()).status == 200);
  REQUIRE(test::eventually([&] { return svc.get_json("/api/v1/incidents/1").at("state") == "acknowledged"; }));

  auto stranger = execute(fake, "baton.resolve", 2, "aad-mallory");
  auto refused = post_activity(svc, stranger, fake.mint_token());
  CHECK(refused.body.find("not linked") != std::string::npos);
  CHECK(post_activity(svc, mention(fake, "ack 2", "aad-mallory"), fake.mint_token()).status == 200);

  CHECK(post_activity(svc, mention(fake, "ack 2", "aad-bob"), fake.mint_token()).status == 200);
  REQUIRE(test::eventually([&] { return svc.get_json("/api/v1/incidents/2").at("state") == "acknowledged"; }));
  CHECK(svc.get_json("/api/v1/incidents/2").at("owner") == "bob");
  // A command typed in alice's 1:1 chat (the one baton opened for her page)
  // is answered in that chat.
  std::string chat;
  REQUIRE(test::eventually([&] {
    for (const auto& c : fake.conversations())
      if (!c.is_group && c.member_id == "29:aad-alice") chat = c.id;
    return !chat.empty();
  }));
  auto list = json::parse(mention(fake, "incident list", "aad-alice")).as_object();
  list["conversation"].as_object()["id"] = chat;
  CHECK(post_activity(svc, json::serialize(list), fake.mint_token()).status == 200);
  REQUIRE(test::eventually([&] {
    for (const auto& a : fake.activities(chat))
      if (a.json.find("Open incidents") != std::string::npos) return true;
    return false;
  }));
}

TEST_CASE("teams: requests without a valid Bot Framework JWT get 401 and change nothing", "[teams]") {
  test::TempDb db;
  test::FakeClock clock;
  test::FakeTeams fake(clock);
  fake.add_channel(kChannel);
  test::ServiceHarness svc(clock, config(fake, db.path()));
  REQUIRE(svc.call("POST", "/v2/enqueue", trigger("t4"), "application/json", false).status == 202);
  svc.app->incidents().drain();
  const auto body = execute(fake, "baton.ack", 1, "aad-alice");
  CHECK(post_activity(svc, body, "").status == 401);
  test::JwtOverrides wrong_aud;
  wrong_aud.aud = "someone-else";
  CHECK(post_activity(svc, body, fake.mint_token(wrong_aud)).status == 401);
  test::JwtOverrides none;
  none.alg = "none";
  CHECK(post_activity(svc, body, fake.mint_token(none)).status == 401);
  test::JwtOverrides expired;
  expired.exp = engine::to_ms(clock.now()) / 1000 - 600;
  CHECK(post_activity(svc, body, fake.mint_token(expired)).status == 401);
  test::JwtOverrides other_service;
  other_service.service_url = "https://evil.example.com/";
  CHECK(post_activity(svc, body, fake.mint_token(other_service)).status == 401);
  CHECK(svc.get_json("/api/v1/incidents/1").at("state") == "triggered");
}

TEST_CASE("teams: a Teams outage falls through to the next contact method", "[teams]") {
  // Scenario: the Bot Connector answers 502 to everything; after the
  // dispatcher's retries alice's Teams page fails and her webhook page goes
  // out at once instead of at 10 minutes.
  test::TempDb db;
  test::FakeClock clock;
  test::FakeTeams fake(clock);
  test::HttpPeer hook;
  for (int i = 0; i < 20; ++i) fake.fail_next("/v3/conversations", 502);
  test::ServiceHarness svc(clock, config(fake, db.path(), "webhook: {url: \"" + hook.url() + "/hook\"}\n"));
  install_for(svc, fake, {"aad-alice"});
  REQUIRE(svc.call("POST", "/v2/enqueue", trigger("t5"), "application/json", false).status == 202);
  for (int i = 0; i < 20 && hook.requests().empty(); ++i) {
    clock.advance(2s);
    std::this_thread::sleep_for(50ms);
  }
  REQUIRE(hook.wait_for_requests(1, 5s));
  REQUIRE(test::eventually([&] {
    return svc.timeline_text(1).find("Trying the next contact method for Alice now: webhook") != std::string::npos;
  }));
}

TEST_CASE("teams: identity by email through the roster, and the teams baton joins are remembered", "[teams]") {
  // Scenario: carol is configured by email only. Her Action.Execute press is
  // mapped through the conversation roster (GET members) to her email, and
  // acknowledges as carol. Adding baton to a team and creating a channel are
  // remembered and listed for admins at GET /api/v1/teams/channels.
  test::TempDb db;
  test::FakeClock clock;
  test::FakeTeams fake(clock);
  fake.add_channel(kChannel);
  fake.add_member("29:aad-carol", "aad-carol", "carol@example.com", "Carol");
  test::ServiceHarness svc(clock, config(fake, db.path()));
  REQUIRE(svc.call("POST", "/v2/enqueue", trigger("t6"), "application/json", false).status == 202);
  svc.app->incidents().drain();
  auto res = post_activity(svc, execute(fake, "baton.ack", 1, "aad-carol"), fake.mint_token());
  REQUIRE(res.status == 200);
  CHECK(svc.get_json("/api/v1/incidents/1").at("state") == "acknowledged");
  CHECK(svc.timeline_text(1).find("Acknowledged by carol via teams") != std::string::npos);

  auto added = base_activity(fake, "conversationUpdate", "aad-alice", "19:team-general@thread.tacv2");
  added["membersAdded"] = json::array{json::object{{"id", std::string("28:") + test::FakeTeams::kAppId}}};
  added["channelData"].as_object()["team"] = json::object{{"id", "19:team-general@thread.tacv2"}, {"name", "SRE"}};
  REQUIRE(post_activity(svc, json::serialize(added), fake.mint_token()).status == 200);
  auto created = base_activity(fake, "conversationUpdate", "aad-alice", "19:team-general@thread.tacv2");
  created["channelData"] = json::object{{"eventType", "channelCreated"},
                                        {"team", json::object{{"id", "19:team-general@thread.tacv2"}}},
                                        {"channel", json::object{{"id", "19:ops@thread.tacv2"}, {"name", "ops"}}},
                                        {"tenant", json::object{{"id", test::FakeTeams::kTenantId}}}};
  REQUIRE(post_activity(svc, json::serialize(created), fake.mint_token()).status == 200);
  auto channels = svc.get_json("/api/v1/teams/channels").at("channels").as_array();
  REQUIRE(channels.size() == 2);
  std::set<std::string> ids;
  for (const auto& c : channels) ids.insert(std::string(c.at("channel").as_string()));
  CHECK(ids == std::set<std::string>{"19:team-general@thread.tacv2", "19:ops@thread.tacv2"});
  // Without a token the list is not shown.
  CHECK(svc.call("GET", "/api/v1/teams/channels", "", "", false).status == 401);
}

TEST_CASE("teams: forged tokens waiting for hanging signing keys hold no HTTP thread", "[teams]") {
  // Scenario: no signing keys are cached yet and Microsoft's OpenID endpoint
  // hangs. Twenty activities with forged signatures arrive at once (more than
  // the server has threads). While the key fetch still hangs, /healthz and a
  // /v2/enqueue are answered, the forged requests are all still waiting, and
  // only ONE metadata request was made. When the endpoint answers, every
  // forged request gets 401 without a second fetch, and a genuine activity
  // passes from the cache.
  test::TempDb db;
  test::FakeClock clock;
  test::FakeTeams fake(clock);
  fake.add_channel(kChannel);
  fake.hold_keys();
  test::ServiceHarness svc(clock, held_keys_config(fake, db.path()));
  std::atomic<int> answered{0};
  std::vector<int> statuses(20, 0);
  std::vector<std::jthread> senders;
  struct Release {
    test::FakeTeams& fake;
    ~Release() { fake.release_keys(); }  // before the senders are joined, even when a check fails
  } release{fake};

  test::JwtOverrides forged;
  forged.bad_signature = true;
  const auto body = execute(fake, "baton.ack", 1, "aad-alice");
  for (std::size_t i = 0; i < statuses.size(); ++i) {
    senders.emplace_back([&, i, body, token = fake.mint_token(forged)] {
      integrations::HttpClient client;  // one per thread
      integrations::HttpRequest req;
      req.method = "POST";
      req.url = svc.base + "/api/messages";
      req.body = body;
      req.headers = {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + token}};
      req.timeout = std::chrono::seconds(60);
      if (auto res = client.request(req)) statuses[i] = res->status;
      ++answered;
    });
  }
  REQUIRE(test::eventually([&] { return fake.metadata_requests() == 1; }));

  CHECK(svc.call("GET", "/healthz", "", "", false).status == 200);
  CHECK(svc.call("POST", "/v2/enqueue", trigger("t9"), "application/json", false).status == 202);
  CHECK(answered == 0);  // the key fetch still hangs
  CHECK(fake.metadata_requests() == 1);

  fake.release_keys();
  for (auto& t : senders) t.join();
  for (int status : statuses) CHECK(status == 401);
  CHECK(fake.metadata_requests() == 1);
  CHECK(fake.jwks_requests() == 1);
  install_for(svc, fake, {"aad-alice"});
  CHECK(fake.jwks_requests() == 1);
}

TEST_CASE("teams: a failed roster lookup is asked again once its cache entry expires", "[teams]") {
  // Scenario: carol is configured by email only. Her first Acknowledge press
  // meets a roster outage (502): she is told her account is not linked, and
  // nothing changes. A second press within 30 s is answered from the cache,
  // without a roster call (a failed look-up is cached for 30 s, as in every
  // channel: bot/identity.hpp). Then the roster is asked again, answers, and
  // her press acknowledges the incident as carol.
  test::TempDb db;
  test::FakeClock clock;
  test::FakeTeams fake(clock);
  fake.add_channel(kChannel);
  fake.add_member("29:aad-carol", "aad-carol", "carol@example.com", "Carol");
  test::ServiceHarness svc(clock, config(fake, db.path()));
  REQUIRE(svc.call("POST", "/v2/enqueue", trigger("t8"), "application/json", false).status == 202);
  svc.app->incidents().drain();

  fake.fail_next("/v3/conversations/a:personal-aad-carol/members/", 502);
  auto first = post_activity(svc, execute(fake, "baton.ack", 1, "aad-carol"), fake.mint_token());
  CHECK(first.status == 200);
  CHECK(first.body.find("not linked") != std::string::npos);
  CHECK(roster_calls(fake) == 1);

  clock.advance(30s - 1s);
  auto second = post_activity(svc, execute(fake, "baton.ack", 1, "aad-carol"), fake.mint_token());
  CHECK(second.body.find("not linked") != std::string::npos);
  CHECK(roster_calls(fake) == 1);
  CHECK(svc.get_json("/api/v1/incidents/1").at("state") == "triggered");

  clock.advance(1s);
  auto third = post_activity(svc, execute(fake, "baton.ack", 1, "aad-carol"), fake.mint_token());
  CHECK(third.status == 200);
  CHECK(roster_calls(fake) == 2);
  CHECK(svc.get_json("/api/v1/incidents/1").at("state") == "acknowledged");
  CHECK(svc.timeline_text(1).find("Acknowledged by carol via teams") != std::string::npos);
}

TEST_CASE("teams: a slow roster lookup holds up no other user's press", "[teams]") {
  // Scenario: carol and dave are configured by email only. The roster takes
  // 5 s to answer for carol. While her press waits for it (as a callback, on
  // no thread), dave's press is looked up, acknowledges incident 2 as dave
  // and is answered; carol's is still waiting. Then hers is answered and
  // acknowledges incident 1 as carol.
  test::TempDb db;
  test::FakeClock clock;
  test::FakeTeams fake(clock);
  fake.add_channel(kChannel);
  fake.add_member("29:aad-carol", "aad-carol", "carol@example.com", "Carol");
  fake.add_member("29:aad-dave", "aad-dave", "dave@example.com", "Dave");
  test::ServiceHarness svc(clock, config(fake, db.path()));
  REQUIRE(svc.call("POST", "/v2/enqueue", trigger("t10"), "application/json", false).status == 202);
  REQUIRE(svc.call("POST", "/v2/enqueue", trigger("t11"), "application/json", false).status == 202);
  svc.app->incidents().drain();
  install_for(svc, fake, {"aad-alice"});  // the signing keys are cached from here on
  fake.set_delay("/teams/v3/conversations/a:personal-aad-carol/members/", 5s);

  std::atomic<bool> carol_answered{false};
  int carol_status = 0;
  std::jthread carol([&, body = execute(fake, "baton.ack", 1, "aad-carol"), token = fake.mint_token()] {
    integrations::HttpClient client;  // one per thread
    integrations::HttpRequest req;
    req.method = "POST";
    req.url = svc.base + "/api/messages";
    req.body = body;
    req.headers = {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + token}};
    req.timeout = std::chrono::seconds(60);
    if (auto res = client.request(req)) carol_status = res->status;
    carol_answered = true;
  });
  REQUIRE(test::eventually([&] { return roster_calls(fake) == 1; }));  // carol's lookup is at the roster

  auto dave = post_activity(svc, execute(fake, "baton.ack", 2, "aad-dave"), fake.mint_token());
  CHECK(dave.status == 200);
  CHECK(svc.get_json("/api/v1/incidents/2").at("state") == "acknowledged");
  CHECK(svc.timeline_text(2).find("Acknowledged by dave via teams") != std::string::npos);
  CHECK_FALSE(carol_answered);  // her lookup still waits: it held up nobody

  carol.join();
  CHECK(carol_status == 200);
  CHECK(svc.get_json("/api/v1/incidents/1").at("state") == "acknowledged");
  CHECK(svc.timeline_text(1).find("Acknowledged by carol via teams") != std::string::npos);
  CHECK(roster_calls(fake) == 2);
}

namespace {

/// config() with the teams section for local development: no app id or
/// password, activities without JWTs, the connector on loopback. The tenant
/// stays, as the fake (like Teams) wants it for 1:1 chats; the Playground test
/// goes without. The login endpoint is still the fake's, so any token request
/// would show.
std::string unauthenticated_config(const test::FakeTeams& fake, const std::string& db) {
  auto yaml = config(fake, db);
  const auto from = yaml.find("teams:\n");
  const auto to = yaml.find("dispatch:");
  return yaml.replace(from, to - from,
                      "teams:\n  allow_unauthenticated: true\n  tenant_id: \"" + std::string(test::FakeTeams::kTenantId) +
                          "\"\n  login_base: \"" + fake.config().login_base + "\"\n  connector_base: \"" +
                          fake.service_url() + "\"\n");
}

/// POSTs the bot made to `conversation`'s activities (replies included).
std::size_t posts_to(const test::FakeTeams& fake, std::string_view conversation) {
  std::size_t n = 0;
  const std::string prefix = "/v3/conversations/" + std::string(conversation) + "/activities";
  for (const auto& c : fake.connector_calls())
    if (c.method == "POST" && c.path.starts_with(prefix)) ++n;
  return n;
}

}  // namespace

TEST_CASE("teams: allow_unauthenticated needs no app credentials and never asks Entra", "[teams]") {
  // Scenario: local development as with Microsoft 365 Agents Playground: no
  // app id or password; activities carry no JWT; the connector is on
  // loopback and has no token endpoint. "help" is answered, a page reaches
  // alice's chat and the service channel, and not one token is requested: no
  // connector call carries one. An activity naming a non-loopback serviceUrl
  // is refused, so nobody can point baton's replies elsewhere.
  test::TempDb db;
  test::FakeClock clock;
  test::FakeTeams fake(clock);
  fake.set_require_auth(false);
  fake.add_channel(kChannel);
  test::ServiceHarness svc(clock, unauthenticated_config(fake, db.path()));
  install_for(svc, fake, {"aad-alice"});
  const std::string chat = "a:1aad-alice-personal";

  REQUIRE(svc.call("POST", "/v2/enqueue", trigger("u1"), "application/json", false).status == 202);
  const bool paged = test::eventually([&] {
    bool thread = false;
    for (const auto& c : fake.conversations()) thread = thread || (c.is_group && c.channel_id == kChannel);
    return thread && fake.activities(chat).size() == 1;
  });
  INFO(svc.timeline_text(1));
  CHECK(paged);

  auto help = base_activity(fake, "message", "aad-alice", chat);
  help["text"] = "help";
  CHECK(post_activity(svc, json::serialize(help), "").status == 200);
  REQUIRE(test::eventually([&] { return fake.activities(chat).size() == 2; }));
  CHECK(fake.activities(chat).back().json.find("baton commands") != std::string::npos);
  CHECK(fake.token_requests().empty());
  for (const auto& c : fake.connector_calls()) CHECK(c.token.empty());

  auto forged = json::parse(json::serialize(help)).as_object();
  forged["serviceUrl"] = "https://evil.example.com/";
  CHECK(post_activity(svc, json::serialize(forged), "").status == 401);
}

TEST_CASE("teams: a 2xx without an id is a delivery: one post per page, then updates post anew", "[teams]") {
  // Scenario: the connector answers a post of text plus card with 202 and no
  // body (Microsoft 365 Agents Playground splits it into two messages). The
  // page is posted to alice's chat exactly once, however long the dispatcher
  // would go on retrying, and nothing "gave up" on the timeline. When alice
  // acknowledges, her chat gets the refreshed card as a new message (there is
  // no id to update in place), and the channel thread's card is updated in
  // place with the card alone (the Playground refuses to update a message
  // into text plus card).
  test::TempDb db;
  test::FakeClock clock;
  test::FakeTeams fake(clock);
  fake.set_split_text_and_cards(true);
  fake.add_channel(kChannel);
  test::ServiceHarness svc(clock, config(fake, db.path()));
  install_for(svc, fake, {"aad-alice", "aad-bob"});
  const std::string chat = "a:1aad-alice-personal";

  REQUIRE(svc.call("POST", "/v2/enqueue", trigger("p1"), "application/json", false).status == 202);
  REQUIRE(test::eventually([&] { return posts_to(fake, chat) >= 1; }));
  for (int i = 0; i < 10; ++i) {  // well past every retry the dispatcher would make
    clock.advance(2s);
    svc.app->incidents().poke();
    std::this_thread::sleep_for(50ms);
  }
  svc.app->incidents().drain();
  CHECK(posts_to(fake, chat) == 1);
  CHECK(fake.activities(chat).size() == 2);  // the text and the card
  CHECK(svc.timeline_text(1).find("gave up") == std::string::npos);

  REQUIRE(post_activity(svc, execute(fake, "baton.ack", 1, "aad-alice"), fake.mint_token()).status == 200);
  REQUIRE(test::eventually([&] { return fake.activities(chat).size() == 3; }));
  const auto refreshed = fake.activities(chat).back().json;
  CHECK_FALSE(card_has_verb(refreshed, "baton.ack"));
  CHECK(card_has_verb(refreshed, "baton.resolve"));
  REQUIRE(test::eventually([&] {
    for (const auto& a : fake.activities())
      if (a.conversation_id.starts_with(kChannel) && a.edits > 0) return !card_has_verb(a.json, "baton.ack");
    return false;
  }));
  INFO(svc.timeline_text(1));
  CHECK(svc.timeline_text(1).find("gave up") == std::string::npos);
}
