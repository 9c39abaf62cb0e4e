#include <catch2/catch.hpp>
#include <pthread.h>

#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "integrations/teams/jwt.hpp"
#include "tests/support/fake_clock.hpp"
#include "tests/support/fake_teams.hpp"

using namespace baton;
using namespace baton::teams;
using namespace std::chrono_literals;

namespace {

// One fake Microsoft, a fake clock and a validator pointed at both.
struct Fixture {
  test::FakeClock clock;
  test::FakeTeams fake{clock};
  test::AsyncNet net;
  JwtValidator validator{fake.config(), clock, http_get_via(net.client())};

  std::int64_t now_s() const { return engine::to_ms(clock.now()) / 1000; }
  Result<void> check(const std::string& token, std::string_view channel = "msteams") {
    return validator.validate("Bearer " + token, fake.service_url(), channel);
  }
};

// The reason a rejection gives, "" when the token passed.
std::string reason(const Result<void>& r) {
  if (r) return "";
  CHECK(r.error().kind == ErrorKind::unauthorized);
  return r.error().message;
}

// Waits (bounded, 5 s) for `pred`: the key fetch runs on the validator's thread.
template <typename Pred>
bool eventually(Pred pred) {
  for (int i = 0; i < 500; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

// Verdicts of validate_async, with the name of the thread each came on.
struct Verdicts {
  struct Entry {
    std::string reason;  // "" when the token passed
    std::string thread;
  };
  std::mutex mutex;
  std::vector<Entry> entries;

  JwtValidator::Done collect() {
    return [this](Result<void> r) {
      char name[16] = {};
      pthread_getname_np(pthread_self(), name, sizeof name);
      std::lock_guard lock(mutex);
      entries.push_back({r ? std::string() : r.error().message, name});
    };
  }
  std::vector<Entry> all() {
    std::lock_guard lock(mutex);
    return entries;
  }
  std::size_t size() { return all().size(); }
};

// A validator whose metadata and keys come from the fake's second listener, which hold_keys() stalls.
struct HeldFixture {
  test::FakeClock clock;
  test::FakeTeams fake{clock};
  test::AsyncNet net;
  std::unique_ptr<JwtValidator> validator;

  explicit HeldFixture(JwtValidatorOptions options = {}) {
    auto config = fake.config();
    config.openid_metadata_url = fake.held_metadata_url();
    validator = std::make_unique<JwtValidator>(config, clock, http_get_via(net.client()), options);
  }
  ~HeldFixture() {
    fake.release_keys();  // the held answers go out before the validator goes
    validator.reset();
  }
  void check_async(const std::string& token, JwtValidator::Done done) {
    validator->validate_async("Bearer " + token, fake.service_url(), "msteams", std::move(done));
  }
};

}  // namespace

// A token minted as the Bot Framework channel mints it passes, through both
// entry points; the OpenID metadata and the JWKS are fetched once and cached.
TEST_CASE("teams jwt: a valid channel token passes; metadata and keys are cached", "[teams][jwt]") {
  Fixture f;
  CHECK(reason(f.check(f.fake.mint_token())) == "");
  CHECK(reason(f.validator.validate("Bearer " + f.fake.mint_token(), ActivityClaims{f.fake.service_url(), "msteams"})) == "");
  CHECK(reason(f.validator.validate("bearer " + f.fake.mint_token(), f.fake.service_url(), "msteams")) == "");
  CHECK(f.fake.metadata_requests() == 1);
  CHECK(f.fake.jwks_requests() == 1);
}

// aud must be the bot's app id; iss must be the Bot Framework issuer, and a
// wrong issuer is refused before any key is fetched.
TEST_CASE("teams jwt: wrong audience and wrong issuer", "[teams][jwt]") {
  Fixture f;
  test::JwtOverrides wrong_iss;
  wrong_iss.iss = "https://sts.windows.net/attacker/";
  CHECK_THAT(reason(f.check(f.fake.mint_token(wrong_iss))), Catch::Contains("wrong issuer"));
  CHECK(f.fake.jwks_requests() == 0);

  test::JwtOverrides wrong_aud;
  wrong_aud.aud = "11111111-0000-0000-0000-000000000000";
  CHECK_THAT(reason(f.check(f.fake.mint_token(wrong_aud))), Catch::Contains("wrong audience"));
  wrong_aud.aud = "";
  CHECK_THAT(reason(f.check(f.fake.mint_token(wrong_aud))), Catch::Contains("wrong audience"));
  // An audience array naming the bot is a valid JWT form.
  test::JwtOverrides array_aud;
  array_aud.payload = R"({"iss":"https://api.botframework.com","aud":["other",")" + std::string(test::FakeTeams::kAppId) +
                      R"("],"exp":)" + std::to_string(f.now_s() + 600) + "}";
  CHECK(reason(f.check(f.fake.mint_token(array_aud))) == "");
}

// exp holds with 5 minutes of skew: at exp + 5 min - 1 ms the token passes, at
// exp + 5 min it is expired.
TEST_CASE("teams jwt: expiry with five minutes of skew", "[teams][jwt]") {
  Fixture f;
  test::JwtOverrides o;
  o.nbf = f.now_s() - 60;
  o.exp = f.now_s() + 60;
  const auto token = f.fake.mint_token(o);
  f.clock.advance(60s + 5min - 1ms);
  CHECK(reason(f.check(token)) == "");
  f.clock.advance(1ms);
  CHECK_THAT(reason(f.check(token)), Catch::Contains("token expired"));
}

// nbf holds with 5 minutes of skew: a token valid from now + 5 min passes, one
// valid from now + 5 min + 1 s does not until the clock moves by a second.
TEST_CASE("teams jwt: not-yet-valid with five minutes of skew", "[teams][jwt]") {
  Fixture f;
  test::JwtOverrides edge;
  edge.nbf = f.now_s() + 300;
  edge.exp = f.now_s() + 3600;
  CHECK(reason(f.check(f.fake.mint_token(edge))) == "");
  test::JwtOverrides early;
  early.nbf = f.now_s() + 301;
  early.exp = f.now_s() + 3600;
  const auto token = f.fake.mint_token(early);
  CHECK_THAT(reason(f.check(token)), Catch::Contains("not yet valid"));
  f.clock.advance(999ms);
  CHECK_THAT(reason(f.check(token)), Catch::Contains("not yet valid"));
  f.clock.advance(1ms);
  CHECK(reason(f.check(token)) == "");
}

// A flipped signature bit, and a payload swapped under a valid signature, fail.
TEST_CASE("teams jwt: bad signature", "[teams][jwt]") {
  Fixture f;
  test::JwtOverrides o;
  o.bad_signature = true;
  CHECK_THAT(reason(f.check(f.fake.mint_token(o))), Catch::Contains("bad signature"));

  const auto good = f.fake.mint_token();
  test::JwtOverrides other;
  other.aud = "someone-else";
  const auto forged = f.fake.mint_token(other);
  // header.payload(forged).signature(good)
  const auto spliced = forged.substr(0, forged.rfind('.')) + good.substr(good.rfind('.'));
  CHECK_THAT(reason(f.check(spliced)), Catch::Contains("bad signature"));
}

// A kid the JWKS does not serve triggers one refresh, then 401; within the next
// 5 minutes no further refresh happens; a key rotated in is accepted once a
// refresh may happen again.
TEST_CASE("teams jwt: unknown kid refreshes at most once per 5 minutes", "[teams][jwt]") {
  Fixture f;
  REQUIRE(reason(f.check(f.fake.mint_token())) == "");
  REQUIRE(f.fake.jwks_requests() == 1);

  test::JwtOverrides foreign;
  foreign.foreign_key = true;
  const auto unknown = f.fake.mint_token(foreign);
  CHECK_THAT(reason(f.check(unknown)), Catch::Contains("unknown signing key"));
  CHECK(f.fake.jwks_requests() == 2);
  CHECK_THAT(reason(f.check(unknown)), Catch::Contains("unknown signing key"));
  CHECK(f.fake.jwks_requests() == 2);

  f.fake.rotate_key();
  const auto rotated = f.fake.mint_token();
  CHECK_THAT(reason(f.check(rotated)), Catch::Contains("unknown signing key"));  // throttled
  CHECK(f.fake.jwks_requests() == 2);
  f.clock.advance(5min);
  CHECK(reason(f.check(rotated)) == "");
  CHECK(f.fake.jwks_requests() == 3);
  CHECK(reason(f.check(f.fake.mint_token())) == "");
  CHECK(f.fake.jwks_requests() == 3);
  CHECK(f.fake.metadata_requests() == 1);
}

// A rotation seen right after start-up is picked up by the first refresh.
TEST_CASE("teams jwt: a rotated key is accepted after one refresh", "[teams][jwt]") {
  Fixture f;
  REQUIRE(reason(f.check(f.fake.mint_token())) == "");
  f.fake.rotate_key();
  CHECK(reason(f.check(f.fake.mint_token())) == "");
  CHECK(f.fake.jwks_requests() == 2);
}

// alg none, HMAC (the key-confusion forgery) and RSA variants other than RS256 are refused.
TEST_CASE("teams jwt: only RS256", "[teams][jwt]") {
  Fixture f;
  test::JwtOverrides none;
  none.alg = "none";
  CHECK_THAT(reason(f.check(f.fake.mint_token(none))), Catch::Contains("alg none refused"));
  none.alg = "NONE";
  CHECK_THAT(reason(f.check(f.fake.mint_token(none))), Catch::Contains("alg none refused"));
  test::JwtOverrides hs;
  hs.alg = "HS256";
  CHECK_THAT(reason(f.check(f.fake.mint_token(hs))), Catch::Contains("alg HS256 refused"));
  test::JwtOverrides rs384;
  rs384.alg = "RS384";
  CHECK_THAT(reason(f.check(f.fake.mint_token(rs384))), Catch::Contains("alg RS384 refused"));
  CHECK(f.fake.jwks_requests() == 0);
}

// The serviceurl claim must name the activity's serviceUrl (case and a trailing
// slash aside); a token without the claim passes.
TEST_CASE("teams jwt: serviceUrl must match the token", "[teams][jwt]") {
  Fixture f;
  test::JwtOverrides evil;
  evil.service_url = "https://evil.example.com/teams/";
  CHECK_THAT(reason(f.check(f.fake.mint_token(evil))), Catch::Contains("serviceUrl"));
  const auto token = f.fake.mint_token();
  CHECK_THAT(reason(f.validator.validate("Bearer " + token, "https://smba.trafficmanager.net/teams/", "msteams")),
             Catch::Contains("serviceUrl"));
  auto without_slash = f.fake.service_url();
  without_slash.pop_back();
  CHECK(reason(f.validator.validate("Bearer " + token, without_slash, "msteams")) == "");
  test::JwtOverrides omitted;
  omitted.omit_service_url = true;
  CHECK(reason(f.check(f.fake.mint_token(omitted))) == "");
}

// A key whose endorsements lack the activity's channel refuses the token; an
// activity without a channel id passes (A1).
TEST_CASE("teams jwt: the signing key must endorse the channel", "[teams][jwt]") {
  Fixture f;
  f.fake.set_endorsements({"webchat", "directline"});
  const auto token = f.fake.mint_token();
  CHECK_THAT(reason(f.check(token, "msteams")), Catch::Contains("not endorsed"));
  CHECK(reason(f.check(token, "webchat")) == "");
  CHECK(reason(f.check(token, "")) == "");
}

// Missing or non-Bearer headers and every malformed token are refused without a
// key fetch where the token cannot be parsed.
TEST_CASE("teams jwt: missing, non-Bearer and malformed tokens", "[teams][jwt]") {
  Fixture f;
  const auto svc = f.fake.service_url();
  CHECK_THAT(reason(f.validator.validate("", svc, "msteams")), Catch::Contains("missing"));
  CHECK_THAT(reason(f.validator.validate("Basic dXNlcjpwYXNz", svc, "msteams")), Catch::Contains("not a bearer"));
  CHECK_THAT(reason(f.validator.validate("Bearer", svc, "msteams")), Catch::Contains("not a bearer"));
  for (const char* bad : {"Bearer ", "Bearer abc", "Bearer a.b", "Bearer a.b.c.d", "Bearer !!.e30.sig",
                          "Bearer e30=.e30.AA", "Bearer bm90IGpzb24.e30.AA", "Bearer e30.bm90IGpzb24.AA"}) {
    INFO(bad);
    CHECK_THAT(reason(f.validator.validate(bad, svc, "msteams")), Catch::Contains("malformed"));
  }
  CHECK(f.fake.jwks_requests() == 0);

  test::JwtOverrides no_kid;
  no_kid.kid = "";
  CHECK_THAT(reason(f.check(f.fake.mint_token(no_kid))), Catch::Contains("kid"));
  test::JwtOverrides no_exp;
  no_exp.payload = R"({"iss":"https://api.botframework.com","aud":")" + std::string(test::FakeTeams::kAppId) + R"("})";
  CHECK_THAT(reason(f.check(f.fake.mint_token(no_exp))), Catch::Contains("without exp"));
  test::JwtOverrides text_exp;
  text_exp.payload = R"({"iss":"https://api.botframework.com","aud":")" + std::string(test::FakeTeams::kAppId) +
                     R"(","exp":"tomorrow"})";
  CHECK_THAT(reason(f.check(f.fake.mint_token(text_exp))), Catch::Contains("without exp"));
  // exp and nbf far out of range (1e300 s) are malformed, not an overflow (UBSan) on conversion to ms.
  for (const char* huge : {"1e300", "-1e300", "9223372036854775807", "18446744073709551615"}) {
    test::JwtOverrides huge_exp;
    huge_exp.payload = R"({"iss":"https://api.botframework.com","aud":")" + std::string(test::FakeTeams::kAppId) +
                       R"(","exp":)" + huge + "}";
    INFO(huge);
    CHECK_THAT(reason(f.check(f.fake.mint_token(huge_exp))), Catch::Contains("without exp"));
    test::JwtOverrides huge_nbf;
    huge_nbf.payload = R"({"iss":"https://api.botframework.com","aud":")" + std::string(test::FakeTeams::kAppId) +
                       R"(","exp":)" + std::to_string(f.now_s() + 600) + R"(,"nbf":)" + huge + "}";
    CHECK_THAT(reason(f.check(f.fake.mint_token(huge_nbf))), Catch::Contains("nbf"));
  }
  const auto unsigned_token = f.fake.mint_token();
  CHECK_THAT(reason(f.check(unsigned_token.substr(0, unsigned_token.rfind('.') + 1))), Catch::Contains("bad signature"));
}

// When the metadata cannot be fetched every token is refused (401); a second
// token within the back-off is refused at once, without a fetch.
TEST_CASE("teams jwt: signing keys unavailable", "[teams][jwt]") {
  test::FakeClock clock;
  test::FakeTeams fake{clock};
  auto config = fake.config();
  config.openid_metadata_url = fake.url() + "/no-such-metadata";
  test::AsyncNet net;
  JwtValidator validator{config, clock, http_get_via(net.client())};
  const auto r = validator.validate("Bearer " + fake.mint_token(), fake.service_url(), "msteams");
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == ErrorKind::unauthorized);
  CHECK_THAT(r.error().message, Catch::Contains("signing keys unavailable"));
  CHECK_FALSE(validator.validate("Bearer " + fake.mint_token(), fake.service_url(), "msteams"));
}

// Concurrent validations share one metadata and one JWKS fetch.
TEST_CASE("teams jwt: thread-safe key cache", "[teams][jwt]") {
  Fixture f;
  const auto token = f.fake.mint_token();
  std::vector<std::thread> threads;
  std::vector<int> ok(8, 0);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] { ok[static_cast<std::size_t>(i)] = f.check(token) ? 1 : 0; });
  }
  for (auto& t : threads) t.join();
  CHECK(std::count(ok.begin(), ok.end(), 1) == 8);
  CHECK(f.fake.metadata_requests() == 1);
  CHECK(f.fake.jwks_requests() == 1);
}

// After a failed fetch no fetch starts for 5 s (tokens needing keys are refused
// at once); a second failure doubles the pause to 10 s; the first fetch after
// it succeeds and tokens pass again.
TEST_CASE("teams jwt: failed key fetches back off", "[teams][jwt]") {
  Fixture f;
  const auto token = f.fake.mint_token();
  f.fake.fail_next("/v1/.well-known/openidconfiguration", 503);
  CHECK_THAT(reason(f.check(token)), Catch::Contains("signing keys unavailable: HTTP 503"));
  CHECK(f.fake.metadata_requests() == 1);
  CHECK_THAT(reason(f.check(token)), Catch::Contains("signing keys unavailable"));
  CHECK(f.fake.metadata_requests() == 1);
  f.clock.advance(5s - 1ms);
  CHECK_THAT(reason(f.check(token)), Catch::Contains("next try in 1 s"));
  CHECK(f.fake.metadata_requests() == 1);

  f.clock.advance(1ms);
  f.fake.fail_next("/keys", 502);
  CHECK_THAT(reason(f.check(token)), Catch::Contains("signing keys unavailable: HTTP 502"));
  CHECK(f.fake.metadata_requests() == 2);
  CHECK(f.fake.jwks_requests() == 1);
  f.clock.advance(10s - 1ms);
  CHECK_THAT(reason(f.check(token)), Catch::Contains("signing keys unavailable"));
  CHECK(f.fake.jwks_requests() == 1);

  f.clock.advance(1ms);
  CHECK(reason(f.check(token)) == "");
  CHECK(f.fake.metadata_requests() == 2);  // the metadata is kept once read
  CHECK(f.fake.jwks_requests() == 2);
  CHECK(reason(f.check(f.fake.mint_token())) == "");
  CHECK(f.fake.jwks_requests() == 2);
}

// While Microsoft's endpoints hang, twenty forged tokens and one genuine token
// each return from validate_async at once with no verdict, and share ONE
// metadata fetch. When the endpoint answers, the verdicts come on the HTTP
// client's loop thread (no thread of the validator's own): the forged signatures are refused, the
// genuine token passes, and nothing was fetched twice.
TEST_CASE("teams jwt: requests needing keys share one fetch and never wait on the caller's thread", "[teams][jwt]") {
  HeldFixture f;
  f.fake.hold_keys();
  test::JwtOverrides forged;
  forged.bad_signature = true;
  Verdicts verdicts;
  for (int i = 0; i < 20; ++i) f.check_async(f.fake.mint_token(forged), verdicts.collect());
  f.check_async(f.fake.mint_token(), verdicts.collect());
  REQUIRE(eventually([&] { return f.fake.metadata_requests() == 1; }));
  CHECK(verdicts.size() == 0);

  f.fake.release_keys();
  REQUIRE(eventually([&] { return verdicts.size() == 21; }));
  const auto all = verdicts.all();
  for (std::size_t i = 0; i < 20; ++i) {
    CHECK_THAT(all[i].reason, Catch::Contains("bad signature"));
    CHECK(all[i].thread == "test-net");
  }
  CHECK(all[20].reason == "");
  CHECK(f.fake.metadata_requests() == 1);
  CHECK(f.fake.jwks_requests() == 1);

  // With the keys cached the verdict is given at once, on the caller's thread.
  Verdicts cached;
  f.check_async(f.fake.mint_token(forged), cached.collect());
  REQUIRE(cached.size() == 1);
  CHECK_THAT(cached.all()[0].reason, Catch::Contains("bad signature"));
}

// Cheap checks come first: a malformed token, alg none or a foreign issuer is
// refused at once even while the key endpoints hang, and starts no fetch.
TEST_CASE("teams jwt: tokens refused without keys need no fetch", "[teams][jwt]") {
  HeldFixture f;
  f.fake.hold_keys();
  Verdicts verdicts;
  test::JwtOverrides none;
  none.alg = "none";
  test::JwtOverrides foreign_iss;
  foreign_iss.iss = "https://sts.windows.net/attacker/";
  f.check_async("a.b", verdicts.collect());
  f.check_async(f.fake.mint_token(none), verdicts.collect());
  f.check_async(f.fake.mint_token(foreign_iss), verdicts.collect());
  const auto all = verdicts.all();
  REQUIRE(all.size() == 3);
  CHECK_THAT(all[0].reason, Catch::Contains("malformed"));
  CHECK_THAT(all[1].reason, Catch::Contains("alg none refused"));
  CHECK_THAT(all[2].reason, Catch::Contains("wrong issuer"));
  CHECK(f.fake.metadata_requests() == 0);
}

// At most max_waiters requests wait for a fetch; the next one is refused at
// once; the waiting ones get their verdicts when the fetch ends.
TEST_CASE("teams jwt: the requests waiting for keys are bounded", "[teams][jwt]") {
  JwtValidatorOptions options;
  options.max_waiters = 3;
  HeldFixture f(options);
  f.fake.hold_keys();
  Verdicts waiting;
  for (int i = 0; i < 3; ++i) f.check_async(f.fake.mint_token(), waiting.collect());
  Verdicts overflow;
  f.check_async(f.fake.mint_token(), overflow.collect());
  REQUIRE(overflow.size() == 1);
  CHECK_THAT(overflow.all()[0].reason, Catch::Contains("too many requests waiting"));
  CHECK(waiting.size() == 0);
  f.fake.release_keys();
  REQUIRE(eventually([&] { return waiting.size() == 3; }));
  for (const auto& v : waiting.all()) CHECK(v.reason == "");
}

// Destroying the validator refuses the requests waiting for keys at once, even
// while the fetch itself still hangs; then the fetch thread is joined.
TEST_CASE("teams jwt: shutdown refuses the waiting requests", "[teams][jwt]") {
  HeldFixture f;
  f.fake.hold_keys();
  Verdicts verdicts;
  f.check_async(f.fake.mint_token(), verdicts.collect());
  REQUIRE(eventually([&] { return f.fake.metadata_requests() == 1; }));
  std::thread destroy([&] { f.validator.reset(); });
  const bool refused = eventually([&] { return verdicts.size() == 1; });
  f.fake.release_keys();
  destroy.join();
  REQUIRE(refused);
  CHECK_THAT(verdicts.all()[0].reason, Catch::Contains("shutting down"));
}

// Keys older than 24 h keep serving while one refresh runs behind the request:
// a token passes at once although the refresh hangs.
TEST_CASE("teams jwt: stale keys serve while they are refreshed", "[teams][jwt]") {
  HeldFixture f;
  REQUIRE(reason(f.validator->validate("Bearer " + f.fake.mint_token(), f.fake.service_url(), "msteams")) == "");
  REQUIRE(f.fake.jwks_requests() == 1);
  f.fake.hold_keys();
  f.clock.advance(24h);
  Verdicts verdicts;
  f.check_async(f.fake.mint_token(), verdicts.collect());
  f.check_async(f.fake.mint_token(), verdicts.collect());
  REQUIRE(verdicts.size() == 2);
  CHECK(verdicts.all()[0].reason == "");
  CHECK(verdicts.all()[1].reason == "");
  CHECK(eventually([&] { return f.fake.jwks_requests() == 2; }));
  f.fake.release_keys();
  CHECK(f.fake.metadata_requests() == 1);
}
