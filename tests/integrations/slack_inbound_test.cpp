#include <catch2/catch.hpp>

#include "integrations/common/command_grammar.hpp"
#include "integrations/slack/commands.hpp"
#include "integrations/slack/interactions.hpp"
#include "integrations/slack/signature.hpp"
#include "integrations/sms/twilio_signature.hpp"

using namespace baton;
using namespace baton::slack;
using namespace std::chrono_literals;

namespace {

// The worked example of https://api.slack.com/authentication/verifying-requests-from-slack
// ("Verifying requests from Slack"), its signature checked with openssl.
const std::string kSecret = "8f742231b10e8888abcd99yyyzzz85a5";
const std::string kTimestamp = "1531420618";
const std::string kBody =
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name="
    "foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks."
    "slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121."
    "803a0bc887a14d10d2c447fce8b6703c";
const std::string kSignature = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
const engine::TimePoint kAt = engine::from_ms(1531420618LL * 1000);

std::string error_of(const Result<void>& r) { return r ? std::string("ok") : r.error().message; }

// api.slack.com/apis/events-api, verbatim.
const std::string kBlockActions = R"({"type":"block_actions","user":{"id":"U0ONCALL","username":"ana","name":"ana","team_id":"T0"},
 "api_app_id":"A0","token":"legacy","trigger_id":"123.456.abc","team":{"id":"T0","domain":"acme"},
 "container":{"type":"message","message_ts":"1700000000.000100","channel_id":"D0DM","is_ephemeral":false},
 "channel":{"id":"D0DM","name":"directmessage"},"message":{"ts":"1700000000.000100","text":"...","blocks":[]},
 "response_url":"https://hooks.slack.com/actions/T0/1/abc",
 "actions":[{"type":"button","action_id":"baton.ack","block_id":"inc-42","value":"42",
             "text":{"type":"plain_text","text":"Acknowledge"},"action_ts":"1700000001.000200"}]})";

}  // namespace

// --- signature ---------------------------------------------------------------

TEST_CASE("Slack signature: the documented golden vector verifies at its own timestamp", "[slack][signature]") {
  // The vector's timestamp is years old, so the clock is injected at it.
  CHECK(slack_signature(kSecret, kTimestamp, kBody) == kSignature);
  CHECK(verify_slack_signature(kSecret, kTimestamp, kSignature, kBody, kAt));
  // Inside the window on both sides.
  CHECK(verify_slack_signature(kSecret, kTimestamp, kSignature, kBody, kAt + 300s));
  CHECK(verify_slack_signature(kSecret, kTimestamp, kSignature, kBody, kAt - 300s));
}

TEST_CASE("Slack signature: a timestamp more than 5 minutes away either way is stale", "[slack][signature]") {
  // A replayed request (now is later) and a future-dated one are both refused.
  for (auto now : {kAt + 301s, kAt - 301s, kAt + 24h}) {
    auto r = verify_slack_signature(kSecret, kTimestamp, kSignature, kBody, now);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::unauthorized);
    CHECK(r.error().message == "stale Slack request timestamp");
  }
}

TEST_CASE("Slack signature: tampered body, wrong secret and wrong case are bad signatures", "[slack][signature]") {
  // One changed byte of the body.
  std::string tampered = kBody;
  tampered[tampered.find("roadrunner")] = 'R';
  CHECK(error_of(verify_slack_signature(kSecret, kTimestamp, kSignature, tampered, kAt)) == "bad Slack signature");
  // The right body under another secret.
  CHECK(error_of(verify_slack_signature("another-secret", kTimestamp, kSignature, kBody, kAt)) ==
        "bad Slack signature");
  // Uppercase hex, a missing "v0=" prefix, a v1 prefix, a truncated digest.
  std::string upper = kSignature;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const std::string& sig : {upper, kSignature.substr(3), "v1=" + kSignature.substr(3), kSignature.substr(0, 40)}) {
    auto r = verify_slack_signature(kSecret, kTimestamp, sig, kBody, kAt);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::unauthorized);
    CHECK(r.error().message == "bad Slack signature");
  }
  // The signature covers the timestamp too: a shifted timestamp fails.
  CHECK(error_of(verify_slack_signature(kSecret, "1531420619", kSignature, kBody, kAt)) == "bad Slack signature");
}

TEST_CASE("Slack signature: missing or malformed headers", "[slack][signature]") {
  // An empty header (or an unconfigured secret) is "missing".
  CHECK(error_of(verify_slack_signature(kSecret, "", kSignature, kBody, kAt)) == "missing Slack signature headers");
  CHECK(error_of(verify_slack_signature(kSecret, kTimestamp, "", kBody, kAt)) == "missing Slack signature headers");
  CHECK(error_of(verify_slack_signature("", kTimestamp, kSignature, kBody, kAt)) == "missing Slack signature headers");
  // A timestamp that is not plain decimal seconds cannot be placed in the window.
  for (std::string_view ts : {"abc", "1531420618.5", " 1531420618", "-1531420618", "+1531420618", "1e9",
                              "99999999999999999999"}) {
    auto r = verify_slack_signature(kSecret, ts, kSignature, kBody, kAt);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::unauthorized);
    CHECK(r.error().message == "stale Slack request timestamp");
  }
}

// --- slash commands ----------------------------------------------------------

TEST_CASE("Slash commands: /baton and the /oncall and /incident aliases give text of the one grammar", "[slack][commands]") {
  CHECK(command_text("/baton", "oncall payments") == "oncall payments");
  CHECK(command_text("/BATON", "HELP") == "HELP");
  CHECK(command_text("/oncall", "payments") == "oncall payments");
  CHECK(command_text("/incident", "ack #4") == "incident ack #4");
  CHECK(command_text(" /baton ", "") == "");
  CHECK_FALSE(command_text("/deploy", "prod"));
  const auto usage = usage_text();
  for (std::string_view word : {"/baton oncall", "incident new", "service:", "reassign", "status", "page", "help",
                                "maintenance", "/oncall"})
    CHECK(usage.find(word) != std::string::npos);
}

TEST_CASE("Slash requests: from a form body and from a Socket Mode payload", "[slack][commands]") {
  // The golden vector's body is a real slash-command form.
  auto form = parse_slash_form(kBody);
  REQUIRE(form);
  CHECK(form->team_id == "T1DC2JH3J");
  CHECK(form->channel_id == "G8PSS9T3V");
  CHECK(form->user_id == "U2CERLKJA");
  CHECK(form->command == "/webhook-collect");
  CHECK(form->text.empty());
  CHECK(form->response_url == "https://hooks.slack.com/commands/T1DC2JH3J/397700885554/96rGlfmibIGlgcZRskXaIFfN");
  CHECK(form->trigger_id == "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c");
  auto with_text = parse_slash_form("command=%2Fbaton&user_id=U1&text=incident+ack+%234&channel_id=C1");
  REQUIRE(with_text);
  CHECK(with_text->text == "incident ack #4");
  CHECK(integrations::parse_command(*command_text(with_text->command, with_text->text)).incident == 4);
  CHECK_FALSE(parse_slash_form("user_id=U1&text=x"));
  CHECK_FALSE(parse_slash_form("command=%2Fbaton"));

  auto json = parse_slash_json(
      R"({"token":"legacy","team_id":"T0","channel_id":"C0","user_id":"U0","command":"/oncall","text":"payments",)"
      R"("response_url":"https://hooks.slack.com/commands/T0/1/x","trigger_id":"1.2.3","is_enterprise_install":"false"})");
  REQUIRE(json);
  CHECK(json->command == "/oncall");
  CHECK(json->text == "payments");
  CHECK(json->channel_id == "C0");
  CHECK(json->trigger_id == "1.2.3");
  auto bad = parse_slash_json("{not json");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().kind == ErrorKind::invalid_request);
  CHECK_FALSE(parse_slash_json("[1,2]"));
  CHECK_FALSE(parse_slash_json(R"({"text":"x","user_id":"U1"})"));
}

// --- interactions and events -------------------------------------------------

TEST_CASE("Interactions: a block_actions button press, from JSON and from a form", "[slack][interactions]") {
  auto press = parse_block_actions(kBlockActions);
  REQUIRE(press);
  CHECK(press->action_id == "baton.ack");
  CHECK(press->value == "42");
  CHECK(press->user_id == "U0ONCALL");
  CHECK(press->team_id == "T0");
  CHECK(press->channel_id == "D0DM");
  CHECK(press->message_ts == "1700000000.000100");
  CHECK(press->response_url == "https://hooks.slack.com/actions/T0/1/abc");
  CHECK(press->trigger_id == "123.456.abc");
  CHECK(press->action_ts == "1700000001.000200");

  // HTTP mode wraps the same JSON in a form field.
  const std::string form = "payload=" + integrations::percent_encode(kBlockActions);
  auto payload = payload_from_form(form);
  REQUIRE(payload);
  CHECK(*payload == kBlockActions);
  CHECK(parse_block_actions(*payload)->action_id == "baton.ack");
  CHECK_FALSE(payload_from_form("token=x"));
  CHECK_FALSE(payload_from_form("payload="));
}

TEST_CASE("Interactions: fallbacks and refusals", "[slack][interactions]") {
  // Without a container, channel and message give the place.
  auto p = parse_block_actions(R"({"type":"block_actions","user":{"id":"U1","team_id":"T9"},)"
                               R"("channel":{"id":"C1"},"message":{"ts":"1.2"},"actions":[{"action_id":"a"}]})");
  REQUIRE(p);
  CHECK(p->team_id == "T9");
  CHECK(p->channel_id == "C1");
  CHECK(p->message_ts == "1.2");
  CHECK(p->value.empty());
  for (std::string_view bad : {
           R"({"type":"view_submission","user":{"id":"U1"},"actions":[{"action_id":"a"}]})",
           R"({"type":"block_actions","user":{"id":"U1"},"actions":[]})",
           R"({"type":"block_actions","user":{"id":"U1"}})",
           R"({"type":"block_actions","actions":[{"action_id":"a"}]})",
           R"({"type":"block_actions","user":{"id":"U1"},"actions":[{"value":"1"}]})",
           "not json", "[]"}) {
    auto r = parse_block_actions(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::invalid_request);
  }
}

TEST_CASE("Events: url_verification and event_callback", "[slack][events]") {
  auto v = parse_event(R"({"type":"url_verification","token":"t","challenge":"abc"})");
  REQUIRE(v);
  CHECK(v->type == "url_verification");
  CHECK(v->challenge == "abc");
  auto e = parse_event(R"({"type":"event_callback","team_id":"T0","api_app_id":"A0","event_id":"Ev1",)"
                       R"("event_time":1700000000,"event":{"type":"app_mention","user":"U1","channel":"C1",)"
                       R"("text":"<@UBOT> oncall"}})");
  REQUIRE(e);
  CHECK(e->type == "app_mention");
  CHECK(e->event_id == "Ev1");
  CHECK(e->user == "U1");
  CHECK(e->channel == "C1");
  CHECK(e->text == "<@UBOT> oncall");
  for (std::string_view bad : {R"({"type":"url_verification"})", R"({"type":"event_callback","event_id":"Ev1"})",
                               R"({"type":"event_callback","event":{"type":"message"}})",
                               R"({"type":"app_rate_limited"})", "{", "\"x\""}) {
    auto r = parse_event(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::invalid_request);
  }
}

// Slack checks the certificate of a slash command's request URL with a form
// post carrying ssl_check=1 (and a token, but no command): it is recognised,
// and an ordinary command is not one.
TEST_CASE("Slash requests: Slack's ssl_check", "[slack][commands]") {
  CHECK(is_ssl_check("ssl_check=1&token=legacy-token"));
  CHECK(is_ssl_check("token=x&ssl_check=1"));
  CHECK_FALSE(is_ssl_check("ssl_check=0&token=x"));
  CHECK_FALSE(is_ssl_check(kBody));
  CHECK_FALSE(is_ssl_check(""));
}

// A Socket Mode envelope retried under a new envelope id carries the same
// payload: its content key names the user's action whatever the envelope,
// from the slash command's trigger_id, the interaction's trigger_id (else
// its first action's action_ts), or the event's event_id (the key HTTP mode's
// events are claimed under). Payloads without one have none.
TEST_CASE("Envelopes: the content key of a retried envelope's payload", "[slack][interactions]") {
  CHECK(content_key("slash_commands", R"({"command":"/baton","user_id":"U1","trigger_id":"13.45.ab"})") ==
        "slack-command:13.45.ab");
  CHECK(content_key("interactive", kBlockActions) == "slack-action:123.456.abc");
  CHECK(content_key("interactive", R"({"type":"block_actions","actions":[{"action_id":"a","action_ts":"17.2"}]})") ==
        "slack-action:17.2");
  CHECK(content_key("events_api", R"({"type":"event_callback","event_id":"Ev42","event":{"type":"app_mention"}})") ==
        "slack-event:Ev42");
  CHECK(content_key("slash_commands", R"({"command":"/baton"})").empty());
  CHECK(content_key("events_api", "{").empty());
  CHECK(content_key("hello", "{}").empty());
}
