#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include "integrations/common/command_grammar.hpp"
#include "integrations/teams/activities.hpp"
#include "integrations/teams/cards.hpp"

using namespace baton;
using namespace baton::teams;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

const engine::TimePoint kT0 = engine::from_ms(1'767'225'600'000);  // 2026-01-01T00:00:00Z
constexpr const char* kAppId = "00000000-0000-0000-0000-0000000000b0";

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

json::object card(engine::IncidentState state, std::string_view owner = "Alice Example",
                  std::string_view url = "https://baton.example.com/") {
  return json::parse(incident_card(incident(state), "Payments", owner, url)).as_object();
}

std::vector<std::string> verbs(const json::object& card) {
  std::vector<std::string> out;
  for (const auto& a : card.at("actions").as_array()) out.emplace_back(a.as_object().at("verb").as_string());
  return out;
}

std::vector<std::string> texts(const json::object& card) {
  std::vector<std::string> out;
  for (const auto& b : card.at("body").as_array()) {
    if (b.as_object().at("type") == "TextBlock") out.emplace_back(b.as_object().at("text").as_string());
  }
  return out;
}

std::string fact(const json::object& card, std::string_view title) {
  for (const auto& b : card.at("body").as_array()) {
    if (b.as_object().at("type") != "FactSet") continue;
    for (const auto& f : b.as_object().at("facts").as_array()) {
      if (f.as_object().at("title").as_string() == title) return std::string(f.as_object().at("value").as_string());
    }
  }
  return "<none>";
}

using Strings = std::vector<std::string>;

}  // namespace

// ---------------------------------------------------------------- cards

// A triggered page: an AdaptiveCard 1.5 with the title, the summary, the
// facts, a status line and the incident link; three Action.Execute actions
// with verbs baton.ack/resolve/escalate and data {"incident":42}, each with an
// Action.Submit fallback carrying the same data plus the verb.
TEST_CASE("incident_card: a triggered page", "[teams][cards]") {
  const auto c = card(engine::IncidentState::triggered);
  CHECK(c.at("type") == "AdaptiveCard");
  CHECK(c.at("version") == "1.5");
  CHECK(c.at("$schema") == "http://adaptivecards.io/schemas/adaptive-card.json");
  const auto t = texts(c);
  REQUIRE(t.size() == 4);
  CHECK(t[0] == "#42 CRITICAL \u00b7 Payments");
  CHECK(t[1] == "Disk full on db-1");
  CHECK(t[2] == "Waiting for Alice Example to acknowledge");
  CHECK(t[3] == "[Incident #42](https://baton.example.com/api/v1/incidents/42)");
  CHECK(fact(c, "Severity") == "CRITICAL");
  CHECK(fact(c, "Service") == "Payments");
  CHECK(fact(c, "State") == "Triggered");
  CHECK(fact(c, "Owner") == "Alice Example");
  CHECK(fact(c, "Step") == "1");
  CHECK(fact(c, "Created") == "2026-01-01 00:00 UTC");

  CHECK(verbs(c) == Strings{"baton.ack", "baton.resolve", "baton.escalate"});
  const auto& actions = c.at("actions").as_array();
  const Strings titles{"Acknowledge", "Resolve", "Escalate"};
  for (std::size_t i = 0; i < actions.size(); ++i) {
    const auto& a = actions[i].as_object();
    CHECK(a.at("type") == "Action.Execute");
    CHECK(a.at("title").as_string() == titles[i]);
    CHECK(a.at("data") == json::object{{"incident", 42}});
    const auto& fallback = a.at("fallback").as_object();
    CHECK(fallback.at("type") == "Action.Submit");
    CHECK(fallback.at("title").as_string() == titles[i]);
    CHECK(fallback.at("data") == json::object{{"incident", 42}, {"verb", a.at("verb")}});
  }
}

// Actions only while they apply; the status line says who acted and when
// (rendered in the reader's zone through DATE()/TIME()).
TEST_CASE("incident_card: actions and status follow the state", "[teams][cards]") {
  const auto acked = card(engine::IncidentState::acknowledged, "Bob", "");
  CHECK(verbs(acked) == Strings{"baton.resolve", "baton.escalate"});
  CHECK(fact(acked, "State") == "Acknowledged");
  const auto acked_texts = texts(acked);
  REQUIRE(acked_texts.size() == 3);  // no link without a public URL
  CHECK(acked_texts[2] == "Acknowledged by Bob at {{DATE(2026-01-01T00:01:00Z, SHORT)}} {{TIME(2026-01-01T00:01:00Z)}}");

  const auto resolved = card(engine::IncidentState::resolved, "Bob", "");
  CHECK(resolved.at("actions").as_array().empty());
  CHECK(texts(resolved)[2] ==
        "Resolved at {{DATE(2026-01-01T00:02:00Z, SHORT)}} {{TIME(2026-01-01T00:02:00Z)}} \u00b7 owner Bob");

  const auto nobody = card(engine::IncidentState::triggered, "", "");
  CHECK(texts(nobody)[2] == "Nobody is paged");
  CHECK(fact(nobody, "Owner") == "nobody");

  auto escalated = incident();
  escalated.escalation.step = 2;
  CHECK(fact(json::parse(incident_card(escalated, "", "Carol", "")).as_object(), "Step") == "3");
  CHECK(fact(json::parse(incident_card(escalated, "", "Carol", "")).as_object(), "Service") == "payments");
}

// Long untrusted text is cut at a character boundary; the card stays valid JSON.
TEST_CASE("incident_card: limits", "[teams][cards]") {
  auto inc = incident();
  inc.summary = std::string(1999, 'x') + "\u00e9\u00e9";  // the cut lands inside a 2-byte character
  const auto c = json::parse(incident_card(inc, std::string(500, 's'), "Alice", "")).as_object();
  const auto t = texts(c);
  CHECK(t[1].size() <= 2000);
  CHECK(t[1].ends_with("..."));
  CHECK(fact(c, "Service").size() <= 200);
  CHECK(incident_text(incident(), "Payments", "Alice") == "#42 CRITICAL Payments: Disk full on db-1");
  CHECK(incident_text(incident(engine::IncidentState::acknowledged), "Payments", "Bob") ==
        "#42 CRITICAL Payments: Disk full on db-1 (acknowledged by Bob)");
  CHECK(incident_text(incident(engine::IncidentState::resolved), "", "Bob") ==
        "#42 CRITICAL payments: Disk full on db-1 (resolved)");
}

// The envelopes: a message activity with the card as its adaptive attachment,
// the invoke answer with the refreshed card, and invoke messages and errors.
TEST_CASE("card_activity, invoke_response and invoke_message", "[teams][cards]") {
  const std::string c = incident_card(incident(), "Payments", "Alice", "");
  const auto activity = json::parse(card_activity(c, "#42 CRITICAL Payments: Disk full on db-1")).as_object();
  CHECK(activity.at("type") == "message");
  CHECK(activity.at("text") == "#42 CRITICAL Payments: Disk full on db-1");
  const auto& attachments = activity.at("attachments").as_array();
  REQUIRE(attachments.size() == 1);
  CHECK(attachments[0].as_object().at("contentType") == "application/vnd.microsoft.card.adaptive");
  CHECK(attachments[0].as_object().at("content") == json::parse(c));

  const auto response = json::parse(invoke_response(c)).as_object();
  CHECK(response.at("statusCode") == 200);
  CHECK(response.at("type") == "application/vnd.microsoft.card.adaptive");
  CHECK(response.at("value") == json::parse(c));

  CHECK(json::parse(invoke_message(200, "Already acknowledged")) ==
        json::parse(R"({"statusCode":200,"type":"application/vnd.microsoft.activity.message","value":"Already acknowledged"})"));
  CHECK(json::parse(invoke_message(403, "You are not on the roster")) ==
        json::parse(R"({"statusCode":403,"type":"application/vnd.microsoft.error",
                        "value":{"code":"Forbidden","message":"You are not on the roster"}})"));
  CHECK(json::parse(invoke_message(500, "x")).at("value").at("code") == "InternalServerError");
  CHECK_THROWS_AS(card_activity("not json", "x"), std::invalid_argument);
  CHECK_THROWS_AS(invoke_response("[1]"), std::invalid_argument);

  CHECK(json::parse(text_activity("line one\nline two")) ==
        json::parse(R"({"type":"message","textFormat":"plain","text":"line one\nline two"})"));
}

// ---------------------------------------------------------------- activities

// A channel message: the bot's <at> mention (named by the entity) is removed,
// the rest trimmed; ids, tenant, team and channel come from channelData.
TEST_CASE("parse_activity: channel message with a mention", "[teams][activities]") {
  const auto a = parse_activity(R"({
    "type": "message", "id": "1795480424367", "serviceUrl": "https://smba.trafficmanager.net/emea/",
    "channelId": "msteams",
    "from": { "id": "29:1abcUser", "name": "Alice Oncall", "aadObjectId": "11111111-1111-1111-1111-111111111111" },
    "conversation": { "isGroup": true, "conversationType": "channel", "tenantId": "72f9",
                      "id": "19:incidents@thread.tacv2;messageid=1795480424367" },
    "recipient": { "id": "28:00000000-0000-0000-0000-0000000000b0", "name": "baton" },
    "text": "<at>baton</at> ack&nbsp;42 \n", "textFormat": "xml",
    "entities": [ { "type": "mention", "text": "<at>baton</at>",
                    "mentioned": { "id": "28:00000000-0000-0000-0000-0000000000b0", "name": "baton" } },
                  { "type": "clientInfo", "locale": "en-US" } ],
    "channelData": { "tenant": { "id": "72f9" }, "team": { "id": "19:general@thread.tacv2" },
                     "channel": { "id": "19:incidents@thread.tacv2" } } })",
                                kAppId);
  REQUIRE(a);
  CHECK(a->type == "message");
  CHECK(a->id == "1795480424367");
  CHECK(a->service_url == "https://smba.trafficmanager.net/emea/");
  CHECK(a->bf_channel == "msteams");
  CHECK(a->conversation_id == "19:incidents@thread.tacv2;messageid=1795480424367");
  CHECK(a->conversation_type == "channel");
  CHECK(a->from_id == "29:1abcUser");
  CHECK(a->from_aad_object_id == "11111111-1111-1111-1111-111111111111");
  CHECK(a->from_name == "Alice Oncall");
  CHECK(a->tenant_id == "72f9");
  CHECK(a->team_id == "19:general@thread.tacv2");
  CHECK(a->channel_id == "19:incidents@thread.tacv2");
  CHECK(a->text == "ack 42");
  CHECK(a->value_json.empty());
  CHECK_FALSE(a->incident);
  CHECK(integrations::parse_command(a->text).verb == integrations::Verb::ack);
}

// Mentions of other people stay; a leading <at> without entities is taken to
// be the bot; without an app id the recipient is the bot; HTML entities are
// decoded; a personal chat takes the tenant from channelData when the
// conversation has none.
TEST_CASE("parse_activity: mention edge cases", "[teams][activities]") {
  auto other = parse_activity(R"({"type":"message","text":"<at>baton</at> oncall <at>Bob</at>",
    "entities":[{"type":"mention","text":"<at>baton</at>","mentioned":{"id":"28:00000000-0000-0000-0000-0000000000B0"}},
                {"type":"mention","text":"<at>Bob</at>","mentioned":{"id":"29:bob"}}]})",
                              kAppId);
  REQUIRE(other);
  CHECK(other->text == "oncall <at>Bob</at>");

  auto bare = parse_activity(R"({"type":"message","text":"  <at>baton</at> resolve #7 &amp; done"})", kAppId);
  REQUIRE(bare);
  CHECK(bare->text == "resolve #7 & done");

  auto personal = parse_activity(R"({"type":"message","text":"help",
    "conversation":{"conversationType":"personal","id":"a:1xyz"},"channelData":{"tenant":{"id":"t-1"}}})",
                                 kAppId);
  REQUIRE(personal);
  CHECK(personal->text == "help");
  CHECK(personal->tenant_id == "t-1");
  CHECK(personal->conversation_id == "a:1xyz");
  CHECK(personal->channel_id.empty());

  // Without an app id (the Agents Playground), the mention of the activity's recipient is the bot's.
  auto no_app_id = parse_activity(R"({"type":"message","text":"<at>baton</at> ack 3 <at>Bob</at>",
    "recipient":{"id":"28:baton-playground"},
    "entities":[{"type":"mention","text":"<at>baton</at>","mentioned":{"id":"28:baton-playground"}},
                {"type":"mention","text":"<at>Bob</at>","mentioned":{"id":"29:bob"}}]})",
                                  "");
  REQUIRE(no_app_id);
  CHECK(no_app_id->text == "ack 3 <at>Bob</at>");
}

// An Action.Submit click (the fallback): a message without text whose value is
// the data plus the verb; the incident comes from value.incident.
TEST_CASE("parse_activity: Action.Submit value", "[teams][activities]") {
  auto a = parse_activity(R"({"type":"message","id":"1795480308000","replyToId":"1795480302058",
    "from":{"id":"29:1abcUser","aadObjectId":"1111"},"conversation":{"id":"a:1xyz","conversationType":"personal"},
    "value":{"incident":42,"verb":"baton.resolve"},
    "channelData":{"tenant":{"id":"72f9"},"source":{"name":"message"}}})",
                          kAppId);
  REQUIRE(a);
  CHECK(a->text.empty());
  CHECK(a->reply_to_id == "1795480302058");
  CHECK(json::parse(a->value_json) == json::parse(R"({"incident":42,"verb":"baton.resolve"})"));
  CHECK(a->action_verb == "baton.resolve");
  CHECK(a->action_data_json == a->value_json);
  REQUIRE(a->incident);
  CHECK(*a->incident == 42);
  // The number as a string is accepted too; nonsense is not.
  auto s = parse_activity(R"({"type":"message","value":{"incident":"43","verb":"baton.ack"}})", kAppId);
  REQUIRE(s);
  CHECK(s->incident == 43);
  auto bad = parse_activity(R"({"type":"message","value":{"incident":"x43","verb":"baton.ack"}})", kAppId);
  REQUIRE(bad);
  CHECK_FALSE(bad->incident);
  auto negative = parse_activity(R"({"type":"message","value":{"incident":-1}})", kAppId);
  REQUIRE(negative);
  CHECK_FALSE(negative->incident);
}

// Action.Execute arrives as an invoke named adaptiveCard/action with the verb
// and data under value.action.
TEST_CASE("parse_activity: invoke adaptiveCard/action", "[teams][activities]") {
  auto a = parse_activity(R"({"type":"invoke","name":"adaptiveCard/action","id":"f:123",
    "serviceUrl":"https://smba.trafficmanager.net/emea/","channelId":"msteams",
    "from":{"id":"29:1abcUser","aadObjectId":"1111","name":"Alice"},
    "conversation":{"id":"a:1xyz","conversationType":"personal","tenantId":"72f9"},"replyToId":"1795480302058",
    "value":{"action":{"type":"Action.Execute","id":"x","verb":"baton.ack","data":{"incident":42}},"trigger":"manual"}})",
                          kAppId);
  REQUIRE(a);
  CHECK(a->type == "invoke");
  CHECK(a->invoke_name == "adaptiveCard/action");
  CHECK(a->action_verb == "baton.ack");
  CHECK(json::parse(a->action_data_json) == json::parse(R"({"incident":42})"));
  REQUIRE(a->incident);
  CHECK(*a->incident == 42);
  CHECK(a->reply_to_id == "1795480302058");
  CHECK(a->from_aad_object_id == "1111");
  CHECK_FALSE(a->value_json.empty());
}

// The bot added to a team, a channel created, and the app installed.
TEST_CASE("parse_activity: conversationUpdate and installationUpdate", "[teams][activities]") {
  auto added = parse_activity(R"({"type":"conversationUpdate","channelId":"msteams",
    "conversation":{"isGroup":true,"conversationType":"channel","id":"19:general@thread.tacv2"},
    "recipient":{"id":"28:00000000-0000-0000-0000-0000000000b0"},
    "membersAdded":[{"id":"29:someone"},{"id":"28:00000000-0000-0000-0000-0000000000b0"}],
    "channelData":{"eventType":"teamMemberAdded","team":{"id":"19:general@thread.tacv2"},"tenant":{"id":"72f9"}}})",
                              kAppId);
  REQUIRE(added);
  CHECK(added->bot_added);
  CHECK(added->team_id == "19:general@thread.tacv2");
  CHECK(added->channels_added.empty());

  auto someone = parse_activity(R"({"type":"conversationUpdate","recipient":{"id":"28:00000000-0000-0000-0000-0000000000b0"},
    "membersAdded":[{"id":"29:someone"}]})",
                                kAppId);
  REQUIRE(someone);
  CHECK_FALSE(someone->bot_added);

  auto created = parse_activity(R"({"type":"conversationUpdate","channelId":"msteams",
    "conversation":{"isGroup":true,"conversationType":"channel","id":"19:general@thread.tacv2"},
    "recipient":{"id":"28:00000000-0000-0000-0000-0000000000b0"},"from":{"id":"29:x"},
    "channelData":{"eventType":"channelCreated","tenant":{"id":"72f9"},
                   "channel":{"id":"19:inc42@thread.tacv2","name":"INC-42 db-primary down"},
                   "team":{"id":"19:general@thread.tacv2"}}})",
                                kAppId);
  REQUIRE(created);
  CHECK(created->channels_added == Strings{"19:inc42@thread.tacv2"});
  CHECK_FALSE(created->bot_added);

  auto installed = parse_activity(R"({"type":"installationUpdate","action":"add"})", kAppId);
  REQUIRE(installed);
  CHECK(installed->bot_added);
}

TEST_CASE("parse_activity: malformed input", "[teams][activities]") {
  for (const char* bad : {"", "not json", "[1,2]", "{}", R"({"type":""})", R"({"type":7})"}) {
    auto a = parse_activity(bad, kAppId);
    REQUIRE_FALSE(a);
    CHECK(a.error().kind == ErrorKind::invalid_request);
  }
  // Unknown types and odd field types are tolerated: only `type` is required.
  auto odd = parse_activity(R"({"type":"typing","from":"nope","entities":5,"text":7})", kAppId);
  REQUIRE(odd);
  CHECK(odd->type == "typing");
  CHECK(odd->from_id.empty());
}

// ---------------------------------------------------------------- commands

