// Email replies end to end: the whole service with a real SMTP server
// (aiosmtpd) for the pages and confirmations and a real IMAP server (Dovecot)
// as the replies mailbox, both with TLS and certificates made at test time.
// Replies are delivered into the mailbox with IMAP APPEND, as a mail server would.
#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "integrations/email/imap_client.hpp"
#include "tests/support/dovecot.hpp"
#include "tests/support/http_peer.hpp"
#include "tests/support/service_harness.hpp"
#include "tests/support/smtp_server.hpp"

using namespace baton;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

#define REQUIRE_DOVECOT()                                 \
  do {                                                    \
    if (auto why = test::Dovecot::unavailable()) {        \
      WARN("BATON-SKIPPED: " << *why);                    \
      return;                                             \
    }                                                     \
  } while (false)

std::string config(const test::SmtpServer& smtp, const test::Dovecot& imap, const test::HttpPeer& hook,
                   const std::string& db) {
  return R"(
server:
  listen: "127.0.0.1:0"
  public_url: "https://baton.example.com"
  action_secret: "test-action-secret"
  api_tokens: [{name: ops, token: ")" + std::string(test::kApiToken) + R"("}]
storage: {path: ")" + db + R"(", durability: normal}
webhook: {url: ")" + hook.url() + R"(/hook"}
smtp:
  url: ")" + smtp.url() + R"("
  from: pager@baton.example.com
  ca_file: ")" + smtp.ca_file() + R"("
  replies:
    url: ")" + imap.imaps_url() + R"("
    username: )" + imap.username() + R"(
    password: )" + imap.password() + R"(
    ca_file: ")" + imap.ca_file() + R"("
    poll: 1s
    address: baton@baton.example.com
dispatch: {workers: 2, max_attempts: 2, base_backoff: 1s}
people:
  olga: {name: Olga, email: olga@example.com, contact_chain: [{method: email, after: 0s}]}
  pete: {name: Pete, email: pete@example.com, contact_chain: [{method: email, after: 0s}, {method: webhook, after: 30m}]}
escalation_policies:
  olga: {steps: [{targets: [{person: olga}], timeout: 30m}]}
  pete: {steps: [{targets: [{person: pete}], timeout: 60m}]}
services:
  olga: {name: Olga's, escalation_policy: olga, integration_keys: [key-olga]}
  pete: {name: Pete's, escalation_policy: pete, integration_keys: [key-pete]}
)";
}

std::string trigger(const std::string& key, const std::string& dedup) {
  return json::serialize(json::object{
      {"routing_key", key},
      {"event_action", "trigger"},
      {"dedup_key", dedup},
      {"payload", json::object{{"summary", "Checkout errors above 5%"}, {"source", "api-1"}, {"severity", "critical"}}}});
}

/// The unfolded value of header `name` in `data` ("" when absent).
std::string header(const std::string& data, const std::string& name) {
  const auto end = data.find("\r\n\r\n");
  std::string out;
  bool in = false;
  for (std::size_t pos = 0; pos < end;) {
    auto eol = data.find("\r\n", pos);
    const auto line = data.substr(pos, eol - pos);
    pos = eol + 2;
    if (in && !line.empty() && (line[0] == ' ' || line[0] == '\t')) {
      out += line;
      continue;
    }
    if (in) break;
    if (line.size() > name.size() && Catch::toLower(line.substr(0, name.size() + 1)) == Catch::toLower(name) + ":") {
      in = true;
      out = line.substr(name.size() + 2);
    }
  }
  return out;
}

template <typename Pred>
bool wait_until(Pred pred, std::chrono::seconds limit = 30s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return pred();
}

/// The mails baton sent that confirm a reply.
std::vector<test::ReceivedMail> confirmations(const test::SmtpServer& smtp) {
  std::vector<test::ReceivedMail> out;
  for (auto& m : smtp.messages())
    if (!header(m.data, "X-Baton-Reply").empty()) out.push_back(m);
  return out;
}

struct Mailbox {
  integrations::ImapClient client;
  explicit Mailbox(const test::Dovecot& d)
      : client(integrations::EmailRepliesConfig{true, d.imaps_url(), d.username(), d.password(), 1s, true,
                                                d.ca_file(), true, "", 10s}) {}
  void deliver(const std::string& message) { REQUIRE(client.append(message)); }
  /// True once baton has marked every delivered message processed.
  bool all_processed() {
    auto left = client.unprocessed(100);
    return left && left->empty();
  }
};

/// A reply as a mail client writes it: Re: subject, threading headers, the page quoted below.
std::string reply(const std::string& from, const std::string& page, const std::string& id, const std::string& text,
                  const std::string& extra_headers = "", bool with_token = true) {
  std::string m = "From: " + from + "\r\n";
  m += "To: " + (with_token ? header(page, "Reply-To") : std::string("<baton@baton.example.com>")) + "\r\n";
  m += "Subject: Re: " + header(page, "Subject") + "\r\n";
  m += "Message-ID: <" + id + "@mail.example.com>\r\n";
  if (with_token) {
    m += "In-Reply-To: " + header(page, "Message-ID") + "\r\n";
    m += "References: " + header(page, "Message-ID") + "\r\n";
  }
  m += "Date: Mon, 30 Nov 2026 07:00:00 +0000\r\nMIME-Version: 1.0\r\n" + extra_headers;
  m += "Content-Type: text/plain; charset=utf-8\r\n\r\n" + text +
       "\r\n\r\nOn Mon, 30 Nov 2026 at 07:00, baton <pager@baton.example.com> wrote:\r\n"
       "> Incident #1 needs you: CRITICAL\r\n> Reply ack, resolve or escalate\r\n";
  return m;
}

}  // namespace

TEST_CASE("email replies: a forged reply changing nothing, and an email reply acknowledging",
          "[email-replies][email][smtp][imap]") {
  // Scenario: olga is paged by email; the page names a Reply-To plus-address
  // and a Message-ID carrying its reply token. Into the mailbox come: a reply
  // with the token but a forged From (mallory), a reply from olga without any
  // token, and olga's out-of-office auto-reply that begins "Acknowledged". None
  // changes the incident or gets an answer. Then olga's genuine reply ("ack"
  // above the quoted page, her address in capitals) acknowledges it as olga via
  // email; she gets a one-line confirmation threaded under her reply. Her
  // HTML-only reply from a phone ("Resolve") then resolves it. Every message is
  // read once: later polls change nothing and send nothing more.
  REQUIRE_DOVECOT();
  test::TempDb db;
  test::FakeClock clock;
  test::SmtpServer smtp;
  test::Dovecot imap;
  test::HttpPeer hook;
  Mailbox mailbox(imap);
  test::ServiceHarness svc(clock, config(smtp, imap, hook, db.path()));
  REQUIRE(svc.call("POST", "/v2/enqueue", trigger("key-olga", "e1"), "application/json", false).status == 202);
  REQUIRE(smtp.wait_for_messages(1, 10s));
  const auto page = smtp.messages()[0].data;
  INFO(page.substr(0, page.find("\r\n\r\n")));
  const auto reply_to = header(page, "Reply-To");
  REQUIRE(reply_to.rfind("<baton+1.", 0) == 0);
  REQUIRE(reply_to.find("@baton.example.com>") != std::string::npos);
  REQUIRE(header(page, "Message-ID").rfind("<incident-1.notification-", 0) == 0);

  mailbox.deliver(reply("Mallory <mallory@evil.example>", page, "forged", "ack"));
  mailbox.deliver(reply("Olga <olga@example.com>", page, "no-token", "ack", "", false));
  mailbox.deliver(reply("Olga <olga@example.com>", page, "ooo", "Acknowledged receipt: I am out of office until Monday.",
                        "Auto-Submitted: auto-replied\r\nX-Autoreply: yes\r\n"));
  REQUIRE(wait_until([&] { return mailbox.all_processed(); }));
  svc.app->incidents().drain();
  CHECK(svc.get_json("/api/v1/incidents/1").at("state") == "triggered");
  CHECK(svc.timeline_text(1).find("Email reply") == std::string::npos);
  CHECK(confirmations(smtp).empty());

  // The same reply twice (delivered twice, or read again after a crash before
  // it was marked): its Message-ID is claimed once, so it acts once.
  mailbox.deliver(reply("Olga <OLGA@Example.COM>", page, "genuine", "ack"));
  mailbox.deliver(reply("Olga <OLGA@Example.COM>", page, "genuine", "ack"));
  REQUIRE(wait_until([&] { return svc.get_json("/api/v1/incidents/1").at("state") == "acknowledged"; }));
  REQUIRE(wait_until([&] { return confirmations(smtp).size() == 1; }));
  REQUIRE(wait_until([&] { return mailbox.all_processed(); }));
  {
    const auto timeline = svc.timeline_text(1);
    INFO(timeline);
    CHECK(timeline.find("Email reply from Olga: ack") != std::string::npos);
    CHECK(timeline.find("via email") != std::string::npos);
    const auto confirmation = confirmations(smtp)[0];
    INFO(confirmation.data);
    CHECK(confirmation.rcpt_to == std::vector<std::string>{"OLGA@Example.COM"});
    CHECK(header(confirmation.data, "In-Reply-To") == "<genuine@mail.example.com>");
    CHECK(header(confirmation.data, "References").find("<genuine@mail.example.com>") != std::string::npos);
    CHECK(header(confirmation.data, "Subject").rfind("Re: [baton] #1 CRITICAL", 0) == 0);
    CHECK(header(confirmation.data, "Auto-Submitted") == "auto-replied");
    CHECK(confirmation.data.find("acknowledged") != std::string::npos);
  }

  // An HTML-only reply from a phone's mail app, base64-encoded.
  std::string html = "From: Olga <olga@example.com>\r\nTo: " + reply_to + "\r\nSubject: Re: " + header(page, "Subject") +
                     "\r\nMessage-ID: <phone@mail.example.com>\r\nIn-Reply-To: " + header(page, "Message-ID") +
                     "\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=UTF-8\r\n"
                     "Content-Transfer-Encoding: base64\r\n\r\n";
  // "<div dir="auto">Resolve&nbsp;</div><div><br><blockquote>ack</blockquote></div>"
  html += "PGRpdiBkaXI9ImF1dG8iPlJlc29sdmUmbmJzcDs8L2Rpdj48ZGl2Pjxicj48YmxvY2txdW90ZT5hY2s8L2Jsb2NrcXVvdGU+PC9kaXY+\r\n";
  mailbox.deliver(html);
  REQUIRE(wait_until([&] { return svc.get_json("/api/v1/incidents/1").at("state") == "resolved"; }));
  REQUIRE(wait_until([&] { return confirmations(smtp).size() == 2; }));
  CHECK(header(confirmations(smtp)[1].data, "In-Reply-To") == "<phone@mail.example.com>");

  // A reply without a command is answered "not understood"; an answer to that
  // answer (an autoresponder, say) gets none: no mail loop.
  mailbox.deliver(reply("olga@example.com", page, "huh", "What is this about?"));
  REQUIRE(wait_until([&] { return confirmations(smtp).size() == 3; }));
  const auto not_understood = confirmations(smtp)[2].data;
  CHECK(not_understood.find("did not understand") != std::string::npos);
  const auto answer_id = header(not_understood, "Message-ID");
  mailbox.deliver("From: olga@example.com\r\nTo: pager@baton.example.com\r\nSubject: Re: Re: x\r\n"
                  "Message-ID: <loop@mail.example.com>\r\nIn-Reply-To: " + answer_id + "\r\nReferences: " +
                  header(page, "Message-ID") + " <huh@mail.example.com> " + answer_id + "\r\n\r\nThanks for your mail.\r\n");

  // Later polls read nothing again: no more confirmations, no more timeline rows.
  REQUIRE(wait_until([&] { return mailbox.all_processed(); }));
  const auto timeline = svc.timeline_text(1);
  std::this_thread::sleep_for(2500ms);  // at least two more polls at `poll: 1s`
  svc.app->incidents().drain();
  CHECK(svc.timeline_text(1) == timeline);
  CHECK(confirmations(smtp).size() == 3);
}

TEST_CASE("email replies: a bounce of a page fails it and the contact chain moves on", "[email-replies][email][smtp][imap]") {
  // Scenario: pete is paged by email first, by webhook 30 minutes later. His
  // mail server returns the page (a delivery status report, RFC 3464, with
  // the page's header block). The page is marked failed at once and pete's
  // next contact method is paged without waiting for its 30 minutes. A report
  // naming a Message-ID whose token does not match changes nothing.
  REQUIRE_DOVECOT();
  test::TempDb db;
  test::FakeClock clock;
  test::SmtpServer smtp;
  test::Dovecot imap;
  test::HttpPeer hook;
  Mailbox mailbox(imap);
  test::ServiceHarness svc(clock, config(smtp, imap, hook, db.path()));
  REQUIRE(svc.call("POST", "/v2/enqueue", trigger("key-pete", "b1"), "application/json", false).status == 202);
  REQUIRE(smtp.wait_for_messages(1, 10s));
  const auto page = smtp.messages()[0].data;
  const auto id = header(page, "Message-ID");
  auto dsn = [&](const std::string& message_id) {
    return "From: MAILER-DAEMON@mx.example.com (Mail Delivery System)\r\nTo: pager@baton.example.com\r\n"
           "Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn-" + message_id.substr(1, 12) +
           "@mx.example.com>\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
           "Content-Type: multipart/report; report-type=delivery-status; boundary=\"RPT\"\r\n\r\n--RPT\r\n"
           "Content-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n--RPT\r\n"
           "Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n\r\n"
           "Final-Recipient: rfc822; pete@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n"
           "Diagnostic-Code: smtp; 550 5.1.1 <pete@example.com>: user unknown\r\n--RPT\r\n"
           "Content-Type: text/rfc822-headers\r\n\r\nFrom: \"baton\" <pager@baton.example.com>\r\nTo: <pete@example.com>\r\n"
           "Message-ID: " + message_id + "\r\nSubject: [baton] #1\r\n\r\n--RPT--\r\n";
  };
  // A forged report: the right incident and notification, a wrong tag.
  std::string forged = id;
  const auto at = forged.rfind('@');
  forged.replace(at - 32, 32, std::string(32, 'a'));
  mailbox.deliver(dsn(forged));
  REQUIRE(wait_until([&] { return mailbox.all_processed(); }));
  svc.app->incidents().drain();
  CHECK(svc.timeline_text(1).find("bounced") == std::string::npos);
  CHECK(hook.requests().empty());

  mailbox.deliver(dsn(id));
  REQUIRE(hook.wait_for_requests(1, 30s));  // the next method, without the clock moving
  const auto timeline = svc.timeline_text(1);
  INFO(timeline);
  CHECK(timeline.find("Email to Pete bounced: 5.1.1") != std::string::npos);
  CHECK(svc.get_json("/api/v1/incidents/1").at("state") == "triggered");
}

TEST_CASE("email replies: the smtp.replies section", "[email-replies][config]") {
  // Scenario: a valid section (password from the environment, ca_file from
  // smtp's); then each mistake reported at its key: an unknown key, a URL of
  // another scheme or with credentials, a missing password, a bad address, a
  // poll under a second, replies without smtp.url.
  const std::string head = R"(
server: {listen: "127.0.0.1:0"}
people: {a: {name: A, email: a@example.com}}
smtp:
  url: smtp://127.0.0.1:2525
  from: pager@example.com
  ca_file: /etc/ssl/smtp.pem
  replies:
)";
  auto env = [](std::string_view name) -> std::optional<std::string> {
    if (name == "IMAP_PASSWORD") return std::string("from-env");
    return std::nullopt;
  };
  auto ok = bot::load_config_string(head + R"(    url: imap://mail.example.com/Replies
    username: baton
    password: ${IMAP_PASSWORD}
    poll: 30s
    starttls: optional
    address: baton@example.com
)", "t.yaml", env);
  REQUIRE(ok);
  const auto& r = ok->smtp.replies;
  CHECK(r.enabled);
  CHECK(r.url == "imap://mail.example.com/Replies");
  CHECK(r.password == "from-env");
  CHECK(r.poll == 30s);
  CHECK_FALSE(r.require_starttls);
  CHECK(r.ca_file == "/etc/ssl/smtp.pem");
  CHECK(r.address == "baton@example.com");
  bool warned = false;
  for (const auto& w : ok->warnings) warned = warned || w.find("smtp.replies.starttls is optional") != std::string::npos;
  CHECK(warned);
  for (const auto& w : ok->warnings) CHECK(w.find("from-env") == std::string::npos);

  auto errors = [&](const std::string& body) {
    auto c = bot::load_config_string(head + body, "t.yaml", env);
    REQUIRE_FALSE(c);
    std::string all;
    for (const auto& e : c.error()) all += e.to_string() + "\n";
    return all;
  };
  CHECK(errors("    url: imaps://h/INBOX\n    username: u\n    password: p\n    pol: 5s\n")
            .find("unknown key 'pol' in smtp.replies") != std::string::npos);
  CHECK(errors("    url: https://h/INBOX\n    username: u\n    password: p\n")
            .find("'url' in smtp.replies must start with imap:// or imaps://") != std::string::npos);
  const auto creds = errors("    url: imaps://u:secret@h/INBOX\n    username: u\n    password: p\n");
  CHECK(creds.find("must not contain credentials") != std::string::npos);
  CHECK(creds.find("secret") == std::string::npos);
  CHECK(errors("    url: imaps://h/INBOX\n    username: u\n").find("are required") != std::string::npos);
  CHECK(errors("    url: imaps:///INBOX\n    username: u\n    password: p\n").find("has no host") != std::string::npos);
  CHECK(errors("    url: imaps://h\n    username: u\n    password: p\n    address: nope\n")
            .find("'address' in smtp.replies is not an email address") != std::string::npos);
  CHECK(errors("    url: imaps://h\n    username: u\n    password: p\n    poll: 500ms\n")
            .find("at least 1s") != std::string::npos);
  auto no_smtp = bot::load_config_string(R"(
server: {listen: "127.0.0.1:0"}
smtp:
  replies: {url: "imaps://h/INBOX", username: u, password: p}
)", "t.yaml", env);
  REQUIRE_FALSE(no_smtp);
  CHECK(no_smtp.error().front().message.find("smtp.replies needs smtp.url") != std::string::npos);
}
