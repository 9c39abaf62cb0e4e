// The fallback chain end to end: chat stand-in (webhook) -> email through a
// real SMTP server (Debian's aiosmtpd, STARTTLS with a certificate made at test
// time) -> SMS through a protocol-faithful fake Twilio, and SMS replies signed
// with Twilio's algorithm. A fake clock drives the chain.
#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "integrations/sms/twilio_signature.hpp"
#include "tests/support/http_peer.hpp"
#include "tests/support/service_harness.hpp"
#include "tests/support/smtp_server.hpp"

using namespace baton;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

constexpr const char* kAuthToken = "twilio-test-auth-token";
constexpr const char* kPublicUrl = "https://baton.example.com";
constexpr const char* kPhone = "+15551230001";

struct Peers {
  test::HttpPeer chat;    // the webhook, standing in for chat
  test::HttpPeer twilio;  // the fake Twilio REST API
  std::unique_ptr<test::SmtpServer> smtp;
  std::vector<std::string> twilio_bodies;  // form bodies of accepted messages

  explicit Peers(test::SmtpServerOptions smtp_options = {}) {
    smtp = std::make_unique<test::SmtpServer>(smtp_options);
    twilio.set_handler([](const test::RecordedRequest& r) -> std::optional<test::ScriptedResponse> {
      // Twilio's Messages API: POST /2010-04-01/Accounts/{AC}/Messages.json, Basic auth, form body.
      if (r.method != "POST" || r.target != "/2010-04-01/Accounts/ACtest/Messages.json")
        return test::ScriptedResponse{404, {}, R"({"code":20404,"message":"not found","status":404})", 0ms};
      if (!r.header("authorization") || r.header("authorization")->rfind("Basic ", 0) != 0)
        return test::ScriptedResponse{401, {}, R"({"code":20003,"message":"Authenticate","status":401})", 0ms};
      auto form = integrations::parse_form(r.body);
      for (const auto& [k, v] : form)
        if (k == "To" && v != kPhone && v != "+15551230002")
          return test::ScriptedResponse{
              400, {}, R"({"code":21211,"message":"The 'To' number )" + v + R"( is not a valid phone number.","status":400})", 0ms};
      return test::ScriptedResponse{201, {}, R"({"sid":"SM00000000000000000000000000000001","status":"queued"})", 0ms};
    });
  }

  std::vector<std::string> sms_sent() const {
    std::vector<std::string> out;
    for (const auto& r : twilio.requests()) out.push_back(r.body);
    return out;
  }
};

/// olga: webhook at once, email at 2 min, SMS at 5 min (the issue's chain).
/// pete: email at once, SMS at 5 min; his address is refused by the server.
/// quinn: SMS at once (to an invalid number), email at 5 min.
std::string config(const Peers& p, const std::string& db) {
  return R"(
server:
  listen: "127.0.0.1:0"
  public_url: ")" + std::string(kPublicUrl) + R"("
  action_secret: "test-action-secret"
  api_tokens: [{name: ops, token: ")" + std::string(test::kApiToken) + R"("}]
storage: {path: ")" + db + R"(", durability: normal}
webhook: {url: ")" + p.chat.url() + R"(/hook"}
smtp:
  url: ")" + p.smtp->url() + R"("
  from: pager@baton.example.com
  ca_file: ")" + p.smtp->ca_file() + R"("
twilio:
  base_url: ")" + p.twilio.url() + R"("
  account_sid: ACtest
  auth_token: ")" + std::string(kAuthToken) + R"("
  from: "+15559870002"
  messages_per_second: 100
dispatch: {workers: 2, max_attempts: 2, base_backoff: 1s}
people:
  olga:
    name: Olga
    email: olga@example.com
    phone: ")" + std::string(kPhone) + R"("
    contact_chain: [{method: webhook, after: 0s}, {method: email, after: 2m}, {method: sms, after: 5m}]
  pete:
    name: Pete
    email: pete@refused.example.com
    phone: "+15551230002"
    contact_chain: [{method: email, after: 0s}, {method: sms, after: 5m}]
  quinn:
    name: Quinn
    email: quinn@example.com
    phone: "+15550000000"
    contact_chain: [{method: sms, after: 0s}, {method: email, after: 5m}]
  rita: {name: Rita, email: rita@example.com}
escalation_policies:
  olga: {steps: [{targets: [{person: olga}], timeout: 30m}, {targets: [{person: rita}], timeout: 30m}]}
  pete: {steps: [{targets: [{person: pete}], timeout: 30m}]}
  quinn: {steps: [{targets: [{person: quinn}], timeout: 30m}]}
services:
  olga: {name: Olga's, escalation_policy: olga, integration_keys: [key-olga]}
  pete: {name: Pete's, escalation_policy: pete, integration_keys: [key-pete]}
  quinn: {name: Quinn's, escalation_policy: quinn, integration_keys: [key-quinn]}
)";
}

std::string trigger(std::string key, std::string dedup, std::string summary = "Checkout errors above 5%") {
  return json::serialize(json::object{
      {"routing_key", key},
      {"event_action", "trigger"},
      {"dedup_key", dedup},
      {"payload", json::object{{"summary", summary}, {"source", "api-1"}, {"severity", "critical"}}}});
}

/// POSTs a Twilio webhook to baton, signed as Twilio signs it (over the public URL).
integrations::HttpResponse twilio_post(test::ServiceHarness& svc, const std::string& target,
                                       integrations::FormParams params, std::string token = kAuthToken) {
  auto signature = integrations::twilio_signature(token, std::string(kPublicUrl) + target, params);
  return svc.call("POST", target, integrations::form_encode(params), "application/x-www-form-urlencoded", false,
                  {{"X-Twilio-Signature", signature}});
}

integrations::FormParams sms_reply(std::string body, std::string sid, std::string from = kPhone) {
  return {{"MessageSid", sid}, {"SmsSid", sid},  {"AccountSid", "ACtest"}, {"From", from},
          {"To", "+15559870002"}, {"Body", body}, {"NumMedia", "0"},       {"SmsStatus", "received"}};
}

std::string field(const std::string& form, std::string_view name) {
  for (const auto& [k, v] : integrations::parse_form(form))
    if (k == name) return v;
  return "";
}

}  // namespace

TEST_CASE("fallback: chat unanswered -> email at 2 min -> SMS at 5 min -> reply ACK", "[fallback]") {
  // Scenario: a critical alert pages olga by webhook (the chat stand-in). Two
  // minutes without an answer: an email through the real SMTP server (STARTTLS,
  // verified certificate) with one-click links. Five minutes: an SMS through
  // Twilio naming the incident and the reply codes. olga replies "ack": the
  // incident is acknowledged by olga via sms, the chain stops, and the
  // timeline shows every step.
  test::TempDb db;
  test::FakeClock clock;
  Peers peers;
  test::ServiceHarness svc(clock, config(peers, db.path()));

  REQUIRE(svc.call("POST", "/v2/enqueue", trigger("key-olga", "checkout")).status == 202);
  REQUIRE(peers.chat.wait_for_requests(1, 5s));
  CHECK(peers.smtp->messages().empty());

  clock.advance(2min);
  svc.app->incidents().poke();
  REQUIRE(peers.smtp->wait_for_messages(1, 10s));
  const auto mail = peers.smtp->messages().front();
  CHECK(mail.secure);
  CHECK(mail.mail_from == "pager@baton.example.com");
  CHECK(mail.rcpt_to == std::vector<std::string>{"olga@example.com"});
  CHECK(mail.data.find("Subject: [baton] #1") != std::string::npos);
  CHECK(mail.data.find(std::string(kPublicUrl) + "/actions/") != std::string::npos);
  CHECK(peers.sms_sent().empty());

  clock.advance(3min);
  svc.app->incidents().poke();
  REQUIRE(peers.twilio.wait_for_requests(1, 5s));
  const auto sms = peers.sms_sent().front();
  CHECK(field(sms, "To") == kPhone);
  CHECK(field(sms, "From") == "+15559870002");
  CHECK(field(sms, "Body").find("#1") != std::string::npos);
  CHECK(field(sms, "StatusCallback").rfind(std::string(kPublicUrl) + "/sms/twilio/status?", 0) == 0);

  auto answer = twilio_post(svc, "/sms/twilio", sms_reply(" ack ", "SMreply1"));
  INFO(answer.body);
  CHECK(answer.status == 200);
  CHECK(answer.header("content-type")->find("xml") != std::string::npos);
  CHECK(answer.body.find("<Message>Incident #1 acknowledged.</Message>") != std::string::npos);

  auto inc = svc.get_json("/api/v1/incidents/1");
  CHECK(inc.at("state") == "acknowledged");
  CHECK(inc.at("owner") == "olga");
  // The chain stops: nothing more is sent, however long we wait. (The update
  // "acknowledged by Olga" is paced by Twilio's per-number rate: let a second
  // pass first.)
  svc.app->incidents().drain();
  clock.advance(1s);
  svc.app->incidents().drain();
  const auto mails = peers.smtp->messages().size();
  const auto texts = peers.sms_sent().size();
  clock.advance(1h);
  svc.app->incidents().poke();
  svc.app->incidents().drain();
  CHECK(peers.smtp->messages().size() == mails);
  CHECK(peers.sms_sent().size() == texts);

  std::string timeline;
  REQUIRE(test::eventually([&] {
    timeline = svc.timeline_text(1);
    return timeline.find("via sms delivered") != std::string::npos &&
           timeline.find("via email delivered") != std::string::npos;
  }));
  CHECK(timeline.find("triggered: ") != std::string::npos);
  CHECK(timeline.find("Page to Olga via webhook delivered") != std::string::npos);
  CHECK(timeline.find("Page to Olga via email delivered") != std::string::npos);
  CHECK(timeline.find("Page to Olga via sms delivered") != std::string::npos);
  CHECK(timeline.find("acknowledged: Acknowledged by olga via sms") != std::string::npos);

  // Twilio's status callback lands on the timeline.
  auto status_target = field(sms, "StatusCallback").substr(std::string(kPublicUrl).size());
  auto cb = twilio_post(svc, status_target,
                        {{"MessageSid", "SM1"}, {"MessageStatus", "delivered"}, {"AccountSid", "ACtest"}});
  CHECK(cb.status == 204);
  REQUIRE(test::eventually([&] { return svc.timeline_text(1).find("SMS page to Olga: delivered") != std::string::npos; }));
}

TEST_CASE("fallback: an SMTP refusal sends the SMS at once", "[fallback]") {
  // Scenario: pete's email is refused by the server (550). Without waiting
  // for the 5-minute slot, the SMS goes out; the refusal is on the timeline.
  test::SmtpServerOptions options;
  options.reject_550 = {"pete@refused.example.com"};
  test::TempDb db;
  test::FakeClock clock;
  Peers peers(options);
  test::ServiceHarness svc(clock, config(peers, db.path()));
  REQUIRE(svc.call("POST", "/v2/enqueue", trigger("key-pete", "p1")).status == 202);
  REQUIRE(peers.twilio.wait_for_requests(1, 10s));
  CHECK(peers.smtp->messages().empty());
  REQUIRE(test::eventually([&] { return svc.timeline_text(1).find("via email failed") != std::string::npos; }));
  CHECK(svc.timeline_text(1).find("Trying the next contact method for Pete now: sms") != std::string::npos);
}

TEST_CASE("fallback: Twilio error 21211 moves on to the next method", "[fallback]") {
  // Scenario: quinn's number is invalid; Twilio answers 400 code 21211. The
  // email goes out at once instead of at 5 minutes.
  test::TempDb db;
  test::FakeClock clock;
  Peers peers;
  test::ServiceHarness svc(clock, config(peers, db.path()));
  REQUIRE(svc.call("POST", "/v2/enqueue", trigger("key-quinn", "q1")).status == 202);
  REQUIRE(peers.smtp->wait_for_messages(1, 10s));
  CHECK(peers.smtp->messages().front().rcpt_to == std::vector<std::string>{"quinn@example.com"});
  REQUIRE(test::eventually([&] { return svc.timeline_text(1).find("21211") != std::string::npos; }));
}

TEST_CASE("fallback: SMS replies that must change nothing", "[fallback]") {
  // Scenario: forged signatures (wrong token, tampered body) get 403; a reply
  // from an unknown number gets a neutral answer; a bare ACK with two open
  // pages asks which one; a replayed MessageSid does nothing the second time;
  // HELP and STOP are answered as carriers require.
  test::TempDb db;
  test::FakeClock clock;
  Peers peers;
  test::ServiceHarness svc(clock, config(peers, db.path()));
  REQUIRE(svc.call("POST", "/v2/enqueue", trigger("key-olga", "a")).status == 202);
  REQUIRE(svc.call("POST", "/v2/enqueue", trigger("key-olga", "b")).status == 202);

  CHECK(twilio_post(svc, "/sms/twilio", sms_reply("ACK 1", "SMf1"), "wrong-token").status == 403);
  auto params = sms_reply("ACK 1", "SMf2");
  auto signature = integrations::twilio_signature(kAuthToken, std::string(kPublicUrl) + "/sms/twilio", params);
  params.back().second = "tampered";
  CHECK(svc.call("POST", "/sms/twilio", integrations::form_encode(params), "application/x-www-form-urlencoded", false,
                 {{"X-Twilio-Signature", signature}})
            .status == 403);
  CHECK(svc.call("POST", "/sms/twilio", integrations::form_encode(sms_reply("ACK 1", "SMf3")),
                 "application/x-www-form-urlencoded", false)
            .status == 403);

  auto stranger = twilio_post(svc, "/sms/twilio", sms_reply("ACK 1", "SMs1", "+15557777777"));
  CHECK(stranger.status == 200);
  CHECK(stranger.body.find("not registered") != std::string::npos);

  auto ambiguous = twilio_post(svc, "/sms/twilio", sms_reply("ACK", "SMa1"));
  CHECK(ambiguous.body.find("You have 2 open pages: #2, #1") != std::string::npos);
  CHECK(svc.get_json("/api/v1/incidents/1").at("state") == "triggered");
  CHECK(svc.get_json("/api/v1/incidents/2").at("state") == "triggered");

  CHECK(twilio_post(svc, "/sms/twilio", sms_reply("ACK 2", "SMok")).body.find("#2 acknowledged") != std::string::npos);
  REQUIRE(svc.call("POST", "/api/v1/incidents/2/escalate").status == 200);  // rita owns #2 now, triggered
  auto replay = twilio_post(svc, "/sms/twilio", sms_reply("ACK 2", "SMok"));
  CHECK(replay.body.find("<Response/>") != std::string::npos);
  CHECK(svc.get_json("/api/v1/incidents/2").at("state") == "triggered");

  CHECK(twilio_post(svc, "/sms/twilio", sms_reply("HELP", "SMh")).body.find("ACK") != std::string::npos);
  CHECK(twilio_post(svc, "/sms/twilio", sms_reply("STOP", "SMst")).body.find("<Response/>") != std::string::npos);
  CHECK(twilio_post(svc, "/sms/twilio", sms_reply("banana", "SMb")).body.find("Not understood") != std::string::npos);
  CHECK(svc.get_json("/api/v1/incidents/1").at("state") == "triggered");
}

TEST_CASE("fallback: an undelivered SMS status moves the chain on", "[fallback]") {
  // Scenario: pete's SMS (his email is refused) is accepted by Twilio, then
  // its status callback says undelivered (30003): the failure is recorded
  // and, with no method left, the timeline says so.
  test::SmtpServerOptions options;
  options.reject_550 = {"pete@refused.example.com"};
  test::TempDb db;
  test::FakeClock clock;
  Peers peers(options);
  test::ServiceHarness svc(clock, config(peers, db.path()));
  REQUIRE(svc.call("POST", "/v2/enqueue", trigger("key-pete", "p2")).status == 202);
  REQUIRE(peers.twilio.wait_for_requests(1, 10s));
  svc.app->incidents().drain();
  auto target = field(peers.sms_sent().front(), "StatusCallback").substr(std::string(kPublicUrl).size());
  auto cb = twilio_post(svc, target,
                        {{"MessageSid", "SM9"}, {"MessageStatus", "undelivered"}, {"ErrorCode", "30003"}});
  CHECK(cb.status == 204);
  REQUIRE(test::eventually([&] {
    auto t = svc.timeline_text(1);
    return t.find("SMS page to Pete: undelivered (Twilio error 30003)") != std::string::npos &&
           t.find("via sms failed: SMS undelivered") != std::string::npos;
  }));
}

TEST_CASE("fallback: a signed status callback with bytes that are not UTF-8 keeps the API valid JSON",
          "[fallback][hostile]") {
  // Scenario: a correctly signed callback carries ErrorCode=%FF%FE. The note
  // it adds to the timeline is repaired (U+FFFD), so GET /api/v1/incidents and
  // the incident's timeline still parse as JSON.
  test::SmtpServerOptions options;
  options.reject_550 = {"pete@refused.example.com"};
  test::TempDb db;
  test::FakeClock clock;
  Peers peers(options);
  test::ServiceHarness svc(clock, config(peers, db.path()));
  REQUIRE(svc.call("POST", "/v2/enqueue", trigger("key-pete", "p3")).status == 202);
  REQUIRE(peers.twilio.wait_for_requests(1, 10s));
  svc.app->incidents().drain();
  auto target = field(peers.sms_sent().front(), "StatusCallback").substr(std::string(kPublicUrl).size());
  auto cb = twilio_post(svc, target,
                        {{"MessageSid", "SM10"}, {"MessageStatus", "failed"}, {"ErrorCode", "\xFF\xFE"}});
  CHECK(cb.status == 204);
  REQUIRE(test::eventually([&] { return svc.timeline_text(1).find("Twilio error \xEF\xBF\xBD") != std::string::npos; }));
  auto list = svc.call("GET", "/api/v1/incidents");
  boost::system::error_code ec;
  json::parse(list.body, ec);
  CHECK_FALSE(ec);
}

TEST_CASE("fallback: an SMTP outage moves to the next method on the first failure", "[fallback]") {
  // Scenario: the SMTP server refuses connections (a transient error the
  // channel retries up to 6 times). The first failed attempt starts pete's
  // SMS at once instead of after the whole retry budget, and the timeline says
  // the email is retrying. Pete acknowledges by SMS: the email retries still
  // queued are cancelled, not sent.
  std::uint16_t closed_port = 0;
  {
    test::HttpPeer probe;  // a port that was free a moment ago and is closed now
    closed_port = probe.port();
  }
  test::TempDb db;
  test::FakeClock clock;
  Peers peers;
  auto yaml = config(peers, db.path());
  const auto smtp_url = peers.smtp->url();
  yaml.replace(yaml.find(smtp_url), smtp_url.size(), "smtp://127.0.0.1:" + std::to_string(closed_port));
  yaml.replace(yaml.find("max_attempts: 2"), 15, "max_attempts: 6");
  test::ServiceHarness svc(clock, yaml);
  REQUIRE(svc.call("POST", "/v2/enqueue", trigger("key-pete", "p-down")).status == 202);
  REQUIRE(peers.twilio.wait_for_requests(1, 10s));
  REQUIRE(test::eventually([&] {
    return svc.timeline_text(1).find("via email failed, retrying") != std::string::npos;
  }));
  CHECK(svc.timeline_text(1).find("Trying the next contact method for Pete now: sms") != std::string::npos);
  // The clock has not moved: the SMS did not wait for the email's retries.
  CHECK(clock.now() == test::FakeClock{}.now());

  auto ack = twilio_post(svc, "/sms/twilio", sms_reply("ACK", "SMack1", "+15551230002"));
  CHECK(ack.status == 200);
  svc.app->incidents().drain();
  REQUIRE(svc.get_json("/api/v1/incidents/1").at("state") == "acknowledged");
  clock.advance(10min);  // the email's retries come due
  REQUIRE(test::eventually([&] {
    return svc.call("GET", "/metrics", "", "").body.find(
               "baton_notifications_total{channel=\"email\",result=\"cancelled\"} 1") != std::string::npos;
  }));
}
