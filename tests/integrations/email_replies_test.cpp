// The email-reply reader's pure parts: the reply token, MIME decoding, quote
// stripping, auto-reply and bounce detection, the confirmation mail. The IMAP
// side runs against a real Dovecot in tests/bot/email_replies_test.cpp.
#include <catch2/catch.hpp>

#include "integrations/email/message.hpp"
#include "integrations/email/reply_confirmation.hpp"
#include "integrations/email/reply_mime.hpp"
#include "integrations/email/reply_parser.hpp"
#include "integrations/email/reply_token.hpp"
#include "tests/support/sample_delivery.hpp"

using namespace baton::integrations;

namespace {

InboundMail read(const std::string& message) {
  const auto split = message.find("\r\n\r\n");
  return read_inbound_mail(message.substr(0, split + 2), message.substr(split + 4), {"pager@example.com"});
}

}  // namespace

TEST_CASE("reply tokens bind incident, notification and person", "[email-replies]") {
  // A token is the MAC of (incident, notification, person); another person, a
  // changed number or another key does not verify.
  ReplyTokenSigner signer(email_reply_secret("action-secret", "imap-pass"));
  const auto token = signer.token(42, 7, "alice");
  auto ref = ref_from_address(reply_plus_address("baton@example.com", token));
  REQUIRE(ref);
  CHECK(ref->incident == 42);
  CHECK(ref->notification == 7);
  CHECK(signer.verify(*ref, "alice"));
  CHECK_FALSE(signer.verify(*ref, "bob"));
  auto other = *ref;
  other.incident = 43;
  CHECK_FALSE(signer.verify(other, "alice"));
  CHECK_FALSE(ReplyTokenSigner(email_reply_secret("another", "imap-pass")).verify(*ref, "alice"));
  // Mail systems may change the case of a local part.
  auto upper = ref_from_address("BATON+" + std::string(token.begin(), token.end()) + "@EXAMPLE.COM");
  for (auto& c : upper->tag) c = char(std::toupper(static_cast<unsigned char>(c)));
  CHECK(signer.verify(*upper, "alice"));
  // The key falls back to the IMAP password, under its own label.
  CHECK(email_reply_secret("", "p") != email_reply_secret("p", ""));
}

TEST_CASE("reply tokens are read from baton's Message-IDs only", "[email-replies]") {
  ReplyTokenSigner signer("k");
  const auto tag = signer.tag(5, 9, "alice");
  auto ref = ref_from_message_id("<incident-5.notification-9.0011223344556677." + tag + "@baton.example.com>");
  REQUIRE(ref);
  CHECK(signer.verify(*ref, "alice"));
  // A Message-ID of a mail sent without replies has no tag.
  CHECK_FALSE(ref_from_message_id("<incident-5.notification-9.0011223344556677@baton.example.com>"));
  CHECK_FALSE(ref_from_message_id("<CAF=abc@mail.gmail.com>"));
  CHECK_FALSE(ref_from_message_id("<incident-x.notification-9.s." + tag + "@d>"));
  CHECK_FALSE(ref_from_address("baton@example.com"));
  CHECK_FALSE(ref_from_address("baton+5.9.nothex@example.com"));
}

TEST_CASE("quoted text, attributions, Outlook blocks and signatures are stripped", "[email-replies]") {
  CHECK(strip_quoted("ack\n\nOn Mon, 30 Nov 2026 at 07:00, baton <pager@example.com> wrote:\n> Incident #4\n") == "ack");
  // Gmail wraps a long attribution over two lines.
  CHECK(strip_quoted("resolve please\nOn Mon, 30 Nov 2026 at 07:00, baton\n<pager@example.com> wrote:\n> x") ==
        "resolve please");
  CHECK(strip_quoted("escalate\r\n\r\n-----Original Message-----\r\nFrom: baton\r\nack") == "escalate");
  CHECK(strip_quoted("1\n________________________________\nFrom: baton <pager@example.com>\nSent: Monday\n") == "1");
  CHECK(strip_quoted("ack\nFrom: baton <pager@example.com>\nSent: Monday\nack") == "ack");
  CHECK(strip_quoted("ack\n-- \nAlice, SRE\nresolve") == "ack");
  CHECK(strip_quoted("> ack\nnothing") == "");
  CHECK(strip_quoted("Am 30.11.2026 um 07:00 schrieb baton:\n> x") == "");
  CHECK(strip_quoted("ok\nAm Mo., 30. Nov. 2026 um 07:00 Uhr schrieb baton <pager@example.com>:\n> x") == "ok");
}

TEST_CASE("the first word decides the command", "[email-replies]") {
  CHECK(reply_command("ack") == Action::acknowledge);
  CHECK(reply_command("  ACK. on it") == Action::acknowledge);
  CHECK(reply_command("Acknowledge") == Action::acknowledge);
  CHECK(reply_command("1") == Action::acknowledge);
  CHECK(reply_command("resolve") == Action::resolve);
  CHECK(reply_command("2!") == Action::resolve);
  CHECK(reply_command("Escalate, I am on a plane") == Action::escalate);
  CHECK(reply_command("3") == Action::escalate);
  CHECK_FALSE(reply_command("I will ack this later"));
  CHECK_FALSE(reply_command(""));
  CHECK_FALSE(reply_command("acknowledgement"));
}

TEST_CASE("transfer encodings, charsets and encoded-words are decoded", "[email-replies]") {
  CHECK(decode_quoted_printable("ack=\r\nnowledge =C3=A9=3D") == "acknowledge \xC3\xA9=");
  CHECK(decode_base64("YWNrCg==") == "ack\n");
  CHECK(to_utf8("caf\xE9", "ISO-8859-1") == "caf\xC3\xA9");
  CHECK(to_utf8("\x93quoted\x94", "windows-1252") == "\xE2\x80\x9Cquoted\xE2\x80\x9D");
  CHECK(to_utf8("caf\xC3\xA9", "utf-8") == "caf\xC3\xA9");
  CHECK(decode_words("Re: =?UTF-8?B?w6lsw6k=?= =?utf-8?Q?_=C3=A0?= x") == "Re: \xC3\xA9l\xC3\xA9 \xC3\xA0 x");
  CHECK(decode_words("=?iso-8859-1?q?caf=E9?=") == "caf\xC3\xA9");
  auto ct = parse_content_type("multipart/alternative;\r\n boundary=\"a b;c\"; charset=utf-8");
  CHECK(ct.type == "multipart/alternative");
  CHECK(ct.param("boundary") == "a b;c");
  CHECK(ct.param("charset") == "utf-8");
  auto addrs = parse_addresses("\"Doe, Jane\" <Jane@Example.com>, bob@example.com (Bob), Group: c@x.y;");
  REQUIRE(addrs.size() == 3);
  CHECK(addrs[0] == "Jane@Example.com");
  CHECK(addrs[1] == "bob@example.com");
  CHECK(addrs[2] == "c@x.y");
  CHECK(same_address("Jane@Example.com", "jane@example.COM"));
}

TEST_CASE("HTML becomes text, with blockquotes as quoted lines", "[email-replies]") {
  const auto text = html_to_text(
      "<html><head><style>p{color:red}</style></head><body><div dir=\"ltr\">Ack&nbsp;&amp; on it<br></div>"
      "<div class=\"gmail_quote\"><div>On Mon, baton wrote:</div><blockquote type=\"cite\">Incident #4 "
      "&lt;CRITICAL&gt; &#8212;</blockquote></div></body></html>");
  CHECK(strip_quoted(text) == "Ack & on it");
  CHECK(text.find("> Incident #4 <CRITICAL> \xE2\x80\x94") != std::string::npos);
  CHECK(text.find("color") == std::string::npos);
}

TEST_CASE("a plain-text reply with the page quoted below", "[email-replies]") {
  const auto m = read(
      "From: Alice <alice@example.com>\r\nTo: <baton+4.9.00112233445566778899aabbccddeeff@example.com>\r\n"
      "Subject: Re: [baton] #4 CRITICAL: db down\r\nMessage-ID: <r1@example.com>\r\n"
      "In-Reply-To: <incident-4.notification-9.s.00112233445566778899aabbccddeeff@example.com>\r\n"
      "References: <root@example.com>\r\n <incident-4.notification-9.s.00112233445566778899aabbccddeeff@example.com>\r\n"
      "Content-Type: text/plain; charset=utf-8\r\n\r\n"
      "ack\r\n\r\nOn Mon, baton <pager@example.com> wrote:\r\n> Incident #4 needs you\r\n> ack\r\n");
  CHECK(m.kind == MailKind::reply);
  CHECK(m.from == "alice@example.com");
  CHECK(m.message_id == "<r1@example.com>");
  REQUIRE(m.refers_to.size() == 2);  // In-Reply-To first, then References newest first (deduplicated)
  CHECK(m.refers_to[1] == "<root@example.com>");
  CHECK(m.recipients.front().rfind("baton+4.9.", 0) == 0);
  CHECK(m.new_text == "ack");
  CHECK(m.command == Action::acknowledge);
}

TEST_CASE("multipart/alternative prefers text/plain; HTML-only base64 and quoted-printable bodies are read",
          "[email-replies]") {
  const auto alt = read(
      "From: a@example.com\r\nContent-Type: multipart/alternative; boundary=XX\r\n\r\npreamble\r\n--XX\r\n"
      "Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
      "resolve =E9t=E9\r\n--XX\r\nContent-Type: text/html\r\n\r\n<p>escalate</p>\r\n--XX--\r\n");
  CHECK(alt.command == Action::resolve);
  CHECK(alt.new_text == "resolve \xC3\xA9t\xC3\xA9");
  CHECK_FALSE(alt.from_html);
  // A phone client sending HTML only, base64-encoded.
  const auto html = read(
      "From: a@example.com\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=\"UTF-8\"\r\n"
      "Content-Transfer-Encoding: base64\r\n\r\n"
      "PGRpdj5BY2s8L2Rpdj48ZGl2Pjxicj48L2Rpdj48YmxvY2txdW90ZT5vbGQ8L2Jsb2NrcXVvdGU+\r\n");
  CHECK(html.from_html);
  CHECK(html.command == Action::acknowledge);
  // A body cut short (a bounded fetch) is still read.
  const auto cut = read("From: a@example.com\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n"
                        "Content-Type: text/plain\r\n\r\n2\r\n--B\r\nContent-Type: application/pdf\r\n\r\nJVBERi0xLjQK");
  CHECK(cut.command == Action::resolve);
}

TEST_CASE("auto-replies and baton's own mail are recognised", "[email-replies]") {
  const std::string body = "\r\n\r\nack\r\n";
  auto kind = [&](const std::string& headers) { return read("From: a@example.com\r\n" + headers + body).kind; };
  CHECK(kind("Auto-Submitted: auto-replied") == MailKind::auto_reply);
  CHECK(kind("Auto-Submitted: no") == MailKind::reply);
  CHECK(kind("Precedence: bulk") == MailKind::auto_reply);
  CHECK(kind("Precedence: junk") == MailKind::auto_reply);
  CHECK(kind("Precedence: list") == MailKind::auto_reply);
  CHECK(kind("X-Autoreply: yes") == MailKind::auto_reply);
  CHECK(kind("X-Autorespond: yes") == MailKind::auto_reply);
  CHECK(kind("List-Id: <ops.example.com>") == MailKind::auto_reply);
  CHECK(kind("Subject: Automatic reply: [baton] #4") == MailKind::auto_reply);
  CHECK(kind("Subject: Out of Office: back Monday") == MailKind::auto_reply);
  CHECK(kind("Subject: =?utf-8?Q?Abwesenheitsnotiz?=") == MailKind::auto_reply);
  CHECK(kind("Subject: Re: [baton] #4") == MailKind::reply);
  CHECK(read("From: baton <pager@example.com>\r\nX-Baton-Incident: 4" + body).kind == MailKind::own);
  CHECK(read("From: Pager@Example.com\r\nX-Baton-Reply: confirmation" + body).kind == MailKind::own);
}

TEST_CASE("a delivery status report is a bounce naming the returned Message-ID", "[email-replies]") {
  const std::string dsn =
      "From: MAILER-DAEMON@mx.example.com (Mail Delivery System)\r\nSubject: Undelivered Mail Returned to Sender\r\n"
      "Content-Type: multipart/report; report-type=delivery-status; boundary=\"R\"\r\n\r\n--R\r\n"
      "Content-Type: text/plain\r\n\r\nI'm sorry to have to inform you...\r\n--R\r\n"
      "Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n\r\n"
      "Final-Recipient: rfc822; alice@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n"
      "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n--R\r\nContent-Type: text/rfc822-headers\r\n\r\n"
      "From: baton <pager@example.com>\r\nMessage-ID: <incident-4.notification-9.s.00112233445566778899aabbccddeeff@x>\r\n"
      "Subject: [baton] #4\r\n\r\n--R--\r\n";
  const auto m = read(dsn);
  CHECK(m.kind == MailKind::bounce);
  REQUIRE(m.bounced_ids.size() == 1);
  CHECK(m.bounced_ids[0] == "<incident-4.notification-9.s.00112233445566778899aabbccddeeff@x>");
  CHECK(m.bounce_detail == "5.1.1 (smtp; 550 5.1.1 user unknown)");
  // A delay notice is not a failure.
  std::string delayed = dsn;
  delayed.replace(delayed.find("Action: failed"), 14, "Action: delayed");
  CHECK(read(delayed).kind == MailKind::auto_reply);
}

TEST_CASE("the confirmation mail is threaded under the reply and marked automatic", "[email-replies]") {
  ReplyConfirmation c{"pager@example.com", "baton", "alice@example.com", "Re: [baton] #4 CRITICAL: db",
                      "<r1@example.com>", {"<root@x>", "<bogus\r\nBcc: x@y>"}, "Incident #4 acknowledged.\r\nBcc: x",
                      "example.com"};
  const auto mail = build_reply_confirmation(c, baton::engine::TimePoint{});
  CHECK(mail.find("Subject: Re: [baton] #4 CRITICAL: db\r\n") != std::string::npos);
  CHECK(mail.find("In-Reply-To: <r1@example.com>\r\n") != std::string::npos);
  CHECK(mail.find("References: <root@x> <r1@example.com>\r\n") != std::string::npos);
  CHECK(mail.find("Auto-Submitted: auto-replied\r\n") != std::string::npos);
  CHECK(mail.find("\r\nBcc:") == std::string::npos);
  const auto parsed = read(mail);
  CHECK(parsed.kind == MailKind::own);
  c.subject = "[baton] #4";
  CHECK(build_reply_confirmation(c, {}).find("Subject: Re: [baton] #4\r\n") != std::string::npos);
}

TEST_CASE("with replies on, a page carries its token in Message-ID and Reply-To", "[email-replies]") {
  // Scenario: the same page built with and without smtp.replies. Without, the
  // Message-ID is as before and there is no Reply-To. With, both carry the
  // token of (incident 42, notification 17, alice), which verifies for alice
  // only, and the footer says how to answer.
  const auto d = baton::test::sample_page(baton::engine::MethodKind::email, {});
  EmailConfig c;
  c.from = "pager@example.com";
  c.public_url = "https://baton.example.com";
  const auto plain = build_email(d, c, nullptr, {}, {"s1", ""});
  CHECK(plain.message_id == "<incident-42.notification-17.s1@baton.example.com>");
  CHECK(plain.data.find("Reply-To:") == std::string::npos);
  CHECK_FALSE(ref_from_message_id(plain.message_id));

  c.reply_secret = email_reply_secret("action", "");
  c.reply_address = "baton@example.com";
  const auto m = build_email(d, c, nullptr, {}, {"s1", ""});
  ReplyTokenSigner signer(c.reply_secret);
  auto by_id = ref_from_message_id(m.message_id);
  REQUIRE(by_id);
  CHECK(by_id->incident == 42);
  CHECK(by_id->notification == 17);
  CHECK(signer.verify(*by_id, "alice"));
  CHECK_FALSE(signer.verify(*by_id, "bob"));
  const auto at = m.data.find("Reply-To: <baton+42.17.");
  REQUIRE(at != std::string::npos);
  const auto address = m.data.substr(at + 11, m.data.find('>', at) - at - 11);
  auto by_address = ref_from_address(address);
  REQUIRE(by_address);
  CHECK(by_address->tag == by_id->tag);
  CHECK(m.data.find("reply ack, resolve or escalate") != std::string::npos);
  CHECK(m.data.find("replies are not read") == std::string::npos);
}
