// High availability: several App instances in one process on one throwaway
// PostgreSQL (tests/support/pg_cluster.hpp), one fake clock for the engines;
// the lease uses the database's clock. Waits are bounded polls of a condition
// (no assertion on how long anything took).
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <future>
#include <thread>

#include "bot/app.hpp"
#include "tests/support/fake_slack.hpp"
#include "tests/support/fake_socket_mode.hpp"
#include "tests/support/cluster_harness.hpp"
#include "tests/support/pg_cluster.hpp"
#include "tests/support/service_harness.hpp"

using namespace baton;
using test::owner;
using test::scalar;
using test::within_a_minute;
namespace json = boost::json;

namespace {

std::string cluster_yaml(const std::string& db) {
  return R"(
server:
  listen: "127.0.0.1:0"
  public_url: "http://baton.test"
  action_secret: "test-action-secret"
  api_tokens: [{name: ops, token: ")" +
         std::string(test::kApiToken) + R"("}]
storage: {path: ")" + db + R"("}
webhook: {url: "http://127.0.0.1:9/hook"}
dispatch: {max_attempts: 2, base_backoff: 1s}
people:
  alice: {name: Alice, email: alice@example.com}
  bob: {name: Bob, email: bob@example.com}
schedules:
  day:
    name: Day
    layers:
      - name: daily
        rotation: {unit: days, length: 1, start: "2025-01-01T00:00"}
        participants: [alice]
escalation_policies:
  main:
    steps:
      - {targets: [{person: alice}], timeout: 5m}
      - {targets: [{person: bob}], timeout: 90s}
services:
  payments: {name: Payments, escalation_policy: main, integration_keys: [key-pay]}
)";
}

std::string trigger(const std::string& dedup_key) {
  return R"({"routing_key":"key-pay","event_action":"trigger","dedup_key":")" + dedup_key +
         R"(","payload":{"summary":"db down","source":"db-1","severity":"critical"}})";
}

}  // namespace

TEST_CASE("cluster: three instances, the owner dies mid-escalation and its successor pages the next step",
          "[cluster][postgres]") {
  BATON_REQUIRE_POSTGRES();
  const auto db = test::PgCluster::shared().create_database();
  test::FakeClock clock;
  auto a = std::make_unique<test::ServiceHarness>(clock, cluster_yaml(db));
  REQUIRE(within_a_minute([&] { return owner(*a); }));
  test::ServiceHarness b(clock, cluster_yaml(db));
  test::ServiceHarness c(clock, cluster_yaml(db));
  REQUIRE(within_a_minute([&] { return b.call("GET", "/readyz").status == 200 && c.call("GET", "/readyz").status == 200; }));
  CHECK_FALSE(owner(b));
  CHECK_FALSE(owner(c));
  const auto a_id = a->app->incidents().cluster_status().instance_id;

  // Every instance answers the cluster view.
  auto view = b.get_json("/api/v1/cluster").as_object();
  CHECK(view["self"].as_object()["owner"] == false);
  CHECK(view["owner"] == json::value(a_id));
  CHECK(view["epoch"] == 1);
  CHECK(view["instances"].as_array().size() == 3);

  // An alert to a non-owner is committed to the inbox (2xx), then applied by the owner.
  auto r = b.call("POST", "/v2/enqueue", trigger("db-1/down"), "application/json", false);
  REQUIRE(r.status == 202);
  REQUIRE(within_a_minute([&] {
    return scalar(db, "SELECT COUNT(*) FROM incidents") == "1" && scalar(db, "SELECT COUNT(*) FROM inbox") == "0";
  }));
  CHECK(scalar(db, "SELECT COUNT(*) FROM outbox WHERE person = 'alice' AND kind = 'page'") == "1");
  CHECK(scalar(db, "SELECT COUNT(*) FROM outbox WHERE person = 'bob'") == "0");
  // A command to a non-owner is queued (202), then applied by the owner.
  auto ack = c.call("POST", "/api/v1/incidents/1/ack");
  CHECK(ack.status == 202);
  CHECK(ack.body.find("queued") != std::string::npos);
  REQUIRE(within_a_minute([&] { return scalar(db, "SELECT state FROM incidents WHERE number = 1") == "acknowledged"; }));
  CHECK(scalar(db, "SELECT COUNT(*) FROM inbox") == "0");

  // The owner dies: it stops renewing the lease (as a killed process would).
  a->app->incidents().abandon_lease_for_test();
  a.reset();
  REQUIRE(within_a_minute([&] { return owner(b) || owner(c); }));
  auto& successor = owner(b) ? b : c;
  auto& other = owner(b) ? c : b;
  CHECK_FALSE(owner(other));
  const auto st = successor.app->incidents().cluster_status();
  CHECK(st.epoch == 2);
  CHECK(st.takeovers == 1);
  // The successor runs the restored incident: a command to it is applied at once.
  auto resolved = successor.call("POST", "/api/v1/incidents/1/resolve");
  CHECK(resolved.status == 200);
  CHECK(scalar(db, "SELECT state FROM incidents WHERE number = 1") == "resolved");

  auto metrics = successor.call("GET", "/metrics", "", "", false).body;
  CHECK(metrics.find("baton_cluster_owner 1") != std::string::npos);
  CHECK(metrics.find("baton_cluster_epoch 2") != std::string::npos);
  CHECK(metrics.find("baton_cluster_takeovers_total 1") != std::string::npos);
  CHECK(metrics.find("baton_inbox_lag_seconds") != std::string::npos);
}

TEST_CASE("cluster: the owner dies before the escalation's next step and the successor pages it", "[cluster][postgres]") {
  BATON_REQUIRE_POSTGRES();
  const auto db = test::PgCluster::shared().create_database();
  test::FakeClock clock;
  auto a = std::make_unique<test::ServiceHarness>(clock, cluster_yaml(db));
  REQUIRE(within_a_minute([&] { return owner(*a); }));
  test::ServiceHarness b(clock, cluster_yaml(db));
  test::ServiceHarness c(clock, cluster_yaml(db));

  REQUIRE(a->call("POST", "/v2/enqueue", trigger("k"), "application/json", false).status == 202);
  REQUIRE(scalar(db, "SELECT COUNT(*) FROM outbox WHERE person = 'alice' AND kind = 'page'") == "1");

  a->app->incidents().abandon_lease_for_test();
  a.reset();
  REQUIRE(within_a_minute([&] { return owner(b) || owner(c); }));
  // Alice's step (5 min) times out under the successor: bob is paged.
  clock.advance(std::chrono::minutes(5) + std::chrono::seconds(1));
  REQUIRE(within_a_minute(
      [&] { return scalar(db, "SELECT COUNT(*) FROM outbox WHERE person = 'bob' AND kind = 'page'") == "1"; }));
  CHECK(scalar(db, "SELECT step FROM outbox WHERE person = 'bob' AND kind = 'page'") == "1");
}

TEST_CASE("cluster: the same dedup key sent to every instance at once makes one incident", "[cluster][postgres]") {
  BATON_REQUIRE_POSTGRES();
  const auto db = test::PgCluster::shared().create_database();
  test::FakeClock clock;
  test::ServiceHarness a(clock, cluster_yaml(db));
  REQUIRE(within_a_minute([&] { return owner(a); }));
  test::ServiceHarness b(clock, cluster_yaml(db));
  test::ServiceHarness c(clock, cluster_yaml(db));
  REQUIRE(within_a_minute([&] { return b.call("GET", "/readyz").status == 200 && c.call("GET", "/readyz").status == 200; }));

  std::vector<int> statuses(6, 0);
  std::vector<std::thread> senders;
  test::ServiceHarness* instances[] = {&a, &b, &c};
  for (int i = 0; i < 6; ++i)
    senders.emplace_back([&, i] {
      integrations::HttpClient http;
      integrations::HttpRequest req;
      req.method = "POST";
      req.url = instances[i % 3]->base + "/v2/enqueue";
      req.body = trigger("same-key");
      req.headers.emplace_back("Content-Type", "application/json");
      auto res = http.request(req);
      statuses[static_cast<std::size_t>(i)] = res ? res->status : -1;
    });
  for (auto& t : senders) t.join();
  for (int s : statuses) CHECK(s == 202);
  // Every 2xx was committed (to the engine or the inbox); once the inbox is consumed all six were applied.
  REQUIRE(within_a_minute([&] { return scalar(db, "SELECT COUNT(*) FROM inbox") == "0"; }));
  CHECK(scalar(db, "SELECT COUNT(*) FROM incidents WHERE dedup_key = 'same-key'") == "1");
  CHECK(scalar(db, "SELECT COUNT(*) FROM outbox WHERE kind = 'page'") == "1");
}

TEST_CASE("cluster: a repeated trigger on a non-owner is answered without an inbox row; after a resolve it opens anew",
          "[cluster][postgres]") {
  BATON_REQUIRE_POSTGRES();
  const auto db = test::PgCluster::shared().create_database();
  test::FakeClock clock;
  test::ServiceHarness a(clock, cluster_yaml(db));
  REQUIRE(within_a_minute([&] { return owner(a); }));
  test::ServiceHarness b(clock, cluster_yaml(db));
  REQUIRE(within_a_minute([&] { return b.call("GET", "/readyz").status == 200; }));
  REQUIRE_FALSE(owner(b));

  // Inbox rows are deleted once applied; their identity sequence counts every row ever written.
  auto rows_written = [&] { return scalar(db, "SELECT last_value FROM inbox_id_seq"); };
  auto incidents = [&] { return scalar(db, "SELECT COUNT(*) FROM incidents WHERE dedup_key = 'repeat-key'"); };
  REQUIRE(b.call("POST", "/v2/enqueue", trigger("repeat-key")).status == 202);  // new: through the inbox
  REQUIRE(within_a_minute([&] { return incidents() == "1" && scalar(db, "SELECT COUNT(*) FROM inbox") == "0"; }));

  const auto written = rows_written();
  for (int i = 0; i < 3; ++i) CHECK(b.call("POST", "/v2/enqueue", trigger("repeat-key")).status == 202);
  CHECK(rows_written() == written);  // answered by a read: nothing for the owner to do
  CHECK(incidents() == "1");

  // Once the incident is resolved the same key opens a new one, through the inbox.
  const auto number = scalar(db, "SELECT number FROM incidents WHERE dedup_key = 'repeat-key'");
  REQUIRE(a.call("POST", "/api/v1/incidents/" + number + "/resolve").status == 200);
  REQUIRE(b.call("POST", "/v2/enqueue", trigger("repeat-key")).status == 202);
  REQUIRE(within_a_minute([&] { return incidents() == "2"; }));
  CHECK(rows_written() != written);
  CHECK(scalar(db, "SELECT COUNT(*) FROM incidents WHERE dedup_key = 'repeat-key' AND state <> 'resolved'") == "1");
}

TEST_CASE("cluster: while the database is down instances answer 503, then recover by themselves", "[cluster][postgres]") {
  BATON_REQUIRE_POSTGRES();
  const auto db = test::PgCluster::shared().create_database();
  test::FakeClock clock;
  test::ServiceHarness a(clock, cluster_yaml(db));
  REQUIRE(within_a_minute([&] { return owner(a); }));
  test::ServiceHarness b(clock, cluster_yaml(db));
  REQUIRE(within_a_minute([&] { return b.call("GET", "/readyz").status == 200; }));

  struct Restart {
    bool stopped = false;
    ~Restart() {
      if (stopped) test::PgCluster::shared().start_server();
    }
  } restart;
  test::PgCluster::shared().stop_server();
  restart.stopped = true;
  CHECK(b.call("POST", "/v2/enqueue", trigger("during"), "application/json", false).status == 503);
  CHECK(a.call("POST", "/v2/enqueue", trigger("during"), "application/json", false).status == 503);
  CHECK(within_a_minute([&] { return a.call("GET", "/readyz").status == 503 && b.call("GET", "/readyz").status == 503; }));

  test::PgCluster::shared().start_server();
  restart.stopped = false;
  REQUIRE(within_a_minute([&] { return a.call("GET", "/readyz").status == 200 && b.call("GET", "/readyz").status == 200; }));
  REQUIRE(within_a_minute([&] { return owner(a) || owner(b); }));
  REQUIRE(within_a_minute(
      [&] { return b.call("POST", "/v2/enqueue", trigger("after"), "application/json", false).status == 202; }));
  REQUIRE(within_a_minute([&] { return scalar(db, "SELECT COUNT(*) FROM incidents WHERE dedup_key = 'after'") == "1"; }));
  CHECK(scalar(db, "SELECT COUNT(*) FROM incidents WHERE dedup_key = 'during'") == "0");
}

TEST_CASE("cluster: an old owner that was paused during the takeover writes nothing", "[cluster][postgres]") {
  BATON_REQUIRE_POSTGRES();
  const auto db = test::PgCluster::shared().create_database();
  test::FakeClock clock;
  test::ServiceHarness a(clock, cluster_yaml(db));
  REQUIRE(within_a_minute([&] { return owner(a); }));
  test::ServiceHarness b(clock, cluster_yaml(db));
  REQUIRE(a.call("POST", "/v2/enqueue", trigger("before"), "application/json", false).status == 202);

  // `a` stops renewing (as if SIGSTOPped); `b` takes over. `a` still believes it
  // owns the engine (as a process does right after SIGCONT): its next commit is
  // fenced, answered 503, and writes nothing.
  a.app->incidents().abandon_lease_for_test();
  REQUIRE(within_a_minute([&] { return owner(b); }));
  CHECK(owner(a));
  CHECK(a.call("POST", "/v2/enqueue", trigger("after"), "application/json", false).status == 503);
  CHECK(scalar(db, "SELECT COUNT(*) FROM incidents WHERE dedup_key = 'after'") == "0");
  REQUIRE(within_a_minute([&] { return !owner(a); }));

  // From then on `a` is a non-owner: its timers are gone, what it takes goes to `b`.
  clock.advance(std::chrono::minutes(5) + std::chrono::seconds(1));
  REQUIRE(within_a_minute(
      [&] { return scalar(db, "SELECT COUNT(*) FROM outbox WHERE person = 'bob' AND kind = 'page'") == "1"; }));
  auto again = a.call("POST", "/v2/enqueue", trigger("after"), "application/json", false);
  CHECK(again.status == 202);
  REQUIRE(within_a_minute(
      [&] { return scalar(db, "SELECT COUNT(*) FROM incidents WHERE dedup_key = 'after'") == "1"; }));
  CHECK(scalar(db, "SELECT COUNT(*) FROM outbox WHERE person = 'bob' AND kind = 'page'") == "1");
  CHECK(scalar(db, "SELECT COUNT(*) FROM incidents") == "2");
}

TEST_CASE("cluster: an instance that does not run the engine takes every change through the inbox",
          "[cluster][postgres]") {
  // Hand-opened incidents, reassignments, notes, late delivery failures (an SMS
  // status callback) and overrides reach a non-owner as often as the owner;
  // none of them may be refused or dropped there.
  BATON_REQUIRE_POSTGRES();
  const auto db = test::PgCluster::shared().create_database();
  test::FakeClock clock;
  test::ServiceHarness a(clock, cluster_yaml(db));
  REQUIRE(within_a_minute([&] { return owner(a); }));
  test::ServiceHarness b(clock, cluster_yaml(db));
  REQUIRE(within_a_minute([&] { return b.call("GET", "/readyz").status == 200; }));
  REQUIRE_FALSE(owner(b));
  auto& in_b = b.app->incidents();

  // Opened by hand on the non-owner: queued, then opened and paged by the owner.
  std::promise<Result<engine::Incident>> created;
  in_b.create("payments", "opened by hand", engine::Severity::critical, engine::Actor{"alice", engine::Source::slack},
              std::nullopt, [&](Result<engine::Incident> r) { created.set_value(std::move(r)); });
  auto c = created.get_future().get();
  REQUIRE(c);
  CHECK(bot::is_queued(*c));
  REQUIRE(within_a_minute([&] { return scalar(db, "SELECT COUNT(*) FROM incidents") == "1"; }));
  CHECK(scalar(db, "SELECT summary FROM incidents WHERE number = 1") == "opened by hand");
  REQUIRE(within_a_minute(
      [&] { return scalar(db, "SELECT COUNT(*) FROM outbox WHERE person = 'alice' AND kind = 'page'") == "1"; }));

  // A mistake is answered at once, not queued for the owner to refuse.
  std::promise<Result<engine::Incident>> wrong;
  in_b.create("nope", "x", engine::Severity::error, engine::Actor{"alice", engine::Source::slack}, std::nullopt,
              [&](Result<engine::Incident> r) { wrong.set_value(std::move(r)); });
  auto w = wrong.get_future().get();
  REQUIRE_FALSE(w);
  CHECK(w.error().kind == ErrorKind::not_found);

  // Reassigned on the non-owner: bob owns it and is paged.
  std::promise<Result<engine::Incident>> moved;
  in_b.reassign(1, "bob", engine::Actor{"alice", engine::Source::slack},
                [&](Result<engine::Incident> r) { moved.set_value(std::move(r)); });
  auto m = moved.get_future().get();
  REQUIRE(m);
  CHECK(bot::is_queued(*m));
  REQUIRE(within_a_minute([&] { return scalar(db, "SELECT owner FROM incidents WHERE number = 1") == "bob"; }));
  REQUIRE(within_a_minute(
      [&] { return scalar(db, "SELECT COUNT(*) FROM outbox WHERE person = 'bob' AND kind = 'page'") == "1"; }));

  // A note and a late delivery failure (what the Twilio status callback sends).
  in_b.note(1, "SMS page to Bob: delivered", engine::Actor{"twilio", engine::Source::sms});
  REQUIRE(within_a_minute([&] {
    return scalar(db, "SELECT COUNT(*) FROM timeline WHERE incident = 1 AND message = 'SMS page to Bob: delivered'") ==
           "1";
  }));
  engine::Notification page;
  page.id = std::stoll(scalar(db, "SELECT id FROM outbox WHERE person = 'bob' AND kind = 'page'"));
  page.incident = 1;
  page.person = "bob";
  page.method = engine::MethodKind::webhook;
  page.kind = engine::NotificationKind::page;
  page.step = 0;
  in_b.delivery_failed(page, "SMS undelivered (Twilio error 30003)");
  REQUIRE(within_a_minute([&] {
    return scalar(db, "SELECT COUNT(*) FROM timeline WHERE incident = 1 AND message LIKE "
                      "'%SMS undelivered (Twilio error 30003)%'") == "1";
  }));

  // An override through the non-owner's API: stored, and the owner pages by it.
  auto oncall = [](test::ServiceHarness& s) {
    return std::string(
        s.get_json("/api/v1/oncall?schedule=day").at("oncall").as_array()[0].at("person").at("id").as_string());
  };
  CHECK(oncall(a) == "alice");
  const auto start = engine::format_iso8601(clock.now() - std::chrono::minutes(1));
  const auto end = engine::format_iso8601(clock.now() + std::chrono::hours(1));
  auto added = b.call("POST", "/api/v1/schedules/day/overrides",
                      R"({"person":"bob","start":")" + start + R"(","end":")" + end + R"("})");
  REQUIRE(added.status == 201);
  const auto id = json::parse(added.body).at("id").as_int64();
  REQUIRE(within_a_minute([&] { return oncall(a) == "bob"; }));
  CHECK(oncall(b) == "bob");  // the non-owner reads it from the database
  CHECK(b.get_json("/api/v1/schedules/day/overrides").at("overrides").as_array().size() == 1);
  CHECK(scalar(db, "SELECT COUNT(*) FROM overrides") == "1");
  // What a person owns (an SMS "ack" without a number needs it) is read from the database too.
  auto owned = in_b.open_for_person("bob");
  REQUIRE(owned.size() == 1);
  CHECK(owned[0].number == 1);
  CHECK(b.call("DELETE", "/api/v1/overrides/" + std::to_string(id)).status == 200);
  REQUIRE(within_a_minute([&] { return oncall(a) == "alice"; }));
  CHECK(oncall(b) == "alice");
  CHECK(scalar(db, "SELECT COUNT(*) FROM overrides") == "0");
  REQUIRE(within_a_minute([&] { return scalar(db, "SELECT COUNT(*) FROM inbox") == "0"; }));
}

namespace {

std::string slack_cluster_yaml(const std::string& db, test::FakeSlack& fake, const std::string& channel,
                               const std::string& mode) {
  return R"(
server:
  listen: "127.0.0.1:0"
  public_url: "http://baton.test"
  action_secret: "test-action-secret"
  api_tokens: [{name: ops, token: ")" +
         std::string(test::kApiToken) + R"("}]
storage: {path: ")" + db + R"("}
slack:
  mode: )" + mode + R"(
  base_url: ")" + fake.base_url() + R"("
  bot_token: xoxb-test-token
  app_token: xapp-test-token
  signing_secret: slack-test-signing-secret
  messages_per_second_per_channel: 100
dispatch: {max_attempts: 2, base_backoff: 1s}
people:
  alice: {name: Alice, email: alice@example.com, slack_user_id: U0ALICE, contact_chain: [{method: slack, after: 0s}]}
escalation_policies:
  main: {steps: [{targets: [{person: alice}], timeout: 5m}]}
services:
  payments: {name: Payments, escalation_policy: main, integration_keys: [key-pay], slack_channel: ")" +
         channel + R"("}
)";
}

}  // namespace

TEST_CASE("cluster: the successor edits the Slack messages its predecessor posted", "[cluster][postgres][slack]") {
  // The page's DM and the service channel post were made by the old owner;
  // after the takeover, the successor's update must edit them in place
  // (chat.update), not post new messages nobody connects with the page.
  BATON_REQUIRE_POSTGRES();
  const auto db = test::PgCluster::shared().create_database();
  test::FakeClock clock;
  test::FakeSlack fake;
  fake.add_user({"U0ALICE", "alice@example.com", "alice"});
  const auto channel = fake.add_channel("payments-alerts");
  auto a = std::make_unique<test::ServiceHarness>(clock, slack_cluster_yaml(db, fake, channel, "http"));
  REQUIRE(within_a_minute([&] { return owner(*a); }));
  test::ServiceHarness b(clock, slack_cluster_yaml(db, fake, channel, "http"));
  REQUIRE(within_a_minute([&] { return b.call("GET", "/readyz").status == 200; }));

  REQUIRE(a->call("POST", "/v2/enqueue", trigger("slack-1"), "application/json", false).status == 202);
  const auto dm = fake.dm_channel("U0ALICE");
  REQUIRE(within_a_minute([&] { return fake.messages(dm).size() == 1 && fake.messages(channel).size() == 1; }));
  a->app->incidents().abandon_lease_for_test();
  a.reset();
  REQUIRE(within_a_minute([&] { return owner(b); }));

  CHECK(b.call("POST", "/api/v1/incidents/1/resolve").status == 200);
  REQUIRE(within_a_minute([&] { return fake.calls("chat.update").size() >= 2; }));
  CHECK(fake.messages(dm).size() == 1);  // edited, not posted again
  CHECK(fake.messages(dm).front().edits >= 1);
  CHECK(fake.messages(channel).size() >= 1);
  CHECK(fake.messages(channel).front().edits >= 1);
}

TEST_CASE("cluster: a Socket Mode envelope delivered to two instances is handled once", "[cluster][postgres][slack]") {
  // Each instance holds its own Socket Mode connection; Slack may redeliver an
  // envelope on any of them. A slash command that opens an incident, delivered
  // to both, opens one.
  BATON_REQUIRE_POSTGRES();
  const auto db = test::PgCluster::shared().create_database();
  test::FakeClock clock;
  test::FakeSlack fake;
  fake.add_user({"U0ALICE", "alice@example.com", "alice"});
  const auto channel = fake.add_channel("payments-alerts");
  test::FakeSocketMode socket;
  fake.set_socket_url(socket.url());
  test::ServiceHarness a(clock, slack_cluster_yaml(db, fake, channel, "socket"));
  REQUIRE(socket.wait_for_open_connections(1, std::chrono::seconds(20)));
  fake.set_socket_url(socket.url());
  test::ServiceHarness b(clock, slack_cluster_yaml(db, fake, channel, "socket"));
  REQUIRE(socket.wait_for_open_connections(2, std::chrono::seconds(20)));
  REQUIRE(within_a_minute([&] { return owner(a) || owner(b); }));

  const auto command = json::serialize(json::object{{"command", "/baton"},
                                                    {"text", "incident new checkout is failing service:payments"},
                                                    {"user_id", "U0ALICE"},
                                                    {"channel_id", channel},
                                                    {"team_id", test::FakeSlack::kTeam},
                                                    {"response_url", ""}});
  const auto id = socket.push_envelope("slash_commands", command, true, 0, "env-twice", 1);
  socket.push_envelope("slash_commands", command, true, 1, id, 2);
  REQUIRE(socket.wait_for_acks(2, std::chrono::seconds(20)));
  REQUIRE(within_a_minute([&] { return scalar(db, "SELECT COUNT(*) FROM incidents") == "1"; }));
  // Give a second incident every chance to appear before counting.
  REQUIRE(within_a_minute([&] { return scalar(db, "SELECT COUNT(*) FROM inbox") == "0"; }));
  a.app->incidents().drain();
  b.app->incidents().drain();
  CHECK(scalar(db, "SELECT COUNT(*) FROM incidents") == "1");
  CHECK(scalar(db, "SELECT COUNT(*) FROM used_tokens WHERE token_id = 'slack-envelope:env-twice'") == "1");
}
