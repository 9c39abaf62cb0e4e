// The voice channel's pure parts and its request to Twilio: the signed call
// links, the TwiML a call is answered with, and the Calls API request placed
// against a protocol-faithful fake of Twilio's REST API.
#include <catch2/catch.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <future>
#include <thread>

#include "integrations/common/utf8.hpp"
#include "integrations/sms/twilio_signature.hpp"
#include "integrations/voice/call_token.hpp"
#include "integrations/voice/twiml.hpp"
#include "integrations/voice/twilio_voice_notifier.hpp"
#include "tests/support/fake_clock.hpp"
#include "tests/support/http_peer.hpp"
#include "tests/support/sample_delivery.hpp"

using namespace baton;
using namespace baton::integrations;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

const std::string kSid = "AC0123456789abcdef0123456789abcdef";
const std::string kToken = "test_auth_token_0123456789abcdef";
const std::string kPublic = "https://baton.example.com";

std::size_t count(std::string_view haystack, std::string_view needle) {
  std::size_t n = 0;
  for (auto at = haystack.find(needle); at != std::string_view::npos; at = haystack.find(needle, at + 1)) ++n;
  return n;
}

std::string field(const FormParams& params, std::string_view key) {
  for (const auto& [k, v] : params)
    if (k == key) return v;
  return "<absent>";
}

std::string basic(std::string_view user, std::string_view password) {
  return "Basic " + base64_encode(std::string(user) + ":" + std::string(password));
}

/// The decoded query of a URL.
FormParams query_of(std::string_view url) {
  const auto q = url.find('?');
  return q == std::string_view::npos ? FormParams{} : parse_form(url.substr(q + 1));
}

Delivery page() { return test::sample_page(engine::MethodKind::voice, engine::from_ms(1'767'225'600'000)); }

TwilioVoiceConfig voice_config(std::string base_url) {
  TwilioVoiceConfig c;
  c.base_url = std::move(base_url);
  c.account_sid = kSid;
  c.auth_token = kToken;
  c.from = "+15559870002";
  c.public_url = kPublic;
  c.link_secret = call_token_secret("", kToken);
  return c;
}

// A fake of Twilio's Calls API (POST /2010-04-01/Accounts/{AC}/Calls.json):
// Basic credentials, a form body with To, From and Url, as Twilio requires;
// 201 with a CallResource, and the documented refusals for an invalid number
// (21217), bad credentials (20003), throttling (20429) and an outage.
class FakeTwilioCalls {
 public:
  explicit FakeTwilioCalls(std::string user = kSid, std::string password = kToken)
      : user_(std::move(user)), password_(std::move(password)) {
    peer_.set_handler([this](const test::RecordedRequest& r) { return answer(r); });
  }
  test::HttpPeer& peer() { return peer_; }

 private:
  static test::ScriptedResponse error(int status, int code, std::string message) {
    json::object body{{"code", code},
                      {"message", message},
                      {"more_info", "https://www.twilio.com/docs/errors/" + std::to_string(code)},
                      {"status", status}};
    return {status, {}, json::serialize(body)};
  }

  std::optional<test::ScriptedResponse> answer(const test::RecordedRequest& r) {
    if (r.method != "POST" || r.target != "/2010-04-01/Accounts/" + kSid + "/Calls.json")
      return error(404, 20404, "The requested resource was not found");
    if (r.header("authorization") != std::optional<std::string>(basic(user_, password_)))
      return error(401, 20003, "Authenticate");
    if (r.header("content-type") != std::optional<std::string>("application/x-www-form-urlencoded"))
      return error(400, 21603, "Unsupported content type");
    const auto form = parse_form(r.body);
    const auto to = field(form, "To");
    if (to == "<absent>" || field(form, "From") == "<absent>") return error(400, 21201, "No 'To' number is specified");
    if (field(form, "Url") == "<absent>" && field(form, "Twiml") == "<absent>")
      return error(400, 21205, "Url parameter is required");
    if (to == "+15550000000") return error(400, 21217, "Phone number does not appear to be valid");
    if (to == "+15550000429") return error(429, 20429, "Too Many Requests");
    if (to == "+15550000503") return test::ScriptedResponse{503, {}, "upstream unavailable"};
    json::object call{{"sid", "CA0123456789abcdef0123456789abcdef"}, {"status", "queued"}, {"account_sid", kSid},
                      {"to", to},   {"from", field(form, "From")},    {"direction", "outbound-api"},
                      {"api_version", "2010-04-01"}};
    return test::ScriptedResponse{201, {}, json::serialize(call)};
  }

  std::string user_;
  std::string password_;
  test::HttpPeer peer_;
};

}  // namespace

// ---------------------------------------------------------------- call links

// A link signed for a page verifies back to the same page, whatever the order
// of its parameters, until it expires.
TEST_CASE("CallSigner: a signed query verifies until it expires", "[voice][link]") {
  const CallSigner signer(call_token_secret("action-secret", kToken));
  const auto now = engine::from_ms(1'767'225'600'000);
  const CallRef ref{17, 42, "alice smith/ops", now + 1h};
  const auto query = signer.query(ref);
  CHECK(query.starts_with("n=17&i=42&p=alice%20smith%2Fops&e=" + std::to_string(engine::to_ms(now + 1h)) + "&t="));
  auto params = parse_form(query);
  auto ok = signer.verify(params, now);
  REQUIRE(ok);
  CHECK(ok->notification == 17);
  CHECK(ok->incident == 42);
  CHECK(ok->person == "alice smith/ops");
  CHECK(ok->expires == now + 1h);
  std::reverse(params.begin(), params.end());
  CHECK(signer.verify(params, now + 59min));
  auto expired = signer.verify(params, now + 1h);
  REQUIRE_FALSE(expired);
  CHECK(expired.error().kind == ErrorKind::permanent);
}

// Any change to what the link names, or another key, fails the MAC: the
// incident, the page, the person, the expiry or the tag itself. Missing,
// repeated or malformed parameters are refused before the MAC is looked at.
TEST_CASE("CallSigner: tampering, other keys and malformed links are refused", "[voice][link]") {
  const CallSigner signer(call_token_secret("", kToken));
  const auto now = engine::from_ms(1'767'225'600'000);
  const auto good = parse_form(signer.query(CallRef{17, 42, "alice", now + 1h}));
  REQUIRE(signer.verify(good, now));
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"n", "18"}, {"i", "43"}, {"p", "bob"}, {"e", std::to_string(engine::to_ms(now + 2h))}, {"t", "AAAA"}}) {
    INFO(key);
    auto changed = good;
    for (auto& [k, v] : changed)
      if (k == key) v = value;
    auto r = signer.verify(changed, now);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::unauthorized);
  }
  const CallSigner other(call_token_secret("action-secret", kToken));
  CHECK(other.verify(good, now).error().kind == ErrorKind::unauthorized);
  const CallSigner other_token(call_token_secret("", "another-token"));
  CHECK(other_token.verify(good, now).error().kind == ErrorKind::unauthorized);

  auto missing = good;
  missing.pop_back();
  CHECK(signer.verify(missing, now).error().kind == ErrorKind::invalid_request);
  auto repeated = good;
  repeated.emplace_back("i", "42");
  CHECK(signer.verify(repeated, now).error().kind == ErrorKind::invalid_request);
  auto garbled = good;
  garbled[1].second = "42x";
  CHECK(signer.verify(garbled, now).error().kind == ErrorKind::invalid_request);
  CHECK(signer.verify({}, now).error().kind == ErrorKind::invalid_request);
}

// The key is never a configured secret itself, prefers server.action_secret,
// differs between the two sources, and there is none without either.
TEST_CASE("call_token_secret", "[voice][link]") {
  const auto from_action = call_token_secret("s", "t");
  CHECK(from_action.size() == 32);
  CHECK(from_action == call_token_secret("s", "other"));
  CHECK(from_action != call_token_secret("", "s"));
  CHECK(call_token_secret("", "t") != "t");
  CHECK(call_token_secret("", "").empty());
  CHECK_THROWS_AS(CallSigner(""), std::invalid_argument);
}

// ---------------------------------------------------------------- TwiML

// The page names the incident, service, severity and summary.
TEST_CASE("spoken_page", "[voice][twiml]") {
  const auto d = page();
  CHECK(spoken_page(d.incident, "Payments") ==
        "Incident 42, service Payments, severity critical: Disk \"full\" on db-1.");
  CHECK(spoken_page(d.incident, "") == "Incident 42, service payments, severity critical: Disk \"full\" on db-1.");
  auto inc = d.incident;
  inc.summary = "  Checkout\n\terrors   above 5%!  ";
  inc.severity = engine::Severity::warning;
  CHECK(spoken_page(inc, "Shop") == "Incident 42, service Shop, severity warning: Checkout errors above 5%!");
  inc.summary = "";
  CHECK(spoken_page(inc, "Shop") == "Incident 42, service Shop, severity warning: no summary.");
}

// Long summaries are cut to 200 bytes at a character boundary; bytes that are
// not UTF-8 are repaired, so the TwiML is always valid UTF-8.
TEST_CASE("spoken_page: long and broken summaries", "[voice][twiml]") {
  auto inc = page().incident;
  std::string summary;
  for (int i = 0; i < 150; ++i) summary += "\xC3\xA9";  // 300 bytes of 'é'
  inc.summary = summary;
  const auto text = spoken_page(inc, "P");
  const std::string prefix = "Incident 42, service P, severity critical: ";
  REQUIRE(text.starts_with(prefix));
  const auto said = text.substr(prefix.size());
  CHECK(said.ends_with("..."));
  CHECK(said.size() <= 200);
  CHECK(said.size() >= 195);
  CHECK(repair_utf8(said) == said);
  inc.summary = "bad \xFF byte";
  CHECK(spoken_page(inc, "P") == prefix + "bad \xEF\xBF\xBD byte.");
}

// The script: one <Gather> for one DTMF digit posting to the action URL
// (escaped), the preface first, then the page and the menu twice; with no key
// pressed, a goodbye and <Hangup/> after the Gather.
TEST_CASE("twiml_page", "[voice][twiml]") {
  const std::string action = "https://baton.example.com/voice/twilio/gather?n=1&i=2&p=a&e=3&t=x";
  const auto xml = twiml_page("Incident 42, service P, severity critical: Disk <full> & \"hot\".", action,
                              "This is baton.");
  CHECK(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Gather "));
  CHECK(xml.find("input=\"dtmf\"") != std::string::npos);
  CHECK(xml.find("numDigits=\"1\"") != std::string::npos);
  CHECK(xml.find("method=\"POST\"") != std::string::npos);
  CHECK(xml.find("action=\"https://baton.example.com/voice/twilio/gather?n=1&amp;i=2&amp;p=a&amp;e=3&amp;t=x\"") !=
        std::string::npos);
  const std::string said =
      "<Say>Incident 42, service P, severity critical: Disk &lt;full&gt; &amp; &quot;hot&quot;.</Say>";
  CHECK(count(xml, said) == 2);
  CHECK(count(xml, "<Say>" + std::string(kVoiceMenu) + "</Say>") == 2);
  CHECK(xml.find("<Say>This is baton.</Say>") < xml.find(said));
  const auto gather_end = xml.find("</Gather>");
  REQUIRE(gather_end != std::string::npos);
  CHECK(xml.rfind(said) < gather_end);
  CHECK(xml.substr(gather_end) ==
        "</Gather><Say>No key was pressed. The page is not acknowledged. Goodbye.</Say><Hangup/></Response>");
  CHECK(count(xml, "<Say>") == count(xml, "</Say>"));
  CHECK(twiml_page("x", action).find("<Say></Say>") == std::string::npos);  // no empty preface
}

TEST_CASE("twiml_say_hangup, twiml_hangup and xml_escape", "[voice][twiml]") {
  CHECK(twiml_say_hangup("Incident 42 acknowledged. Goodbye.") ==
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say>Incident 42 acknowledged. Goodbye.</Say><Hangup/>"
        "</Response>");
  CHECK(twiml_hangup() == "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Hangup/></Response>");
  CHECK(xml_escape("a&b<c>d\"e'f") == "a&amp;b&lt;c&gt;d&quot;e&apos;f");
  CHECK(xml_escape(std::string("tab\tnl\ncr\rbell\x07nul") + '\0' + "del\x7f") == "tab\tnl\ncr\rbellnuldel");
  CHECK(xml_escape("\xFF") == "\xEF\xBF\xBD");
  CHECK(twiml_say_hangup("</Say><Dial>+1900</Dial>").find("<Dial>") == std::string::npos);
}

// Keys, machine verdicts and final statuses, as Twilio reports them.
TEST_CASE("voice keys and call outcomes", "[voice][twiml]") {
  CHECK(parse_voice_key("") == VoiceKey::none);
  CHECK(parse_voice_key("1") == VoiceKey::acknowledge);
  CHECK(parse_voice_key("2") == VoiceKey::resolve);
  CHECK(parse_voice_key("3") == VoiceKey::escalate);
  CHECK(parse_voice_key("9") == VoiceKey::repeat);
  for (const char* other : {"0", "4", "5", "8", "*", "#", "11", "1#", " 1"}) {
    INFO(other);
    CHECK(parse_voice_key(other) == VoiceKey::other);
  }
  for (const char* machine : {"machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax"})
    CHECK(answered_by_machine(machine));
  for (const char* human : {"human", "unknown", "", "machine", "Machine_start"})
    CHECK_FALSE(answered_by_machine(human));
  for (const char* s : {"no-answer", "busy", "failed", "canceled"}) CHECK(call_not_connected(s));
  for (const char* s : {"queued", "initiated", "ringing", "in-progress", "completed", "", "cancelled"})
    CHECK_FALSE(call_not_connected(s));
}

// ---------------------------------------------------------------- placing calls

// The Calls API request, field by field, as the fake Twilio receives it: the
// person's phone, the caller number, the signed answer URL and status
// callback (the same call link), the four progress events, answering-machine
// detection and the ring timeout. The link expires link_ttl after sending.
TEST_CASE("TwilioVoiceNotifier places the call", "[voice][twilio]") {
  FakeTwilioCalls twilio;
  test::FakeClock clock;
  auto config = voice_config(twilio.peer().url() + "/");
  TwilioVoiceNotifier notifier(config, clock);
  auto d = page();
  d.notification.person = "alice smith/ops";
  REQUIRE(notifier.send(d));

  const auto seen = twilio.peer().requests();
  REQUIRE(seen.size() == 1);
  const auto& r = seen[0];
  CHECK(r.target == "/2010-04-01/Accounts/" + kSid + "/Calls.json");
  CHECK(r.header("accept") == std::optional<std::string>("application/json"));
  const auto form = parse_form(r.body);
  const CallSigner signer(config.link_secret);
  const std::string query = signer.query(CallRef{17, 42, "alice smith/ops", clock.now() + 6h});
  const FormParams expected = {
      {"To", "+15551234567"},
      {"From", "+15559870002"},
      {"Url", kPublic + "/voice/twilio/answer?" + query},
      {"Method", "POST"},
      {"StatusCallback", kPublic + "/voice/twilio/status?" + query},
      {"StatusCallbackMethod", "POST"},
      {"StatusCallbackEvent", "initiated"},
      {"StatusCallbackEvent", "ringing"},
      {"StatusCallbackEvent", "answered"},
      {"StatusCallbackEvent", "completed"},
      {"MachineDetection", "Enable"},
      {"Timeout", "30"},
  };
  CHECK(form == expected);
  CHECK(r.body == form_encode(expected));
  CHECK(r.body.find("StatusCallbackEvent=initiated&StatusCallbackEvent=ringing&StatusCallbackEvent=answered&"
                    "StatusCallbackEvent=completed") != std::string::npos);
  auto link = signer.verify(query_of(field(form, "Url")), clock.now());
  REQUIRE(link);
  CHECK(link->person == "alice smith/ops");
  CHECK(link->notification == 17);
  CHECK(link->incident == 42);
  CHECK(signer.verify(query_of(field(form, "Url")), clock.now() + 6h).error().kind == ErrorKind::permanent);
}

// An API key authenticates instead of the auth token; the ring timeout is
// configurable.
TEST_CASE("TwilioVoiceNotifier options", "[voice][twilio]") {
  FakeTwilioCalls twilio("SK0123", "key-secret");
  test::FakeClock clock;
  auto config = voice_config(twilio.peer().url());
  config.api_key_sid = "SK0123";
  config.api_key_secret = "key-secret";
  config.ring_timeout = 45s;
  TwilioVoiceNotifier notifier(config, clock);
  REQUIRE(notifier.send(page()));
  CHECK(field(parse_form(twilio.peer().requests().at(0).body), "Timeout") == "45");
}

// Updates and incident-channel notifications never ring anyone: they succeed
// without a request and take no pacing slot.
TEST_CASE("TwilioVoiceNotifier places calls for pages only", "[voice][twilio]") {
  FakeTwilioCalls twilio;
  test::FakeClock clock;
  TwilioVoiceNotifier notifier(voice_config(twilio.peer().url()), clock);
  for (auto kind : {engine::NotificationKind::update, engine::NotificationKind::open_channel}) {
    auto d = page();
    d.notification.kind = kind;
    CHECK_FALSE(notifier.reserve(d, clock.now()));
    CHECK_FALSE(notifier.reserve(d, clock.now()));
    CHECK(notifier.send(d));
  }
  CHECK(twilio.peer().requests().empty());
  CHECK_FALSE(notifier.reserve(page(), clock.now()));  // the pacing slot is still free
}

// Calls per second per caller number: at 1/s the second page waits a second;
// at 4/s a quarter.
TEST_CASE("TwilioVoiceNotifier paces calls per caller number", "[voice][twilio]") {
  test::FakeClock clock;
  auto config = voice_config("http://127.0.0.1:1");
  TwilioVoiceNotifier slow(config, clock);
  const auto now = clock.now();
  CHECK_FALSE(slow.reserve(page(), now));
  CHECK(slow.reserve(page(), now) == std::optional(now + 1s));
  CHECK_FALSE(slow.reserve(page(), now + 1s));
  config.calls_per_second = 4;
  TwilioVoiceNotifier fast(config, clock);
  CHECK_FALSE(fast.reserve(page(), now));
  CHECK(fast.reserve(page(), now) == std::optional(now + 250ms));
}

// Twilio's refusals map onto the taxonomy; a person without a phone is never
// called.
TEST_CASE("TwilioVoiceNotifier errors", "[voice][twilio]") {
  FakeTwilioCalls twilio;
  test::FakeClock clock;
  TwilioVoiceNotifier notifier(voice_config(twilio.peer().url()), clock);
  auto d = page();
  d.person->phone = "+15550000000";
  auto invalid = notifier.send(d);
  REQUIRE_FALSE(invalid);
  CHECK(invalid.error().kind == ErrorKind::permanent);
  CHECK(invalid.error().message.find("21217") != std::string::npos);
  d.person->phone = "+15550000429";
  CHECK(notifier.send(d).error().kind == ErrorKind::rate_limited);
  d.person->phone = "+15550000503";
  CHECK(notifier.send(d).error().kind == ErrorKind::transient);
  const auto before = twilio.peer().requests().size();
  d.person->phone = "";
  auto no_phone = notifier.send(d);
  CHECK(no_phone.error().kind == ErrorKind::permanent);
  d.person.reset();
  CHECK(notifier.send(d).error().kind == ErrorKind::permanent);
  CHECK(twilio.peer().requests().size() == before);

  auto cfg = voice_config(twilio.peer().url());
  cfg.auth_token = "wrong";
  TwilioVoiceNotifier refused(cfg, clock);
  CHECK(refused.send(page()).error().kind == ErrorKind::auth_revoked);
}

TEST_CASE("TwilioVoiceNotifier rejects an unusable configuration", "[voice][twilio]") {
  test::FakeClock clock;
  auto good = voice_config("http://127.0.0.1:1");
  CHECK_NOTHROW(TwilioVoiceNotifier(good, clock));
  auto c = good;
  c.account_sid = "";
  CHECK_THROWS_AS(TwilioVoiceNotifier(c, clock), std::invalid_argument);
  c = good;
  c.auth_token = "";
  CHECK_THROWS_AS(TwilioVoiceNotifier(c, clock), std::invalid_argument);
  c.api_key_sid = "SK1";
  CHECK_THROWS_AS(TwilioVoiceNotifier(c, clock), std::invalid_argument);
  c.api_key_secret = "s";
  CHECK_NOTHROW(TwilioVoiceNotifier(c, clock));
  c = good;
  c.from = "";
  CHECK_THROWS_AS(TwilioVoiceNotifier(c, clock), std::invalid_argument);
  c = good;
  c.public_url = "";
  CHECK_THROWS_AS(TwilioVoiceNotifier(c, clock), std::invalid_argument);
  c = good;
  c.link_secret = "";
  CHECK_THROWS_AS(TwilioVoiceNotifier(c, clock), std::invalid_argument);
  c = good;
  c.calls_per_second = 0;
  CHECK_THROWS_AS(TwilioVoiceNotifier(c, clock), std::invalid_argument);
}

// The non-blocking path (what the dispatcher uses): the same request goes
// through AsyncHttpClient on an io_context under the "voice" key, and done
// runs once with Twilio's answer; an update completes at once without I/O.
TEST_CASE("TwilioVoiceNotifier sends without blocking", "[voice][twilio][async]") {
  FakeTwilioCalls twilio;
  test::FakeClock clock;
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  std::thread runner([&io] { io.run(); });
  {
    auto http = std::make_shared<AsyncHttpClient>(io);
    TwilioVoiceNotifier notifier(voice_config(twilio.peer().url()), clock, http);
    CHECK(notifier.is_async());
    std::promise<Result<void>> placed;
    notifier.send_async(page(), [&placed](Result<void> r) { placed.set_value(std::move(r)); });
    auto f = placed.get_future();
    REQUIRE(f.wait_for(10s) == std::future_status::ready);
    CHECK(f.get());
    auto invalid = page();
    invalid.person->phone = "+15550000000";
    std::promise<Result<void>> refused;
    notifier.send_async(invalid, [&refused](Result<void> r) { refused.set_value(std::move(r)); });
    auto g = refused.get_future();
    REQUIRE(g.wait_for(10s) == std::future_status::ready);
    CHECK(g.get().error().kind == ErrorKind::permanent);
    auto update = page();
    update.notification.kind = engine::NotificationKind::update;
    bool updated = false;
    notifier.send_async(update, [&updated](Result<void> r) { updated = r.has_value(); });
    CHECK(updated);
    CHECK(twilio.peer().requests().size() == 2);
    http->shutdown();
    guard.reset();
    io.stop();
    runner.join();
  }
}
