// Voice pages end to end: baton places the call with a fake Twilio REST API;
// the test then plays Twilio's part of the call as Twilio documents it
// (twilio.com/docs/usage/webhooks/voice-webhooks): it requests the answer URL
// baton gave, posts the key pressed to the <Gather> action, and posts the
// call's status callbacks, each signed with X-Twilio-Signature (HMAC-SHA1 of
// the URL and the sorted POST parameters, base64, twilio.com/docs/usage/security)
// by the same code the SMS tests check against Twilio's vectors. A fake clock
// drives the chain; nothing here waits on a timer except bounded polling.
#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <algorithm>

#include "integrations/sms/twilio_signature.hpp"
#include "tests/support/http_peer.hpp"
#include "tests/support/service_harness.hpp"

using namespace baton;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

constexpr const char* kAuthToken = "twilio-voice-test-token";
constexpr const char* kPublicUrl = "https://baton.example.com";
constexpr const char* kCaller = "+15559870002";
constexpr const char* kVera = "+15551230001";
constexpr const char* kWalt = "+15551230002";

std::string field(const integrations::FormParams& form, std::string_view name) {
  for (const auto& [k, v] : form)
    if (k == name) return v;
  return "";
}

/// A call Twilio was asked to place.
struct PlacedCall {
  std::string sid;
  std::string to;
  std::string url;              // the answer URL
  std::string status_callback;  // the status callback URL
  integrations::FormParams form;
};

/// Twilio: the REST API (Calls.json and Messages.json, 201 with a resource)
/// and, driven by the test, Twilio's side of each call.
class FakeTwilio {
 public:
  FakeTwilio() {
    peer_.set_handler([](const test::RecordedRequest& r) -> std::optional<test::ScriptedResponse> {
      const std::string base = "/2010-04-01/Accounts/ACtest/";
      if (!r.header("authorization") || r.header("authorization")->rfind("Basic ", 0) != 0)
        return test::ScriptedResponse{401, {}, R"({"code":20003,"message":"Authenticate","status":401})", 0ms};
      if (r.method == "POST" && r.target == base + "Calls.json")
        return test::ScriptedResponse{201, {}, R"({"sid":"CAplaced","status":"queued"})", 0ms};
      if (r.method == "POST" && r.target == base + "Messages.json")
        return test::ScriptedResponse{201, {}, R"({"sid":"SMsent","status":"queued"})", 0ms};
      return test::ScriptedResponse{404, {}, R"({"code":20404,"message":"not found","status":404})", 0ms};
    });
  }
  std::string url() const { return peer_.url(); }

  std::vector<PlacedCall> calls() const { return requests_to("Calls.json"); }
  std::vector<PlacedCall> messages() const { return requests_to("Messages.json"); }
  bool wait_for_call(std::size_t n) const {
    return test::eventually([&] { return calls().size() >= n; });
  }

  /// Twilio's request to a URL of the call, signed with `token`.
  static integrations::HttpResponse post(test::ServiceHarness& svc, const std::string& url,
                                         const integrations::FormParams& params, std::string token = kAuthToken) {
    REQUIRE(url.rfind(kPublicUrl, 0) == 0);
    const auto signature = integrations::twilio_signature(token, url, params);
    return svc.call("POST", url.substr(std::string(kPublicUrl).size()), integrations::form_encode(params),
                    "application/x-www-form-urlencoded", false, {{"X-Twilio-Signature", signature}});
  }

  /// The parameters Twilio sends with every request of an outbound API call.
  static integrations::FormParams call_params(const PlacedCall& call, std::string status) {
    return {{"AccountSid", "ACtest"},      {"ApiVersion", "2010-04-01"}, {"CallSid", call.sid},
            {"CallStatus", std::move(status)}, {"Direction", "outbound-api"}, {"From", kCaller},
            {"To", call.to},               {"Called", call.to},          {"Caller", kCaller}};
  }

  /// The call connects: Twilio requests the answer URL, with answering-machine detection's verdict.
  static integrations::HttpResponse answer(test::ServiceHarness& svc, const PlacedCall& call,
                                           std::string answered_by = "human") {
    auto params = call_params(call, "in-progress");
    params.emplace_back("AnsweredBy", std::move(answered_by));
    return post(svc, call.url, params);
  }

  /// A key pressed during <Gather>: Twilio posts Digits to its action URL.
  static integrations::HttpResponse press(test::ServiceHarness& svc, const PlacedCall& call,
                                          const std::string& action, std::string digits) {
    auto params = call_params(call, "in-progress");
    params.emplace_back("Digits", std::move(digits));
    params.emplace_back("FinishedOnKey", "");
    return post(svc, action, params);
  }

  /// A status callback (StatusCallbackEvent), with extra parameters.
  static integrations::HttpResponse status(test::ServiceHarness& svc, const PlacedCall& call, std::string status,
                                           integrations::FormParams extra = {}) {
    auto params = call_params(call, std::move(status));
    params.emplace_back("CallbackSource", "call-progress-events");
    for (auto& p : extra) params.push_back(std::move(p));
    return post(svc, call.status_callback, params);
  }

 private:
  std::vector<PlacedCall> requests_to(const std::string& resource) const {
    std::vector<PlacedCall> out;
    for (const auto& r : peer_.requests()) {
      if (!r.target.ends_with(resource)) continue;
      PlacedCall c;
      c.form = integrations::parse_form(r.body);
      c.sid = "CA" + std::to_string(out.size() + 1) + "0123456789abcdef0123456789abcd";
      c.to = field(c.form, "To");
      c.url = field(c.form, "Url");
      c.status_callback = field(c.form, "StatusCallback");
      out.push_back(std::move(c));
    }
    return out;
  }

  test::HttpPeer peer_;
};

/// The <Gather> action URL in a TwiML answer, unescaped.
std::string gather_action(const std::string& twiml) {
  const std::string marker = "action=\"";
  const auto at = twiml.find(marker);
  REQUIRE(at != std::string::npos);
  std::string url = twiml.substr(at + marker.size(), twiml.find('"', at + marker.size()) - at - marker.size());
  for (std::size_t p = url.find("&amp;"); p != std::string::npos; p = url.find("&amp;", p + 1)) url.replace(p, 5, "&");
  return url;
}

std::size_t count(const std::string& haystack, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) ++n;
  return n;
}

/// vera: a call at once, the webhook (chat stand-in) at 10 min.
/// walt: a call at once, an SMS at 10 min.
std::string config(const FakeTwilio& twilio, const test::HttpPeer& chat, const std::string& db) {
  return R"(
server:
  listen: "127.0.0.1:0"
  public_url: ")" + std::string(kPublicUrl) + R"("
  action_secret: "test-action-secret"
  api_tokens: [{name: ops, token: ")" + std::string(test::kApiToken) + R"("}]
storage: {path: ")" + db + R"(", durability: normal}
webhook: {url: ")" + chat.url() + R"(/hook"}
twilio:
  base_url: ")" + twilio.url() + R"("
  account_sid: ACtest
  auth_token: ")" + std::string(kAuthToken) + R"("
  from: ")" + std::string(kCaller) + R"("
  messages_per_second: 100
  voice: true
  calls_per_second: 100
dispatch: {workers: 2, max_attempts: 2, base_backoff: 1s}
people:
  vera:
    name: Vera
    phone: ")" + std::string(kVera) + R"("
    contact_chain: [{method: voice, after: 0s}, {method: webhook, after: 10m}]
  walt:
    name: Walt
    phone: ")" + std::string(kWalt) + R"("
    contact_chain: [{method: voice, after: 0s}, {method: sms, after: 10m}]
escalation_policies:
  vera: {steps: [{targets: [{person: vera}], timeout: 30m}]}
  walt: {steps: [{targets: [{person: walt}], timeout: 30m}]}
services:
  db: {name: Database, escalation_policy: vera, integration_keys: [key-vera]}
  web: {name: Web, escalation_policy: walt, integration_keys: [key-walt]}
)";
}

std::string trigger(std::string key, std::string dedup, std::string summary = "Disk 95% full on db-7") {
  return json::serialize(json::object{
      {"routing_key", key},
      {"event_action", "trigger"},
      {"dedup_key", dedup},
      {"payload", json::object{{"summary", summary}, {"source", "db-7"}, {"severity", "critical"}}}});
}

struct Scenario {
  test::TempDb db;
  test::FakeClock clock;
  FakeTwilio twilio;
  test::HttpPeer chat;
  test::ServiceHarness svc{clock, config(twilio, chat, db.path())};

  std::string state(int n) {
    return std::string(svc.get_json("/api/v1/incidents/" + std::to_string(n)).at("state").as_string());
  }
  bool timeline_has(int n, const std::string& text) {
    return test::eventually([&] { return svc.timeline_text(n).find(text) != std::string::npos; });
  }
};

}  // namespace

TEST_CASE("voice: a call acknowledged by pressing 1", "[voice]") {
  // Scenario: a critical alert calls vera at once. Twilio reports the call
  // ringing and requests the answer URL (a person answers): baton reads the
  // incident, service, severity and summary twice and offers the keys. She
  // presses 9 (the page again), then 1: the incident is acknowledged by vera
  // via voice, the answer says so, and the call's end is no failure. The
  // webhook due at 10 minutes never goes out; no second call is placed.
  Scenario s;
  REQUIRE(s.svc.call("POST", "/v2/enqueue", trigger("key-vera", "disk")).status == 202);
  REQUIRE(s.twilio.wait_for_call(1));
  const auto call = s.twilio.calls().front();
  CHECK(call.to == kVera);
  CHECK(field(call.form, "From") == kCaller);
  CHECK(field(call.form, "MachineDetection") == "Enable");
  CHECK(call.url.rfind(std::string(kPublicUrl) + "/voice/twilio/answer?", 0) == 0);
  CHECK(call.status_callback.rfind(std::string(kPublicUrl) + "/voice/twilio/status?", 0) == 0);

  CHECK(FakeTwilio::status(s.svc, call, "initiated").status == 204);
  CHECK(FakeTwilio::status(s.svc, call, "ringing").status == 204);
  auto answered = FakeTwilio::answer(s.svc, call);
  INFO(answered.body);
  REQUIRE(answered.status == 200);
  CHECK(answered.header("content-type")->find("xml") != std::string::npos);
  CHECK(answered.body.find("<Gather input=\"dtmf\" numDigits=\"1\"") != std::string::npos);
  CHECK(count(answered.body, "Incident 1, service Database, severity critical: Disk 95% full on db-7.") == 2);
  CHECK(answered.body.find("Press 1 to acknowledge, 2 to resolve, 3 to escalate") != std::string::npos);
  const auto action = gather_action(answered.body);
  CHECK(action.rfind(std::string(kPublicUrl) + "/voice/twilio/gather?", 0) == 0);
  CHECK(FakeTwilio::status(s.svc, call, "in-progress", {{"AnsweredBy", "human"}}).status == 204);

  auto again = FakeTwilio::press(s.svc, call, action, "9");
  CHECK(again.status == 200);
  CHECK(count(again.body, "Incident 1, service Database") == 2);
  CHECK(s.state(1) == "triggered");

  auto pressed = FakeTwilio::press(s.svc, call, action, "1");
  INFO(pressed.body);
  CHECK(pressed.status == 200);
  CHECK(pressed.body.find("<Say>Incident 1 acknowledged. Thank you. Goodbye.</Say><Hangup/>") != std::string::npos);
  auto inc = s.svc.get_json("/api/v1/incidents/1");
  CHECK(inc.at("state") == "acknowledged");
  CHECK(inc.at("owner") == "vera");

  CHECK(FakeTwilio::status(s.svc, call, "completed", {{"AnsweredBy", "human"}, {"CallDuration", "21"}}).status == 204);
  REQUIRE(s.timeline_has(1, "note: Voice call to Vera: completed, answered by human, 21 s\n"));
  const auto timeline = s.svc.timeline_text(1);
  CHECK(timeline.find("Page to Vera via voice delivered") != std::string::npos);
  CHECK(timeline.find("Voice call to Vera: initiated") != std::string::npos);
  CHECK(timeline.find("Voice call to Vera: ringing") != std::string::npos);
  CHECK(timeline.find("Voice call to Vera: pressed 9 (repeat)") != std::string::npos);
  CHECK(timeline.find("Voice call to Vera: pressed 1 (acknowledge)") != std::string::npos);
  CHECK(timeline.find("acknowledged: Acknowledged by vera via voice") != std::string::npos);
  CHECK(timeline.find("via voice failed") == std::string::npos);
  CHECK(timeline.find("not acknowledged") == std::string::npos);
  bool acked_via_voice = false;
  const auto shown = s.svc.get_json("/api/v1/incidents/1");
  for (const auto& e : shown.at("timeline").as_array())
    if (e.at("kind") == "acknowledged") acked_via_voice = e.at("channel") == "voice" && e.at("actor") == "vera";
  CHECK(acked_via_voice);

  // A replayed key press does nothing more.
  CHECK(FakeTwilio::press(s.svc, call, action, "2").body.find("already recorded") != std::string::npos);
  CHECK(s.state(1) == "acknowledged");

  s.svc.app->incidents().drain();
  s.clock.advance(15min);
  s.svc.app->incidents().poke();
  s.svc.app->incidents().drain();
  CHECK(s.chat.requests().empty());
  CHECK(s.twilio.calls().size() == 1);
}

TEST_CASE("voice: an unanswered call moves the chain on at once", "[voice]") {
  // Scenario: vera's phone rings out (no-answer). The page fails at once and
  // the next method (the webhook, due at 10 minutes) goes out without the
  // clock moving. A replayed callback changes nothing more.
  Scenario s;
  REQUIRE(s.svc.call("POST", "/v2/enqueue", trigger("key-vera", "cpu")).status == 202);
  REQUIRE(s.twilio.wait_for_call(1));
  const auto call = s.twilio.calls().front();
  CHECK(FakeTwilio::status(s.svc, call, "initiated").status == 204);
  CHECK(FakeTwilio::status(s.svc, call, "ringing").status == 204);
  CHECK(s.chat.requests().empty());
  CHECK(FakeTwilio::status(s.svc, call, "no-answer", {{"CallDuration", "0"}}).status == 204);

  REQUIRE(s.chat.wait_for_requests(1, 10s));
  CHECK(s.clock.now() == test::FakeClock{}.now());
  REQUIRE(s.timeline_has(1, "Trying the next contact method for Vera now: webhook"));
  const auto timeline = s.svc.timeline_text(1);
  CHECK(timeline.find("Voice call to Vera: no-answer: not acknowledged") != std::string::npos);
  CHECK(timeline.find("Page to Vera via voice failed: voice call no-answer") != std::string::npos);
  CHECK(s.state(1) == "triggered");

  CHECK(FakeTwilio::status(s.svc, call, "no-answer").status == 204);
  s.svc.app->incidents().drain();
  REQUIRE(s.timeline_has(1, "Voice call to Vera: no-answer\n"));
  CHECK(count(s.svc.timeline_text(1), "via voice failed") == 1);
  CHECK(s.chat.requests().size() == 1);
}

TEST_CASE("voice: an answering machine moves the chain on at once", "[voice]") {
  // Scenario: walt's voicemail picks up. Answering-machine detection tells
  // the answer URL AnsweredBy=machine_start: baton hangs up without a word,
  // the page fails and walt's SMS (due at 10 minutes) goes out now. The
  // call's completed callback does not fail the page a second time.
  Scenario s;
  REQUIRE(s.svc.call("POST", "/v2/enqueue", trigger("key-walt", "web")).status == 202);
  REQUIRE(s.twilio.wait_for_call(1));
  const auto call = s.twilio.calls().front();
  CHECK(call.to == kWalt);
  auto answered = FakeTwilio::answer(s.svc, call, "machine_start");
  CHECK(answered.status == 200);
  CHECK(answered.body.find("<Hangup/>") != std::string::npos);
  CHECK(answered.body.find("<Say>") == std::string::npos);
  CHECK(answered.body.find("<Gather") == std::string::npos);

  REQUIRE(test::eventually([&] { return s.twilio.messages().size() == 1; }));
  CHECK(s.twilio.messages().front().to == kWalt);
  CHECK(s.clock.now() == test::FakeClock{}.now());
  REQUIRE(s.timeline_has(1, "Trying the next contact method for Walt now: sms"));
  CHECK(s.svc.timeline_text(1).find("Voice call to Walt: answered by machine_start: not acknowledged") !=
        std::string::npos);

  CHECK(FakeTwilio::status(s.svc, call, "completed", {{"AnsweredBy", "machine_start"}, {"CallDuration", "4"}}).status ==
        204);
  REQUIRE(s.timeline_has(1, "Voice call to Walt: completed, answered by machine_start, 4 s\n"));
  CHECK(count(s.svc.timeline_text(1), "via voice failed") == 1);
  CHECK(s.state(1) == "triggered");
}

TEST_CASE("voice: a machine seen only by the status callback, and a hang-up, move the chain on", "[voice]") {
  // Scenario: two calls that connect but reach nobody who acts. Walt's call
  // is answered by a fax (reported only on the completed callback); vera
  // listens and hangs up without pressing a key. Both are failures: the next
  // method goes out at once for each.
  Scenario s;
  REQUIRE(s.svc.call("POST", "/v2/enqueue", trigger("key-walt", "fax")).status == 202);
  REQUIRE(s.twilio.wait_for_call(1));
  const auto walt = s.twilio.calls().at(0);
  CHECK(FakeTwilio::status(s.svc, walt, "completed", {{"AnsweredBy", "fax"}}).status == 204);
  REQUIRE(test::eventually([&] { return s.twilio.messages().size() == 1; }));
  REQUIRE(s.timeline_has(1, "Page to Walt via voice failed: voice call answered by fax"));

  REQUIRE(s.svc.call("POST", "/v2/enqueue", trigger("key-vera", "hangup")).status == 202);
  s.clock.advance(1s);  // calls are paced per caller number: the fake clock must let the next one go
  const auto called = s.clock.now();
  REQUIRE(s.twilio.wait_for_call(2));
  const auto vera = s.twilio.calls().at(1);
  CHECK(vera.to == kVera);
  auto answered = FakeTwilio::answer(s.svc, vera);
  CHECK(answered.body.find("<Gather") != std::string::npos);
  CHECK(FakeTwilio::status(s.svc, vera, "completed", {{"AnsweredBy", "human"}, {"CallDuration", "9"}}).status == 204);
  REQUIRE(s.chat.wait_for_requests(1, 10s));
  REQUIRE(s.timeline_has(2, "Page to Vera via voice failed: voice call ended without a key press"));
  CHECK(s.state(2) == "triggered");
  CHECK(s.clock.now() == called);
}

TEST_CASE("voice: forged requests change nothing", "[voice][hostile]") {
  // Scenario: an attacker who knows the URLs but not the auth token, or who
  // replays a genuine request with changes. A wrong or missing signature, a
  // tampered parameter, and a genuinely signed request whose call link was
  // altered to name another incident are all refused with 403: nothing is
  // acknowledged, the chain does not move, no timeline line is added.
  Scenario s;
  REQUIRE(s.svc.call("POST", "/v2/enqueue", trigger("key-vera", "a")).status == 202);
  REQUIRE(s.svc.call("POST", "/v2/enqueue", trigger("key-vera", "b")).status == 202);
  REQUIRE(s.twilio.wait_for_call(1));
  s.clock.advance(1s);  // calls are paced per caller number: the fake clock must let the next one go
  REQUIRE(s.twilio.wait_for_call(2));
  s.svc.app->incidents().drain();
  const auto call = s.twilio.calls().front();
  const auto action = std::string(kPublicUrl) + "/voice/twilio/gather?" + call.url.substr(call.url.find('?') + 1);
  const auto before_1 = s.svc.timeline_text(1);
  const auto before_2 = s.svc.timeline_text(2);

  // Signed with another token.
  auto digits = FakeTwilio::call_params(call, "in-progress");
  digits.emplace_back("Digits", "1");
  CHECK(FakeTwilio::post(s.svc, action, digits, "not-the-token").status == 403);
  CHECK(FakeTwilio::post(s.svc, call.url, FakeTwilio::call_params(call, "in-progress"), "not-the-token").status == 403);
  CHECK(FakeTwilio::post(s.svc, call.status_callback, FakeTwilio::call_params(call, "no-answer"), "wrong").status ==
        403);
  // Signed for Digits=9, sent with Digits=1.
  auto nine = FakeTwilio::call_params(call, "in-progress");
  nine.emplace_back("Digits", "9");
  const auto signature = integrations::twilio_signature(kAuthToken, action, nine);
  nine.back().second = "1";
  CHECK(s.svc.call("POST", action.substr(std::string(kPublicUrl).size()), integrations::form_encode(nine),
                   "application/x-www-form-urlencoded", false, {{"X-Twilio-Signature", signature}})
            .status == 403);
  // No signature at all.
  CHECK(s.svc.call("POST", action.substr(std::string(kPublicUrl).size()), integrations::form_encode(digits),
                   "application/x-www-form-urlencoded", false)
            .status == 403);
  // A correct X-Twilio-Signature over a call link altered to name incident 2
  // (or another person): the link's own MAC refuses it.
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{{"&i=1&", "&i=2&"},
                                                                                 {"&p=vera&", "&p=walt&"}}) {
    auto forged = action;
    REQUIRE(forged.find(from) != std::string::npos);
    forged.replace(forged.find(from), from.size(), to);
    INFO(forged);
    CHECK(FakeTwilio::post(s.svc, forged, digits).status == 403);
    auto forged_status = call.status_callback;
    forged_status.replace(forged_status.find(from), from.size(), to);
    CHECK(FakeTwilio::post(s.svc, forged_status, FakeTwilio::call_params(call, "no-answer")).status == 403);
  }

  s.svc.app->incidents().drain();
  CHECK(s.state(1) == "triggered");
  CHECK(s.state(2) == "triggered");
  CHECK(s.svc.timeline_text(1) == before_1);
  CHECK(s.svc.timeline_text(2) == before_2);
  CHECK(s.chat.requests().empty());
  // 3 wrong tokens + 1 tampered + 1 unsigned + 2 x 2 altered links.
  CHECK(s.svc.call("GET", "/metrics", "", "").body.find("baton_events_rejected_total{source=\"twilio\"} 9\n") !=
        std::string::npos);

  // The same request, signed as Twilio signs it, works: the refusals above
  // were the forgery, not the fake.
  CHECK(FakeTwilio::post(s.svc, action, digits).status == 200);
  CHECK(s.state(1) == "acknowledged");
}

namespace {

constexpr std::string_view kPeople = R"(people:
  ann: {name: Ann, phone: "+15551230009", contact_chain: [{method: voice, after: 0s}, {method: sms, after: 5m}]}
escalation_policies:
  p: {steps: [{targets: [{person: ann}]}]}
services:
  s: {escalation_policy: p, integration_keys: [k]}
)";

tl::expected<bot::Config, std::vector<bot::ConfigError>> load(const std::string& twilio) {
  return bot::load_config_string(std::string(kPeople) + twilio, "t.yaml",
                                 [](std::string_view) { return std::optional<std::string>{}; });
}

std::string all_errors(const std::string& twilio) {
  auto r = load(twilio);
  if (r) return "";
  std::string out;
  for (const auto& e : r.error()) out += e.to_string() + "\n";
  return out;
}

}  // namespace

TEST_CASE("voice: configuration", "[voice][config]") {
  using engine::MethodKind;
  // Off unless asked for: the voice method is then a link without a channel, and says so.
  auto off = load("twilio: {account_sid: AC1, auth_token: t, from: \"+15551230001\"}\n");
  REQUIRE(off);
  CHECK_FALSE(off->twilio.voice);
  CHECK(off->directory->channels == std::vector<MethodKind>{MethodKind::sms});
  CHECK(std::any_of(off->warnings.begin(), off->warnings.end(), [](const std::string& w) {
    return w.find("a contact chain uses the voice method but twilio.voice is not on") != std::string::npos;
  }));

  // On: the caller is `from` when that is a number; the defaults.
  auto on = load("twilio: {account_sid: AC1, auth_token: t, from: \"+15551230001\", voice: true}\n");
  REQUIRE(on);
  CHECK(on->twilio.voice);
  CHECK(on->twilio.voice_from == "+15551230001");
  CHECK(on->twilio.calls_per_second == 1.0);
  CHECK(on->twilio.ring_timeout == 30s);
  CHECK(on->directory->channels == std::vector<MethodKind>{MethodKind::sms, MethodKind::voice});
  CHECK(std::none_of(on->warnings.begin(), on->warnings.end(),
                     [](const std::string& w) { return w.find("voice method") != std::string::npos; }));

  // A Messaging Service for SMS and a number of its own for calls.
  auto own = load(R"(twilio:
  account_sid: AC1
  auth_token: t
  messaging_service_sid: MG1
  voice: true
  voice_from: "+15551230002"
  calls_per_second: 2.5
  ring_timeout: 45s
)");
  REQUIRE(own);
  CHECK(own->twilio.voice_from == "+15551230002");
  CHECK(own->twilio.calls_per_second == 2.5);
  CHECK(own->twilio.ring_timeout == 45s);

  // Errors, each at its key.
  const auto bad = all_errors(R"(twilio:
  account_sid: AC1
  auth_token: t
  from: "+15551230001"
  voice: true
  voice_from: "555-1234"
  calls_per_second: 0
  ring_timeout: 2s
)");
  INFO(bad);
  CHECK(bad.find("t.yaml:12:15: 'voice_from' in twilio must be an E.164 number") != std::string::npos);
  CHECK(bad.find("t.yaml:13:21: 'calls_per_second' in twilio must be a number greater than 0") != std::string::npos);
  CHECK(bad.find("t.yaml:14:17: 'ring_timeout' in twilio must be between 5s and 600s") != std::string::npos);
  CHECK(all_errors("twilio: {account_sid: AC1, auth_token: t, from: Baton, voice: true}\n")
            .find("twilio.voice needs 'voice_from' (an E.164 number) when 'from' is not a phone number") !=
        std::string::npos);
  CHECK(all_errors("twilio: {account_sid: AC1, api_key_sid: SK1, api_key_secret: x, from: \"+15551230001\", "
                   "voice: true}\n")
            .find("twilio.voice needs 'auth_token'") != std::string::npos);
  CHECK(all_errors("twilio: {account_sid: AC1, auth_token: t, from: \"+15551230001\", voice: maybe}\n")
            .find("'voice' in twilio must be true or false") != std::string::npos);
}
