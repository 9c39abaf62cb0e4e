#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include <algorithm>
#include <vector>

#include "integrations/teams/connector.hpp"
#include "integrations/teams/graph.hpp"
#include "tests/support/fake_clock.hpp"
#include "tests/support/fake_teams.hpp"
#include "tests/support/http_peer.hpp"

using namespace baton;
using namespace baton::teams;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

constexpr const char* kChannel = "19:incidents@thread.tacv2";
constexpr const char* kUser = "29:1abcUser";
constexpr const char* kCard = R"({"type":"message","text":"INC-42 is paged to you"})";

struct Fixture {
  test::AsyncNet net;  // first: the client outlives everything that holds it
  test::FakeClock clock;
  test::FakeTeams fake{clock};
  std::shared_ptr<TokenProvider> tokens = std::make_shared<TokenProvider>(fake.config(), net.client(), clock);
  BotConnector connector{fake.config(), tokens, net.client()};
  std::string svc = fake.service_url();
};


std::string at(const json::value& v, std::initializer_list<std::string_view> path) {
  const json::value* cur = &v;
  for (auto key : path) {
    if (!cur->is_object() || !cur->as_object().contains(key)) return "<absent>";
    cur = &cur->as_object().at(key);
  }
  return cur->is_string() ? std::string(cur->as_string()) : json::serialize(*cur);
}

integrations::HttpResponse answer(int status, std::string body, integrations::HeaderList headers = {}) {
  return integrations::HttpResponse{status, std::move(headers), std::move(body)};
}

}  // namespace

// ---------------------------------------------------------------- error table

// Every status named in the one table maps to its kind; other 4xx are
// permanent, other 5xx transient. Token endpoint codes map separately.
TEST_CASE("teams: the one status table", "[teams][connector]") {
  CHECK(teams_status_kind(429) == ErrorKind::rate_limited);
  for (int s : {408, 412, 500, 502, 503, 504, 599}) {
    INFO(s);
    CHECK(teams_status_kind(s) == ErrorKind::transient);
  }
  CHECK(teams_status_kind(401) == ErrorKind::auth_revoked);
  CHECK(teams_status_kind(403) == ErrorKind::auth_revoked);
  CHECK(teams_status_kind(404) == ErrorKind::not_found);
  CHECK(teams_status_kind(409) == ErrorKind::conflict);
  for (int s : {400, 405, 413, 415, 422}) {
    INFO(s);
    CHECK(teams_status_kind(s) == ErrorKind::permanent);
  }
  CHECK(aad_error_kind("invalid_client") == ErrorKind::auth_revoked);
  CHECK(aad_error_kind("unauthorized_client") == ErrorKind::auth_revoked);
  CHECK(aad_error_kind("temporarily_unavailable") == ErrorKind::transient);
  CHECK(aad_error_kind("invalid_scope") == ErrorKind::permanent);
}

// classify_teams names the operation, status and Teams' error code, and reads
// Retry-After on 429.
TEST_CASE("teams: classify_teams", "[teams][connector]") {
  CHECK(classify_teams("send", answer(201, R"({"id":"1"})")));
  auto throttled = classify_teams("send", answer(429, R"({"error":{"code":"Throttled","message":"slow down"}})",
                                                  {{"Retry-After", "3"}}));
  REQUIRE_FALSE(throttled);
  CHECK(throttled.error().kind == ErrorKind::rate_limited);
  CHECK(throttled.error().retry_after == 3000ms);
  CHECK(throttled.error().message == "teams send: HTTP 429 Throttled: slow down");
  auto html = classify_teams("update", answer(502, "<html>Bad Gateway</html>"));
  REQUIRE_FALSE(html);
  CHECK(html.error().kind == ErrorKind::transient);
  CHECK_THAT(html.error().message, Catch::Contains("HTTP 502"));
}

// ---------------------------------------------------------------- tokens

// A token is fetched once per scope with the client-credentials form, then
// served from the cache until 5 minutes before it expires.
TEST_CASE("teams tokens: cached per scope until five minutes before expiry", "[teams][tokens]") {
  Fixture f;
  auto bot = f.tokens->bot_token();
  REQUIRE(bot);
  CHECK(f.tokens->bot_token().value() == *bot);
  auto graph = f.tokens->graph_token();
  REQUIRE(graph);
  CHECK(*graph != *bot);
  auto requests = f.fake.token_requests();
  REQUIRE(requests.size() == 2);
  CHECK(requests[0].tenant == test::FakeTeams::kTenantId);
  CHECK(requests[0].grant_type == "client_credentials");
  CHECK(requests[0].client_id == test::FakeTeams::kAppId);
  CHECK(requests[0].scope == "https://api.botframework.com/.default");
  CHECK(requests[1].scope == "https://graph.microsoft.com/.default");

  f.clock.advance(55min - 1ms);  // expires_in 3600: refreshed from 55 min on
  CHECK(f.tokens->bot_token().value() == *bot);
  CHECK(f.fake.token_requests().size() == 2);
  f.clock.advance(1ms);
  auto fresh = f.tokens->bot_token();
  REQUIRE(fresh);
  CHECK(*fresh != *bot);
  CHECK(f.fake.token_requests().size() == 3);
  CHECK(f.tokens->bot_token().value() == *fresh);
  CHECK(f.fake.token_requests().size() == 3);
}

// A token that lives less than the refresh margin is used but not cached;
// invalidate() forgets the cache.
TEST_CASE("teams tokens: short-lived tokens and invalidate", "[teams][tokens]") {
  Fixture f;
  f.fake.set_token_lifetime(200s);
  REQUIRE(f.tokens->bot_token());
  REQUIRE(f.tokens->bot_token());
  CHECK(f.fake.token_requests().size() == 2);
  f.fake.set_token_lifetime(3600s);
  REQUIRE(f.tokens->bot_token());
  REQUIRE(f.tokens->bot_token());
  CHECK(f.fake.token_requests().size() == 3);
  f.tokens->invalidate();
  REQUIRE(f.tokens->bot_token());
  CHECK(f.fake.token_requests().size() == 4);
}

// A bad secret (invalid_client) or an unknown app is auth_revoked; a token
// endpoint outage is transient; no tenant means the botframework.com authority.
TEST_CASE("teams tokens: endpoint errors and the multi-tenant authority", "[teams][tokens]") {
  test::AsyncNet net;
  test::FakeClock clock;
  test::FakeTeams fake{clock};
  auto bad_secret = fake.config();
  bad_secret.app_password = "wrong";
  auto r = TokenProvider(bad_secret, net.client(), clock).bot_token();
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == ErrorKind::auth_revoked);
  CHECK_THAT(r.error().message, Catch::Contains("invalid_client"));

  auto bad_app = fake.config();
  bad_app.app_id = "not-our-app";
  r = TokenProvider(bad_app, net.client(), clock).bot_token();
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == ErrorKind::auth_revoked);

  fake.fail_next("/" + std::string(test::FakeTeams::kTenantId) + "/oauth2", 503);
  r = TokenProvider(fake.config(), net.client(), clock).bot_token();
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == ErrorKind::transient);

  auto multi = fake.config();
  multi.tenant_id.clear();
  REQUIRE(TokenProvider(multi, net.client(), clock).bot_token());
  CHECK(fake.token_requests().back().tenant == "botframework.com");
}

// ---------------------------------------------------------------- connector

// A new channel thread: POST /v3/conversations with isGroup, the channel and
// tenant in channelData and the first activity; the answer's thread id and
// activity id come back.
TEST_CASE("teams connector: create_channel_thread request shape", "[teams][connector]") {
  Fixture f;
  f.fake.add_channel(kChannel);
  auto ref = f.connector.create_channel_thread(f.svc, kChannel, kCard);
  REQUIRE(ref);
  CHECK(ref->service_url == f.svc);
  CHECK(ref->conversation_id == std::string(kChannel) + ";messageid=" + ref->activity_id);
  CHECK_FALSE(ref->activity_id.empty());

  auto calls = f.fake.connector_calls();
  REQUIRE(calls.size() == 1);
  CHECK(calls[0].method == "POST");
  CHECK(calls[0].path == "/v3/conversations");
  CHECK(calls[0].token == f.tokens->bot_token().value());
  const json::value body = json::parse(calls[0].body);
  CHECK(at(body, {"isGroup"}) == "true");
  CHECK(at(body, {"channelData", "channel", "id"}) == kChannel);
  CHECK(at(body, {"channelData", "tenant", "id"}) == test::FakeTeams::kTenantId);
  CHECK(at(body, {"activity", "text"}) == "INC-42 is paged to you");
  CHECK(f.fake.activities(ref->conversation_id).size() == 1);

  // A channel the bot is not in, and an activity that is not JSON.
  auto missing = f.connector.create_channel_thread(f.svc, "19:nowhere@thread.tacv2", kCard);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().kind == ErrorKind::not_found);
  auto garbled = f.connector.create_channel_thread(f.svc, kChannel, "not json");
  REQUIRE_FALSE(garbled);
  CHECK(garbled.error().kind == ErrorKind::invalid_request);
  CHECK(f.fake.connector_calls().size() == 2);
}

// A 1:1 chat: the bot's 28: id, one 29: member, the tenant, isGroup false; the
// same user gives the same conversation.
TEST_CASE("teams connector: create_personal request shape", "[teams][connector]") {
  Fixture f;
  auto ref = f.connector.create_personal(f.svc, kUser);
  REQUIRE(ref);
  CHECK(ref->conversation_id.starts_with("a:"));
  CHECK(ref->activity_id.empty());
  const json::value body = json::parse(f.fake.connector_calls().at(0).body);
  CHECK(at(body, {"isGroup"}) == "false");
  CHECK(at(body, {"bot", "id"}) == std::string("28:") + test::FakeTeams::kAppId);
  CHECK(json::serialize(body.at("members")) == R"([{"id":"29:1abcUser"}])");
  CHECK(at(body, {"channelData", "tenant", "id"}) == test::FakeTeams::kTenantId);
  CHECK(f.connector.create_personal(f.svc, kUser).value().conversation_id == ref->conversation_id);

  auto bad = f.connector.create_personal(f.svc, "not-an-mri");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().kind == ErrorKind::permanent);
}

// send, reply and update: the ids are percent-encoded in the path, the trailing
// slash of the service URL normalised, replyToId and id filled in.
TEST_CASE("teams connector: send, reply, update", "[teams][connector]") {
  Fixture f;
  const auto chat = f.connector.create_personal(f.svc, kUser).value().conversation_id;
  auto id = f.connector.send(f.svc, chat, kCard);
  REQUIRE(id);
  auto calls = f.fake.connector_calls();
  CHECK(calls.back().path == "/v3/conversations/" + chat + "/activities");
  CHECK(calls.back().raw_target == "/teams/v3/conversations/a%3A1" + std::string(kUser).substr(3) + "-personal/activities");

  auto reply = f.connector.reply(f.svc.substr(0, f.svc.size() - 1), chat, "1795480302019", kCard);
  REQUIRE(reply);
  CHECK(*reply != *id);
  calls = f.fake.connector_calls();
  CHECK(calls.back().method == "POST");
  CHECK(calls.back().path == "/v3/conversations/" + chat + "/activities/1795480302019");
  CHECK(at(json::parse(calls.back().body), {"replyToId"}) == "1795480302019");
  CHECK(f.fake.activity(chat, *reply).value().reply_to_id == "1795480302019");

  REQUIRE(f.connector.update(f.svc, chat, *id, R"({"type":"message","text":"acknowledged by Alice"})"));
  calls = f.fake.connector_calls();
  CHECK(calls.back().method == "PUT");
  CHECK(calls.back().path == "/v3/conversations/" + chat + "/activities/" + *id);
  auto updated = f.fake.activity(chat, *id).value();
  CHECK(updated.edits == 1);
  CHECK(at(json::parse(updated.json), {"text"}) == "acknowledged by Alice");
  CHECK(at(json::parse(updated.json), {"id"}) == *id);

  // Channel threads take the ";messageid=" form in the path, encoded.
  f.fake.add_channel(kChannel);
  REQUIRE(f.connector.send(f.svc, std::string(kChannel) + ";messageid=1", kCard));
  CHECK(f.fake.connector_calls().back().raw_target ==
        "/teams/v3/conversations/19%3Aincidents%40thread.tacv2%3Bmessageid%3D1/activities");

  auto gone = f.connector.update(f.svc, chat, "999", kCard);
  REQUIRE_FALSE(gone);
  CHECK(gone.error().kind == ErrorKind::not_found);
  auto unknown = f.connector.send(f.svc, "a:nobody", kCard);
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().kind == ErrorKind::not_found);
}

// Teams' statuses through the whole client: 429 with Retry-After, 412, 502,
// 504 transient, 403 auth_revoked, 400 permanent.
TEST_CASE("teams connector: 429, 412, 502 and friends", "[teams][connector]") {
  Fixture f;
  const auto chat = f.connector.create_personal(f.svc, kUser).value().conversation_id;
  const std::string prefix = "/v3/conversations/";

  f.fake.fail_next(prefix, 429, 2);
  auto r = f.connector.send(f.svc, chat, kCard);
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == ErrorKind::rate_limited);
  CHECK(r.error().retry_after == 2000ms);
  CHECK_THAT(r.error().message, Catch::Contains("Throttled"));

  for (int status : {412, 502, 504, 500, 503}) {
    INFO(status);
    f.fake.fail_next(prefix, status);
    r = f.connector.send(f.svc, chat, kCard);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::transient);
    CHECK(r.error().retryable());
  }
  f.fake.fail_next(prefix, 403);
  r = f.connector.send(f.svc, chat, kCard);
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == ErrorKind::auth_revoked);
  f.fake.fail_next(prefix, 400);
  auto u = f.connector.update(f.svc, chat, "1", kCard);
  REQUIRE_FALSE(u);
  CHECK(u.error().kind == ErrorKind::permanent);
  CHECK(f.connector.send(f.svc, chat, kCard));  // nothing left scripted
}

// A 401 refetches the token and retries once; a second 401 is auth_revoked.
TEST_CASE("teams connector: 401 refreshes the token once", "[teams][connector]") {
  Fixture f;
  const auto chat = f.connector.create_personal(f.svc, kUser).value().conversation_id;
  const auto before = f.fake.token_requests().size();
  f.fake.revoke_tokens();
  REQUIRE(f.connector.send(f.svc, chat, kCard));
  CHECK(f.fake.token_requests().size() == before + 1);

  f.fake.fail_next("/v3/conversations/", 401);
  f.fake.fail_next("/v3/conversations/", 401);
  auto r = f.connector.send(f.svc, chat, kCard);
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == ErrorKind::auth_revoked);
  CHECK(f.fake.token_requests().size() == before + 2);
}

// An unreachable service URL is transient; a token failure stops the call
// before any connector request.
TEST_CASE("teams connector: transport and token failures", "[teams][connector]") {
  Fixture f;
  test::HttpPeer closed;
  const auto dead = closed.url() + "/teams/";
  closed.stop();
  auto r = f.connector.send(dead, "a:1", kCard);
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == ErrorKind::transient);

  auto config = f.fake.config();
  config.app_password = "wrong";
  BotConnector broken{config, std::make_shared<TokenProvider>(config, f.net.client(), f.clock), f.net.client()};
  auto b = broken.send(f.svc, "a:1", kCard);
  REQUIRE_FALSE(b);
  CHECK(b.error().kind == ErrorKind::auth_revoked);
  CHECK(f.fake.connector_calls().empty());
}

// GET /v3/teams/{id} gives the M365 group id Graph needs.
TEST_CASE("teams connector: team_group_id", "[teams][connector]") {
  Fixture f;
  f.fake.add_team("19:general@thread.tacv2", "11111111-2222-3333-4444-555555555555");
  CHECK(f.connector.team_group_id(f.svc, "19:general@thread.tacv2").value() == "11111111-2222-3333-4444-555555555555");
  auto r = f.connector.team_group_id(f.svc, "19:other@thread.tacv2");
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == ErrorKind::not_found);
}

// ---------------------------------------------------------------- limiter

// 7 sends go at once; the 8th waits for the first to leave the 1 s window.
// At that time the 2 s window (8) is the limit.
TEST_CASE("teams limiter: the 1 s and 2 s windows", "[teams][limiter]") {
  ConversationLimiter limiter;
  const auto t0 = engine::from_ms(1'767'225'600'000);
  for (int i = 0; i < 7; ++i) CHECK_FALSE(limiter.reserve("a:1", t0).has_value());
  CHECK(limiter.reserve("a:1", t0) == t0 + 1s);
  CHECK(limiter.reserve("a:1", t0 + 999ms) == t0 + 1s);  // nothing taken by asking
  CHECK_FALSE(limiter.reserve("a:2", t0).has_value());   // per conversation
  CHECK_FALSE(limiter.reserve("a:1", t0 + 1s).has_value());
  CHECK(limiter.reserve("a:1", t0 + 1s) == t0 + 2s);
  CHECK_FALSE(limiter.reserve("a:1", t0 + 2s).has_value());
}

// Sending greedily for a while: every window holds at any instant, each
// answered time is honoured when asked again, and the 61st and 1801st sends
// wait for the 30 s and 1 h windows.
TEST_CASE("teams limiter: sliding windows hold under a greedy sender", "[teams][limiter]") {
  ConversationLimiter limiter;
  const auto t0 = engine::from_ms(1'767'225'600'000);
  std::vector<engine::TimePoint> sent;
  auto now = t0;
  while (sent.size() < 1801) {
    if (auto later = limiter.reserve("19:c@thread.tacv2", now)) {
      REQUIRE(*later > now);
      now = *later;
      REQUIRE_FALSE(limiter.reserve("19:c@thread.tacv2", now).has_value());
    }
    sent.push_back(now);
  }
  const std::vector<std::pair<engine::Millis, int>> windows{{1s, 7}, {2s, 8}, {30s, 60}, {3600s, 1800}};
  for (const auto& [length, limit] : windows) {
    std::size_t lo = 0;
    for (std::size_t hi = 0; hi < sent.size(); ++hi) {
      while (sent[lo] <= sent[hi] - length) ++lo;
      REQUIRE(hi - lo + 1 <= static_cast<std::size_t>(limit));
    }
  }
  CHECK(sent[60] >= t0 + 30s);
  CHECK(sent[1800] >= t0 + 3600s);
  CHECK(sent[1800] == sent[0] + 3600s);
}

// ---------------------------------------------------------------- graph

// Channel names follow Teams' rules: the INC prefix, forbidden characters and
// control characters replaced, 50 code points at most, no trailing period,
// attempt suffixes within the limit.
TEST_CASE("teams_channel_name: Teams' rules", "[teams][graph]") {
  CHECK(teams_channel_name(42, "db-primary down") == "INC-42 db-primary down");
  CHECK(teams_channel_name(7, "CPU > 90% on web/1: \"hot\"") == "INC-7 CPU 90 on web 1 hot");
  CHECK(teams_channel_name(3, "disk full.") == "INC-3 disk full");
  CHECK(teams_channel_name(4, "~#%&*{}+/\\:<>?|'\",.") == "INC-4");
  CHECK(teams_channel_name(5, "") == "INC-5");
  CHECK(teams_channel_name(9, "\x01\tline\nbreak\x7f") == "INC-9 line break");
  CHECK(teams_channel_name(10, "a\xc2\x85" "b\xff" "c") == "INC-10 a bc");  // C1 control, invalid byte
  CHECK(teams_channel_name(11, "_hidden .dot") == "INC-11 _hidden dot");

  const std::string long_summary(100, 'a');
  CHECK(teams_channel_name(42, long_summary) == "INC-42 " + std::string(43, 'a'));
  CHECK(teams_channel_name(42, long_summary, 1) == "INC-42 " + std::string(39, 'a') + " (2)");
  CHECK(teams_channel_name(42, long_summary, 2).size() == 50);
  CHECK(teams_channel_name(42, "db down", 1) == "INC-42 db down (2)");
  // A cut landing on a space leaves no trailing space.
  CHECK(teams_channel_name(1, std::string(43, 'a') + " bbb") == "INC-1 " + std::string(43, 'a'));

  std::string umlauts;
  for (int i = 0; i < 60; ++i) umlauts += "\xc3\xbc";  // ü
  const auto name = teams_channel_name(42, umlauts);
  CHECK(name == "INC-42 " + umlauts.substr(0, 43 * 2));
  for (int n : {1, 42, 123456}) {
    for (const auto* s : {"x", "Überlast . . . ", "..."}) {
      const auto v = teams_channel_name(n, s, 3);
      CHECK(v.back() != '.');
      CHECK(v.front() != '_');
    }
  }
}

// POST /teams/{group}/channels with the Graph token, a standard channel, the
// new channel id back; a taken name is a conflict, the next attempt's name
// goes through; an unknown team is not_found.
TEST_CASE("teams graph: create_channel and name conflicts", "[teams][graph]") {
  Fixture f;
  const std::string group = "11111111-2222-3333-4444-555555555555";
  f.fake.add_team("19:general@thread.tacv2", group);
  GraphClient graph{f.fake.config(), f.tokens, f.net.client()};
  const auto name = teams_channel_name(42, "db-primary down");
  auto id = graph.create_channel(group, name, "SEV1 opened 2026-11-24 14:00Z");
  REQUIRE(id);
  CHECK(id->starts_with("19:"));
  CHECK(id->ends_with("@thread.tacv2"));
  const auto requests = f.fake.graph_requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].method == "POST");
  CHECK(requests[0].target == "/v1.0/teams/" + group + "/channels");
  CHECK(requests[0].header("authorization").value() == "Bearer " + f.tokens->graph_token().value());
  const json::value body = json::parse(requests[0].body);
  CHECK(at(body, {"displayName"}) == "INC-42 db-primary down");
  CHECK(at(body, {"description"}) == "SEV1 opened 2026-11-24 14:00Z");
  CHECK(at(body, {"membershipType"}) == "standard");

  auto taken = graph.create_channel(group, name, "again");
  REQUIRE_FALSE(taken);
  CHECK(taken.error().kind == ErrorKind::conflict);
  CHECK_THAT(taken.error().message, Catch::Contains("NameAlreadyExists"));
  auto second = graph.create_channel(group, teams_channel_name(42, "db-primary down", 1), "again");
  REQUIRE(second);
  CHECK(*second != *id);
  CHECK(f.fake.graph_channels().size() == 2);

  // The new channel is a conversation the bot can open a thread in at once.
  CHECK(BotConnector(f.fake.config(), f.tokens, f.net.client()).create_channel_thread(f.svc, *id, kCard));

  auto nowhere = graph.create_channel("00000000-0000-0000-0000-000000000000", "INC-1", "");
  REQUIRE_FALSE(nowhere);
  CHECK(nowhere.error().kind == ErrorKind::not_found);
  f.fake.fail_next("/v1.0/teams/", 429, 7);
  auto throttled = graph.create_channel(group, "INC-2", "");
  REQUIRE_FALSE(throttled);
  CHECK(throttled.error().kind == ErrorKind::rate_limited);
  CHECK(throttled.error().retry_after == 7000ms);
}

// Graph's duplicate-name answer as a 400 with code nameAlreadyExists is a
// conflict too.
TEST_CASE("teams graph: nameAlreadyExists on a 400 is a conflict", "[teams][graph]") {
  Fixture f;
  test::HttpPeer graph_peer;
  graph_peer.set_default_response(
      {400, {}, R"({"error":{"code":"nameAlreadyExists","message":"Channel name already existed","innerError":{}}})"});
  auto config = f.fake.config();
  config.graph_base = graph_peer.url() + "/v1.0";
  GraphClient graph{config, f.tokens, f.net.client()};
  auto r = graph.create_channel("g", "INC-1", "");
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == ErrorKind::conflict);
}

// ------------------------------------------ local development and id-less 2xx

TEST_CASE("teams: is_loopback_url", "[teams][connector]") {
  for (const char* url : {"http://localhost:56150/_connector", "http://LOCALHOST/", "http://127.0.0.1:8080/teams/",
                          "http://127.1.2.3", "https://[::1]:443/x", "http://user@localhost:1/",
                          "http://a.localhost/"}) {
    INFO(url);
    CHECK(detail::is_loopback_url(url));
  }
  for (const char* url : {"https://smba.trafficmanager.net/teams/", "http://localhost.example.com/",
                          "http://127.0.0.1.nip.io/", "http://10.0.0.1/", "http://[::2]/",
                          "http://evil.example/?h=localhost", "http://127.0.0/", ""}) {
    INFO(url);
    CHECK_FALSE(detail::is_loopback_url(url));
  }
}

// With allow_unauthenticated (Microsoft 365 Agents Playground, which has no
// token endpoint), a call to a loopback serviceUrl carries no Authorization
// and Entra is never asked; a call anywhere else still asks for a token.
TEST_CASE("teams connector: unauthenticated calls to a loopback serviceUrl carry no token", "[teams][connector]") {
  test::AsyncNet net;
  test::FakeClock clock;
  test::FakeTeams fake{clock};
  fake.set_require_auth(false);
  auto config = fake.config();
  config.allow_unauthenticated = true;
  auto tokens = std::make_shared<TokenProvider>(config, net.client(), clock);
  BotConnector connector{config, tokens, net.client()};

  const auto chat = connector.create_personal(fake.service_url(), kUser);
  REQUIRE(chat);
  REQUIRE(connector.send(fake.service_url(), chat->conversation_id, kCard));
  CHECK(fake.token_requests().empty());
  CHECK(tokens->fetches() == 0);
  for (const auto& c : fake.connector_calls()) CHECK(c.token.empty());

  CHECK_FALSE(connector.send("http://baton-test.invalid/teams/", chat->conversation_id, kCard));
  CHECK(tokens->fetches() == 1);
}

// A 2xx without an id is a delivery (the Agents Playground answers 202 with no
// body when it splits a text and a card into two messages): send and reply
// succeed with no id, and nothing is posted twice.
TEST_CASE("teams connector: a 2xx without an id is a success with no id", "[teams][connector]") {
  Fixture f;
  f.fake.set_split_text_and_cards(true);
  const auto chat = f.connector.create_personal(f.svc, kUser).value().conversation_id;
  const std::string mixed = json::serialize(json::object{
      {"type", "message"},
      {"text", "INC-42 is paged to you"},
      {"attachments", json::array{json::object{{"contentType", "application/vnd.microsoft.card.adaptive"},
                                               {"content", {{"type", "AdaptiveCard"}, {"version", "1.5"}}}}}}});
  auto sent = f.connector.send(f.svc, chat, mixed);
  REQUIRE(sent);
  CHECK(sent->empty());
  auto replied = f.connector.reply(f.svc, chat, "1795480302019", mixed);
  REQUIRE(replied);
  CHECK(replied->empty());
  CHECK(f.fake.connector_calls().size() == 3);  // the chat, one send, one reply
  CHECK(f.fake.activities(chat).size() == 4);   // each split in two
}
