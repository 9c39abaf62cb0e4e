#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include "tests/support/sample_delivery.hpp"
#include "integrations/crypto.hpp"
#include "integrations/dispatcher.hpp"
#include "integrations/webhook/webhook_notifier.hpp"
#include "tests/support/fake_clock.hpp"
#include "tests/support/http_peer.hpp"

using namespace baton;
using namespace baton::integrations;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

Delivery page_delivery(engine::TimePoint created) { return test::sample_page(engine::MethodKind::webhook, created); }

WebhookConfig config_for(std::string url) {
  WebhookConfig c;
  c.url = std::move(url);
  c.public_url = "http://baton.test:8080/";
  c.headers = {{"Authorization", "Bearer xyz"}};
  c.timeout = 2000ms;
  return c;
}

std::string str(const json::value& v) { return std::string(v.as_string()); }

}  // namespace

// The golden fields of a page: event, ids, incident (ISO times, null for
// unset ones, URL without a doubled slash), person, 1-based step, and three
// links signed for the person that verify and expire in 24 h.
TEST_CASE("webhook_body for a page", "[webhook]") {
  test::FakeClock clock;
  auto d = page_delivery(clock.now() - 5min);
  ActionSigner signer("link-secret");
  auto body = json::parse(webhook_body(d, config_for("http://x"), &signer, clock.now())).as_object();

  CHECK(str(body.at("event")) == "incident.page");
  CHECK(body.at("notification_id").as_int64() == 17);
  CHECK(body.at("step").as_int64() == 2);
  const auto& inc = body.at("incident").as_object();
  CHECK(inc.at("number").as_int64() == 42);
  CHECK(str(inc.at("summary")) == "Disk \"full\" on db-1");
  CHECK(str(inc.at("severity")) == "critical");
  CHECK(str(inc.at("state")) == "triggered");
  CHECK(str(inc.at("service")) == "payments");
  CHECK(str(inc.at("service_name")) == "Payments");
  CHECK(str(inc.at("owner")) == "alice");
  CHECK(str(inc.at("source")) == "db-1");
  CHECK(str(inc.at("created_at")) == "2025-12-31T23:55:00.000Z");
  CHECK(inc.at("acknowledged_at").is_null());
  CHECK(inc.at("resolved_at").is_null());
  CHECK(str(inc.at("url")) == "http://baton.test:8080/api/v1/incidents/42");
  const auto& person = body.at("person").as_object();
  CHECK(str(person.at("id")) == "alice");
  CHECK(str(person.at("name")) == "Alice Example");
  CHECK(str(person.at("email")) == "alice@example.com");
  CHECK(str(person.at("phone")) == "+15551234567");

  const auto& links = body.at("links").as_object();
  REQUIRE(links.size() == 3);
  const std::string prefix = "http://baton.test:8080/actions/";
  for (Action action : {Action::acknowledge, Action::resolve, Action::escalate}) {
    INFO(to_string(action));
    auto link = str(links.at(to_string(action)));
    REQUIRE(link.rfind(prefix, 0) == 0);
    auto claim = signer.verify(link.substr(prefix.size()), clock.now());
    REQUIRE(claim);
    CHECK(claim->incident == 42);
    CHECK(claim->action == action);
    CHECK(claim->person == "alice");
    CHECK(claim->expires == clock.now() + 24h);
  }
}

// Updates, service-level notifications and a missing signer carry no links;
// no person gives "person": null; acknowledged_at is set once acknowledged.
TEST_CASE("webhook_body without links", "[webhook]") {
  test::FakeClock clock;
  ActionSigner signer("link-secret");
  auto update = page_delivery(clock.now());
  update.notification.kind = engine::NotificationKind::update;
  update.incident.state = engine::IncidentState::acknowledged;
  update.incident.acknowledged_at = clock.now() + 1s;
  auto b1 = json::parse(webhook_body(update, config_for("http://x"), &signer, clock.now())).as_object();
  CHECK(str(b1.at("event")) == "incident.update");
  CHECK(str(b1.at("incident").at("state")) == "acknowledged");
  CHECK(str(b1.at("incident").at("acknowledged_at")) == "2026-01-01T00:00:01.000Z");
  CHECK_FALSE(b1.contains("links"));

  auto no_signer = page_delivery(clock.now());
  auto b2 = json::parse(webhook_body(no_signer, config_for("http://x"), nullptr, clock.now())).as_object();
  CHECK_FALSE(b2.contains("links"));

  auto service_level = page_delivery(clock.now());
  service_level.person.reset();
  service_level.notification.kind = engine::NotificationKind::open_channel;
  auto b3 = json::parse(webhook_body(service_level, config_for("http://x"), &signer, clock.now())).as_object();
  CHECK(str(b3.at("event")) == "incident.open_channel");
  CHECK(b3.at("person").is_null());
  CHECK_FALSE(b3.contains("links"));
}

// The signature scheme: t=<unix seconds>,v1=hex(HMAC-SHA256(secret, "<t>.<body>")).
TEST_CASE("webhook_signature is verifiable", "[webhook]") {
  test::FakeClock clock;  // 2026-01-01T00:00Z = 1767225600
  auto sig = webhook_signature("whsec", R"({"a":1})", clock.now() + 999ms);
  CHECK(sig == "t=1767225600,v1=" + to_hex(hmac_sha256("whsec", R"(1767225600.{"a":1})")));
  CHECK(sig != webhook_signature("other", R"({"a":1})", clock.now()));
}

// End to end to a local peer: the POST carries the documented headers, the
// body is webhook_body at the clock's now, and the signature verifies over the
// bytes received.
TEST_CASE("WebhookNotifier posts to the peer", "[webhook]") {
  test::FakeClock clock;
  test::HttpPeer peer;
  auto config = config_for(peer.url() + "/hooks/baton");
  config.signing_secret = "whsec";
  auto signer = std::make_shared<const ActionSigner>("link-secret");
  WebhookNotifier notifier(config, signer, clock);
  CHECK(notifier.method() == engine::MethodKind::webhook);
  auto d = page_delivery(clock.now());
  REQUIRE(notifier.send(d));

  auto seen = peer.requests();
  REQUIRE(seen.size() == 1);
  const auto& r = seen[0];
  CHECK(r.method == "POST");
  CHECK(r.target == "/hooks/baton");
  CHECK(r.header("content-type") == std::optional<std::string>("application/json"));
  CHECK(r.header("idempotency-key") == std::optional<std::string>("notif-17"));
  CHECK(r.header("user-agent") == std::optional<std::string>("baton/0.1"));
  CHECK(r.header("authorization") == std::optional<std::string>("Bearer xyz"));
  CHECK(r.header("x-baton-signature") == std::optional(webhook_signature("whsec", r.body, clock.now())));
  auto body = json::parse(r.body).as_object();
  CHECK(str(body.at("event")) == "incident.page");
  CHECK(body.at("links").as_object().size() == 3);

  // Without a signing secret there is no signature header.
  WebhookNotifier unsigned_notifier(config_for(peer.url() + "/plain"), nullptr, clock);
  REQUIRE(unsigned_notifier.send(d));
  REQUIRE(peer.requests().size() == 2);
  CHECK_FALSE(peer.requests()[1].header("x-baton-signature"));
}

// The peer's answers map onto the taxonomy: 500 transient, 410 permanent,
// 429 rate_limited with Retry-After, 401 auth_revoked; nobody listening is transient.
TEST_CASE("WebhookNotifier maps peer failures", "[webhook]") {
  test::FakeClock clock;
  test::HttpPeer peer;
  WebhookNotifier notifier(config_for(peer.url() + "/h"), nullptr, clock);
  auto d = page_delivery(clock.now());

  peer.push_response({500, {}, "oops"});
  auto r500 = notifier.send(d);
  REQUIRE_FALSE(r500);
  CHECK(r500.error().kind == ErrorKind::transient);

  peer.push_response({410, {}, "gone"});
  auto r410 = notifier.send(d);
  REQUIRE_FALSE(r410);
  CHECK(r410.error().kind == ErrorKind::permanent);

  peer.push_response({429, {{"Retry-After", "3"}}, ""});
  auto r429 = notifier.send(d);
  REQUIRE_FALSE(r429);
  CHECK(r429.error().kind == ErrorKind::rate_limited);
  CHECK(r429.error().retry_after == 3s);

  peer.push_response({401});
  auto r401 = notifier.send(d);
  REQUIRE_FALSE(r401);
  CHECK(r401.error().kind == ErrorKind::auth_revoked);

  peer.stop();
  auto down = notifier.send(d);
  REQUIRE_FALSE(down);
  CHECK(down.error().kind == ErrorKind::transient);
}

// The whole outbound path: Dispatcher -> WebhookNotifier -> peer; a 503 is
// retried and the retry carries the same Idempotency-Key.
TEST_CASE("Dispatcher with WebhookNotifier retries a 503", "[webhook][dispatcher]") {
  test::FakeClock clock;
  test::HttpPeer peer;
  peer.push_response({503, {}, "busy"});
  auto notifier = std::make_shared<WebhookNotifier>(config_for(peer.url() + "/h"), nullptr, clock);
  std::mutex mutex;
  std::vector<DispatchOutcome> outcomes;
  Dispatcher::Options options;
  options.base_backoff = 0ms;
  Dispatcher dispatcher({notifier}, clock, options, [&](const DispatchOutcome& o) {
    std::lock_guard lock(mutex);
    outcomes.push_back(o);
  });
  dispatcher.submit(page_delivery(clock.now()));
  REQUIRE(peer.wait_for_requests(2, 5000ms));
  dispatcher.stop();
  std::lock_guard lock(mutex);
  REQUIRE(outcomes.size() == 2);
  CHECK(outcomes[0].kind == DispatchOutcome::Kind::retry);
  CHECK(outcomes[0].detail.find("HTTP 503") != std::string::npos);
  CHECK(outcomes[1].kind == DispatchOutcome::Kind::delivered);
  auto seen = peer.requests();
  CHECK(seen[0].header("idempotency-key") == seen[1].header("idempotency-key"));
}
