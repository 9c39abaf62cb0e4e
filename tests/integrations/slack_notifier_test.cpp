#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "integrations/chat_refs.hpp"
#include "integrations/dispatcher.hpp"
#include "integrations/slack/blocks.hpp"
#include "integrations/slack/channel_lines.hpp"
#include "integrations/slack/channel_name.hpp"
#include "integrations/slack/slack_notifier.hpp"
#include "tests/support/fake_clock.hpp"
#include "tests/support/fake_slack.hpp"

using namespace baton;
using namespace baton::slack;
using namespace std::chrono_literals;
namespace json = boost::json;
using integrations::ChatRef;
using integrations::Delivery;
using integrations::MemoryChatRefs;

namespace {

const engine::TimePoint kT0 = engine::from_ms(1'767'225'600'000);  // 2026-01-01T00:00:00Z

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

engine::Person alice(bool with_slack_id = true) {
  engine::Person p;
  p.id = "alice";
  p.name = "Alice Example";
  p.email = "alice@example.com";
  if (with_slack_id) p.slack_user_id = "U0ALICE";
  return p;
}

Delivery delivery(engine::NotificationKind kind, std::optional<engine::Person> person, std::int64_t id = 1,
                  engine::IncidentState state = engine::IncidentState::triggered) {
  Delivery d;
  d.notification.id = id;
  d.notification.incident = 42;
  d.notification.person = person ? person->id : std::string();
  d.notification.method = engine::MethodKind::slack;
  d.notification.kind = kind;
  d.notification.idempotency_key = "n-" + std::to_string(id);
  d.incident = incident(state);
  d.person = std::move(person);
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
  test::FakeClock clock;  // the dispatcher's clock, which times the workspace's budgets (kT0 at first)
  test::FakeSlack fake;
  test::SlackNet net;  // the App's baton-net: after the fake, before the notifier
  std::shared_ptr<MemoryChatRefs> refs = std::make_shared<MemoryChatRefs>();
  std::string service_channel;
  SlackConfig api_config;
  std::shared_ptr<SlackNotifier> notifier;

  explicit Rig(bool with_service_channel = true, bool archive = false, bool bot_in_service_channel = true) {
    fake.add_user({"U0ALICE", "alice@example.com", "Alice Example"});
    fake.add_user({"U0BOB", "bob@example.com", "Bob Example"});
    fake.set_clock(&clock);
    SlackNotifierConfig c;
    c.api.base_url = fake.base_url();
    c.api.bot_token = "xoxb-test-token";
    c.api.timeout = 5000ms;
    c.public_url = "https://baton.example.com";
    if (with_service_channel) {
      service_channel = fake.add_channel("payments-incidents", false, bot_in_service_channel);
      c.service_channels["payments"] = service_channel;
    }
    c.open_incident_channels = true;
    c.archive_on_resolve = archive;
    api_config = c.api;
    notifier = std::make_shared<SlackNotifier>(c, refs, net.http(), net.io(), clock);
  }

  /// Another client of the notifier's workspace, as the bot's frontend has.
  std::shared_ptr<const SlackWebApi> other_client() {
    return std::make_shared<const SlackWebApi>(api_config, net.http(), net.io(), clock);
  }

  std::vector<ChatRef> refs_of(std::string_view kind) const {
    std::vector<ChatRef> out;
    for (const auto& r : refs->all()) {
      if (r.kind == kind) out.push_back(r);
    }
    return out;
  }
};

json::array parse_blocks(const std::string& text) { return json::parse(text).as_array(); }

const json::object* find_block(const json::array& blocks, std::string_view type) {
  for (const auto& b : blocks) {
    if (b.as_object().at("type").as_string() == type) return &b.as_object();
  }
  return nullptr;
}

std::vector<std::string> action_ids(const std::string& blocks_json) {
  std::vector<std::string> out;
  if (blocks_json.empty()) return out;
  const auto blocks = parse_blocks(blocks_json);
  const auto* actions = find_block(blocks, "actions");
  if (!actions) return out;
  for (const auto& e : actions->at("elements").as_array()) out.emplace_back(e.as_object().at("action_id").as_string());
  return out;
}

using Ids = std::vector<std::string>;

}  // namespace

// ---------------------------------------------------------------- channel names

// Lowercase, only a-z 0-9 - _, runs of anything else one dash, no dash at the
// ends; attempts append -2, -3...; never more than 80 characters.
TEST_CASE("incident_channel_name: slugs", "[slack][channel_name]") {
  CHECK(incident_channel_name(42, "Disk full on db-1") == "inc-42-disk-full-on-db-1");
  CHECK(incident_channel_name(42, "  API: 5xx > 10%!! (eu_west) ") == "inc-42-api-5xx-10-eu_west");
  CHECK(incident_channel_name(42, "Disk full on db-1", 1) == "inc-42-disk-full-on-db-1-2");
  CHECK(incident_channel_name(42, "Disk full on db-1", 4) == "inc-42-disk-full-on-db-1-5");
  // Punctuation only, or empty: just the number.
  CHECK(incident_channel_name(7, "!!! ??? ...") == "inc-7");
  CHECK(incident_channel_name(7, "") == "inc-7");
  CHECK(incident_channel_name(7, "---", 2) == "inc-7-3");
  // Non-ASCII letters are separators (Slack names are ASCII).
  CHECK(incident_channel_name(9, "Ошибка базы данных") == "inc-9");
  CHECK(incident_channel_name(9, "Café crème down") == "inc-9-caf-cr-me-down");
  CHECK(incident_channel_name(9, "數據庫 db-2 停機 😀") == "inc-9-db-2");
}

TEST_CASE("incident_channel_name: long summaries stay within 80", "[slack][channel_name]") {
  const std::string long_summary(200, 'a');
  auto name = incident_channel_name(123456, long_summary);
  CHECK(name.size() == 80);
  CHECK(name.starts_with("inc-123456-aaaa"));
  auto retry = incident_channel_name(123456, long_summary, 3);
  CHECK(retry.size() == 80);
  CHECK(retry.ends_with("a-4"));
  // A cut that lands on a dash leaves no trailing dash.
  std::string words;
  for (int i = 0; i < 40; ++i) words += "ab ";
  auto cut = incident_channel_name(1, words);
  CHECK(cut.size() <= 80);
  CHECK_FALSE(cut.ends_with("-"));
  for (char c : cut) CHECK(((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'));
}

// ---------------------------------------------------------------- blocks

// A triggered page: header with severity and service, the summary with the
// incident link, the four fields, a context line, and three buttons carrying
// the incident number, in one actions block "baton_actions:42".
TEST_CASE("page_blocks: a triggered page", "[slack][blocks]") {
  auto blocks = parse_blocks(page_blocks(incident(), "Payments", "Alice Example", "https://baton.example.com/"));
  REQUIRE(find_block(blocks, "header"));
  const std::string header(find_block(blocks, "header")->at("text").as_object().at("text").as_string());
  CHECK(header == "#42 CRITICAL \u00b7 Payments");
  const std::string section(find_block(blocks, "section")->at("text").as_object().at("text").as_string());
  CHECK(section == "Disk full on db-1\n<https://baton.example.com/api/v1/incidents/42|Incident #42>");

  std::vector<std::string> fields;
  for (const auto& b : blocks) {
    if (b.as_object().contains("fields")) {
      for (const auto& f : b.as_object().at("fields").as_array()) fields.emplace_back(f.as_object().at("text").as_string());
    }
  }
  REQUIRE(fields.size() == 4);
  CHECK(fields[0] == "*State*\nTriggered");
  CHECK(fields[1] == "*Owner*\nAlice Example");
  CHECK(fields[2] == "*Step*\n1");
  CHECK(fields[3] == "*Created*\n<!date^1767225600^{date_short_pretty} {time}|2026-01-01T00:00:00.000Z>");
  const auto* context = find_block(blocks, "context");
  REQUIRE(context);
  CHECK(context->at("elements").as_array().at(0).as_object().at("text").as_string() ==
        "Waiting for Alice Example to acknowledge");

  const auto* actions = find_block(blocks, "actions");
  REQUIRE(actions);
  CHECK(actions->at("block_id").as_string() == "baton_actions:42");
  const auto& buttons = actions->at("elements").as_array();
  REQUIRE(buttons.size() == 3);
  const auto& ack = buttons[0].as_object();
  CHECK(ack.at("action_id").as_string() == "baton_ack");
  CHECK(ack.at("value").as_string() == "42");
  CHECK(ack.at("style").as_string() == "primary");
  CHECK(ack.at("text").as_object().at("text").as_string() == "Acknowledge");
  const auto& resolve = buttons[1].as_object();
  CHECK(resolve.at("action_id").as_string() == "baton_resolve");
  CHECK(resolve.at("style").as_string() == "danger");
  CHECK(resolve.at("value").as_string() == "42");
  REQUIRE(resolve.contains("confirm"));
  for (const char* k : {"title", "text", "confirm", "deny"}) CHECK(resolve.at("confirm").as_object().contains(k));
  const auto& escalate = buttons[2].as_object();
  CHECK(escalate.at("action_id").as_string() == "baton_escalate");
  CHECK(escalate.at("value").as_string() == "42");
  CHECK_FALSE(escalate.contains("style"));
}

// Buttons only while they apply: acknowledged -> Resolve and Escalate, with
// "Acknowledged by" in the context; resolved -> no actions block at all.
TEST_CASE("page_blocks: buttons follow the state", "[slack][blocks]") {
  auto acked = page_blocks(incident(engine::IncidentState::acknowledged), "Payments", "Bob", "");
  CHECK(action_ids(acked) == Ids{"baton_resolve", "baton_escalate"});
  auto blocks = parse_blocks(acked);
  CHECK(find_block(blocks, "context")->at("elements").as_array().at(0).as_object().at("text").as_string() ==
        "Acknowledged by Bob <!date^1767225660^{date_short_pretty} {time}|2026-01-01T00:01:00.000Z>");
  // Without a public URL there is no link.
  CHECK(find_block(blocks, "section")->at("text").as_object().at("text").as_string() == "Disk full on db-1");

  auto resolved = page_blocks(incident(engine::IncidentState::resolved), "Payments", "Bob", "");
  CHECK(action_ids(resolved).empty());
  const auto resolved_blocks = parse_blocks(resolved);
  CHECK(find_block(resolved_blocks, "actions") == nullptr);
}

// Alert text is untrusted: &, < and > are escaped in mrkdwn so "<!channel>"
// cannot ping everyone; plain_text headers stay literal; long summaries are
// cut to Block Kit's limits.
TEST_CASE("page_blocks: escaping and limits", "[slack][blocks]") {
  auto inc = incident();
  inc.summary = "<!channel> 5xx > 10% & rising <http://evil|click>";
  auto blocks = parse_blocks(page_blocks(inc, "A&B <svc>", "Al <x>", ""));
  const std::string section(find_block(blocks, "section")->at("text").as_object().at("text").as_string());
  CHECK(section == "&lt;!channel&gt; 5xx &gt; 10% &amp; rising &lt;http://evil|click&gt;");
  CHECK(std::string(find_block(blocks, "header")->at("text").as_object().at("text").as_string()) ==
        "#42 CRITICAL \u00b7 A&B <svc>");
  CHECK(page_text(inc, "Payments", "") == "#42 CRITICAL Payments: &lt;!channel&gt; 5xx &gt; 10% &amp; rising &lt;http://evil|click&gt;");

  inc.summary = std::string(5000, 'x');
  auto long_blocks = parse_blocks(page_blocks(inc, std::string(300, 's'), "Alice", ""));
  CHECK(find_block(long_blocks, "header")->at("text").as_object().at("text").as_string().size() <= 150);
  CHECK(find_block(long_blocks, "section")->at("text").as_object().at("text").as_string().size() <= 3000);
  CHECK(page_text(inc, "Payments", "").size() <= 3000);
  CHECK(utf8_prefix("h\u00e9llo", 2) == "h");
}

TEST_CASE("page_text: the notification fallback", "[slack][blocks]") {
  CHECK(page_text(incident(), "Payments", "Alice") == "#42 CRITICAL Payments: Disk full on db-1");
  CHECK(page_text(incident(engine::IncidentState::acknowledged), "Payments", "Bob") ==
        "#42 CRITICAL Payments: Disk full on db-1 (acknowledged by Bob)");
  CHECK(page_text(incident(engine::IncidentState::resolved), "", "Bob") ==
        "#42 CRITICAL payments: Disk full on db-1 (resolved)");
}

// ---------------------------------------------------------------- the notifier

// A page: the DM is opened with the person's Slack id, the page blocks go
// there with three buttons, the service channel gets the same post once per
// incident, and both messages are remembered.
TEST_CASE("SlackNotifier: page opens the DM and posts in the service channel", "[slack][notifier]") {
  Rig rig;
  auto sent = rig.notifier->send(delivery(engine::NotificationKind::page, alice()));
  REQUIRE(sent);

  auto opens = rig.fake.calls("conversations.open");
  REQUIRE(opens.size() == 1);
  CHECK(opens[0].arg("users") == "U0ALICE");
  CHECK(rig.fake.calls("users.lookupByEmail").empty());

  const auto dm = rig.fake.dm_channel("U0ALICE");
  auto dm_messages = rig.fake.messages(dm);
  REQUIRE(dm_messages.size() == 1);
  CHECK(dm_messages[0].text == "#42 CRITICAL Payments: Disk full on db-1");
  CHECK(action_ids(dm_messages[0].blocks_json) == Ids{"baton_ack", "baton_resolve", "baton_escalate"});
  auto channel_messages = rig.fake.messages(rig.service_channel);
  REQUIRE(channel_messages.size() == 1);
  CHECK(action_ids(channel_messages[0].blocks_json) == Ids{"baton_ack", "baton_resolve", "baton_escalate"});

  auto dms = rig.refs_of("slack-dm");
  REQUIRE(dms.size() == 1);
  CHECK(dms[0].incident == 42);
  CHECK(dms[0].conversation == dm);
  CHECK(dms[0].message_id == dm_messages[0].ts);
  CHECK(dms[0].person == "alice");
  auto posts = rig.refs_of("slack-channel-post");
  REQUIRE(posts.size() == 1);
  CHECK(posts[0].conversation == rig.service_channel);
  CHECK(posts[0].message_id == channel_messages[0].ts);

  // The escalation pages Bob: a DM for him, no second post in the service channel.
  engine::Person bob;
  bob.id = "bob";
  bob.name = "Bob Example";
  bob.slack_user_id = "U0BOB";
  auto second = delivery(engine::NotificationKind::page, bob, 2);
  second.incident.owner = "bob";
  REQUIRE(rig.notifier->send(second));
  CHECK(rig.fake.messages(rig.fake.dm_channel("U0BOB")).size() == 1);
  CHECK(rig.fake.messages(rig.service_channel).size() == 1);
  CHECK(rig.refs_of("slack-channel-post").size() == 1);
}

// Without a Slack id the user is looked up by email, once; nobody with that
// email (users_not_found), or neither id nor email, fails for good so the
// contact chain moves on.
TEST_CASE("SlackNotifier: lookup by email, and unknown users", "[slack][notifier]") {
  Rig rig(false);
  REQUIRE(rig.notifier->send(delivery(engine::NotificationKind::page, alice(false), 1)));
  REQUIRE(rig.notifier->send(delivery(engine::NotificationKind::page, alice(false), 2)));
  auto lookups = rig.fake.calls("users.lookupByEmail");
  REQUIRE(lookups.size() == 1);
  CHECK(lookups[0].arg("email") == "alice@example.com");
  CHECK(rig.fake.messages(rig.fake.dm_channel("U0ALICE")).size() == 2);

  auto stranger = alice(false);
  stranger.id = "carol";
  stranger.name = "Carol";
  stranger.email = "carol@example.com";
  auto unknown = rig.notifier->send(delivery(engine::NotificationKind::page, stranger, 3));
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().kind == ErrorKind::permanent);
  CHECK(unknown.error().message.starts_with("no Slack user for Carol"));

  stranger.email.clear();
  auto nothing = rig.notifier->send(delivery(engine::NotificationKind::page, stranger, 4));
  REQUIRE_FALSE(nothing);
  CHECK(nothing.error().kind == ErrorKind::permanent);
  CHECK(nothing.error().message == "no Slack user for Carol");
}

// After the acknowledgement, the update edits the DM and the channel post in
// place with the buttons reduced to Resolve and Escalate; a second update for
// the same change (another addressee) does not touch the shared post again.
TEST_CASE("SlackNotifier: update edits every message", "[slack][notifier]") {
  Rig rig;
  REQUIRE(rig.notifier->send(delivery(engine::NotificationKind::page, alice())));
  REQUIRE(rig.notifier->send(update(engine::IncidentState::acknowledged, 2, kT0 + 60s)));

  auto updates = rig.fake.calls("chat.update");
  REQUIRE(updates.size() == 2);
  const auto dm = rig.fake.dm_channel("U0ALICE");
  auto dm_message = rig.fake.messages(dm).at(0);
  CHECK(dm_message.edits == 1);
  CHECK(dm_message.text == "#42 CRITICAL Payments: Disk full on db-1 (acknowledged by Alice Example)");
  CHECK(action_ids(dm_message.blocks_json) == Ids{"baton_resolve", "baton_escalate"});
  auto post = rig.fake.messages(rig.service_channel).at(0);
  CHECK(post.edits == 1);
  CHECK(action_ids(post.blocks_json) == Ids{"baton_resolve", "baton_escalate"});

  REQUIRE(rig.notifier->send(update(engine::IncidentState::acknowledged, 3, kT0 + 60s)));
  CHECK(rig.fake.messages(rig.service_channel).at(0).edits == 1);

  // Resolved: no buttons left.
  REQUIRE(rig.notifier->send(update(engine::IncidentState::resolved, 4, kT0 + 120s)));
  CHECK(action_ids(rig.fake.messages(dm).at(0).blocks_json).empty());
  CHECK(action_ids(rig.fake.messages(rig.service_channel).at(0).blocks_json).empty());
}

// Someone deleted the DM: chat.update answers message_not_found, so the
// update posts a new message and remembers it; the next update edits that one.
TEST_CASE("SlackNotifier: message_not_found posts anew", "[slack][notifier]") {
  Rig rig(false);
  REQUIRE(rig.notifier->send(delivery(engine::NotificationKind::page, alice())));
  const auto dm = rig.fake.dm_channel("U0ALICE");
  const auto old_ts = rig.fake.messages(dm).at(0).ts;
  rig.fake.delete_message(dm, old_ts);

  REQUIRE(rig.notifier->send(update(engine::IncidentState::acknowledged, 2, kT0 + 60s)));
  auto messages = rig.fake.messages(dm);
  REQUIRE(messages.size() == 1);
  CHECK(messages[0].ts != old_ts);
  CHECK(action_ids(messages[0].blocks_json) == Ids{"baton_resolve", "baton_escalate"});
  auto dms = rig.refs_of("slack-dm");
  REQUIRE(dms.size() == 2);
  CHECK(dms.back().message_id == messages[0].ts);

  REQUIRE(rig.notifier->send(update(engine::IncidentState::resolved, 3, kT0 + 120s)));
  CHECK(rig.fake.messages(dm).size() == 1);
  CHECK(rig.fake.messages(dm).at(0).edits == 1);
}

// open_channel: the first name is taken, so "-2" is created; the topic names
// the incident and its owner; the channel is remembered; the owner (known
// from the earlier page) is invited. A retry creates nothing new.
TEST_CASE("SlackNotifier: open_channel retries a taken name and invites the owner", "[slack][notifier]") {
  Rig rig(false);
  rig.fake.add_channel("inc-42-disk-full-on-db-1");
  REQUIRE(rig.notifier->send(delivery(engine::NotificationKind::page, alice())));
  auto open = delivery(engine::NotificationKind::open_channel, std::nullopt, 2);
  REQUIRE(rig.notifier->send(open));

  auto creates = rig.fake.calls("conversations.create");
  REQUIRE(creates.size() == 2);
  CHECK(creates[0].arg("name") == "inc-42-disk-full-on-db-1");
  CHECK(creates[1].arg("name") == "inc-42-disk-full-on-db-1-2");
  auto channel = rig.fake.channel_by_name("inc-42-disk-full-on-db-1-2");
  REQUIRE(channel);
  CHECK(channel->topic == "#42 CRITICAL: Disk full on db-1 \u2014 Alice Example");
  CHECK(std::find(channel->members.begin(), channel->members.end(), "U0ALICE") != channel->members.end());
  auto refs = rig.refs_of("slack-incident-channel");
  REQUIRE(refs.size() == 1);
  CHECK(refs[0].conversation == channel->id);

  REQUIRE(rig.notifier->send(open));
  CHECK(rig.fake.calls("conversations.create").size() == 2);
  CHECK(rig.refs_of("slack-incident-channel").size() == 1);
}

// The channel opened before anyone was paged: the page then invites the
// person; every taken name fails for good after attempt 5.
TEST_CASE("SlackNotifier: page invites into an existing incident channel; names run out", "[slack][notifier]") {
  Rig rig(false);
  REQUIRE(rig.notifier->send(delivery(engine::NotificationKind::open_channel, std::nullopt, 1)));
  CHECK(rig.fake.calls("conversations.invite").empty());
  REQUIRE(rig.notifier->send(delivery(engine::NotificationKind::page, alice(), 2)));
  auto invites = rig.fake.calls("conversations.invite");
  REQUIRE(invites.size() == 1);
  CHECK(invites[0].arg("users") == "U0ALICE");

  Rig full(false);
  full.fake.add_channel("inc-42-disk-full-on-db-1");
  for (int attempt = 1; attempt <= 5; ++attempt) full.fake.add_channel(incident_channel_name(42, "Disk full on db-1", attempt));
  auto none = full.notifier->send(delivery(engine::NotificationKind::open_channel, std::nullopt, 1));
  REQUIRE_FALSE(none);
  CHECK(none.error().kind == ErrorKind::permanent);
  CHECK(full.fake.calls("conversations.create").size() == 6);
}

// With archive_on_resolve, the resolve update posts "Resolved" in the
// incident channel and archives it; the acknowledgement before posted
// "Acknowledged by Alice Example".
TEST_CASE("SlackNotifier: lines in the incident channel and archive on resolve", "[slack][notifier]") {
  Rig rig(false, true);
  REQUIRE(rig.notifier->send(delivery(engine::NotificationKind::page, alice(), 1)));
  REQUIRE(rig.notifier->send(delivery(engine::NotificationKind::open_channel, std::nullopt, 2)));
  const auto channel = rig.refs_of("slack-incident-channel").at(0).conversation;

  REQUIRE(rig.notifier->send(update(engine::IncidentState::acknowledged, 3, kT0 + 60s)));
  REQUIRE(rig.notifier->send(update(engine::IncidentState::acknowledged, 4, kT0 + 60s)));  // same change: no second line
  auto lines = rig.fake.messages(channel);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].text == "Acknowledged by Alice Example");
  CHECK_FALSE(rig.fake.channel(channel)->archived);

  REQUIRE(rig.notifier->send(update(engine::IncidentState::resolved, 5, kT0 + 120s)));
  lines = rig.fake.messages(channel);
  REQUIRE(lines.size() == 2);
  CHECK(lines[1].text == "Resolved");
  CHECK(rig.fake.channel(channel)->archived);
  CHECK(rig.fake.calls("conversations.archive").size() == 1);
}

// Slack down: the page comes back transient (the Dispatcher retries, then
// reports the failure and the chain moves on) and nothing is remembered; a
// 429 is rate_limited with Retry-After; once Slack is back the page goes out.
TEST_CASE("SlackNotifier: Slack outages are retryable errors", "[slack][notifier]") {
  Rig rig;
  rig.fake.set_down(true);
  auto down = rig.notifier->send(delivery(engine::NotificationKind::page, alice()));
  REQUIRE_FALSE(down);
  CHECK(down.error().kind == ErrorKind::transient);
  CHECK(rig.refs->all().empty());
  auto open = rig.notifier->send(delivery(engine::NotificationKind::open_channel, std::nullopt, 5));
  REQUIRE_FALSE(open);
  CHECK(open.error().kind == ErrorKind::transient);

  rig.fake.set_down(false);
  rig.fake.rate_limit_next("chat.postMessage", 3);
  auto limited = rig.notifier->send(delivery(engine::NotificationKind::page, alice()));
  REQUIRE_FALSE(limited);
  CHECK(limited.error().kind == ErrorKind::rate_limited);
  CHECK(limited.error().retry_after == 3s);

  REQUIRE(rig.notifier->send(delivery(engine::NotificationKind::page, alice())));
  CHECK(rig.refs_of("slack-dm").size() == 1);

  // A revoked token fails for good (the DM channel is cached, so the post fails).
  rig.fake.fail_next("chat.postMessage", "token_revoked");
  auto revoked = rig.notifier->send(delivery(engine::NotificationKind::page, alice(), 9));
  REQUIRE_FALSE(revoked);
  CHECK(revoked.error().kind == ErrorKind::auth_revoked);
}

// A failed service-channel post after the DM went out does not fail the
// page (the person has it), and a retry of the same notification does not
// DM again.
TEST_CASE("SlackNotifier: the DM is sent once per notification", "[slack][notifier]") {
  Rig rig;
  REQUIRE(rig.notifier->send(delivery(engine::NotificationKind::page, alice(), 1)));
  REQUIRE(rig.notifier->send(delivery(engine::NotificationKind::page, alice(), 1)));  // a retry
  CHECK(rig.fake.messages(rig.fake.dm_channel("U0ALICE")).size() == 1);
}

// reserve(): chat.postMessage is paced per target at one a second: a second
// page to the same user waits a second, another user does not; the service
// channel is a key of its own while the incident has no post there.
TEST_CASE("SlackNotifier: reserve paces per user and channel", "[slack][notifier]") {
  Rig rig(false);
  auto& n = *rig.notifier;
  CHECK_FALSE(n.reserve(delivery(engine::NotificationKind::page, alice(), 1), kT0));
  auto later = n.reserve(delivery(engine::NotificationKind::page, alice(), 2), kT0);
  REQUIRE(later);
  CHECK(*later == kT0 + 1s);
  engine::Person bob;
  bob.id = "bob";
  bob.slack_user_id = "U0BOB";
  CHECK_FALSE(n.reserve(delivery(engine::NotificationKind::page, bob, 3), kT0));
  CHECK_FALSE(n.reserve(delivery(engine::NotificationKind::page, alice(), 2), kT0 + 1s));
  // Updates and channel openings post nothing paced while there is no incident channel.
  CHECK_FALSE(n.reserve(update(engine::IncidentState::acknowledged, 4, kT0), kT0));
  CHECK_FALSE(n.reserve(delivery(engine::NotificationKind::open_channel, std::nullopt, 5), kT0));

  Rig with_channel;
  auto& m = *with_channel.notifier;
  CHECK_FALSE(m.reserve(delivery(engine::NotificationKind::page, alice(), 1), kT0));
  // Bob's DM is free, but the service channel took a slot a moment ago.
  auto second = delivery(engine::NotificationKind::page, bob, 2);
  second.incident.number = 43;
  auto wait = m.reserve(second, kT0 + 100ms);
  REQUIRE(wait);
  CHECK(*wait == kT0 + 1s);
}

TEST_CASE("SlackNotifier: conversations.open is asked once per user", "[slack][notifier]") {
  // Scenario: two pages to alice (two incidents' notifications): the DM
  // channel from the first conversations.open is reused for the second, since
  // the method is rate-tiered (Tier 3) and a page storm must not exhaust it.
  Rig rig(false);
  REQUIRE(rig.notifier->send(delivery(engine::NotificationKind::page, alice(), 1)));
  REQUIRE(rig.notifier->send(delivery(engine::NotificationKind::page, alice(), 2)));
  CHECK(rig.fake.calls("conversations.open").size() == 1);
  CHECK(rig.fake.calls("chat.postMessage").size() == 2);
}

// ---------------------------------------------------------------- asynchronous sends

namespace {

// Outcomes of send_async(), collected from whichever thread reports them.
struct Outcomes {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::pair<std::string, Result<void>>> done;  // (label, outcome) in the order reported
  bool off_loop = false;                                    // an outcome reported off the network thread

  std::function<void(Result<void>)> collect(std::string label, const test::SlackNet& net) {
    return [this, label = std::move(label), &net](Result<void> r) {
      std::lock_guard lock(mutex);
      if (!net.on_loop_thread()) off_loop = true;
      done.emplace_back(label, std::move(r));
      changed.notify_all();
    };
  }
  std::size_t count() {
    std::lock_guard lock(mutex);
    return done.size();
  }
  bool wait_for(std::size_t n) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, 60s, [&] { return done.size() >= n; });
  }
};

engine::Person person_n(int i) {
  engine::Person p;
  p.id = "p" + std::to_string(i);
  p.name = "Person " + std::to_string(i);
  p.slack_user_id = "U0P" + std::to_string(i);
  return p;
}

}  // namespace

TEST_CASE("SlackNotifier: pages go out without a thread per page while Slack is slow", "[slack][notifier][async]") {
  // Scenario: Slack takes 300 ms to answer every chat.postMessage. 200 pages
  // (4 incidents for each of 50 people) are started with send_async(): every
  // call returns at once (the page is still on its way) and all 200 arrive,
  // each reported once, from the network thread. conversations.open is asked
  // once per person (the first round fills the DM cache; Tier 3 allows 50).
  Rig rig(false);
  CHECK(rig.notifier->is_async());
  constexpr int kPeople = 50;
  for (int i = 0; i < kPeople; ++i) rig.fake.add_user({person_n(i).slack_user_id, "", person_n(i).name});
  Outcomes outcomes;
  std::size_t reported_while_starting = 0;
  std::int64_t id = 1;
  for (int round = 0; round < 4; ++round) {
    const std::size_t before = outcomes.count();
    const std::size_t n = before + kPeople;
    for (int i = 0; i < kPeople; ++i) rig.fake.delay_next("chat.postMessage", 300ms);
    for (int i = 0; i < kPeople; ++i) {
      auto d = delivery(engine::NotificationKind::page, person_n(i), id++);
      d.incident.number = 100 + round;
      d.notification.incident = d.incident.number;
      rig.notifier->send_async(d, outcomes.collect("p" + std::to_string(i), rig.net));
    }
    reported_while_starting += outcomes.count() - before;
    REQUIRE(outcomes.wait_for(n));
  }
  // A blocking send would have reported each page before its call returned.
  CHECK(reported_while_starting < 4 * kPeople);
  CHECK_FALSE(outcomes.off_loop);
  REQUIRE(outcomes.done.size() == 4 * kPeople);
  for (const auto& [label, r] : outcomes.done) {
    INFO(label << ": " << (r ? std::string("ok") : r.error().message));
    CHECK(r);
  }
  CHECK(rig.fake.calls("chat.postMessage").size() == 4 * kPeople);
  CHECK(rig.fake.calls("conversations.open").size() == kPeople);
  CHECK(rig.refs_of("slack-dm").size() == 4 * kPeople);
  for (int i = 0; i < kPeople; ++i) CHECK(rig.fake.messages(rig.fake.dm_channel(person_n(i).slack_user_id)).size() == 4);
}

TEST_CASE("SlackNotifier: a burst of pages to one new person asks Slack once", "[slack][notifier][async]") {
  // Scenario (found by the O6 benchmark): ten incidents page the same person,
  // known only by email, before Slack has answered the first lookup. Every
  // page used to start its own users.lookupByEmail and conversations.open, so
  // a burst spent conversations.open's Tier 3 budget (50 a minute) on one
  // person and the rest were refused as rate_limited. Now the calls in flight
  // are shared: one lookup, one open, ten DMs.
  Rig rig(false);
  rig.fake.delay_next("users.lookupByEmail", 300ms);
  rig.fake.delay_next("conversations.open", 300ms);
  Outcomes outcomes;
  constexpr int kPages = 10;
  for (int i = 0; i < kPages; ++i) {
    auto d = delivery(engine::NotificationKind::page, alice(false), 1 + i);
    d.incident.number = 200 + i;
    d.notification.incident = d.incident.number;
    rig.notifier->send_async(d, outcomes.collect("p" + std::to_string(i), rig.net));
  }
  REQUIRE(outcomes.wait_for(kPages));
  for (const auto& [label, r] : outcomes.done) {
    INFO(label << ": " << (r ? std::string("ok") : r.error().message));
    CHECK(r);
  }
  CHECK(rig.fake.calls("users.lookupByEmail").size() == 1);
  CHECK(rig.fake.calls("conversations.open").size() == 1);
  CHECK(rig.fake.messages(rig.fake.dm_channel("U0ALICE")).size() == kPages);
}

TEST_CASE("SlackNotifier: a slow users.lookupByEmail does not delay another person's page", "[slack][notifier][async]") {
  // Scenario: alice has no Slack id, so her page needs users.lookupByEmail,
  // and Slack takes 3 s to answer it. Bob's page, started after hers, is
  // delivered first; hers follows once the lookup answers.
  Rig rig(false);
  rig.fake.delay_next("users.lookupByEmail", 3s);
  Outcomes outcomes;
  rig.notifier->send_async(delivery(engine::NotificationKind::page, alice(false), 1), outcomes.collect("alice", rig.net));
  REQUIRE(rig.fake.peer().wait_for_requests(1, 10s));  // her lookup is on its way
  engine::Person bob;
  bob.id = "bob";
  bob.name = "Bob Example";
  bob.slack_user_id = "U0BOB";
  auto second = delivery(engine::NotificationKind::page, bob, 2);
  rig.notifier->send_async(second, outcomes.collect("bob", rig.net));
  REQUIRE(outcomes.wait_for(2));
  CHECK(outcomes.done[0].first == "bob");
  CHECK(outcomes.done[0].second);
  CHECK(outcomes.done[1].first == "alice");
  CHECK(outcomes.done[1].second);
  CHECK(rig.fake.messages(rig.fake.dm_channel("U0ALICE")).size() == 1);
  CHECK(rig.fake.messages(rig.fake.dm_channel("U0BOB")).size() == 1);
}

TEST_CASE("SlackNotifier: an update and an open_channel chain their calls asynchronously", "[slack][notifier][async]") {
  // Scenario: with Slack slow on chat.update (2 s), an acknowledgement's
  // update (DM edit, channel post edit) is started with send_async() and
  // reported later, while a channel opening for another incident completes
  // meanwhile (create, setTopic, invite).
  Rig rig;
  REQUIRE(rig.notifier->send(delivery(engine::NotificationKind::page, alice(), 1)));
  rig.fake.delay_next("chat.update", 2s);
  Outcomes outcomes;
  rig.notifier->send_async(update(engine::IncidentState::acknowledged, 2, kT0 + 60s), outcomes.collect("update", rig.net));
  auto open = delivery(engine::NotificationKind::open_channel, std::nullopt, 3);
  open.incident.number = 43;
  open.notification.incident = 43;
  rig.notifier->send_async(open, outcomes.collect("open", rig.net));
  REQUIRE(outcomes.wait_for(2));
  CHECK(outcomes.done[0].first == "open");
  for (const auto& [label, r] : outcomes.done) {
    INFO(label);
    CHECK(r);
  }
  CHECK(rig.fake.calls("chat.update").size() == 2);
  auto channel = rig.fake.channel_by_name("inc-43-disk-full-on-db-1");
  REQUIRE(channel);
  CHECK(std::find(channel->members.begin(), channel->members.end(), "U0ALICE") != channel->members.end());
}

// ---------------------------------------------------------------- one workspace, one pace

// Polls (bounded) for `pred`: answers come on the network thread.
template <typename Pred>
bool eventually(Pred pred) {
  for (int i = 0; i < 1000 && !pred(); ++i) std::this_thread::sleep_for(10ms);
  return pred();
}

TEST_CASE("SlackNotifier: an incident channel has one pace for timeline lines and state changes", "[slack][notifier]") {
  // Scenario: incident 42 has its channel. The bot posts a timeline line there
  // (ChannelLines, as the frontend does) and, in the same second, alice
  // acknowledges: the update's state-change line must wait for the channel's
  // next slot, a second later by the clock, instead of keeping a pacer of its
  // own (the two used to reach 4 posts within 1.01 s). A line queued behind
  // it goes a second after that, once the clock gets there.
  Rig rig(false);
  REQUIRE(rig.notifier->send(delivery(engine::NotificationKind::page, alice(), 1)));
  REQUIRE(rig.notifier->send(delivery(engine::NotificationKind::open_channel, std::nullopt, 2)));
  const auto channel = rig.refs_of("slack-incident-channel").at(0).conversation;
  slack::ChannelLines lines(rig.other_client(), rig.clock);

  lines.post(channel, "00:00:00 UTC  Page to Alice Example via slack delivered");
  REQUIRE(eventually([&] { return rig.fake.messages(channel).size() == 1; }));
  const auto ack = update(engine::IncidentState::acknowledged, 3, kT0 + 60s);
  auto wait = rig.notifier->reserve(ack, rig.clock.now());
  REQUIRE(wait);
  CHECK(*wait == rig.clock.now() + 1s);

  rig.clock.advance(1s);
  REQUIRE_FALSE(rig.notifier->reserve(ack, rig.clock.now()));
  REQUIRE(rig.notifier->send(ack));
  lines.post(channel, "00:00:01 UTC  Acknowledged by alice via slack");
  rig.clock.advance(1s);
  REQUIRE(eventually([&] { return rig.fake.messages(channel).size() == 3; }));
  const auto posts = rig.fake.calls("chat.postMessage");
  std::vector<engine::TimePoint> at;
  for (const auto& call : posts)
    if (call.arg("channel") == channel) at.push_back(call.at);
  REQUIRE(at.size() == 3);
  CHECK(at[1] - at[0] >= 1s);
  CHECK(at[2] - at[1] >= 1s);
}

TEST_CASE("SlackNotifier: every incident gets its channel, however long conversations.create's tier makes it wait",
          "[slack][notifier]") {
  // Scenario: 30 incidents open at once, each asking for a channel, through
  // the dispatcher with a fake clock. conversations.create is Tier 2: 20 go at
  // once, the other 10 one every 3 s. Waiting for a slot that baton's own
  // pacing sets is no attempt: with max_attempts 1, a wait counted as a
  // failure would lose the channel (it used to: 25 of 30, "gave up after 6
  // attempts: ... paced to its rate tier"). All 30 are delivered, none
  // failed, and Slack is asked exactly 30 times.
  Rig rig(false);
  std::mutex mutex;
  std::vector<integrations::DispatchOutcome> outcomes;
  integrations::Dispatcher::Options options;
  options.max_attempts = 1;
  integrations::Dispatcher dispatcher({rig.notifier}, rig.clock, options, [&](const integrations::DispatchOutcome& o) {
    std::lock_guard lock(mutex);
    outcomes.push_back(o);
  });
  for (int n = 1; n <= 30; ++n) {
    auto d = delivery(engine::NotificationKind::open_channel, std::nullopt, n);
    d.incident.number = n;
    d.notification.incident = n;
    dispatcher.submit(d);
  }
  auto delivered = [&] {
    std::lock_guard lock(mutex);
    return std::count_if(outcomes.begin(), outcomes.end(), [](const auto& o) {
      return o.kind == integrations::DispatchOutcome::Kind::delivered;
    });
  };
  for (int step = 0; step < 120 && delivered() < 30; ++step) {
    REQUIRE(dispatcher.wait_quiet(10s));
    if (delivered() < 30) rig.clock.advance(1s);
  }
  REQUIRE(dispatcher.wait_quiet(10s));
  std::lock_guard lock(mutex);
  for (const auto& o : outcomes) {
    INFO(o.notification.incident << ": " << o.detail);
    CHECK(o.kind == integrations::DispatchOutcome::Kind::delivered);
  }
  CHECK(outcomes.size() == 30);
  CHECK(rig.fake.calls("conversations.create").size() == 30);
  CHECK(rig.refs_of("slack-incident-channel").size() == 30);
  CHECK(rig.clock.now() - kT0 >= 30s);  // the tier's pace: 10 more at one per 3 s
}

TEST_CASE("SlackNotifier: a service channel baton cannot post in is noted on the incident's timeline", "[slack][notifier]") {
  // Scenario: the service channel exists, but the bot is not in it (and,
  // without chat:write.public, may not post there): Slack answers
  // not_in_channel. alice still gets her page (the DM), so the page is
  // delivered; the problem goes to incident 42's timeline through the
  // workspace's note sink, once, however many pages try again.
  Rig rig(true, false, false);
  std::mutex mutex;
  std::vector<std::pair<std::int64_t, std::string>> notes;
  auto client = rig.other_client();
  client->workspace().set_note_sink([&](std::int64_t incident, std::string text) {
    std::lock_guard lock(mutex);
    notes.emplace_back(incident, std::move(text));
  });
  REQUIRE(rig.notifier->send(delivery(engine::NotificationKind::page, alice(), 1)));
  engine::Person bob;
  bob.id = "bob";
  bob.slack_user_id = "U0BOB";
  REQUIRE(rig.notifier->send(delivery(engine::NotificationKind::page, bob, 2)));
  CHECK(rig.fake.messages(rig.fake.dm_channel("U0ALICE")).size() == 1);
  CHECK(rig.fake.calls("chat.postMessage").size() == 4);  // two DMs, two refused channel posts
  std::lock_guard lock(mutex);
  REQUIRE(notes.size() == 1);
  CHECK(notes[0].first == 42);
  CHECK(notes[0].second.find("not_in_channel") != std::string::npos);
  CHECK(notes[0].second.find(rig.service_channel) != std::string::npos);
  client->workspace().set_note_sink({});
}
