#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include "integrations/sms/http_gateway_notifier.hpp"
#include "integrations/sms/sms_reply.hpp"
#include "integrations/sms/sms_text.hpp"
#include "integrations/sms/twilio_notifier.hpp"
#include "integrations/sms/twilio_signature.hpp"
#include "tests/support/http_peer.hpp"

using namespace baton;
using namespace baton::integrations;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

const std::string kSid = "AC0123456789abcdef0123456789abcdef";
const std::string kToken = "test_auth_token_0123456789abcdef";
const std::string kSuffix = " Reply 1=ack 2=resolve 3=escalate #42, or ACK 42";

std::string repeat(std::string_view unit, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += unit;
  return out;
}

// Strict UTF-8 check, so a cut never leaves half a character behind.
bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    std::size_t len = b < 0x80 ? 1 : (b & 0xe0) == 0xc0 ? 2 : (b & 0xf0) == 0xe0 ? 3 : (b & 0xf8) == 0xf0 ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
    }
    i += len;
  }
  return true;
}

bool ends_with(std::string_view s, std::string_view tail) { return s.ends_with(tail); }

Delivery page(std::string summary = "Disk full on db-1") {
  Delivery d;
  d.notification.id = 17;
  d.notification.incident = 42;
  d.notification.person = "alice";
  d.notification.method = engine::MethodKind::sms;
  d.notification.kind = engine::NotificationKind::page;
  d.notification.idempotency_key = "notif-17";
  d.incident.number = 42;
  d.incident.service_id = "payments";
  d.incident.summary = std::move(summary);
  d.incident.severity = engine::Severity::critical;
  d.incident.state = engine::IncidentState::triggered;
  d.incident.owner = "alice";
  d.person = engine::Person{};
  d.person->id = "alice";
  d.person->name = "Alice Example";
  d.person->phone = "+15551230001";
  d.service_name = "Payments";
  return d;
}

Delivery update(engine::IncidentState state, std::string owner) {
  auto d = page();
  d.notification.kind = engine::NotificationKind::update;
  d.incident.state = state;
  d.incident.owner = std::move(owner);
  return d;
}

TwilioConfig twilio_config(std::string base_url) {
  TwilioConfig c;
  c.base_url = std::move(base_url);
  c.account_sid = kSid;
  c.auth_token = kToken;
  c.from = "+15559870002";
  c.status_callback_url = "https://baton.example.com/sms/twilio/status";
  return c;
}

std::string basic(std::string_view user, std::string_view password) {
  return "Basic " + base64_encode(std::string(user) + ":" + std::string(password));
}

std::string field(const FormParams& params, std::string_view key) {
  for (const auto& [k, v] : params) {
    if (k == key) return v;
  }
  return "<absent>";
}

// A protocol-faithful fake of Twilio's Messages API: checks the path, the
// Basic credentials and the required form fields as Twilio does, answers 201
// with a MessageResource, and the documented errors for a bad number (21211),
// an unsubscribed one (21610) and bad credentials (20003).
class FakeTwilio {
 public:
  explicit FakeTwilio(std::string user = kSid, std::string password = kToken)
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
    const std::string path = "/2010-04-01/Accounts/" + kSid + "/Messages.json";
    if (r.method != "POST" || r.target != path) return error(404, 20404, "The requested resource was not found");
    if (r.header("authorization") != std::optional<std::string>(basic(user_, password_))) {
      return error(401, 20003, "Authenticate");
    }
    if (r.header("content-type") != std::optional<std::string>("application/x-www-form-urlencoded")) {
      return error(400, 21603, "Unsupported content type");
    }
    const auto form = parse_form(r.body);
    const auto to = field(form, "To");
    if (to == "<absent>") return error(400, 21604, "A 'To' phone number is required.");
    if (field(form, "From") == "<absent>" && field(form, "MessagingServiceSid") == "<absent>") {
      return error(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required");
    }
    if (field(form, "Body") == "<absent>") return error(400, 21602, "Message body is required.");
    if (to == "+1555") return error(400, 21211, "The 'To' number +1555 is not a valid phone number.");
    if (to == "+15550000000") return error(400, 21610, "Attempt to send to unsubscribed recipient");
    json::object message{{"sid", "SM0123456789abcdef0123456789abcdef"},
                         {"status", "queued"},
                         {"account_sid", kSid},
                         {"messaging_service_sid", nullptr},
                         {"from", field(form, "From")},
                         {"to", to},
                         {"body", field(form, "Body")},
                         {"num_segments", "2"},
                         {"num_media", "0"},
                         {"direction", "outbound-api"},
                         {"api_version", "2010-04-01"},
                         {"price", nullptr},
                         {"price_unit", "USD"},
                         {"error_code", nullptr},
                         {"error_message", nullptr},
                         {"date_created", "Thu, 01 Jan 2026 00:00:00 +0000"},
                         {"date_sent", nullptr},
                         {"date_updated", "Thu, 01 Jan 2026 00:00:00 +0000"},
                         {"uri", "/2010-04-01/Accounts/" + kSid + "/Messages/SM0123456789abcdef0123456789abcdef.json"}};
    return test::ScriptedResponse{201, {}, json::serialize(message)};
  }

  std::string user_;
  std::string password_;
  test::HttpPeer peer_;
};

}  // namespace

// ---------------------------------------------------------------- segments

// GSM-7: printable ASCII except the backtick, LF/CR and the national
// characters of the basic table count 1; 160 fit one segment, 161 need two,
// 306 (2 x 153) two, 307 three. An empty text is one segment.
TEST_CASE("segment_info: GSM-7 basic characters and limits", "[sms][segments]") {
  auto e = segment_info("");
  CHECK(e.gsm7);
  CHECK(e.units == 0);
  CHECK(e.segments == 1);

  auto ascii = segment_info("Hello @world! $5 #42 _x_ (ok)?\r\n");
  CHECK(ascii.gsm7);
  CHECK(ascii.units == 32);

  auto national = segment_info("\u00A3\u00A5\u00E8\u00E9\u00F9\u00EC\u00F2\u00C7\u00D8\u00F8\u00C5\u00E5\u0394\u03A6\u0393\u039B\u03A9\u03A0\u03A8\u03A3\u0398\u039E\u00C6\u00E6\u00DF\u00C9\u00A4\u00A1\u00C4\u00D6\u00D1\u00DC\u00A7\u00BF\u00E4\u00F6\u00F1\u00FC\u00E0");
  CHECK(national.gsm7);
  CHECK(national.units == 39);

  CHECK(segment_info(repeat("a", 160)).segments == 1);
  CHECK(segment_info(repeat("a", 161)).segments == 2);
  CHECK(segment_info(repeat("a", 306)).segments == 2);
  auto s307 = segment_info(repeat("a", 307));
  CHECK(s307.segments == 3);
  CHECK(s307.units == 307);
}

// The extension table (^ { } \ [ ] ~ | € and form feed) costs 2 units each;
// an escape pair never straddles two segments.
TEST_CASE("segment_info: GSM-7 extension characters count 2", "[sms][segments]") {
  auto ext = segment_info("^{}\\[]~|€\f");
  CHECK(ext.gsm7);
  CHECK(ext.units == 20);
  CHECK(segment_info(repeat("€", 80)).segments == 1);   // 160 units
  CHECK(segment_info(repeat("a", 159) + "{").segments == 2);  // 161 units
  auto straddle = segment_info(repeat("a", 152) + "€" + repeat("a", 152));  // 306 units...
  CHECK(straddle.units == 306);
  CHECK(straddle.segments == 3);  // ...but "€" cannot be split after the 152nd septet
}

// Any character outside GSM-7 (backtick, ç, Cyrillic, emoji, invalid UTF-8)
// makes the whole text UCS-2, counted in UTF-16 code units: 70 / 71, 134 / 135,
// and a surrogate pair counts 2 and is never split.
TEST_CASE("segment_info: UCS-2 and surrogate pairs", "[sms][segments]") {
  CHECK_FALSE(segment_info("`").gsm7);
  CHECK_FALSE(segment_info("ç").gsm7);  // only the capital Ç is GSM-7
  auto cyr = segment_info("Привет, мир");
  CHECK_FALSE(cyr.gsm7);
  CHECK(cyr.units == 11);
  auto emoji = segment_info("ok 😀");
  CHECK_FALSE(emoji.gsm7);
  CHECK(emoji.units == 5);
  auto invalid = segment_info("a\xff");
  CHECK_FALSE(invalid.gsm7);
  CHECK(invalid.units == 2);

  CHECK(segment_info(repeat("Ж", 70)).segments == 1);
  CHECK(segment_info(repeat("Ж", 71)).segments == 2);
  CHECK(segment_info(repeat("Ж", 134)).segments == 2);
  CHECK(segment_info(repeat("Ж", 135)).segments == 3);
  CHECK(segment_info(repeat("a", 68) + "😀").segments == 1);  // 70 units
  CHECK(segment_info(repeat("a", 69) + "😀").segments == 2);  // 71 units
  auto pair_straddle = segment_info(repeat("Ж", 66) + "😀" + repeat("Ж", 66));
  CHECK(pair_straddle.units == 134);
  CHECK(pair_straddle.segments == 3);
  // A GSM-7 extension character in a UCS-2 text is just one unit.
  CHECK(segment_info("Ж{").units == 2);
}

// ---------------------------------------------------------------- page text

// A short page: number, severity, service, summary, reply codes naming the incident.
TEST_CASE("page_text: a short page", "[sms][text]") {
  CHECK(page_text(page()) == "baton #42 CRITICAL Payments: Disk full on db-1" + kSuffix);
  // Whitespace runs (newlines, tabs) become one space.
  CHECK(page_text(page("Disk\nfull\t on  db-1 \r\n")) == "baton #42 CRITICAL Payments: Disk full on db-1" + kSuffix);
  // Without a service name, the service id; a long name is shortened.
  auto d = page();
  d.service_name.clear();
  d.incident.severity = engine::Severity::warning;
  CHECK(page_text(d) == "baton #42 WARNING payments: Disk full on db-1" + kSuffix);
  d.service_name = repeat("x", 50);
  CHECK(page_text(d) == "baton #42 WARNING " + repeat("x", 29) + "...: Disk full on db-1" + kSuffix);
}

// A 2,000-character ASCII summary: cut with "..." (staying GSM-7), the whole
// within 2 segments yet using most of them, reply codes and number intact;
// within 1 segment when asked.
TEST_CASE("page_text: a long ASCII summary fits two segments", "[sms][text]") {
  const auto summary = repeat("disk full on db-7 ", 112).substr(0, 2000);
  const auto text = page_text(page(summary));
  const auto info = segment_info(text);
  CHECK(info.gsm7);
  CHECK(info.segments <= 2);
  CHECK(info.units > 296);
  CHECK(text.starts_with("baton #42 CRITICAL Payments: disk full on db-7"));
  CHECK(ends_with(text, "..." + kSuffix));
  CHECK(text.find(" ..." ) == std::string::npos);  // no space before the ellipsis

  const auto one = page_text(page(summary), 1);
  CHECK(segment_info(one).segments == 1);
  CHECK(ends_with(one, "..." + kSuffix));
}

// A 2,000-character Cyrillic summary: UCS-2, so cut with "…", within 2
// segments (134 units), valid UTF-8, reply codes intact.
TEST_CASE("page_text: a long Cyrillic summary fits two segments", "[sms][text]") {
  const auto summary = repeat("Диск заполнен ", 143);
  const auto text = page_text(page(summary));
  const auto info = segment_info(text);
  CHECK_FALSE(info.gsm7);
  CHECK(info.segments <= 2);
  CHECK(info.units > 124);
  CHECK(valid_utf8(text));
  CHECK(text.starts_with("baton #42 CRITICAL Payments: Диск"));
  CHECK(ends_with(text, "…" + kSuffix));
}

// Emoji (surrogate pairs) and extension characters in a long summary: still
// within two segments, never a broken character.
TEST_CASE("page_text: emoji and extension characters", "[sms][text]") {
  const auto emoji = page_text(page(repeat("🔥", 500)));
  CHECK(segment_info(emoji).segments <= 2);
  CHECK(valid_utf8(emoji));
  CHECK(ends_with(emoji, "…" + kSuffix));
  // A non-GSM character beyond the cut does not make the page UCS-2.
  const auto late_emoji = page_text(page(repeat("x", 1000) + "🔥"));
  CHECK(segment_info(late_emoji).gsm7);
  CHECK(segment_info(late_emoji).segments <= 2);
  CHECK(ends_with(late_emoji, "..." + kSuffix));
  const auto braces = page_text(page(repeat("{a}", 300)));
  CHECK(segment_info(braces).gsm7);
  CHECK(segment_info(braces).segments <= 2);
  CHECK(ends_with(braces, "..." + kSuffix));
}

// Updates: who acknowledged (the addressee's name when they own it, else the
// owner id), resolved, and a change of owner.
TEST_CASE("page_text: updates", "[sms][text]") {
  auto self = update(engine::IncidentState::acknowledged, "alice");
  CHECK(page_text(self) == "baton #42 acknowledged by Alice Example");
  CHECK(page_text(update(engine::IncidentState::acknowledged, "bob")) == "baton #42 acknowledged by bob");
  CHECK(page_text(update(engine::IncidentState::acknowledged, "")) == "baton #42 acknowledged");
  CHECK(page_text(update(engine::IncidentState::resolved, "bob")) == "baton #42 resolved");
  CHECK(page_text(update(engine::IncidentState::triggered, "bob")) == "baton #42 triggered, owner bob");
}

// ---------------------------------------------------------------- replies

// The reply table. Decisions: full words ACKNOWLEDGE/RESOLVE/ESCALATE are
// accepted; "ACK42" (no space) is accepted but a digit code needs a separator
// ("242" is unknown); trailing '.'/'!' are ignored; a negative, zero or
// trailing-garbage number makes the reply unknown rather than guessing;
// opt-out keywords count only alone.
// TwiML: the exact documents, with XML special characters escaped and
// characters XML 1.0 forbids dropped.
TEST_CASE("twiml_message and twiml_empty", "[sms][reply]") {
  CHECK(twiml_empty() == R"(<?xml version="1.0" encoding="UTF-8"?><Response/>)");
  CHECK(twiml_message("Ack received for incident 42") ==
        R"(<?xml version="1.0" encoding="UTF-8"?><Response><Message>Ack received for incident 42</Message></Response>)");
  CHECK(twiml_message("a<b & \"c\" 'd'> é\x01\n") ==
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt; "
        "é\n</Message></Response>");
  CHECK(twiml_message("</Message><Message>x") ==
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>&lt;/Message&gt;&lt;Message&gt;x"
        "</Message></Response>");
}

// ---------------------------------------------------------------- Twilio

// The exact request: POST to the account's Messages.json with Basic
// AccountSid:AuthToken, form fields To, From, Body, ValidityPeriod and a
// StatusCallback naming the notification, incident and person; accepted (201).
TEST_CASE("TwilioNotifier sends the Messages API request", "[sms][twilio]") {
  FakeTwilio twilio;
  auto config = twilio_config(twilio.peer().url() + "/");  // a trailing slash is tolerated
  TwilioNotifier notifier(config);
  auto d = page();
  d.notification.person = "alice smith/ops";
  d.person->id = "alice smith/ops";
  auto result = notifier.send(d);
  REQUIRE(result);

  auto seen = twilio.peer().requests();
  REQUIRE(seen.size() == 1);
  const auto& r = seen[0];
  CHECK(r.method == "POST");
  CHECK(r.target == "/2010-04-01/Accounts/" + kSid + "/Messages.json");
  CHECK(r.header("authorization") == std::optional(basic(kSid, kToken)));
  CHECK(r.header("content-type") == std::optional<std::string>("application/x-www-form-urlencoded"));
  CHECK(r.header("accept") == std::optional<std::string>("application/json"));
  const auto form = parse_form(r.body);
  const FormParams expected = {
      {"To", "+15551230001"},
      {"From", "+15559870002"},
      {"Body", "baton #42 CRITICAL Payments: Disk full on db-1" + kSuffix},
      {"ValidityPeriod", "600"},
      {"StatusCallback", "https://baton.example.com/sms/twilio/status?n=17&i=42&p=alice%20smith%2Fops"},
  };
  CHECK(form == expected);
  CHECK(r.body == form_encode(expected));
  CHECK(twilio_message_fields(d, config) == expected);
}

// Options: an API key authenticates instead of the auth token; a Messaging
// Service replaces From; no status callback and no validity when unset; a
// callback URL that already has a query gets '&'; validity is capped at 36000.
TEST_CASE("TwilioNotifier options", "[sms][twilio]") {
  FakeTwilio twilio("SK0123", "key-secret");
  auto config = twilio_config(twilio.peer().url());
  config.api_key_sid = "SK0123";
  config.api_key_secret = "key-secret";
  config.messaging_service_sid = "MG0123";
  config.status_callback_url.clear();
  config.validity = 0s;
  TwilioNotifier notifier(config);
  REQUIRE(notifier.send(page()));
  auto form = parse_form(twilio.peer().requests().at(0).body);
  CHECK(form == FormParams{{"To", "+15551230001"},
                           {"MessagingServiceSid", "MG0123"},
                           {"Body", "baton #42 CRITICAL Payments: Disk full on db-1" + kSuffix}});

  config.status_callback_url = "https://baton.example.com/sms/status?tenant=a";
  config.validity = 100h;
  auto fields = twilio_message_fields(page(), config);
  CHECK(field(fields, "StatusCallback") == "https://baton.example.com/sms/status?tenant=a&n=17&i=42&p=alice");
  CHECK(field(fields, "ValidityPeriod") == "36000");
}

// Error mapping against the fake: a bad number (21211) and an unsubscribed one
// (21610) are permanent with Twilio's code and message; bad credentials
// (20003) auth_revoked; a person without a phone fails before any request.
TEST_CASE("TwilioNotifier maps Twilio's refusals", "[sms][twilio]") {
  FakeTwilio twilio;
  TwilioNotifier notifier(twilio_config(twilio.peer().url()));

  auto bad = page();
  bad.person->phone = "+1555";
  auto r1 = notifier.send(bad);
  REQUIRE_FALSE(r1);
  CHECK(r1.error().kind == ErrorKind::permanent);
  CHECK(r1.error().message == "twilio 21211: The 'To' number +1555 is not a valid phone number.");

  auto unsubscribed = page();
  unsubscribed.person->phone = "+15550000000";
  auto r2 = notifier.send(unsubscribed);
  REQUIRE_FALSE(r2);
  CHECK(r2.error().kind == ErrorKind::permanent);
  CHECK(r2.error().message == "twilio 21610: Attempt to send to unsubscribed recipient");

  auto wrong = twilio_config(twilio.peer().url());
  wrong.auth_token = "revoked";
  auto r3 = TwilioNotifier(wrong).send(page());
  REQUIRE_FALSE(r3);
  CHECK(r3.error().kind == ErrorKind::auth_revoked);
  CHECK(r3.error().message == "twilio 20003: Authenticate");

  const auto before = twilio.peer().requests().size();
  auto no_phone = page();
  no_phone.person->phone.clear();
  auto r4 = notifier.send(no_phone);
  REQUIRE_FALSE(r4);
  CHECK(r4.error().kind == ErrorKind::permanent);
  CHECK(r4.error().message == "sms: person 'alice' has no phone number");
  auto nobody = page();
  nobody.person.reset();
  CHECK(notifier.send(nobody).error().kind == ErrorKind::permanent);
  CHECK(twilio.peer().requests().size() == before);
}

// Throttling and outages: 429 (Retry-After honoured) is rate_limited, 500 and
// 503 transient, and a refused connection transient.
TEST_CASE("TwilioNotifier maps throttling and outages", "[sms][twilio]") {
  test::HttpPeer peer;
  TwilioNotifier notifier(twilio_config(peer.url()));
  peer.push_response({429, {{"Retry-After", "7"}}, R"({"code":20429,"message":"Too Many Requests","status":429})"});
  peer.push_response({500, {}, R"({"code":20500,"message":"Internal Server Error","status":500})"});
  peer.push_response({503, {{"Content-Type", "text/html"}}, "<html>down</html>"});

  auto r1 = notifier.send(page());
  REQUIRE_FALSE(r1);
  CHECK(r1.error().kind == ErrorKind::rate_limited);
  CHECK(r1.error().retry_after == 7000ms);
  CHECK(r1.error().message == "twilio 20429: Too Many Requests");
  auto r2 = notifier.send(page());
  REQUIRE_FALSE(r2);
  CHECK(r2.error().kind == ErrorKind::transient);
  CHECK(r2.error().message == "twilio 20500: Internal Server Error");
  auto r3 = notifier.send(page());
  REQUIRE_FALSE(r3);
  CHECK(r3.error().kind == ErrorKind::transient);
  CHECK(r3.error().message == "twilio HTTP 503: <html>down</html>");

  const auto url = peer.url();
  peer.stop();
  auto r4 = TwilioNotifier(twilio_config(url)).send(page());
  REQUIRE_FALSE(r4);
  CHECK(r4.error().kind == ErrorKind::transient);
}

// The one table, directly: status first, Twilio's code second.
TEST_CASE("classify_twilio table", "[sms][twilio]") {
  auto kind = [](int status, std::string body) {
    HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    auto result = classify_twilio(r);
    return result ? std::optional<ErrorKind>() : std::optional(result.error().kind);
  };
  CHECK_FALSE(kind(201, R"({"sid":"SM1"})"));
  CHECK_FALSE(kind(200, ""));
  CHECK(kind(429, "") == ErrorKind::rate_limited);
  CHECK(kind(400, R"({"code":20429,"message":"Too Many Requests"})") == ErrorKind::rate_limited);
  CHECK(kind(500, "") == ErrorKind::transient);
  CHECK(kind(502, "not json") == ErrorKind::transient);
  CHECK(kind(408, "") == ErrorKind::transient);
  CHECK(kind(401, "") == ErrorKind::auth_revoked);
  CHECK(kind(403, R"({"code":20003,"message":"Authenticate"})") == ErrorKind::auth_revoked);
  CHECK(kind(400, R"({"code":21211,"message":"bad To"})") == ErrorKind::permanent);
  CHECK(kind(400, R"({"code":21614,"message":"not mobile"})") == ErrorKind::permanent);
  CHECK(kind(400, R"({"code":21408,"message":"region"})") == ErrorKind::permanent);
  CHECK(kind(400, R"({"code":21610,"message":"unsubscribed"})") == ErrorKind::permanent);
  CHECK(kind(404, R"({"code":20404,"message":"not found"})") == ErrorKind::permanent);
  CHECK(kind(418, "teapot") == ErrorKind::permanent);
}

// A configuration that cannot send is refused at start-up.
TEST_CASE("TwilioNotifier rejects an unusable configuration", "[sms][twilio]") {
  auto ok = twilio_config("http://127.0.0.1:1");
  CHECK_NOTHROW(TwilioNotifier(ok));
  auto c = ok;
  c.account_sid.clear();
  CHECK_THROWS_AS(TwilioNotifier(c), std::invalid_argument);
  c = ok;
  c.auth_token.clear();
  CHECK_THROWS_AS(TwilioNotifier(c), std::invalid_argument);
  c.api_key_sid = "SK1";
  CHECK_THROWS_AS(TwilioNotifier(c), std::invalid_argument);  // a key without its secret
  c.api_key_secret = "s";
  CHECK_NOTHROW(TwilioNotifier(c));
  c = ok;
  c.from.clear();
  CHECK_THROWS_AS(TwilioNotifier(c), std::invalid_argument);
  c = ok;
  c.messages_per_second = 0;
  CHECK_THROWS_AS(TwilioNotifier(c), std::invalid_argument);
}

// ---------------------------------------------------------------- gateway

// Placeholders escaped for the content type: JSON string escaping (quotes,
// backslashes, newlines, controls), form encoding, or none; unknown braces
// left alone; values never re-scanned.
TEST_CASE("fill_template escaping", "[sms][gateway]") {
  const std::string text = "say \"hi\"\\\nnow\x01 {to} &=";
  CHECK(fill_template(R"({"to":"{to}","text":"{text}","n":{incident},"x":{from}})", TemplateEscaping::json, "+1",
                      text, 42) ==
        R"({"to":"+1","text":"say \"hi\"\\\nnow\u0001 {to} &=","n":42,"x":{from}})");
  CHECK(fill_template("to={to}&text={text}", TemplateEscaping::form, "+1", text, 42) ==
        "to=%2B1&text=say%20%22hi%22%5C%0Anow%01%20%7Bto%7D%20%26%3D");
  CHECK(fill_template("{to}:{text}", TemplateEscaping::none, "+1", "a\"b", 42) == "+1:a\"b");
  CHECK(escaping_for("application/json") == TemplateEscaping::json);
  CHECK(escaping_for("Application/JSON; charset=utf-8") == TemplateEscaping::json);
  CHECK(escaping_for("application/vnd.api+json") == TemplateEscaping::json);
  CHECK(escaping_for("application/x-www-form-urlencoded") == TemplateEscaping::form);
  CHECK(escaping_for("text/plain") == TemplateEscaping::none);
}

// A JSON gateway: the configured method, URL, headers and Content-Type; the
// body parses as JSON and carries the page text exactly, quotes and
// backslashes in the summary included.
TEST_CASE("HttpGatewayNotifier with a JSON template", "[sms][gateway]") {
  test::HttpPeer peer;
  SmsGatewayConfig config;
  config.url = peer.url() + "/v1/sms";
  config.headers = {{"Authorization", "Bearer gw"}};
  config.body_template = R"({"to":"{to}","text":"{text}","ref":"baton-{incident}"})";
  HttpGatewayNotifier notifier(config);
  auto d = page(R"(Disk "full" on C:\data)");
  REQUIRE(notifier.send(d));

  auto seen = peer.requests();
  REQUIRE(seen.size() == 1);
  const auto& r = seen[0];
  CHECK(r.method == "POST");
  CHECK(r.target == "/v1/sms");
  CHECK(r.header("content-type") == std::optional<std::string>("application/json"));
  CHECK(r.header("authorization") == std::optional<std::string>("Bearer gw"));
  CHECK(r.header("idempotency-key") == std::optional<std::string>("notif-17"));
  auto body = json::parse(r.body).as_object();
  CHECK(body.at("to").as_string() == "+15551230001");
  CHECK(body.at("text").as_string() == page_text(d));
  CHECK(std::string(body.at("text").as_string()).find(R"(Disk "full" on C:\data)") != std::string::npos);
  CHECK(body.at("ref").as_string() == "baton-42");
}

// A form gateway (placeholders in the URL too): every value decodes back to
// the original; a configured Content-Type header wins over content_type.
TEST_CASE("HttpGatewayNotifier with a form template", "[sms][gateway]") {
  test::HttpPeer peer;
  SmsGatewayConfig config;
  config.url = peer.url() + "/send?to={to}";
  config.content_type = "application/x-www-form-urlencoded";
  config.body_template = "text={text}&incident={incident}";
  HttpGatewayNotifier notifier(config);
  auto d = page("a & b = \"c\"; 100% + ü");
  REQUIRE(notifier.send(d));
  auto r = peer.requests().at(0);
  CHECK(r.target == "/send?to=%2B15551230001");
  CHECK(r.header("content-type") == std::optional<std::string>("application/x-www-form-urlencoded"));
  CHECK(parse_form(r.body) == FormParams{{"text", page_text(d)}, {"incident", "42"}});

  config.headers = {{"content-type", "application/x-www-form-urlencoded; charset=utf-8"}};
  HttpGatewayNotifier with_header(config);
  REQUIRE(with_header.send(d));
  auto r2 = peer.requests().at(1);
  CHECK(r2.header("content-type") == std::optional<std::string>("application/x-www-form-urlencoded; charset=utf-8"));
  std::size_t content_types = 0;
  for (const auto& h : r2.headers) content_types += h.first == "content-type";
  CHECK(content_types == 1);
}

// Gateway errors go through classify(): 429 rate_limited, 500 transient, 400
// permanent, 401 auth_revoked; a person without a phone fails before sending.
TEST_CASE("HttpGatewayNotifier errors", "[sms][gateway]") {
  test::HttpPeer peer;
  SmsGatewayConfig config;
  config.url = peer.url() + "/v1/sms";
  config.body_template = R"({"to":"{to}","text":"{text}"})";
  HttpGatewayNotifier notifier(config);
  peer.push_response({429, {{"Retry-After", "3"}}, "{}"});
  peer.push_response({500, {}, "{}"});
  peer.push_response({400, {}, R"({"error":"bad number"})"});
  peer.push_response({401, {}, "{}"});
  auto r1 = notifier.send(page());
  REQUIRE_FALSE(r1);
  CHECK(r1.error().kind == ErrorKind::rate_limited);
  CHECK(r1.error().retry_after == 3000ms);
  CHECK(notifier.send(page()).error().kind == ErrorKind::transient);
  auto r3 = notifier.send(page());
  REQUIRE_FALSE(r3);
  CHECK(r3.error().kind == ErrorKind::permanent);
  CHECK(r3.error().message.find("bad number") != std::string::npos);
  CHECK(notifier.send(page()).error().kind == ErrorKind::auth_revoked);

  auto no_phone = page();
  no_phone.person->phone.clear();
  CHECK(notifier.send(no_phone).error().kind == ErrorKind::permanent);
  CHECK(peer.requests().size() == 4);

  SmsGatewayConfig empty;
  CHECK_THROWS_AS(HttpGatewayNotifier(empty), std::invalid_argument);
}
