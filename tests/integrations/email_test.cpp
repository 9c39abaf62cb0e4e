#include <catch2/catch.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "tests/support/sample_delivery.hpp"
#include "integrations/email/message.hpp"
#include "integrations/email/smtp_client.hpp"
#include "integrations/email/smtp_notifier.hpp"
#include "tests/support/fake_clock.hpp"
#include "tests/support/smtp_server.hpp"

using namespace baton;
using namespace baton::integrations;
using namespace std::chrono_literals;

namespace {

Delivery email_delivery(engine::TimePoint created) { return test::sample_page(engine::MethodKind::email, created); }

EmailConfig email_config(std::string url = "smtp://127.0.0.1:1") {
  EmailConfig c;
  c.url = std::move(url);
  c.from = "pager@baton.test";
  c.public_url = "http://baton.test:8080/";
  c.timeout = 10000ms;
  return c;
}

// The network io_context on one thread, as the App runs it. Declare it before
// the notifiers that use it: they go first (cancelling what they still send),
// then the loop stops.
class Net {
 public:
  Net() : guard_(boost::asio::make_work_guard(io_)), thread_([this] { io_.run(); }) {}
  ~Net() {
    guard_.reset();
    thread_.join();  // the notifiers' sessions have ended: nothing keeps it running
  }
  boost::asio::io_context& io() { return io_; }

 private:
  boost::asio::io_context io_{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  std::thread thread_;
};

// One send through send_async(), waited for here (the test thread is not the network thread).
Result<void> deliver(SmtpNotifier& notifier, const Delivery& d) {
  std::promise<Result<void>> promise;
  auto result = promise.get_future();
  notifier.send_async(d, [&promise](Result<void> r) { promise.set_value(std::move(r)); });
  return result.get();
}

// --- a small, strict reader of what build_email writes -------------------

std::string b64_decode(std::string_view s) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : s) {
    if (c == '=') break;
    const int v = value(c);
    REQUIRE(v >= 0);
    acc = (acc << 6) | std::uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += char((acc >> bits) & 0xFF);
    }
  }
  return out;
}

bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto b = std::uint8_t(s[i]);
    const std::size_t len = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
      if ((std::uint8_t(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += len;
  }
  return true;
}

// RFC 2047 decoding of an unfolded header value: encoded-words are decoded,
// whitespace between two adjacent encoded-words is dropped. Every word must
// be <= 75 chars and hold whole UTF-8 characters.
std::string decode_words(std::string_view value) {
  std::string out;
  std::string pending_space;
  bool last_was_word = false;
  std::size_t i = 0;
  while (i < value.size()) {
    if (value[i] == ' ') {
      pending_space += ' ';
      ++i;
      continue;
    }
    auto end = value.find(' ', i);
    if (end == std::string_view::npos) end = value.size();
    const auto token = value.substr(i, end - i);
    const bool word = token.starts_with("=?UTF-8?B?") && token.ends_with("?=");
    if (!(word && last_was_word)) out += pending_space;
    pending_space.clear();
    if (word) {
      CHECK(token.size() <= 75);
      const auto bytes = b64_decode(token.substr(10, token.size() - 12));
      CHECK(valid_utf8(bytes));
      out += bytes;
    } else {
      out += token;
    }
    last_was_word = word;
    i = end;
  }
  return out;
}

std::string qp_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '=') {
      out += s[i];
    } else if (s.substr(i + 1, 2) == "\r\n") {
      i += 2;  // soft line break
    } else {
      out += char(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    }
  }
  return out;
}

struct Part {
  std::map<std::string, std::string> headers;  // lowercased names
  std::string body;                             // decoded
};

struct ParsedMail {
  std::vector<std::pair<std::string, std::string>> headers;  // unfolded, in order
  std::vector<std::string> raw_header_lines;
  std::string body;
  std::vector<Part> parts;

  std::vector<std::string> all(std::string_view name) const {
    std::vector<std::string> out;
    for (const auto& [n, v] : headers) {
      if (Catch::toLower(n) == Catch::toLower(std::string(name))) out.push_back(v);
    }
    return out;
  }
  std::string header(std::string_view name) const {
    auto values = all(name);
    INFO(name);
    REQUIRE(values.size() == 1);
    return values[0];
  }
};

// Splits a header block into unfolded (name, value) pairs.
std::vector<std::pair<std::string, std::string>> parse_headers(std::string_view block,
                                                               std::vector<std::string>* raw_lines) {
  std::vector<std::pair<std::string, std::string>> out;
  std::size_t pos = 0;
  while (pos < block.size()) {
    auto end = block.find("\r\n", pos);
    if (end == std::string_view::npos) end = block.size();
    const std::string line(block.substr(pos, end - pos));
    pos = end + 2;
    if (raw_lines != nullptr) raw_lines->push_back(line);
    if (!line.empty() && (line[0] == ' ' || line[0] == '\t')) {
      REQUIRE(!out.empty());
      out.back().second += line;  // unfold: drop the CRLF, keep the space
      continue;
    }
    const auto colon = line.find(':');
    REQUIRE(colon != std::string::npos);
    std::string value = line.substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.erase(0, 1);
    out.emplace_back(line.substr(0, colon), value);
  }
  return out;
}

ParsedMail parse_mail(const std::string& data) {
  // CRLF only: no bare CR or LF anywhere.
  for (std::size_t i = 0; i < data.size(); ++i) {
    if (data[i] == '\n') REQUIRE((i > 0 && data[i - 1] == '\r'));
    if (data[i] == '\r') REQUIRE((i + 1 < data.size() && data[i + 1] == '\n'));
  }
  ParsedMail m;
  const auto split = data.find("\r\n\r\n");
  REQUIRE(split != std::string::npos);
  m.headers = parse_headers(std::string_view(data).substr(0, split), &m.raw_header_lines);
  m.body = data.substr(split + 4);

  const auto content_type = m.header("Content-Type");
  const auto b = content_type.find("boundary=\"");
  REQUIRE(content_type.starts_with("multipart/alternative;"));
  REQUIRE(b != std::string::npos);
  const auto boundary = content_type.substr(b + 10, content_type.find('"', b + 10) - b - 10);
  const std::string delimiter = "\r\n--" + boundary;
  std::string body = "\r\n" + m.body;
  auto pos = body.find(delimiter);
  REQUIRE(pos != std::string::npos);
  while (true) {
    pos += delimiter.size();
    if (body.compare(pos, 2, "--") == 0) break;  // the close delimiter
    REQUIRE(body.compare(pos, 2, "\r\n") == 0);
    pos += 2;
    const auto next = body.find(delimiter, pos);
    REQUIRE(next != std::string::npos);
    const std::string raw = body.substr(pos, next - pos);
    const auto part_split = raw.find("\r\n\r\n");
    REQUIRE(part_split != std::string::npos);
    Part part;
    for (auto& [n, v] : parse_headers(std::string_view(raw).substr(0, part_split), nullptr)) {
      part.headers[Catch::toLower(n)] = v;
    }
    REQUIRE(part.headers["content-transfer-encoding"] == "quoted-printable");
    part.body = qp_decode(raw.substr(part_split + 4) + "\r\n");
    m.parts.push_back(std::move(part));
    pos = next;
  }
  return m;
}

std::size_t longest_line(const std::string& data) {
  std::size_t longest = 0;
  std::size_t pos = 0;
  while (pos < data.size()) {
    auto end = data.find("\r\n", pos);
    if (end == std::string::npos) end = data.size();
    longest = std::max(longest, end - pos);
    pos = end + 2;
  }
  return longest;
}

std::vector<std::string> action_links(const std::string& text, const std::string& prefix) {
  std::vector<std::string> out;
  for (auto pos = text.find(prefix); pos != std::string::npos; pos = text.find(prefix, pos + 1)) {
    const auto end = text.find_first_of(" \r\n\"<", pos);
    out.push_back(text.substr(pos, end - pos));
  }
  return out;
}

const std::string kActions = "http://baton.test:8080/actions/";

}  // namespace

// A page's headers: RFC 5322 Date from `now`, From with the display name, To
// with the person's name, the incident's subject, its own Message-ID (per
// notification and sender) and, as the first mail of its thread, no
// In-Reply-To or References; MIME headers, Auto-Submitted and
// X-Baton-Incident; envelope from/to; every line <= 78 chars and CRLF-terminated.
TEST_CASE("build_email headers of a page", "[email]") {
  test::FakeClock clock;
  ActionSigner signer("link-secret");
  const auto m = build_email(email_delivery(clock.now() - 5min), email_config(), &signer, clock.now(), {"5e4d", ""});
  CHECK(m.from == "pager@baton.test");
  CHECK(m.to == std::vector<std::string>{"alice@example.com"});
  CHECK(m.message_id == "<incident-42.notification-17.5e4d@baton.test>");
  CHECK(longest_line(m.data) <= 78);

  const auto mail = parse_mail(m.data);
  CHECK(mail.header("Date") == "Thu, 01 Jan 2026 00:00:00 +0000");
  CHECK(mail.header("From") == "\"baton\" <pager@baton.test>");
  CHECK(mail.header("To") == "\"Alice Example\" <alice@example.com>");
  CHECK(mail.header("Subject") == "[baton] #42 CRITICAL: Disk \"full\" on db-1");
  CHECK(mail.header("Message-ID") == "<incident-42.notification-17.5e4d@baton.test>");
  CHECK(mail.all("In-Reply-To").empty());
  CHECK(mail.all("References").empty());
  CHECK(mail.header("MIME-Version") == "1.0");
  CHECK(mail.header("Auto-Submitted") == "auto-generated");
  CHECK(mail.header("X-Baton-Incident") == "42");
  CHECK(mail.all("Bcc").empty());
  CHECK(mail.all("Cc").empty());
}

// Threading ids: another notification of the same incident has its own
// Message-ID and answers the thread's root (a mail that was sent) in
// In-Reply-To and References; message_id_domain overrides the host of
// public_url; without either the domain is baton.local. The sender's id keeps
// ids apart between instances (RFC 5322 section 3.6.4: unique); without one,
// each message gets a random one.
TEST_CASE("build_email threading ids", "[email]") {
  test::FakeClock clock;
  auto update = email_delivery(clock.now());
  update.notification.id = 18;
  update.notification.kind = engine::NotificationKind::update;
  auto config = email_config();
  config.message_id_domain = "mail.example.org";
  const MailThread thread{"a1b2", "<incident-42.notification-17.a1b2@mail.example.org>"};
  const auto m = build_email(update, config, nullptr, clock.now(), thread);
  CHECK(m.message_id == "<incident-42.notification-18.a1b2@mail.example.org>");
  const auto mail = parse_mail(m.data);
  CHECK(mail.header("In-Reply-To") == thread.root);
  CHECK(mail.header("References") == thread.root);

  auto bare = email_config();
  bare.public_url.clear();
  CHECK(build_email(update, bare, nullptr, clock.now(), {"a1b2", ""}).message_id ==
        "<incident-42.notification-18.a1b2@baton.local>");
  CHECK(build_email(update, config, nullptr, clock.now(), {"c3d4", ""}).message_id != m.message_id);
  const auto random1 = build_email(update, config, nullptr, clock.now()).message_id;
  CHECK(random1 != build_email(update, config, nullptr, clock.now()).message_id);
  CHECK(random1.starts_with("<incident-42.notification-18."));
}

// The body: multipart/alternative with a text/plain and a text/html part,
// both UTF-8 quoted-printable; the facts (number, severity, service, summary,
// source, 1-based step, who is paged, incident URL) in both; a fresh random
// boundary per message.
TEST_CASE("build_email body parts", "[email]") {
  test::FakeClock clock;
  ActionSigner signer("link-secret");
  const auto d = email_delivery(clock.now());
  const auto m = build_email(d, email_config(), &signer, clock.now());
  const auto mail = parse_mail(m.data);
  REQUIRE(mail.parts.size() == 2);
  CHECK(mail.parts[0].headers.at("content-type") == "text/plain; charset=utf-8");
  CHECK(mail.parts[1].headers.at("content-type") == "text/html; charset=utf-8");
  for (const auto& part : mail.parts) {
    const auto& body = part.body;
    CHECK(body.find("#42") != std::string::npos);
    CHECK(body.find("critical") != std::string::npos);
    CHECK(body.find("Payments (payments)") != std::string::npos);
    CHECK(body.find("db-1") != std::string::npos);
    CHECK(body.find("Alice Example (alice)") != std::string::npos);
    CHECK(body.find("http://baton.test:8080/api/v1/incidents/42") != std::string::npos);
  }
  CHECK(mail.parts[0].body.find("Summary:  Disk \"full\" on db-1") != std::string::npos);
  CHECK(mail.parts[0].body.find("Step:     2") != std::string::npos);
  CHECK(mail.parts[1].body.find("Disk &quot;full&quot; on db-1") != std::string::npos);

  const auto other = build_email(d, email_config(), &signer, clock.now());
  CHECK(parse_mail(other.data).header("Content-Type") != mail.header("Content-Type"));
}

// A page carries three one-click links per part, each verifying with the
// signer as the right action for incident 42 and the recipient, expiring in
// 24 h; updates and a missing signer carry none.
TEST_CASE("build_email one-click links", "[email]") {
  test::FakeClock clock;
  ActionSigner signer("link-secret");
  const auto mail = parse_mail(build_email(email_delivery(clock.now()), email_config(), &signer, clock.now()).data);
  const auto text_links = action_links(mail.parts[0].body, kActions);
  const auto html_links = action_links(mail.parts[1].body, kActions);
  REQUIRE(text_links.size() == 3);
  CHECK(html_links == text_links);
  const Action expected[] = {Action::acknowledge, Action::resolve, Action::escalate};
  for (std::size_t i = 0; i < 3; ++i) {
    INFO(text_links[i]);
    auto claim = signer.verify(text_links[i].substr(kActions.size()), clock.now());
    REQUIRE(claim);
    CHECK(claim->incident == 42);
    CHECK(claim->action == expected[i]);
    CHECK(claim->person == "alice");
    CHECK(claim->expires == clock.now() + 24h);
  }
  CHECK(mail.parts[0].body.find("Acknowledge: " + text_links[0]) != std::string::npos);

  auto update = email_delivery(clock.now());
  update.notification.kind = engine::NotificationKind::update;
  const auto u = parse_mail(build_email(update, email_config(), &signer, clock.now()).data);
  CHECK(action_links(u.parts[0].body, kActions).empty());
  const auto unsigned_page = parse_mail(build_email(email_delivery(clock.now()), email_config(), nullptr, clock.now()).data);
  CHECK(action_links(unsigned_page.parts[0].body, kActions).empty());
}

// One subject for every mail of an incident (Gmail threads only mails whose
// subjects match; they used to change with the state and split the thread):
// what happened is the body's headline, acknowledged by the owner (by name
// when the owner is the addressee, else by id), resolved, or updated.
TEST_CASE("build_email one subject per incident; the state is in the body", "[email]") {
  test::FakeClock clock;
  auto d = email_delivery(clock.now());
  const std::string subject = "[baton] #42 CRITICAL: Disk \"full\" on db-1";
  auto mail = [&] { return parse_mail(build_email(d, email_config(), nullptr, clock.now()).data); };
  CHECK(mail().header("Subject") == subject);
  d.notification.kind = engine::NotificationKind::update;
  d.incident.state = engine::IncidentState::acknowledged;
  CHECK(mail().header("Subject") == subject);
  CHECK(mail().parts[0].body.starts_with("Incident #42 was acknowledged by Alice Example\r\n"));
  d.incident.owner = "bob";
  CHECK(mail().parts[0].body.starts_with("Incident #42 was acknowledged by bob\r\n"));
  d.incident.state = engine::IncidentState::resolved;
  CHECK(mail().header("Subject") == subject);
  CHECK(mail().parts[0].body.starts_with("Incident #42 was resolved\r\n"));
  CHECK(mail().parts[1].body.find("<h2>Incident #42 was resolved</h2>") != std::string::npos);
  d.incident.state = engine::IncidentState::triggered;
  CHECK(mail().header("Subject") == subject);
  CHECK(mail().parts[0].body.starts_with("Incident #42 was updated\r\n"));
}

// Email's one-click links are signed with a key of their own, derived from
// the action secret: a link made with it verifies with that key only, so the
// link itself says it came from an email; links made with the secret itself
// (webhook consumers', older emails') do not verify with the email key.
TEST_CASE("email_link_secret: email's links verify with email's key only", "[email]") {
  test::FakeClock clock;
  const std::string secret = "action-secret";
  ActionSigner email(email_link_secret(secret));
  ActionSigner plain(secret);
  CHECK(email_link_secret(secret) == email_link_secret(secret));
  CHECK(email_link_secret(secret) != email_link_secret("other-secret"));
  const ActionClaim claim{42, Action::acknowledge, "alice", clock.now() + 1h, {}};
  const auto from_email = email.sign(claim);
  CHECK(email.verify(from_email, clock.now()));
  CHECK(plain.verify(from_email, clock.now()).error().kind == ErrorKind::unauthorized);
  const auto from_webhook = plain.sign(claim);
  CHECK(email.verify(from_webhook, clock.now()).error().kind == ErrorKind::unauthorized);
}

// Non-ASCII subjects become RFC 2047 B encoded-words (<= 75 chars, whole
// characters each) that decode back to the text; so does a non-ASCII name.
TEST_CASE("build_email RFC 2047 subject round trip", "[email]") {
  test::FakeClock clock;
  auto d = email_delivery(clock.now());
  d.incident.summary = "Ünïcødé 🚨";
  d.person->name = "Zoë Ünïcødé";
  const auto m = build_email(d, email_config(), nullptr, clock.now());
  CHECK(longest_line(m.data) <= 78);
  const auto mail = parse_mail(m.data);
  const auto subject = mail.header("Subject");
  CHECK(subject.starts_with("=?UTF-8?B?"));
  CHECK(decode_words(subject) == "[baton] #42 CRITICAL: Ünïcødé 🚨");
  CHECK(decode_words(mail.header("To")) == "Zoë Ünïcødé <alice@example.com>");
  CHECK(mail.parts[0].body.find("Ünïcødé 🚨") != std::string::npos);
}

// Long subjects: ASCII folds between words (unfolding gives the subject back);
// long non-ASCII text is split into many encoded-words across lines and the
// summary is cut (at a character boundary, with an ellipsis) to 200 bytes.
TEST_CASE("build_email long subjects", "[email]") {
  test::FakeClock clock;
  auto d = email_delivery(clock.now());
  std::string summary;
  for (int i = 0; i < 8; ++i) summary += "replica-" + std::to_string(i) + " lagging ";
  summary.pop_back();
  d.incident.summary = summary;
  auto m = build_email(d, email_config(), nullptr, clock.now());
  CHECK(longest_line(m.data) <= 78);
  auto mail = parse_mail(m.data);
  CHECK(mail.header("Subject") == "[baton] #42 CRITICAL: " + summary);
  const auto subject_lines = std::count_if(mail.raw_header_lines.begin(), mail.raw_header_lines.end(),
                                           [](const std::string& l) { return l.starts_with(" "); });
  CHECK(subject_lines >= 2);

  std::string emoji;
  for (int i = 0; i < 80; ++i) emoji += "é🚨";  // 480 bytes
  d.incident.summary = emoji;
  m = build_email(d, email_config(), nullptr, clock.now());
  CHECK(longest_line(m.data) <= 78);
  mail = parse_mail(m.data);
  const auto decoded = decode_words(mail.header("Subject"));
  CHECK(decoded.starts_with("[baton] #42 CRITICAL: é🚨é🚨"));
  CHECK(decoded.ends_with("…"));
  CHECK(decoded.size() <= std::string("[baton] #42 CRITICAL: ").size() + 200 + 3);
  CHECK(valid_utf8(decoded));
  // The body keeps the whole summary.
  CHECK(mail.parts[0].body.find(emoji) != std::string::npos);
}

// Header injection: CR/LF and other control characters in the summary, the
// person's name, the service name and the source never start a header line;
// they become spaces (in ASCII and in encoded-words alike).
TEST_CASE("build_email resists header injection", "[email]") {
  test::FakeClock clock;
  auto d = email_delivery(clock.now());
  d.incident.summary = "Disk full\r\nBcc: evil@x";
  d.person->name = "Eve\r\nBcc: evil@x";
  d.service_name = "Pay\nX-Evil: 1";
  d.incident.source_name = "db-1\rX-Evil: 2";
  auto mail = parse_mail(build_email(d, email_config(), nullptr, clock.now()).data);
  CHECK(mail.all("Bcc").empty());
  CHECK(mail.all("X-Evil").empty());
  for (const auto& line : mail.raw_header_lines) {
    CHECK_FALSE(Catch::toLower(line).starts_with("bcc"));
  }
  CHECK(mail.header("Subject") == "[baton] #42 CRITICAL: Disk full Bcc: evil@x");
  CHECK(mail.header("To") == "\"Eve Bcc: evil@x\" <alice@example.com>");
  CHECK(mail.parts[0].body.find("Pay X-Evil: 1 (payments)") != std::string::npos);
  CHECK(mail.parts[0].body.find("db-1 X-Evil: 2") != std::string::npos);

  // Non-ASCII text with a line break, a tab and a NUL: encoded, and still clean.
  d.incident.summary = std::string("Ünï\r\nBcc: evil@x\t") + '\0' + "end";
  mail = parse_mail(build_email(d, email_config(), nullptr, clock.now()).data);
  CHECK(mail.all("Bcc").empty());
  CHECK(decode_words(mail.header("Subject")) == "[baton] #42 CRITICAL: Ünï Bcc: evil@x end");

  // A quote and a backslash in a name stay inside the quoted string.
  d.person->name = "A \"B\" \\ C";
  mail = parse_mail(build_email(d, email_config(), nullptr, clock.now()).data);
  CHECK(mail.header("To") == "\"A \\\"B\\\" \\\\ C\" <alice@example.com>");
}

// Everything in the HTML part is escaped: no markup from alert text survives.
TEST_CASE("build_email escapes HTML", "[email]") {
  test::FakeClock clock;
  auto d = email_delivery(clock.now());
  d.incident.summary = "<script>alert('x')</script> & \"q\"";
  d.person->name = "<b>Bob</b>";
  auto mail = parse_mail(build_email(d, email_config(), nullptr, clock.now()).data);
  const auto& html = mail.parts[1].body;
  CHECK(html.find("<script>") == std::string::npos);
  CHECK(html.find("<b>") == std::string::npos);
  CHECK(html.find("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;") != std::string::npos);
  CHECK(html.find("&lt;b&gt;Bob&lt;/b&gt;") != std::string::npos);
  // The text part shows it as written.
  CHECK(mail.parts[0].body.find("<script>alert('x')</script> & \"q\"") != std::string::npos);
}

// RFC 5322 dates: day name, two-digit day, month name, UTC offset.
TEST_CASE("rfc5322_date", "[email]") {
  using namespace std::chrono;
  CHECK(rfc5322_date(engine::TimePoint{sys_days{2024y / 2 / 29} + 13h + 5min + 9s + 999ms}) ==
        "Thu, 29 Feb 2024 13:05:09 +0000");
  CHECK(rfc5322_date(engine::TimePoint{sys_days{1999y / 12 / 5}}) == "Sun, 05 Dec 1999 00:00:00 +0000");
}

// Addresses that could break the envelope or a header are refused.
TEST_CASE("is_valid_email_address", "[email]") {
  CHECK(is_valid_email_address("alice@example.com"));
  CHECK(is_valid_email_address("a.b+tag@sub.example.co"));
  CHECK_FALSE(is_valid_email_address(""));
  CHECK_FALSE(is_valid_email_address("alice"));
  CHECK_FALSE(is_valid_email_address("@example.com"));
  CHECK_FALSE(is_valid_email_address("alice@"));
  CHECK_FALSE(is_valid_email_address("alice@example.com\r\nRCPT TO:<x@y>"));
  CHECK_FALSE(is_valid_email_address("alice@example.com>"));
  CHECK_FALSE(is_valid_email_address("al ice@example.com"));
  CHECK_FALSE(is_valid_email_address("alice@exa_mple.com"));
}

// The one error table, by failure and reply code.
TEST_CASE("classify_smtp", "[email]") {
  using F = SmtpOutcome::Failure;
  auto kind = [](F failure, int reply) {
    auto r = classify_smtp(SmtpOutcome{failure, reply, "SMTP: detail"});
    REQUIRE_FALSE(r);
    return r.error().kind;
  };
  CHECK(classify_smtp(SmtpOutcome{}));
  CHECK(kind(F::auth, 535) == ErrorKind::auth_revoked);
  CHECK(kind(F::auth, 0) == ErrorKind::auth_revoked);  // no mechanism we speak
  CHECK(kind(F::starttls_unavailable, 0) == ErrorKind::permanent);
  CHECK(kind(F::network, 0) == ErrorKind::transient);  // refused, DNS, connection lost
  CHECK(kind(F::timeout, 0) == ErrorKind::transient);
  CHECK(kind(F::tls, 0) == ErrorKind::transient);
  CHECK(kind(F::protocol, 0) == ErrorKind::transient);
  CHECK(kind(F::cancelled, 0) == ErrorKind::transient);
  CHECK(kind(F::reply, 550) == ErrorKind::permanent);  // RCPT refused
  CHECK(kind(F::reply, 552) == ErrorKind::permanent);
  CHECK(kind(F::reply, 554) == ErrorKind::permanent);
  CHECK(kind(F::reply, 451) == ErrorKind::transient);
  CHECK(kind(F::reply, 421) == ErrorKind::transient);
  CHECK(kind(F::reply, 530) == ErrorKind::auth_revoked);  // MAIL refused: authentication required
  CHECK(kind(F::reply, 535) == ErrorKind::auth_revoked);
  CHECK(kind(F::invalid_request, 0) == ErrorKind::invalid_request);
  CHECK(classify_smtp(SmtpOutcome{F::starttls_unavailable, 0, "x"}).error().message.find("STARTTLS") !=
        std::string::npos);
  CHECK(classify_smtp(SmtpOutcome{F::reply, 550, "SMTP: RCPT TO refused: 550 no"}).error().message.find("550") !=
        std::string::npos);
}

// A bad configuration fails at construction. Without an io_context the
// notifier only sends blocking.
TEST_CASE("SmtpNotifier rejects a bad configuration", "[email]") {
  test::FakeClock clock;
  Net net;
  for (const char* url : {"http://127.0.0.1:25", "smtp://", "smtp://127.0.0.1:0", "smtp://127.0.0.1:x",
                          "smtp://user:pw@127.0.0.1:25", "smtps://[::1"}) {
    INFO(url);
    CHECK_THROWS_AS(SmtpNotifier(email_config(url), nullptr, clock, net.io()), std::invalid_argument);
    CHECK_THROWS_AS(SmtpNotifier(email_config(url), nullptr, clock), std::invalid_argument);
  }
  auto no_from = email_config();
  no_from.from = "not an address";
  CHECK_THROWS_AS(SmtpNotifier(no_from, nullptr, clock, net.io()), std::invalid_argument);
  SmtpNotifier notifier(email_config("smtps://[::1]:465/client.example"), nullptr, clock, net.io());
  CHECK(notifier.method() == engine::MethodKind::email);
  CHECK(notifier.is_async());
  CHECK_FALSE(SmtpNotifier(email_config(), nullptr, clock).is_async());  // blocking send() only
}

// A person without an email address (or with a broken one), or no person at
// all: permanent, before any connection is tried (the URL points nowhere).
TEST_CASE("SmtpNotifier needs an address", "[email]") {
  test::FakeClock clock;
  Net net;
  SmtpNotifier notifier(email_config("smtp://127.0.0.1:1"), nullptr, clock, net.io());
  auto d = email_delivery(clock.now());
  d.person->email.clear();
  auto r = deliver(notifier, d);
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == ErrorKind::permanent);
  CHECK(r.error().message == "person alice has no email address");

  d.person->email = "alice@example.com\r\nRCPT TO:<evil@x>";
  r = deliver(notifier, d);
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == ErrorKind::permanent);

  d.person.reset();
  r = notifier.send(d);  // the blocking form: the same check
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == ErrorKind::permanent);
}

// End to end with aiosmtpd: STARTTLS required and the self-signed certificate
// verified (by IP and by host name); the server receives the envelope, over
// TLS, a message whose subject, ids and links are as built; a second send
// (an update) works too.
TEST_CASE("SmtpNotifier delivers over verified STARTTLS", "[email][smtp]") {
  test::FakeClock clock;
  test::SmtpServer server;
  Net net;
  auto config = email_config(server.url());
  config.ca_file = server.ca_file();
  auto signer = std::make_shared<const ActionSigner>("link-secret");
  auto refs = std::make_shared<MemoryChatRefs>();
  SmtpNotifier notifier(config, signer, clock, net.io(), refs);
  auto d = email_delivery(clock.now());
  auto r = deliver(notifier, d);
  INFO((r ? std::string() : r.error().message));
  REQUIRE(r);

  REQUIRE(server.wait_for_messages(1, 10s));
  auto mails = server.messages();
  REQUIRE(mails.size() == 1);
  CHECK(mails[0].mail_from == "pager@baton.test");
  CHECK(mails[0].rcpt_to == std::vector<std::string>{"alice@example.com"});
  CHECK(mails[0].secure);
  CHECK(mails[0].user.empty());
  auto mail = parse_mail(mails[0].data);
  CHECK(mail.header("Subject") == "[baton] #42 CRITICAL: Disk \"full\" on db-1");
  const auto first_id = mail.header("Message-ID");
  CHECK(first_id.starts_with("<incident-42.notification-17."));
  CHECK(first_id.ends_with("@baton.test>"));
  CHECK(mail.all("References").empty());
  auto links = action_links(mail.parts[0].body, kActions);
  REQUIRE(links.size() == 3);
  auto claim = signer->verify(links[0].substr(kActions.size()), clock.now());
  REQUIRE(claim);
  CHECK(claim->action == Action::acknowledge);
  CHECK(claim->person == "alice");

  d.notification.id = 18;
  d.notification.kind = engine::NotificationKind::update;
  d.incident.state = engine::IncidentState::acknowledged;
  config.url = server.url("localhost");
  SmtpNotifier by_name(config, signer, clock, net.io(), refs);
  r = deliver(by_name, d);
  INFO((r ? std::string() : r.error().message));
  REQUIRE(r);
  REQUIRE(server.wait_for_messages(2, 10s));
  mail = parse_mail(server.messages()[1].data);
  CHECK(mail.header("Subject") == "[baton] #42 CRITICAL: Disk \"full\" on db-1");
  CHECK(mail.header("In-Reply-To") == first_id);
}

// Message-IDs must be unique (RFC 5322 section 3.6.4; Gmail drops a mail whose
// id it has seen): two instances (or one after its database was reset, which
// restarts the numbers) sending notification 17 of incident 42 give it
// different ids; a retry in one instance keeps its id. Threads: the first
// mail to alice about incident 42 is the root, and every later one has the
// same subject and answers it (In-Reply-To and References), after a restart
// too (the root is a chat ref); the root is a mail that was sent.
TEST_CASE("SmtpNotifier: unique Message-IDs, one thread per incident", "[email][smtp]") {
  test::FakeClock clock;
  test::SmtpServer server;
  Net net;
  auto config = email_config(server.url());
  config.ca_file = server.ca_file();
  auto refs = std::make_shared<MemoryChatRefs>();
  SmtpNotifier first(config, nullptr, clock, net.io(), refs);
  SmtpNotifier other_instance(config, nullptr, clock, net.io(), std::make_shared<MemoryChatRefs>());
  auto page = email_delivery(clock.now());
  REQUIRE(deliver(first, page));
  REQUIRE(deliver(other_instance, page));
  auto update = page;
  update.notification.id = 18;
  update.notification.kind = engine::NotificationKind::update;
  update.incident.state = engine::IncidentState::acknowledged;
  REQUIRE(deliver(first, update));
  REQUIRE(deliver(first, update));  // a retry
  SmtpNotifier restarted(config, nullptr, clock, net.io(), refs);
  update.notification.id = 19;
  update.incident.state = engine::IncidentState::resolved;
  REQUIRE(deliver(restarted, update));
  REQUIRE(server.wait_for_messages(5, 10s));

  std::vector<ParsedMail> mails;
  for (const auto& m : server.messages()) mails.push_back(parse_mail(m.data));
  const auto root = mails[0].header("Message-ID");
  CHECK(mails[1].header("Message-ID") != root);
  CHECK(mails[3].header("Message-ID") == mails[2].header("Message-ID"));
  std::set<std::string> ids;
  for (const auto& m : mails) ids.insert(m.header("Message-ID"));
  CHECK(ids.size() == 4);
  for (std::size_t i : {2, 3, 4}) {
    INFO("mail " << i);
    CHECK(mails[i].header("Subject") == mails[0].header("Subject"));
    CHECK(mails[i].header("In-Reply-To") == root);
    CHECK(mails[i].header("References") == root);
  }
  CHECK(mails[0].all("In-Reply-To").empty());
  CHECK(mails[1].all("In-Reply-To").empty());  // the other instance's own thread
}

// Implicit TLS (smtps://) with the certificate verified; the blocking send()
// speaks the same protocol.
TEST_CASE("SmtpNotifier delivers over SMTPS", "[email][smtp]") {
  test::FakeClock clock;
  test::SmtpServerOptions options;
  options.tls = test::SmtpServerOptions::Tls::implicit;
  test::SmtpServer server(options);
  Net net;
  auto config = email_config(server.url());
  config.ca_file = server.ca_file();
  SmtpNotifier notifier(config, nullptr, clock, net.io());
  auto r = deliver(notifier, email_delivery(clock.now()));
  INFO((r ? std::string() : r.error().message));
  REQUIRE(r);
  REQUIRE(server.wait_for_messages(1, 10s));
  CHECK(server.messages()[0].secure);

  r = notifier.send(email_delivery(clock.now()));
  INFO((r ? std::string() : r.error().message));
  REQUIRE(r);
  REQUIRE(server.wait_for_messages(2, 10s));
  CHECK(server.messages()[1].secure);
}

// AUTH over STARTTLS: the right credentials deliver (the server saw the
// login); a wrong password is auth_revoked and its message holds no
// credentials; no credentials at all is refused with 530 at MAIL, also
// auth_revoked; neither delivers anything.
TEST_CASE("SmtpNotifier authenticates", "[email][smtp]") {
  test::FakeClock clock;
  test::SmtpServerOptions options;
  options.username = "pager";
  options.password = "s3cret";
  test::SmtpServer server(options);
  Net net;
  auto config = email_config(server.url());
  config.ca_file = server.ca_file();
  config.username = "pager";
  config.password = "s3cret";
  SmtpNotifier right(config, nullptr, clock, net.io());
  auto r = deliver(right, email_delivery(clock.now()));
  INFO((r ? std::string() : r.error().message));
  REQUIRE(r);
  REQUIRE(server.wait_for_messages(1, 10s));
  CHECK(server.messages()[0].user == "pager");
  CHECK(server.messages()[0].secure);

  config.password = "wrong-pw";
  SmtpNotifier wrong(config, nullptr, clock, net.io());
  auto denied = deliver(wrong, email_delivery(clock.now()));
  REQUIRE_FALSE(denied);
  CHECK(denied.error().kind == ErrorKind::auth_revoked);
  CHECK(denied.error().message.find("wrong-pw") == std::string::npos);
  CHECK(denied.error().message.find("d3JvbmctcHc") == std::string::npos);  // base64 of it

  config.username.clear();
  config.password.clear();
  SmtpNotifier none(config, nullptr, clock, net.io());
  auto anonymous = deliver(none, email_delivery(clock.now()));
  REQUIRE_FALSE(anonymous);
  CHECK(anonymous.error().kind == ErrorKind::auth_revoked);
  CHECK(server.messages().size() == 1);
}

// A server without STARTTLS while it is required: permanent, with a message
// naming STARTTLS, and nothing reaches the server. Not requiring it sends in
// the clear.
TEST_CASE("SmtpNotifier refuses a server without STARTTLS", "[email][smtp]") {
  test::FakeClock clock;
  test::SmtpServerOptions options;
  options.tls = test::SmtpServerOptions::Tls::none;
  test::SmtpServer server(options);
  Net net;
  auto config = email_config(server.url());
  SmtpNotifier required(config, nullptr, clock, net.io());
  auto r = deliver(required, email_delivery(clock.now()));
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == ErrorKind::permanent);
  CHECK(r.error().message.find("STARTTLS") != std::string::npos);
  CHECK(server.messages().empty());

  config.require_starttls = false;
  SmtpNotifier optional(config, nullptr, clock, net.io());
  auto plain = deliver(optional, email_delivery(clock.now()));
  INFO((plain ? std::string() : plain.error().message));
  REQUIRE(plain);
  REQUIRE(server.wait_for_messages(1, 10s));
  CHECK_FALSE(server.messages()[0].secure);
}

// A certificate the client does not trust (no ca_file, so the system store):
// the TLS failure is transient and nothing is sent. With verify_peer off the
// same server is used (over TLS still).
TEST_CASE("SmtpNotifier verifies the certificate", "[email][smtp]") {
  test::FakeClock clock;
  test::SmtpServer server;
  Net net;
  auto config = email_config(server.url());
  SmtpNotifier notifier(config, nullptr, clock, net.io());
  auto r = deliver(notifier, email_delivery(clock.now()));
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == ErrorKind::transient);
  CHECK(r.error().message.find("TLS") != std::string::npos);
  CHECK(server.messages().empty());

  config.verify_peer = false;
  SmtpNotifier unchecked(config, nullptr, clock, net.io());
  r = deliver(unchecked, email_delivery(clock.now()));
  INFO((r ? std::string() : r.error().message));
  REQUIRE(r);
  REQUIRE(server.wait_for_messages(1, 10s));
  CHECK(server.messages()[0].secure);
}

// Recipient rejections: 550 is permanent, 451 transient; nothing is stored.
// With the server gone, the connection failure is transient.
TEST_CASE("SmtpNotifier maps SMTP replies", "[email][smtp]") {
  test::FakeClock clock;
  test::SmtpServerOptions options;
  options.reject_550 = {"gone@example.com"};
  options.reject_451 = {"busy@example.com"};
  test::SmtpServer server(options);
  Net net;
  auto config = email_config(server.url());
  config.ca_file = server.ca_file();
  SmtpNotifier notifier(config, nullptr, clock, net.io());
  auto d = email_delivery(clock.now());

  d.person->email = "gone@example.com";
  auto r550 = deliver(notifier, d);
  REQUIRE_FALSE(r550);
  CHECK(r550.error().kind == ErrorKind::permanent);
  CHECK(r550.error().message.find("550") != std::string::npos);

  d.person->email = "busy@example.com";
  auto r451 = deliver(notifier, d);
  REQUIRE_FALSE(r451);
  CHECK(r451.error().kind == ErrorKind::transient);
  CHECK(r451.error().message.find("451") != std::string::npos);
  CHECK(server.messages().empty());

  server.stop();
  d.person->email = "alice@example.com";
  auto down = deliver(notifier, d);
  REQUIRE_FALSE(down);
  CHECK(down.error().kind == ErrorKind::transient);
}

// The data on the wire: lines starting with "." are doubled (and undone by the
// server), bare LF becomes CRLF, and data without a final line end gets one
// (RFC 5321 section 4.5.2). A bad envelope is refused without a connection.
TEST_CASE("SmtpClient sends dot-stuffed data", "[email][smtp]") {
  test::SmtpServerOptions options;
  options.tls = test::SmtpServerOptions::Tls::none;
  test::SmtpServer server(options);
  Net net;
  auto config = email_config(server.url());
  config.require_starttls = false;
  SmtpClient client(net.io(), config);
  auto send = [&](SmtpMail mail) {
    std::promise<SmtpOutcome> promise;
    auto outcome = promise.get_future();
    client.send(std::move(mail), [&promise](SmtpOutcome o) { promise.set_value(std::move(o)); });
    return outcome.get();
  };
  auto sent = send({"pager@baton.test", {"alice@example.com"}, "Subject: dots\r\n\r\n.one\n..two\r\n.\r\nlast"});
  INFO(sent.message);
  REQUIRE(sent.failure == SmtpOutcome::Failure::none);
  REQUIRE(server.wait_for_messages(1, 10s));
  CHECK(server.messages()[0].data == "Subject: dots\r\n\r\n.one\r\n..two\r\n.\r\nlast\r\n");

  auto bad = send({"pager@baton.test", {"a@example.com>\r\nDATA"}, "x"});
  CHECK(bad.failure == SmtpOutcome::Failure::invalid_request);
  CHECK(send({"pager@baton.test", {}, "x"}).failure == SmtpOutcome::Failure::invalid_request);
  CHECK(server.messages().size() == 1);
}

// Outage scale: 200 pages to a relay that answers each DATA 300 ms late. The
// channel is non-blocking; every send succeeds, once; the relay holds every
// message exactly once (by Message-ID) and had many transactions waiting at
// once, so no send waited for another. One network thread runs them all.
TEST_CASE("SmtpNotifier sends 200 emails to a slow relay without blocking", "[email][smtp][smtp_scale]") {
  constexpr std::size_t kMails = 200;
  test::FakeClock clock;
  test::SmtpServerOptions options;
  options.data_delay = 300ms;
  test::SmtpServer server(options);
  Net net;
  auto config = email_config(server.url());
  config.ca_file = server.ca_file();
  config.timeout = 60000ms;  // generous: the bound is on outcomes, not time
  SmtpNotifier notifier(config, nullptr, clock, net.io());
  REQUIRE(notifier.is_async());

  std::mutex mutex;
  std::condition_variable cv;
  std::vector<int> calls(kMails, 0);
  std::vector<std::string> errors;
  std::size_t finished = 0;
  for (std::size_t i = 0; i < kMails; ++i) {
    auto d = email_delivery(clock.now());
    d.notification.id = static_cast<std::int64_t>(1000 + i);
    notifier.send_async(d, [&, i](Result<void> r) {
      std::lock_guard lock(mutex);
      if (calls[i]++ == 0) ++finished;
      if (!r) errors.push_back(r.error().message);
      cv.notify_all();
    });
  }
  {
    std::unique_lock lock(mutex);
    REQUIRE(cv.wait_for(lock, 120s, [&] { return finished == kMails; }));
    INFO((errors.empty() ? std::string() : errors.front()));
    CHECK(errors.empty());
    CHECK(std::all_of(calls.begin(), calls.end(), [](int c) { return c == 1; }));
  }

  // Each message is written before its 250 answer, so all are there now.
  const auto mails = server.messages();
  CHECK(mails.size() == kMails);
  std::set<std::string> ids;
  for (const auto& mail : mails) ids.insert(parse_mail(mail.data).header("Message-ID"));
  CHECK(ids.size() == kMails);
  for (std::size_t i = 0; i < kMails; ++i) {
    const auto prefix = "<incident-42.notification-" + std::to_string(1000 + i) + ".";
    const auto it = ids.lower_bound(prefix);
    CHECK((it != ids.end() && it->starts_with(prefix) && it->ends_with("@baton.test>")));
  }
  CHECK(server.peak_data_in_progress() > 1);
}

// A relay that refuses connections (down, or nothing listening): the send
// fails at once as transient, so the Dispatcher retries it and moves the
// chain on to the next contact method. The same through the blocking send().
TEST_CASE("SmtpNotifier: a refused connection is a retryable failure", "[email][smtp]") {
  test::FakeClock clock;
  test::SmtpServer server;
  const auto url = server.url();
  server.stop();  // the port now refuses connections
  Net net;
  auto config = email_config(url);
  config.ca_file = server.ca_file();
  SmtpNotifier notifier(config, nullptr, clock, net.io());
  for (auto r : {deliver(notifier, email_delivery(clock.now())), notifier.send(email_delivery(clock.now()))}) {
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::transient);
    CHECK(r.error().retryable());
    CHECK(r.error().message.find("connect") != std::string::npos);
  }
}

// A relay that accepts the connection and never greets: the configured
// timeout ends the send as a transient failure naming the wait.
TEST_CASE("SmtpNotifier: a timeout is a retryable failure", "[email][smtp]") {
  test::FakeClock clock;
  boost::asio::io_context listener_io;
  boost::asio::ip::tcp::acceptor silent(listener_io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  Net net;
  auto config = email_config("smtp://127.0.0.1:" + std::to_string(silent.local_endpoint().port()));
  config.timeout = 200ms;
  SmtpNotifier notifier(config, nullptr, clock, net.io());
  auto r = deliver(notifier, email_delivery(clock.now()));
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == ErrorKind::transient);
  CHECK(r.error().retryable());
  CHECK(r.error().message.find("timed out") != std::string::npos);
  CHECK(r.error().message.find("greeting") != std::string::npos);
}

// shutdown() while two sends wait for the relay's answer to their data: both
// complete exactly once with a transient "cancelled", and so does a send made
// afterwards; the relay stored nothing.
TEST_CASE("SmtpNotifier: shutdown cancels sends in DATA", "[email][smtp][smtp_scale]") {
  test::FakeClock clock;
  test::SmtpServerOptions options;
  options.data_delay = 60s;  // DATA is never answered within the test
  test::SmtpServer server(options);
  Net net;
  auto config = email_config(server.url());
  config.ca_file = server.ca_file();
  config.timeout = 120000ms;
  SmtpNotifier notifier(config, nullptr, clock, net.io());

  std::mutex mutex;
  std::condition_variable cv;
  std::vector<Result<void>> results;
  auto record = [&](Result<void> r) {
    std::lock_guard lock(mutex);
    results.push_back(std::move(r));
    cv.notify_all();
  };
  for (int i = 0; i < 2; ++i) notifier.send_async(email_delivery(clock.now()), record);
  // Wait until both transactions are in DATA (the relay holds them).
  for (int i = 0; i < 6000 && server.peak_data_in_progress() < 2; ++i) std::this_thread::sleep_for(10ms);
  REQUIRE(server.peak_data_in_progress() == 2);
  notifier.shutdown();
  notifier.send_async(email_delivery(clock.now()), record);
  std::unique_lock lock(mutex);
  REQUIRE(cv.wait_for(lock, 60s, [&] { return results.size() == 3; }));
  for (const auto& r : results) {
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::transient);
    CHECK(r.error().message.rfind("cancelled", 0) == 0);
  }
  lock.unlock();
  CHECK(server.messages().empty());
}
