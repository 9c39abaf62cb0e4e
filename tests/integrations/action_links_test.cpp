#include <catch2/catch.hpp>

#include <set>

#include "integrations/action_links.hpp"
#include "integrations/crypto.hpp"
#include "tests/support/fake_clock.hpp"

using namespace baton;
using namespace baton::integrations;
using namespace std::chrono_literals;

namespace {
ActionClaim claim_at(engine::TimePoint now) {
  return ActionClaim{42, Action::resolve, "alice", now + 24h, ""};
}
}  // namespace

// RFC 4231 test case 2 and the SHA-256 of "abc" (FIPS 180-2): the primitives are the standard ones.
TEST_CASE("crypto golden vectors", "[crypto]") {
  CHECK(to_hex(hmac_sha256("Jefe", "what do ya want for nothing?")) ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  CHECK(to_hex(sha256("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(constant_time_equal("abc", "abc"));
  CHECK_FALSE(constant_time_equal("abc", "abd"));
  CHECK_FALSE(constant_time_equal("abc", "abcd"));
  CHECK(constant_time_equal("", ""));
  CHECK(random_bytes(16).size() == 16);
  CHECK(random_bytes(16) != random_bytes(16));
}

// base64url (RFC 4648 vectors, URL alphabet, no padding) round trips every
// tail length and rejects padding, the standard alphabet and impossible lengths.
TEST_CASE("base64url encode and strict decode", "[crypto]") {
  CHECK(base64url_encode("") == "");
  CHECK(base64url_encode("f") == "Zg");
  CHECK(base64url_encode("fo") == "Zm8");
  CHECK(base64url_encode("foo") == "Zm9v");
  CHECK(base64url_encode("foob") == "Zm9vYg");
  CHECK(base64url_encode("\xfb\xff") == "-_8");
  for (std::string s : {"", "a", "ab", "abc", "abcd", "abcde", "\xff\x00\xfe"}) {
    CHECK(base64url_decode(base64url_encode(s)) == std::optional(s));
  }
  CHECK_FALSE(base64url_decode("Zg=="));
  CHECK_FALSE(base64url_decode("+/8"));
  CHECK_FALSE(base64url_decode("Z"));
  CHECK_FALSE(base64url_decode("Zh"));  // non-zero leftover bits: not a canonical encoding
  CHECK_FALSE(base64url_decode("Zm 9v"));
}

TEST_CASE("action names round trip", "[links]") {
  for (Action a : {Action::acknowledge, Action::resolve, Action::escalate}) {
    CHECK(parse_action(to_string(a)) == a);
  }
  CHECK_FALSE(parse_action("ack"));
  CHECK_FALSE(parse_action(""));
}

// A signed claim verifies to the same claim; an empty nonce becomes a random
// one so two links for the same claim differ; the token is URL-safe.
TEST_CASE("ActionSigner round trip", "[links]") {
  test::FakeClock clock;
  ActionSigner signer("s3cret");
  auto token = signer.sign(claim_at(clock.now()));
  CHECK(token.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") ==
        std::string::npos);
  auto claim = signer.verify(token, clock.now());
  REQUIRE(claim);
  CHECK(claim->incident == 42);
  CHECK(claim->action == Action::resolve);
  CHECK(claim->person == "alice");
  CHECK(claim->expires == clock.now() + 24h);
  CHECK_FALSE(claim->nonce.empty());
  CHECK(signer.sign(claim_at(clock.now())) != token);

  ActionClaim fixed{7, Action::escalate, "bob \"quoted\" | x", clock.now() + 1h, "n1"};
  auto again = signer.verify(signer.sign(fixed), clock.now());
  REQUIRE(again);
  CHECK(again->person == fixed.person);
  CHECK(again->nonce == "n1");
  CHECK(signer.sign(fixed) == signer.sign(fixed));  // deterministic with a nonce
}

// Changing the payload (a valid payload for another incident, glued to the old
// MAC) or the MAC itself is unauthorized.
TEST_CASE("ActionSigner rejects tampering", "[links]") {
  test::FakeClock clock;
  ActionSigner signer("s3cret");
  auto token = signer.sign(claim_at(clock.now()));
  auto dot = token.find('.');
  auto other = signer.sign(ActionClaim{43, Action::resolve, "alice", clock.now() + 24h, "n"});
  auto forged = other.substr(0, other.find('.')) + token.substr(dot);
  auto r1 = signer.verify(forged, clock.now());
  REQUIRE_FALSE(r1);
  CHECK(r1.error().kind == ErrorKind::unauthorized);

  auto bad_mac = token;
  bad_mac[dot + 1] = bad_mac[dot + 1] == 'A' ? 'B' : 'A';
  auto r2 = signer.verify(bad_mac, clock.now());
  REQUIRE_FALSE(r2);
  CHECK(r2.error().kind == ErrorKind::unauthorized);

  auto short_mac = token.substr(0, dot + 1 + 32);  // 24 bytes: decodes, but is no MAC
  auto r3 = signer.verify(short_mac, clock.now());
  REQUIRE_FALSE(r3);
  CHECK(r3.error().kind == ErrorKind::unauthorized);
}

// A token signed with another secret is unauthorized.
TEST_CASE("ActionSigner rejects another secret", "[links]") {
  test::FakeClock clock;
  auto token = ActionSigner("one").sign(claim_at(clock.now()));
  auto r = ActionSigner("two").verify(token, clock.now());
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == ErrorKind::unauthorized);
}

// Garbled tokens: no dot, two dots, empty parts, characters outside base64url.
TEST_CASE("ActionSigner rejects garbled tokens", "[links]") {
  test::FakeClock clock;
  ActionSigner signer("s3cret");
  for (std::string bad : {"", ".", "abc", "a.b.c", ".abc", "!!!.abc", "abc.!!!", "Zg==.Zg", "a b.c"}) {
    INFO(bad);
    auto r = signer.verify(bad, clock.now());
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::invalid_request);
  }
}

// A correctly signed payload that is not a claim (not JSON, missing fields,
// unknown action) is invalid_request, not accepted.
TEST_CASE("ActionSigner rejects signed garbage payloads", "[links]") {
  test::FakeClock clock;
  const std::string secret = "s3cret";
  ActionSigner signer(secret);
  auto make = [&](std::string payload) {
    auto head = base64url_encode(payload);
    return head + "." + base64url_encode(hmac_sha256(secret, head));
  };
  for (std::string payload : {std::string("not json"), std::string("[1,2]"), std::string(R"({"i":1})"),
                              std::string(R"({"i":1,"a":"delete","p":"x","e":99999999999999,"n":"n"})"),
                              std::string(R"({"i":"1","a":"resolve","p":"x","e":99999999999999,"n":"n"})")}) {
    INFO(payload);
    auto r = signer.verify(make(payload), clock.now());
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::invalid_request);
  }
  auto good = signer.verify(make(R"({"i":1,"a":"resolve","p":"x","e":99999999999999,"n":"n"})"), clock.now());
  CHECK(good);
}

// Expiry by the injected clock: valid up to the last millisecond, then "link expired".
TEST_CASE("ActionSigner expires links", "[links]") {
  test::FakeClock clock;
  ActionSigner signer("s3cret");
  auto token = signer.sign(claim_at(clock.now()));
  clock.advance(24h - 1ms);
  CHECK(signer.verify(token, clock.now()));
  clock.advance(1ms);
  auto r = signer.verify(token, clock.now());
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == ErrorKind::permanent);
  CHECK(r.error().message == "link expired");
}

// token_id: 64 hex chars, stable for a token, different between tokens.
TEST_CASE("ActionSigner token_id", "[links]") {
  test::FakeClock clock;
  ActionSigner signer("s3cret");
  auto a = signer.sign(claim_at(clock.now()));
  auto b = signer.sign(claim_at(clock.now()));
  CHECK(ActionSigner::token_id(a).size() == 64);
  CHECK(ActionSigner::token_id(a) == ActionSigner::token_id(a));
  CHECK(ActionSigner::token_id(a) != ActionSigner::token_id(b));
  CHECK_THROWS_AS(ActionSigner(""), std::invalid_argument);
}
