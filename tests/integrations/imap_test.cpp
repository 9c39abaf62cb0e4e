// The IMAP client and poller against a real Dovecot (tests/support/dovecot.hpp):
// TLS both ways (imaps://, and imap:// with STARTTLS), certificate checks, a
// refused login, bounded fetches, and each message handed over once, also
// after a restart of the poller.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "integrations/email/imap_client.hpp"
#include "integrations/email/imap_poller.hpp"
#include "tests/support/dovecot.hpp"

using namespace baton;
using namespace baton::integrations;
using namespace std::chrono_literals;

namespace {

#define REQUIRE_DOVECOT()                                 \
  do {                                                    \
    if (auto why = test::Dovecot::unavailable()) {        \
      WARN("BATON-SKIPPED: " << *why);                    \
      return;                                             \
    }                                                     \
  } while (false)

EmailRepliesConfig config_for(const test::Dovecot& d, bool implicit_tls = true) {
  EmailRepliesConfig c;
  c.enabled = true;
  c.url = implicit_tls ? d.imaps_url() : d.imap_url();
  c.username = d.username();
  c.password = d.password();
  c.ca_file = d.ca_file();
  c.timeout = 10s;
  c.poll = 1s;
  return c;
}

std::string mail(const std::string& subject, const std::string& body = "ack\r\n") {
  return "From: alice@example.com\r\nTo: baton@example.com\r\nSubject: " + subject +
         "\r\nMessage-ID: <" + subject + "@example.com>\r\n\r\n" + body;
}

template <typename Pred>
bool wait_until(Pred pred, std::chrono::seconds limit = 20s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return pred();
}

}  // namespace

TEST_CASE("imap: search, bounded fetch and marking over imaps:// and STARTTLS", "[imap][email-replies]") {
  // Scenario: two messages are delivered (APPEND), one of them 10 MB. Both are
  // listed; the big one is fetched no further than the bound; once marked,
  // neither is listed again. The same works over imap:// upgraded with STARTTLS.
  REQUIRE_DOVECOT();
  test::Dovecot dovecot;
  for (bool implicit_tls : {true, false}) {
    INFO((implicit_tls ? "imaps" : "imap + STARTTLS"));
    ImapClient client(config_for(dovecot, implicit_tls));
    const std::string tag = implicit_tls ? "s" : "t";
    REQUIRE(client.append(mail("small-" + tag)));
    REQUIRE(client.append(mail("big-" + tag, "resolve\r\n" + std::string(10 * 1024 * 1024, 'x') + "\r\n")));
    auto uids = client.unprocessed(100);
    REQUIRE(uids);
    REQUIRE(uids->size() == 2);
    auto small = client.fetch((*uids)[0], 64 * 1024, 64 * 1024);
    REQUIRE(small);
    CHECK(small->header.find("Subject: small-" + tag) != std::string::npos);
    CHECK(small->body == "ack\r\n");
    auto big = client.fetch((*uids)[1], 64 * 1024, 4096);
    REQUIRE(big);
    CHECK(big->body.size() == 4096);
    CHECK(big->body.rfind("resolve\r\n", 0) == 0);
    for (auto uid : *uids) REQUIRE(client.mark_processed(uid));
    auto after = client.unprocessed(100);
    REQUIRE(after);
    CHECK(after->empty());
  }
}

TEST_CASE("imap: a refused login and an unknown certificate fail without leaking the password", "[imap][email-replies]") {
  REQUIRE_DOVECOT();
  test::Dovecot dovecot;
  auto bad_password = config_for(dovecot);
  bad_password.password = "wrong-password-123";
  auto refused = ImapClient(bad_password).unprocessed(10);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().kind == ErrorKind::auth_revoked);
  CHECK(refused.error().message.find("wrong-password-123") == std::string::npos);

  auto system_store = config_for(dovecot);
  system_store.ca_file.clear();  // the self-signed certificate is not in the system store
  auto untrusted = ImapClient(system_store).unprocessed(10);
  REQUIRE_FALSE(untrusted);
  CHECK(untrusted.error().kind == ErrorKind::transient);

  system_store.verify_peer = false;  // development only
  CHECK(ImapClient(system_store).unprocessed(10));

  CHECK_THROWS_AS(ImapClient(EmailRepliesConfig{true, "https://x/INBOX"}), std::invalid_argument);
}

TEST_CASE("imap poller: each message is handed over once, also after a restart", "[imap][email-replies]") {
  // Scenario: three messages arrive; the handler settles two and leaves one
  // (as when the database cannot take the claim). The poller marks the two;
  // the third is offered again at the next poll and settled then. A new poller
  // (a restart) hands over nothing.
  REQUIRE_DOVECOT();
  test::Dovecot dovecot;
  const auto cfg = config_for(dovecot);
  {
    ImapClient client(cfg);
    for (auto s : {"one", "two", "three"}) REQUIRE(client.append(mail(s)));
  }
  std::mutex mutex;
  std::vector<std::string> seen;
  bool refuse_three = true;
  auto handler = [&](const ImapMessage& m) {
    std::lock_guard lock(mutex);
    const auto at = m.header.find("Subject: ");
    const auto subject = m.header.substr(at + 9, m.header.find("\r\n", at) - at - 9);
    seen.push_back(subject);
    if (subject == "three" && refuse_three) {
      refuse_three = false;
      return false;
    }
    return true;
  };
  {
    ImapPoller poller(cfg, handler);
    poller.start();
    REQUIRE(wait_until([&] { return poller.polls() >= 2; }));
    poller.poll_now();
    const auto polls = poller.polls();
    REQUIRE(wait_until([&] { return poller.polls() > polls; }));
    CHECK(poller.failures() == 0);
  }
  {
    std::lock_guard lock(mutex);
    CHECK(seen == std::vector<std::string>{"one", "two", "three", "three"});
  }
  ImapPoller again(cfg, handler);
  again.start();
  REQUIRE(wait_until([&] { return again.polls() >= 1; }));
  again.stop();
  std::lock_guard lock(mutex);
  CHECK(seen.size() == 4);

  // A gate that says no (not the engine's owner) reads nothing.
  ImapClient client(cfg);
  REQUIRE(client.append(mail("four")));
  ImapPoller gated(cfg, handler, [] { return false; });
  gated.start();
  REQUIRE(wait_until([&] { return gated.polls() >= 1; }));
  gated.stop();
  CHECK(seen.size() == 4);
}
