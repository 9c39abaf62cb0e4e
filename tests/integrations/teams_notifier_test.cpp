#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include "integrations/chat_refs.hpp"
#include "integrations/teams/connector.hpp"
#include "integrations/teams/graph.hpp"
#include "integrations/teams/teams_notifier.hpp"
#include "tests/support/fake_teams.hpp"

using namespace baton;
using namespace baton::teams;
using namespace std::chrono_literals;
namespace json = boost::json;
using integrations::ChatRef;
using integrations::Delivery;
using integrations::MemoryChatRefs;

namespace {

const engine::TimePoint kT0 = engine::from_ms(1'767'225'600'000);  // 2026-01-01T00:00:00Z
constexpr const char* kServiceChannel = "19:payments@thread.tacv2";
constexpr const char* kTeamGeneral = "19:sre-general@thread.tacv2";
constexpr const char* kGroup = "11111111-2222-3333-4444-555555555555";

engine::Incident incident(engine::IncidentState state = engine::IncidentState::triggered) {
  engine::Incident inc;
  inc.number = 42;
  inc.service_id = "payments";
  inc.summary = "Disk full on db-1";
  inc.severity = engine::Severity::critical;
  inc.state = state;
  inc.owner = "alice";
  inc.created_at = kT0;
  inc.updated_at = kT0;
  if (state != engine::IncidentState::triggered) inc.acknowledged_at = kT0 + 60s;
  if (state == engine::IncidentState::resolved) inc.resolved_at = kT0 + 120s;
  return inc;
}

engine::Person person(std::string id, std::string name, std::string teams_user) {
  engine::Person p;
  p.id = std::move(id);
  p.name = std::move(name);
  p.teams_user_id = std::move(teams_user);
  return p;
}

engine::Person alice() { return person("alice", "Alice Example", "29:1alice"); }
engine::Person bob() { return person("bob", "Bob Example", "29:1bob"); }

Delivery delivery(engine::NotificationKind kind, std::optional<engine::Person> to, std::int64_t id = 1,
                  engine::IncidentState state = engine::IncidentState::triggered) {
  Delivery d;
  d.notification.id = id;
  d.notification.incident = 42;
  d.notification.person = to ? to->id : std::string();
  d.notification.method = engine::MethodKind::teams;
  d.notification.kind = kind;
  d.notification.idempotency_key = "n-" + std::to_string(id);
  d.incident = incident(state);
  d.person = std::move(to);
  d.service_name = "Payments";
  return d;
}

// An update after the incident changed at `at`.
Delivery update(engine::IncidentState state, std::int64_t id, engine::TimePoint at) {
  auto d = delivery(engine::NotificationKind::update, alice(), id, state);
  d.incident.updated_at = at;
  return d;
}

struct Rig {
  test::AsyncNet net;  // first: the client outlives everything that holds it
  test::FakeTeams fake;
  std::shared_ptr<MemoryChatRefs> refs = std::make_shared<MemoryChatRefs>();
  std::unique_ptr<TeamsNotifier> notifier;

  explicit Rig(bool with_service_channel = true, bool with_team = true,
               std::shared_ptr<ConversationLimiter> limiter = nullptr) {
    fake.add_channel(kServiceChannel);
    fake.add_team(kTeamGeneral, kGroup);
    TeamsNotifierConfig c;
    c.teams = fake.config();
    c.public_url = "https://baton.example.com";
    if (with_service_channel) c.service_channels["payments"] = kServiceChannel;
    if (with_team) c.service_teams["payments"] = kGroup;
    auto tokens = std::make_shared<TokenProvider>(c.teams, net.client());
    notifier = std::make_unique<TeamsNotifier>(c, std::make_shared<BotConnector>(c.teams, tokens, net.client()),
                                               std::make_shared<GraphClient>(c.teams, tokens, net.client()), refs,
                                               std::move(limiter));
  }

  std::vector<ChatRef> refs_of(std::string_view kind) const {
    std::vector<ChatRef> out;
    for (const auto& r : refs->all()) {
      if (r.kind == kind) out.push_back(r);
    }
    return out;
  }

  std::vector<test::ConnectorCall> calls(std::string_view method) const {
    std::vector<test::ConnectorCall> out;
    for (const auto& c : fake.connector_calls()) {
      if (c.method == method) out.push_back(c);
    }
    return out;
  }
};

// The card of an activity body, or an empty object when it has none.
json::object card_of(const std::string& activity_json) {
  const auto activity = json::parse(activity_json).as_object();
  const auto* attachments = activity.if_contains("attachments");
  if (!attachments || attachments->as_array().empty()) return {};
  const auto& a = attachments->as_array().at(0).as_object();
  CHECK(a.at("contentType") == "application/vnd.microsoft.card.adaptive");
  return a.at("content").as_object();
}

std::vector<std::string> verbs(const std::string& activity_json) {
  std::vector<std::string> out;
  const auto card = card_of(activity_json);
  if (card.empty()) return out;
  for (const auto& a : card.at("actions").as_array()) out.emplace_back(a.as_object().at("verb").as_string());
  return out;
}

std::string text_of(const std::string& activity_json) {
  return std::string(json::parse(activity_json).as_object().at("text").as_string());
}

using Strings = std::vector<std::string>;
const Strings kAllVerbs{"baton.ack", "baton.resolve", "baton.escalate"};

}  // namespace

// A page: the card starts a thread in the service's channel (once per
// incident) and goes to the owner's 1:1 chat; both are remembered. Bob's page
// after the escalation gets his own chat and no second thread; a retry of a
// notification does not DM again.
TEST_CASE("TeamsNotifier: page posts a channel thread and a DM", "[teams][notifier]") {
  Rig rig;
  REQUIRE(rig.notifier->send(delivery(engine::NotificationKind::page, alice())));

  auto threads = rig.refs_of("teams-channel-thread");
  REQUIRE(threads.size() == 1);
  CHECK(threads[0].incident == 42);
  CHECK(threads[0].conversation.starts_with(std::string(kServiceChannel) + ";messageid="));
  auto root = rig.fake.activity(threads[0].conversation, threads[0].message_id);
  REQUIRE(root);
  CHECK(verbs(root->json) == kAllVerbs);
  CHECK(text_of(root->json) == "#42 CRITICAL Payments: Disk full on db-1");

  auto dms = rig.refs_of("teams-dm");
  REQUIRE(dms.size() == 1);
  CHECK(dms[0].person == "alice");
  auto conversations = rig.fake.conversations();
  auto personal = std::find_if(conversations.begin(), conversations.end(), [](const auto& c) { return !c.is_group; });
  REQUIRE(personal != conversations.end());
  CHECK(personal->member_id == "29:1alice");
  CHECK(dms[0].conversation == personal->id);
  auto dm = rig.fake.activity(dms[0].conversation, dms[0].message_id);
  REQUIRE(dm);
  CHECK(verbs(dm->json) == kAllVerbs);
  // Every call carried the bot token.
  for (const auto& c : rig.fake.connector_calls()) CHECK(c.token.starts_with("fake-bot-token-"));

  auto second = delivery(engine::NotificationKind::page, bob(), 2);
  second.incident.owner = "bob";
  REQUIRE(rig.notifier->send(second));
  CHECK(rig.refs_of("teams-channel-thread").size() == 1);
  CHECK(rig.refs_of("teams-dm").size() == 2);
  CHECK(rig.fake.activities(threads[0].conversation).size() == 1);

  REQUIRE(rig.notifier->send(second));  // a retry of the same notification
  CHECK(rig.refs_of("teams-dm").size() == 2);
  CHECK(rig.calls("POST").size() == 5);  // thread, alice chat + card, bob chat + card
}

// Nobody to DM: permanent "no Teams user for Carol" so the chain moves on,
// while the service channel still gets its thread.
TEST_CASE("TeamsNotifier: no Teams user", "[teams][notifier]") {
  Rig rig;
  auto carol = person("carol", "Carol", "");
  auto sent = rig.notifier->send(delivery(engine::NotificationKind::page, carol));
  REQUIRE_FALSE(sent);
  CHECK(sent.error().kind == ErrorKind::permanent);
  CHECK(sent.error().message == "no Teams user for Carol");
  CHECK(rig.refs_of("teams-channel-thread").size() == 1);
  CHECK(rig.refs_of("teams-dm").empty());

  auto nameless = person("dave", "", "");
  auto none = rig.notifier->send(delivery(engine::NotificationKind::page, nameless, 2));
  REQUIRE_FALSE(none);
  CHECK(none.error().message == "no Teams user for dave");
  auto service_level = rig.notifier->send(delivery(engine::NotificationKind::page, std::nullopt, 3));
  REQUIRE_FALSE(service_level);
  CHECK(service_level.error().kind == ErrorKind::permanent);
}

// The acknowledgement PUTs the new card (Resolve and Escalate left, no text)
// over the DM and the thread root, and replies "Acknowledged by Alice Example" in the
// thread; a second update for the same change adds no line; resolved leaves
// no actions and says "Resolved".
TEST_CASE("TeamsNotifier: update refreshes every card and replies in the thread", "[teams][notifier]") {
  Rig rig;
  REQUIRE(rig.notifier->send(delivery(engine::NotificationKind::page, alice())));
  REQUIRE(rig.notifier->send(update(engine::IncidentState::acknowledged, 2, kT0 + 60s)));

  const auto thread = rig.refs_of("teams-channel-thread").at(0);
  const auto dm = rig.refs_of("teams-dm").at(0);
  auto root = rig.fake.activity(thread.conversation, thread.message_id);
  REQUIRE(root);
  CHECK(root->edits == 1);
  CHECK(verbs(root->json) == Strings{"baton.resolve", "baton.escalate"});
  auto card = rig.fake.activity(dm.conversation, dm.message_id);
  REQUIRE(card);
  CHECK(card->edits == 1);
  CHECK(verbs(card->json) == Strings{"baton.resolve", "baton.escalate"});
  // The update is the card alone: the Agents Playground refuses to update a message into text and a card.
  CHECK_FALSE(json::parse(card->json).as_object().contains("text"));

  auto lines = rig.fake.activities(thread.conversation);
  REQUIRE(lines.size() == 2);
  CHECK(lines[1].reply_to_id == thread.message_id);
  CHECK(text_of(lines[1].json) == "Acknowledged by Alice Example");
  CHECK(rig.calls("PUT").size() == 2);

  REQUIRE(rig.notifier->send(update(engine::IncidentState::acknowledged, 3, kT0 + 60s)));
  CHECK(rig.fake.activities(thread.conversation).size() == 2);
  CHECK(rig.fake.activity(thread.conversation, thread.message_id)->edits == 1);

  REQUIRE(rig.notifier->send(update(engine::IncidentState::resolved, 4, kT0 + 120s)));
  CHECK(verbs(rig.fake.activity(dm.conversation, dm.message_id)->json).empty());
  CHECK(verbs(rig.fake.activity(thread.conversation, thread.message_id)->json).empty());
  lines = rig.fake.activities(thread.conversation);
  REQUIRE(lines.size() == 3);
  CHECK(text_of(lines[2].json) == "Resolved");
}

// Regression: changes were told apart by their time alone, so a resolve in
// the same millisecond as the acknowledge never updated the thread's card nor
// replied in it.
TEST_CASE("TeamsNotifier: two changes in one millisecond are both announced", "[teams][notifier]") {
  Rig rig;
  REQUIRE(rig.notifier->send(delivery(engine::NotificationKind::page, alice())));
  REQUIRE(rig.notifier->send(update(engine::IncidentState::acknowledged, 2, kT0 + 60s)));
  REQUIRE(rig.notifier->send(update(engine::IncidentState::resolved, 3, kT0 + 60s)));
  const auto thread = rig.refs_of("teams-channel-thread").at(0);
  CHECK(verbs(rig.fake.activity(thread.conversation, thread.message_id)->json).empty());
  auto lines = rig.fake.activities(thread.conversation);
  REQUIRE(lines.size() == 3);
  CHECK(text_of(lines[1].json) == "Acknowledged by Alice Example");
  CHECK(text_of(lines[2].json) == "Resolved");
}

// A card that is gone (404 on the PUT) is posted again in the same chat and
// edited from then on.
TEST_CASE("TeamsNotifier: a missing DM card is posted anew", "[teams][notifier]") {
  Rig rig(false);
  REQUIRE(rig.notifier->send(delivery(engine::NotificationKind::page, alice())));
  const auto dm = rig.refs_of("teams-dm").at(0);
  // The next call on a personal chat ("a:..." as sent, percent-encoded or not) is the PUT.
  rig.fake.fail_next("/v3/conversations/a", 404);
  REQUIRE(rig.notifier->send(update(engine::IncidentState::acknowledged, 2, kT0 + 60s)));
  auto dms = rig.refs_of("teams-dm");
  REQUIRE(dms.size() == 2);
  CHECK(dms[1].conversation == dm.conversation);
  CHECK(dms[1].message_id != dm.message_id);
  CHECK(verbs(rig.fake.activity(dm.conversation, dms[1].message_id)->json) == Strings{"baton.resolve", "baton.escalate"});

  REQUIRE(rig.notifier->send(update(engine::IncidentState::resolved, 3, kT0 + 120s)));
  CHECK(rig.fake.activity(dm.conversation, dms[1].message_id)->edits == 1);
  CHECK(rig.refs_of("teams-dm").size() == 2);
}

// open_channel: the first name is taken (409), so attempt 1's name is
// created in the service's team through Graph; the channel is remembered and
// the card starts a thread there. A retry creates nothing new; a later page
// adds no second card; updates refresh it and reply there too.
TEST_CASE("TeamsNotifier: open_channel creates the incident channel", "[teams][notifier]") {
  Rig rig(false);
  rig.fake.fail_next(std::string("/teams/") + kGroup + "/channels", 409);
  const auto open = delivery(engine::NotificationKind::open_channel, std::nullopt, 1);
  REQUIRE(rig.notifier->send(open));

  CHECK(rig.fake.graph_requests().size() == 2);
  auto channels = rig.fake.graph_channels();
  REQUIRE(channels.size() == 1);
  CHECK(channels[0].team_id == kGroup);
  CHECK(channels[0].display_name == teams_channel_name(42, "Disk full on db-1", 1));
  CHECK(channels[0].description == "CRITICAL: Disk full on db-1");
  auto refs = rig.refs_of("teams-incident-channel");
  REQUIRE(refs.size() == 1);
  CHECK(refs[0].conversation == channels[0].id);
  auto cards = rig.refs_of("teams-incident-card");
  REQUIRE(cards.size() == 1);
  CHECK(cards[0].conversation.starts_with(channels[0].id + ";messageid="));
  auto card = rig.fake.activity(cards[0].conversation, cards[0].message_id);
  REQUIRE(card);
  CHECK(verbs(card->json) == kAllVerbs);
  CHECK(text_of(card->json) == "#42 CRITICAL Payments: Disk full on db-1");

  REQUIRE(rig.notifier->send(open));
  CHECK(rig.fake.graph_requests().size() == 2);
  CHECK(rig.refs_of("teams-incident-card").size() == 1);

  REQUIRE(rig.notifier->send(delivery(engine::NotificationKind::page, alice(), 2)));
  CHECK(rig.fake.activities(cards[0].conversation).size() == 1);

  REQUIRE(rig.notifier->send(update(engine::IncidentState::acknowledged, 3, kT0 + 60s)));
  CHECK(rig.fake.activity(cards[0].conversation, cards[0].message_id)->edits == 1);
  auto lines = rig.fake.activities(cards[0].conversation);
  REQUIRE(lines.size() == 2);
  CHECK(text_of(lines[1].json) == "Acknowledged by Alice Example");
}

// A page that comes after the channel was opened, when the channel has no
// card yet (its first post failed), posts the card there.
TEST_CASE("TeamsNotifier: page posts the card into an incident channel without one", "[teams][notifier]") {
  Rig rig(false);
  rig.fake.fail_next("/v3/conversations", 400);  // the card's thread in the new channel
  auto opened = rig.notifier->send(delivery(engine::NotificationKind::open_channel, std::nullopt, 1));
  REQUIRE_FALSE(opened);
  CHECK(opened.error().kind == ErrorKind::permanent);
  REQUIRE(rig.refs_of("teams-incident-channel").size() == 1);
  CHECK(rig.refs_of("teams-incident-card").empty());

  REQUIRE(rig.notifier->send(delivery(engine::NotificationKind::page, alice(), 2)));
  REQUIRE(rig.refs_of("teams-incident-card").size() == 1);
  CHECK(rig.refs_of("teams-incident-card")[0].conversation.starts_with(rig.refs_of("teams-incident-channel")[0].conversation));
}

// Every name taken: six attempts, then permanent. A service without a team
// opens nothing and succeeds.
TEST_CASE("TeamsNotifier: open_channel runs out of names; services without a team", "[teams][notifier]") {
  Rig rig(false);
  for (int i = 0; i < 6; ++i) rig.fake.fail_next(std::string("/teams/") + kGroup + "/channels", 409);
  auto none = rig.notifier->send(delivery(engine::NotificationKind::open_channel, std::nullopt, 1));
  REQUIRE_FALSE(none);
  CHECK(none.error().kind == ErrorKind::permanent);
  CHECK(rig.fake.graph_requests().size() == 6);
  CHECK(rig.refs_of("teams-incident-channel").empty());

  Rig no_team(false, false);
  REQUIRE(no_team.notifier->send(delivery(engine::NotificationKind::open_channel, std::nullopt, 1)));
  CHECK(no_team.fake.graph_requests().empty());
}

// Teams down: a 502 on the DM is transient (the Dispatcher retries, then
// fails the delivery) and nothing is remembered; a 429 is rate_limited with
// Retry-After; a 502 on the service channel's thread alone does not fail the
// page (the person has it) and the thread is posted by the next page; a 502
// on an update's PUT is transient; revoked credentials (403) fail for good.
TEST_CASE("TeamsNotifier: Teams outages are retryable errors", "[teams][notifier]") {
  Rig rig(false);
  rig.fake.fail_next("/v3/conversations", 502);
  auto down = rig.notifier->send(delivery(engine::NotificationKind::page, alice()));
  REQUIRE_FALSE(down);
  CHECK(down.error().kind == ErrorKind::transient);
  CHECK(rig.refs->all().empty());

  rig.fake.fail_next("/v3/conversations", 429, 3);
  auto limited = rig.notifier->send(delivery(engine::NotificationKind::page, alice()));
  REQUIRE_FALSE(limited);
  CHECK(limited.error().kind == ErrorKind::rate_limited);
  CHECK(limited.error().retry_after == 3s);

  REQUIRE(rig.notifier->send(delivery(engine::NotificationKind::page, alice())));
  CHECK(rig.refs_of("teams-dm").size() == 1);

  rig.fake.fail_next("/v3/conversations", 502);
  auto put = rig.notifier->send(update(engine::IncidentState::acknowledged, 2, kT0 + 60s));
  REQUIRE_FALSE(put);
  CHECK(put.error().kind == ErrorKind::transient);
  REQUIRE(rig.notifier->send(update(engine::IncidentState::acknowledged, 2, kT0 + 60s)));

  rig.fake.fail_next(std::string("/teams/") + kGroup + "/channels", 503);
  auto graph_down = rig.notifier->send(delivery(engine::NotificationKind::open_channel, std::nullopt, 3));
  REQUIRE_FALSE(graph_down);
  CHECK(graph_down.error().kind == ErrorKind::transient);

  rig.fake.fail_next("/v3/conversations", 403);
  auto revoked = rig.notifier->send(delivery(engine::NotificationKind::page, bob(), 4));
  REQUIRE_FALSE(revoked);
  CHECK(revoked.error().kind == ErrorKind::auth_revoked);

  Rig shared;
  shared.fake.fail_next("/v3/conversations", 502);  // the thread, first
  REQUIRE(shared.notifier->send(delivery(engine::NotificationKind::page, alice(), 1)));
  CHECK(shared.refs_of("teams-channel-thread").empty());
  CHECK(shared.refs_of("teams-dm").size() == 1);
  REQUIRE(shared.notifier->send(delivery(engine::NotificationKind::page, bob(), 2)));
  CHECK(shared.refs_of("teams-channel-thread").size() == 1);
}

// reserve(): one send per second per conversation (a test limiter): a
// second page to Alice waits a second, Bob does not; the service channel is a
// key of its own while the incident has no thread; without a limiter nothing
// is paced.
TEST_CASE("TeamsNotifier: reserve paces per conversation", "[teams][notifier]") {
  auto limiter = std::make_shared<ConversationLimiter>(std::vector<RateWindow>{{engine::Millis(1000), 1}});
  Rig rig(false, true, limiter);
  auto& n = *rig.notifier;
  CHECK_FALSE(n.reserve(delivery(engine::NotificationKind::page, alice(), 1), kT0));
  auto later = n.reserve(delivery(engine::NotificationKind::page, alice(), 2), kT0);
  REQUIRE(later);
  CHECK(*later == kT0 + 1s);
  CHECK_FALSE(n.reserve(delivery(engine::NotificationKind::page, bob(), 3), kT0));
  CHECK_FALSE(n.reserve(delivery(engine::NotificationKind::page, alice(), 2), kT0 + 1s));
  // Nothing was posted yet, so updates and channel openings touch no paced conversation.
  CHECK_FALSE(n.reserve(update(engine::IncidentState::acknowledged, 4, kT0), kT0));
  CHECK_FALSE(n.reserve(delivery(engine::NotificationKind::open_channel, std::nullopt, 5), kT0));

  // After the page, its update is paced by Alice's chat.
  REQUIRE(n.send(delivery(engine::NotificationKind::page, alice(), 6)));
  CHECK_FALSE(n.reserve(update(engine::IncidentState::acknowledged, 7, kT0 + 60s), kT0 + 10s));
  auto busy = n.reserve(update(engine::IncidentState::acknowledged, 8, kT0 + 60s), kT0 + 10s);
  REQUIRE(busy);
  CHECK(*busy == kT0 + 11s);

  auto channel_limiter = std::make_shared<ConversationLimiter>(std::vector<RateWindow>{{engine::Millis(1000), 1}});
  Rig with_channel(true, true, channel_limiter);
  auto& m = *with_channel.notifier;
  CHECK_FALSE(m.reserve(delivery(engine::NotificationKind::page, alice(), 1), kT0));
  // Bob's chat is free, but the service channel took a slot a moment ago.
  auto second = delivery(engine::NotificationKind::page, bob(), 2);
  second.incident.number = 43;
  auto wait = m.reserve(second, kT0 + 100ms);
  REQUIRE(wait);
  CHECK(*wait == kT0 + 1s);

  Rig unpaced(true, true, nullptr);
  CHECK_FALSE(unpaced.notifier->reserve(delivery(engine::NotificationKind::page, alice(), 1), kT0));
  CHECK_FALSE(unpaced.notifier->reserve(delivery(engine::NotificationKind::page, alice(), 2), kT0));
}
