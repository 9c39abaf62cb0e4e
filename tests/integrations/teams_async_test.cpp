// Teams on the non-blocking client (docs/async_http.md): the notifier sends
// without holding a dispatcher worker, concurrent calls share one token fetch,
// a 401 costs one refetch however many calls it answered, and the token
// waiters are bounded.
#include <catch2/catch.hpp>

#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "integrations/chat_refs.hpp"
#include "integrations/dispatcher.hpp"
#include "integrations/teams/connector.hpp"
#include "integrations/teams/graph.hpp"
#include "integrations/teams/teams_notifier.hpp"
#include "tests/support/dispatch_outcomes.hpp"
#include "tests/support/fake_clock.hpp"
#include "tests/support/fake_teams.hpp"

using namespace baton;
using namespace baton::teams;
using namespace std::chrono_literals;
using integrations::Delivery;
using integrations::DispatchOutcome;
using integrations::Dispatcher;
using Kind = DispatchOutcome::Kind;

namespace {

constexpr const char* kCard = R"({"type":"message","text":"INC-42 is paged to you"})";
const engine::TimePoint kT0 = engine::from_ms(1'767'225'600'000);  // 2026-01-01T00:00:00Z

template <typename Pred>
bool eventually(Pred pred) {  // bounded: 60 s, only reached when failing
  for (int i = 0; i < 6000; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

std::string token_prefix() { return "/" + std::string(test::FakeTeams::kTenantId) + "/"; }

/// A page of incident `id` to a person of its own, Teams user "29:user-<id>".
Delivery page_to(std::int64_t id) {
  Delivery d;
  d.notification.id = id;
  d.notification.incident = id;
  d.notification.person = "p" + std::to_string(id);
  d.notification.method = engine::MethodKind::teams;
  d.notification.kind = engine::NotificationKind::page;
  d.notification.idempotency_key = "n-" + std::to_string(id);
  d.incident.number = id;
  d.incident.service_id = "payments";
  d.incident.summary = "Disk full on db-" + std::to_string(id);
  d.incident.severity = engine::Severity::critical;
  d.incident.state = engine::IncidentState::triggered;
  d.incident.owner = d.notification.person;
  d.incident.created_at = kT0;
  d.incident.updated_at = kT0;
  d.person = engine::Person{};
  d.person->id = d.notification.person;
  d.person->name = "Person " + std::to_string(id);
  d.person->teams_user_id = "29:user-" + std::to_string(id);
  d.service_name = "Payments";
  return d;
}

}  // namespace

TEST_CASE("teams async: 200 pages to distinct users, connector answering after 300 ms, each arrives once",
          "[teams][async]") {
  // Scenario: every Bot Connector answer takes 300 ms (a blocking channel
  // would hold a thread 2 x 300 ms per page: two minutes on one). The Teams
  // notifier is asynchronous: every person gets exactly
  // one 1:1 chat with exactly one card, every DM is remembered, and every
  // page is reported delivered once.
  test::AsyncNet net;
  test::FakeClock clock(kT0);
  test::FakeTeams fake(clock);
  fake.set_delay("/teams/", 300ms);
  auto refs = std::make_shared<integrations::MemoryChatRefs>();
  TeamsNotifierConfig c;
  c.teams = fake.config();
  c.public_url = "https://baton.example.com";
  auto tokens = std::make_shared<TokenProvider>(c.teams, net.client(), clock);
  auto notifier = std::make_shared<TeamsNotifier>(c, std::make_shared<BotConnector>(c.teams, tokens, net.client()),
                                                  std::make_shared<GraphClient>(c.teams, tokens, net.client()), refs,
                                                  std::make_shared<ConversationLimiter>());
  REQUIRE(notifier->is_async());

  test::DispatchOutcomes outcomes;
  Dispatcher::Options opt;
  opt.max_in_flight_per_channel = 256;
  Dispatcher dispatcher({notifier}, clock, opt, [&](const DispatchOutcome& o) { outcomes.add(o); });
  constexpr int kPages = 200;
  for (int i = 1; i <= kPages; ++i) dispatcher.submit(page_to(i));
  REQUIRE(eventually([&] { return outcomes.delivered() == kPages; }));
  dispatcher.stop();

  {
    std::lock_guard lock(outcomes.mutex);
    CHECK(outcomes.by_id.size() == kPages);
    for (const auto& [id, kinds] : outcomes.by_id) CHECK(kinds == std::vector<Kind>{Kind::delivered});
  }
  std::map<std::string, int> chats_per_user;
  for (const auto& conv : fake.conversations()) ++chats_per_user[conv.member_id];
  CHECK(chats_per_user.size() == kPages);
  for (const auto& [user, n] : chats_per_user) {
    INFO(user);
    CHECK(n == 1);
  }
  std::map<std::string, int> cards_per_chat;
  for (const auto& a : fake.activities()) ++cards_per_chat[a.conversation_id];
  CHECK(cards_per_chat.size() == kPages);
  for (const auto& [chat, n] : cards_per_chat) {
    INFO(chat);
    CHECK(n == 1);
  }
  std::set<std::string> dm_people;
  for (const auto& r : refs->all())
    if (r.kind == "teams-dm") dm_people.insert(r.person);
  CHECK(dm_people.size() == kPages);
  CHECK(fake.token_requests().size() == 1);  // one bot token for all of them
}

TEST_CASE("teams async: concurrent calls share one token fetch", "[teams][async][tokens]") {
  // Scenario: a cold cache, a token endpoint answering after 300 ms, and 50
  // sends started at once from one thread (none waits for another): one
  // token request is made, and every send goes out with that token.
  test::AsyncNet net;
  test::FakeClock clock(kT0);
  test::FakeTeams fake(clock);
  fake.set_delay(token_prefix(), 300ms);
  auto tokens = std::make_shared<TokenProvider>(fake.config(), net.client(), clock);
  BotConnector connector(fake.config(), tokens, net.client());
  const auto chat = connector.create_personal(fake.service_url(), "29:1abcUser").value().conversation_id;
  REQUIRE(fake.token_requests().size() == 1);
  tokens->invalidate();

  constexpr int kSends = 50;
  std::atomic<int> ok{0}, failed{0};
  for (int i = 0; i < kSends; ++i) {
    connector.send_async(fake.service_url(), chat, kCard, [&](Result<std::string> r) { ++(r ? ok : failed); });
  }
  REQUIRE(eventually([&] { return ok + failed == kSends; }));
  CHECK(ok == kSends);
  CHECK(fake.token_requests().size() == 2);  // the first call's, then one for all 50
  CHECK(tokens->fetches() == 2);
  std::set<std::string> used;
  for (const auto& call : fake.connector_calls())
    if (call.method == "POST" && call.path.ends_with("/activities")) used.insert(call.token);
  CHECK(used.size() == 1);
}

TEST_CASE("teams async: a 401 answered to many calls refetches the token once", "[teams][async][tokens]") {
  // Scenario: 20 sends in flight when the token is revoked: each is refused
  // 401, fetches anew and is sent again, once. One new token serves all.
  test::AsyncNet net;
  test::FakeClock clock(kT0);
  test::FakeTeams fake(clock);
  auto tokens = std::make_shared<TokenProvider>(fake.config(), net.client(), clock);
  BotConnector connector(fake.config(), tokens, net.client());
  const auto chat = connector.create_personal(fake.service_url(), "29:1abcUser").value().conversation_id;
  REQUIRE(fake.token_requests().size() == 1);
  fake.revoke_tokens();

  constexpr int kSends = 20;
  std::atomic<int> ok{0}, failed{0};
  for (int i = 0; i < kSends; ++i) {
    connector.send_async(fake.service_url(), chat, kCard, [&](Result<std::string> r) { ++(r ? ok : failed); });
  }
  REQUIRE(eventually([&] { return ok + failed == kSends; }));
  CHECK(ok == kSends);
  CHECK(fake.token_requests().size() == 2);
  int refused = 0, accepted = 0;
  for (const auto& call : fake.connector_calls()) {
    if (call.method != "POST" || !call.path.ends_with("/activities")) continue;
    refused += call.status == 401;
    accepted += call.status / 100 == 2;
  }
  // Each send that went out with the revoked token was refused once; one that
  // the scheduler started after the new token arrived needed no refusal.
  CHECK(refused >= 1);
  CHECK(refused <= kSends);
  CHECK(accepted == kSends);

  // A second 401 on the retry is the answer: auth_revoked, no third try.
  fake.fail_next("/v3/conversations/" + chat + "/activities", 401);
  fake.fail_next("/v3/conversations/" + chat + "/activities", 401);
  auto r = connector.send(fake.service_url(), chat, kCard);
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == ErrorKind::auth_revoked);
  CHECK(fake.token_requests().size() == 3);
}

TEST_CASE("teams async: token waiters are bounded", "[teams][async][tokens]") {
  // Scenario: at most 2 callers may wait for a token fetch; a third is
  // refused at once (transient, so a delivery is retried), the two get the token.
  test::AsyncNet net;
  test::FakeClock clock(kT0);
  test::FakeTeams fake(clock);
  fake.set_delay(token_prefix(), 300ms);
  TokenProvider tokens(fake.config(), net.client(), clock, 2);
  std::atomic<int> ok{0};
  std::optional<Error> refused;
  tokens.bot_token_async([&](Result<std::string> r) { ok += r.has_value(); });
  tokens.bot_token_async([&](Result<std::string> r) { ok += r.has_value(); });
  tokens.bot_token_async([&](Result<std::string> r) {
    if (!r) refused = r.error();
  });
  REQUIRE(refused);  // at once, on this thread
  CHECK(refused->kind == ErrorKind::transient);
  REQUIRE(eventually([&] { return ok == 2; }));
  CHECK(fake.token_requests().size() == 1);
  // Once cached, no wait and no bound.
  for (int i = 0; i < 5; ++i) CHECK(tokens.bot_token());
  CHECK(fake.token_requests().size() == 1);
}

TEST_CASE("teams async: an update waits for nothing but its own answers", "[teams][async]") {
  // Scenario: a page then an update through send_async with a slow connector:
  // the DM card is replaced in place, the chain of calls ends with one
  // outcome, and a Graph incident channel is opened asynchronously too.
  test::AsyncNet net;
  test::FakeClock clock(kT0);
  test::FakeTeams fake(clock);
  fake.add_team("19:sre-general@thread.tacv2", "11111111-2222-3333-4444-555555555555");
  fake.set_delay("/teams/", 100ms);
  fake.set_delay("/v1.0/", 100ms);
  auto refs = std::make_shared<integrations::MemoryChatRefs>();
  TeamsNotifierConfig c;
  c.teams = fake.config();
  c.service_teams["payments"] = "11111111-2222-3333-4444-555555555555";
  auto tokens = std::make_shared<TokenProvider>(c.teams, net.client(), clock);
  TeamsNotifier notifier(c, std::make_shared<BotConnector>(c.teams, tokens, net.client()),
                         std::make_shared<GraphClient>(c.teams, tokens, net.client()), refs, nullptr);

  auto run = [&](const Delivery& d) {
    std::promise<Result<void>> p;
    auto f = p.get_future();
    std::atomic<int> calls{0};
    notifier.send_async(d, [&](Result<void> r) {
      if (++calls == 1) p.set_value(std::move(r));
    });
    auto r = f.get();
    CHECK(calls == 1);
    return r;
  };
  auto open = page_to(7);
  open.notification.kind = engine::NotificationKind::open_channel;
  open.person.reset();
  REQUIRE(run(open));
  REQUIRE(fake.graph_channels().size() == 1);
  REQUIRE(run(page_to(7)));
  auto update = page_to(7);
  update.notification.id = 8;
  update.notification.kind = engine::NotificationKind::update;
  update.incident.state = engine::IncidentState::acknowledged;
  update.incident.updated_at = kT0 + 60s;
  REQUIRE(run(update));

  int dm_cards = 0, edited = 0;
  for (const auto& a : fake.activities()) {
    if (!a.conversation_id.starts_with("a:")) continue;
    ++dm_cards;
    edited += a.edits;
  }
  CHECK(dm_cards == 1);
  CHECK(edited == 1);
  std::set<std::string> kinds;
  for (const auto& r : refs->all()) kinds.insert(r.kind);
  CHECK(kinds == std::set<std::string>{"teams-dm", "teams-incident-channel", "teams-incident-card"});
}
