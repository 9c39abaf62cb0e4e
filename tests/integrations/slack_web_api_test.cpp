#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include <condition_variable>
#include <mutex>
#include <thread>


#include "integrations/slack/web_api.hpp"
#include "tests/support/fake_clock.hpp"
#include "tests/support/fake_slack.hpp"
#include "tests/support/http_peer.hpp"

using namespace baton;
using namespace baton::slack;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

const std::string kBot = "xoxb-test-token";
const std::string kApp = "xapp-test-token";

// The asynchronous API with a wait for each answer, so the cases read as
// before; each owns its network loop (declared first: it goes last).
struct BlockingApi {
  std::shared_ptr<test::SlackNet> net = std::make_shared<test::SlackNet>();
  SlackWebApi api;

  explicit BlockingApi(SlackConfig c) : api(std::move(c), net->http(), net->io()) {}
  BlockingApi(SlackConfig c, const engine::Clock& clock) : api(std::move(c), net->http(), net->io(), clock) {}

  Result<MessageTs> post_message(std::string channel, std::string text, std::string blocks) {
    return test::await_result<MessageTs>([&](auto done) { api.post_message_async(channel, text, blocks, done); });
  }
  Result<void> update_message(std::string channel, std::string ts, std::string text, std::string blocks) {
    return test::await_result<void>([&](auto done) { api.update_message_async(channel, ts, text, blocks, done); });
  }
  Result<std::string> post_ephemeral(std::string channel, std::string user, std::string text, std::string blocks) {
    return test::await_result<std::string>(
        [&](auto done) { api.post_ephemeral_async(channel, user, text, blocks, done); });
  }
  Result<std::string> open_dm(std::string user) {
    return test::await_result<std::string>([&](auto done) { api.open_dm_async(user, done); });
  }
  Result<std::string> create_channel(std::string name, bool is_private = false) {
    return test::await_result<std::string>([&](auto done) { api.create_channel_async(name, is_private, done); });
  }
  Result<void> invite(std::string channel, std::vector<std::string> users) {
    return test::await_result<void>([&](auto done) { api.invite_async(channel, users, done); });
  }
  Result<void> set_topic(std::string channel, std::string topic) {
    return test::await_result<void>([&](auto done) { api.set_topic_async(channel, topic, done); });
  }
  Result<void> archive(std::string channel) {
    return test::await_result<void>([&](auto done) { api.archive_async(channel, done); });
  }
  Result<std::string> lookup_user_by_email(std::string email) {
    return test::await_result<std::string>([&](auto done) { api.lookup_user_by_email_async(email, done); });
  }
  Result<SlackUser> user_info(std::string user) {
    return test::await_result<SlackUser>([&](auto done) { api.user_info_async(user, done); });
  }
  Result<AuthInfo> auth_test() {
    return test::await_result<AuthInfo>([&](auto done) { api.auth_test_async(done); });
  }
  Result<std::string> open_connection(std::string token) {
    return test::await_result<std::string>([&](auto done) { api.open_connection_async(token, done); });
  }
};

BlockingApi api_for(const test::FakeSlack& fake, std::string token = kBot) {
  SlackConfig c;
  c.base_url = fake.base_url();
  c.bot_token = std::move(token);
  c.timeout = 5000ms;
  return BlockingApi(c);
}

integrations::HttpResponse answer(int status, std::string body, integrations::HeaderList headers = {}) {
  return integrations::HttpResponse{status, std::move(headers), std::move(body)};
}

json::object body_of(const test::RecordedRequest& r) { return json::parse(r.body).as_object(); }

void seed(test::FakeSlack& fake) {
  fake.add_user({"U0ALICE", "alice@example.com", "Alice Example"});
  fake.add_user({"U0BOB", "bob@example.com", "Bob Example"});
}

}  // namespace

// ---------------------------------------------------------------- error table

// Every code named in the taxonomy table maps to its kind; unknown codes are
// permanent.
TEST_CASE("slack_error_kind: the one table", "[slack][web_api]") {
  CHECK(slack_error_kind("ratelimited") == ErrorKind::rate_limited);
  CHECK(slack_error_kind("rate_limited") == ErrorKind::rate_limited);
  for (const char* c : {"invalid_auth", "not_authed", "token_revoked", "account_inactive", "token_expired", "missing_scope"}) {
    INFO(c);
    CHECK(slack_error_kind(c) == ErrorKind::auth_revoked);
  }
  for (const char* c : {"channel_not_found", "user_not_found", "users_not_found", "message_not_found"}) {
    INFO(c);
    CHECK(slack_error_kind(c) == ErrorKind::not_found);
  }
  for (const char* c : {"name_taken", "already_in_channel", "cant_invite_self", "already_archived"}) {
    INFO(c);
    CHECK(slack_error_kind(c) == ErrorKind::conflict);
  }
  for (const char* c : {"fatal_error", "internal_error", "service_unavailable", "request_timeout"}) {
    INFO(c);
    CHECK(slack_error_kind(c) == ErrorKind::transient);
  }
  for (const char* c : {"not_in_channel", "is_archived", "msg_too_long", "invalid_blocks", "no_such_code", ""}) {
    INFO(c);
    CHECK(slack_error_kind(c) == ErrorKind::permanent);
  }
}

// HTTP first: 429 with Retry-After, 5xx and 408 transient, other non-2xx
// permanent; then the envelope: ok:true is the body, ok:false goes through the
// table with the code in the message; a body that is not JSON is transient.
TEST_CASE("classify_slack: statuses and envelopes", "[slack][web_api]") {
  auto limited = classify_slack("chat.postMessage", answer(429, R"({"ok":false,"error":"ratelimited"})", {{"Retry-After", "30"}}));
  REQUIRE_FALSE(limited);
  CHECK(limited.error().kind == ErrorKind::rate_limited);
  CHECK(limited.error().retry_after == 30s);

  CHECK(classify_slack("m", answer(503, "<html>")).error().kind == ErrorKind::transient);
  CHECK(classify_slack("m", answer(500, "")).error().kind == ErrorKind::transient);
  CHECK(classify_slack("m", answer(408, "")).error().kind == ErrorKind::transient);
  CHECK(classify_slack("m", answer(404, "nope")).error().kind == ErrorKind::permanent);
  CHECK(classify_slack("m", answer(200, "<html>proxy</html>")).error().kind == ErrorKind::transient);

  auto ok = classify_slack("auth.test", answer(200, R"({"ok":true,"user_id":"U1"})"));
  REQUIRE(ok);
  CHECK(ok->body == R"({"ok":true,"user_id":"U1"})");

  auto revoked = classify_slack("chat.update", answer(200, R"({"ok":false,"error":"token_revoked"})"));
  REQUIRE_FALSE(revoked);
  CHECK(revoked.error().kind == ErrorKind::auth_revoked);
  CHECK(revoked.error().message == "slack chat.update: token_revoked");
  CHECK(slack_error_code(revoked.error()) == "token_revoked");

  // ok:false inside HTTP 200 with ratelimited (some methods answer so) is rate_limited too.
  CHECK(classify_slack("m", answer(200, R"({"ok":false,"error":"ratelimited"})")).error().kind == ErrorKind::rate_limited);
  // An envelope without `ok` is not a success.
  CHECK(classify_slack("m", answer(200, R"({"channel":"C1"})")).error().kind == ErrorKind::permanent);
  CHECK(slack_error_code(Error{ErrorKind::transient, "curl: timeout", {}}).empty());
}

// chat.postMessage documents its own spelling, rate_limited, answered with
// HTTP 200 and ok:false: retryable like a 429, after Retry-After when Slack
// sends one (and at the dispatcher's backoff otherwise). It used to be an
// unknown code, so permanent: the page failed for good.
TEST_CASE("classify_slack: rate_limited with HTTP 200 is retryable, with its Retry-After", "[slack][web_api]") {
  auto limited = classify_slack("chat.postMessage",
                                answer(200, R"({"ok":false,"error":"rate_limited"})", {{"Retry-After", "12"}}));
  REQUIRE_FALSE(limited);
  CHECK(limited.error().kind == ErrorKind::rate_limited);
  CHECK(limited.error().retryable());
  CHECK(limited.error().retry_after == 12s);
  CHECK(slack_error_code(limited.error()) == "rate_limited");

  auto bare = classify_slack("chat.postMessage", answer(200, R"({"ok":false,"error":"rate_limited"})"));
  REQUIRE_FALSE(bare);
  CHECK(bare.error().retryable());
  CHECK(bare.error().retry_after == 0ms);
}

// ---------------------------------------------------------------- methods against the fake

// chat.postMessage: POST /api/chat.postMessage, bearer bot token, JSON body
// with channel, text and blocks as a JSON array; the answer's channel and ts.
TEST_CASE("SlackWebApi: post_message request shape", "[slack][web_api]") {
  test::FakeSlack fake;
  seed(fake);
  const auto channel = fake.add_channel("payments-alerts");
  auto api = api_for(fake);

  auto posted = api.post_message(channel, "#42 CRITICAL", R"([{"type":"section","text":{"type":"mrkdwn","text":"hi"}}])");
  REQUIRE(posted);
  CHECK(posted->channel == channel);
  CHECK(posted->ts == "1700000000.000100");

  auto requests = fake.peer().requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].method == "POST");
  CHECK(requests[0].target == "/api/chat.postMessage");
  CHECK(requests[0].header("authorization") == std::optional<std::string>("Bearer " + kBot));
  CHECK(requests[0].header("content-type") == std::optional<std::string>("application/json; charset=utf-8"));
  auto body = body_of(requests[0]);
  CHECK(body.at("channel").as_string() == channel);
  CHECK(body.at("text").as_string() == "#42 CRITICAL");
  REQUIRE(body.at("blocks").is_array());
  CHECK(body.at("blocks").as_array().size() == 1);

  auto messages = fake.messages(channel);
  REQUIRE(messages.size() == 1);
  CHECK(messages[0].text == "#42 CRITICAL");

  // The next ts is later; without blocks the field is not sent.
  auto second = api.post_message(channel, "plain", "");
  REQUIRE(second);
  CHECK(second->ts > posted->ts);
  CHECK_FALSE(body_of(fake.peer().requests().back()).contains("blocks"));
}

// chat.update edits in place; a ts Slack does not know is message_not_found
// (not_found); an unknown channel is channel_not_found.
TEST_CASE("SlackWebApi: update_message and its errors", "[slack][web_api]") {
  test::FakeSlack fake;
  const auto channel = fake.add_channel("ops");
  auto api = api_for(fake);
  auto posted = api.post_message(channel, "one", "");
  REQUIRE(posted);
  REQUIRE(api.update_message(channel, posted->ts, "two", R"([{"type":"divider"}])"));
  auto m = fake.messages(channel).at(0);
  CHECK(m.text == "two");
  CHECK(m.edits == 1);
  CHECK(m.blocks_json == R"([{"type":"divider"}])");
  auto body = body_of(fake.peer().requests().back());
  CHECK(fake.peer().requests().back().target == "/api/chat.update");
  CHECK(body.at("ts").as_string() == posted->ts);

  auto missing = api.update_message(channel, "1.000000", "x", "");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().kind == ErrorKind::not_found);
  CHECK(slack_error_code(missing.error()) == "message_not_found");
  CHECK(api.update_message("C404", posted->ts, "x", "").error().kind == ErrorKind::not_found);
}

// conversations.open gives the DM channel; chat.postEphemeral needs the user in the channel.
TEST_CASE("SlackWebApi: open_dm and post_ephemeral", "[slack][web_api]") {
  test::FakeSlack fake;
  seed(fake);
  auto api = api_for(fake);
  auto dm = api.open_dm("U0ALICE");
  REQUIRE(dm);
  CHECK(*dm == fake.dm_channel("U0ALICE"));
  CHECK(dm->starts_with("D"));
  CHECK(fake.calls("conversations.open").at(0).arg("users") == "U0ALICE");
  CHECK(api.open_dm("U0NOBODY").error().kind == ErrorKind::not_found);

  auto eph = api.post_ephemeral(*dm, "U0ALICE", "only you", "");
  REQUIRE(eph);
  CHECK_FALSE(eph->empty());
  const auto channel = fake.add_channel("ops");
  auto not_member = api.post_ephemeral(channel, "U0ALICE", "x", "");
  REQUIRE_FALSE(not_member);
  CHECK(slack_error_code(not_member.error()) == "user_not_in_channel");
  CHECK(not_member.error().kind == ErrorKind::permanent);
}

// Channels: create (name_taken is a conflict), invite (comma list;
// already_in_channel a conflict), set_topic, archive (already_archived a conflict).
TEST_CASE("SlackWebApi: channel lifecycle", "[slack][web_api]") {
  test::FakeSlack fake;
  seed(fake);
  auto api = api_for(fake);
  auto id = api.create_channel("inc-42-disk-full");
  REQUIRE(id);
  auto create = fake.calls("conversations.create").at(0);
  CHECK(create.arg("name") == "inc-42-disk-full");
  CHECK(create.arg("is_private") == "false");
  auto taken = api.create_channel("inc-42-disk-full");
  REQUIRE_FALSE(taken);
  CHECK(taken.error().kind == ErrorKind::conflict);
  CHECK(slack_error_code(taken.error()) == "name_taken");
  CHECK(slack_error_code(api.create_channel("Bad Name").error()) == "invalid_name_specials");

  REQUIRE(api.invite(*id, {"U0ALICE", "U0BOB"}));
  CHECK(fake.calls("conversations.invite").at(0).arg("users") == "U0ALICE,U0BOB");
  CHECK(fake.channel(*id)->members.size() == 3);
  CHECK(api.invite(*id, {"U0ALICE"}).error().kind == ErrorKind::conflict);
  CHECK(api.invite(*id, {test::FakeSlack::kBotUser}).error().kind == ErrorKind::conflict);
  CHECK(api.invite(*id, {"U0NOBODY"}).error().kind == ErrorKind::not_found);

  REQUIRE(api.set_topic(*id, "#42 CRITICAL: Disk full"));
  CHECK(fake.channel(*id)->topic == "#42 CRITICAL: Disk full");
  CHECK(api.set_topic(*id, std::string(251, 'x')).error().kind == ErrorKind::permanent);

  REQUIRE(api.archive(*id));
  CHECK(fake.channel(*id)->archived);
  CHECK(api.archive(*id).error().kind == ErrorKind::conflict);
  CHECK(api.archive("C404").error().kind == ErrorKind::not_found);
}

// Read methods go as form bodies (Slack ignores JSON bodies there):
// users.lookupByEmail, users.info, auth.test.
TEST_CASE("SlackWebApi: users and auth.test", "[slack][web_api]") {
  test::FakeSlack fake;
  seed(fake);
  auto api = api_for(fake);
  auto id = api.lookup_user_by_email("bob@example.com");
  REQUIRE(id);
  CHECK(*id == "U0BOB");
  auto lookup = fake.peer().requests().back();
  CHECK(lookup.target == "/api/users.lookupByEmail");
  CHECK(lookup.header("content-type") == std::optional<std::string>("application/x-www-form-urlencoded"));
  CHECK(lookup.body == "email=bob%40example.com");
  auto none = api.lookup_user_by_email("nobody@example.com");
  REQUIRE_FALSE(none);
  CHECK(none.error().kind == ErrorKind::not_found);
  CHECK(slack_error_code(none.error()) == "users_not_found");

  auto info = api.user_info("U0ALICE");
  REQUIRE(info);
  CHECK(info->id == "U0ALICE");
  CHECK(info->name == "Alice Example");
  CHECK(info->email == "alice@example.com");
  CHECK(api.user_info("U0NOBODY").error().kind == ErrorKind::not_found);

  auto auth = api.auth_test();
  REQUIRE(auth);
  CHECK(auth->user_id == test::FakeSlack::kBotUser);
  CHECK(auth->team_id == test::FakeSlack::kTeam);
  CHECK(auth->bot_id == test::FakeSlack::kBotId);
}

// apps.connections.open takes the app-level token, not the bot token, and
// answers the URL the test set.
TEST_CASE("SlackWebApi: open_connection with the app token", "[slack][web_api]") {
  test::FakeSlack fake;
  fake.set_socket_url("ws://127.0.0.1:1/link/?ticket=t1");
  auto api = api_for(fake);
  auto url = api.open_connection(kApp);
  REQUIRE(url);
  CHECK(*url == "ws://127.0.0.1:1/link/?ticket=t1");
  CHECK(fake.peer().requests().back().header("authorization") == std::optional<std::string>("Bearer " + kApp));
  CHECK(fake.peer().requests().back().target == "/api/apps.connections.open");
  CHECK(api.open_connection(kBot).error().kind == ErrorKind::permanent);  // not_allowed_token_type
  CHECK(api.open_connection("xapp-wrong").error().kind == ErrorKind::auth_revoked);
}

// A wrong bot token is invalid_auth -> auth_revoked; scripted ok:false errors
// pass through the table.
TEST_CASE("SlackWebApi: auth and scripted errors", "[slack][web_api]") {
  test::FakeSlack fake;
  seed(fake);
  auto bad = api_for(fake, "xoxb-revoked");
  auto denied = bad.auth_test();
  REQUIRE_FALSE(denied);
  CHECK(denied.error().kind == ErrorKind::auth_revoked);
  CHECK(slack_error_code(denied.error()) == "invalid_auth");

  auto api = api_for(fake);
  fake.fail_next("conversations.open", "internal_error");
  auto failed = api.open_dm("U0ALICE");
  REQUIRE_FALSE(failed);
  CHECK(failed.error().kind == ErrorKind::transient);
  CHECK(api.open_dm("U0ALICE"));  // only the next call failed
}

// A scripted 429 comes back as rate_limited with Retry-After's delay; the
// call after it succeeds.
TEST_CASE("SlackWebApi: 429 is rate_limited with retry_after", "[slack][web_api]") {
  test::FakeSlack fake;
  const auto channel = fake.add_channel("ops");
  auto api = api_for(fake);
  fake.rate_limit_next("chat.postMessage", 7);
  auto limited = api.post_message(channel, "x", "");
  REQUIRE_FALSE(limited);
  CHECK(limited.error().kind == ErrorKind::rate_limited);
  CHECK(limited.error().retry_after == 7s);
  CHECK(limited.error().retryable());
  CHECK(api.post_message(channel, "x", ""));
}

// Slack down (503) and an unreachable host are both transient.
TEST_CASE("SlackWebApi: outages are transient", "[slack][web_api]") {
  test::FakeSlack fake;
  auto api = api_for(fake);
  fake.set_down(true);
  auto down = api.auth_test();
  REQUIRE_FALSE(down);
  CHECK(down.error().kind == ErrorKind::transient);
  fake.set_down(false);
  CHECK(api.auth_test());

  std::string dead_url;
  {
    test::HttpPeer dead;
    dead_url = dead.url();
  }  // closed: nothing listens there now
  BlockingApi unreachable(SlackConfig{dead_url + "/api", kBot, 2000ms});
  auto refused = unreachable.auth_test();
  REQUIRE_FALSE(refused);
  CHECK(refused.error().kind == ErrorKind::transient);
}

TEST_CASE("SlackWebApi: per-method tier pacing", "[slack][web_api]") {
  // Scenario: the tier table follows Slack's documentation; a burst of one
  // minute's allowance of conversations.create (Tier 2, 20/min) goes through
  // at once; the 21st is not sent (Slack would answer 429) but refused as
  // rate_limited with the refill time, for the dispatcher to retry then.
  // chat.postMessage is not paced here (per channel in the notifier).
  CHECK(slack::slack_tier_per_minute("conversations.create") == 20);
  CHECK(slack::slack_tier_per_minute("conversations.open") == 50);
  CHECK(slack::slack_tier_per_minute("users.info") == 100);
  CHECK(slack::slack_tier_per_minute("chat.postMessage") == 0);
  CHECK(slack::slack_tier_per_minute("apps.connections.open") == 0);

  test::FakeSlack fake;
  BlockingApi api(slack::SlackConfig{fake.base_url(), "xoxb-test-token", std::chrono::seconds(5)});
  for (int i = 0; i < 20; ++i) REQUIRE(api.create_channel("burst-" + std::to_string(i)));
  CHECK(fake.calls("conversations.create").size() == 20);
  // The 21st is not sent: no worker sleeps for seconds; the caller gets a
  // retry time (about 3 s, a 20/min refill) to re-queue with.
  auto late = api.create_channel("burst-20");
  REQUIRE_FALSE(late);
  CHECK(late.error().kind == ErrorKind::rate_limited);
  CHECK(late.error().retry_after > 2000ms);
  CHECK(late.error().retry_after <= 3000ms);
  CHECK(fake.calls("conversations.create").size() == 20);
}

TEST_CASE("SlackWebApi: two clients of one token share one rate budget", "[slack][web_api]") {
  // Scenario: Slack's tiers are per workspace. One client spends the whole
  // conversations.create allowance (20 in a burst); a second client with the
  // same token, made afterwards, finds none left and is refused (nothing
  // sent) until the tier refills, by the shared clock, 3 s later. A client of
  // another workspace (another token) has its own budget.
  test::FakeClock clock;
  test::FakeSlack fake;
  const SlackConfig config{fake.base_url(), kBot, 5000ms};
  BlockingApi first(config, clock);
  BlockingApi second(config, clock);
  for (int i = 0; i < 20; ++i) REQUIRE(first.create_channel("burst-" + std::to_string(i)));
  auto refused = second.create_channel("second-1");
  REQUIRE_FALSE(refused);
  CHECK(refused.error().kind == ErrorKind::rate_limited);
  CHECK(refused.error().retry_after == 3000ms);
  CHECK(fake.calls("conversations.create").size() == 20);
  CHECK(&first.api.workspace() == &second.api.workspace());

  test::FakeSlack other_fake("xoxb-other-token");
  BlockingApi other(SlackConfig{other_fake.base_url(), "xoxb-other-token", 5000ms}, clock);
  CHECK(other.create_channel("elsewhere"));

  clock.advance(3s);
  CHECK(second.create_channel("second-1"));
  CHECK_FALSE(first.create_channel("first-21"));  // one slot came, and it was taken
}

TEST_CASE("Workspace: slots reserved ahead are the calls' own", "[slack][web_api]") {
  // Scenario: a notifier reserves the slots its send will need (two
  // conversations.create calls) before sending. All or none: when the bucket
  // cannot give more, nothing is taken and the answer is when it can. The
  // notifier's calls then use the reserved slots although the bucket is
  // empty; other callers (a best-effort invite, the frontend) cannot take them.
  test::FakeClock clock;
  Workspace workspace(clock, 1.0);
  const auto now = clock.now();
  const std::vector<std::string> two{"conversations.create", "conversations.create"};
  for (int i = 0; i < 9; ++i) REQUIRE_FALSE(workspace.reserve_calls(two, now));  // 18 of 20 taken
  const std::vector<std::string> three{"conversations.create", "conversations.create", "conversations.create"};
  auto later = workspace.reserve_calls(three, now);
  REQUIRE(later);
  CHECK(*later == now + 3000ms);  // one more slot is needed: 3 s at 20/min
  REQUIRE_FALSE(workspace.reserve_calls(two, now));  // the last two
  CHECK_FALSE(workspace.take("conversations.create", 250ms));  // not the reserver
  for (int i = 0; i < 20; ++i) {
    auto taken = workspace.take("conversations.create", 250ms, true);
    REQUIRE(taken);
    CHECK(*taken == 0ms);
  }
  CHECK_FALSE(workspace.take("conversations.create", 250ms, true));
  // Methods without a tier cost nothing.
  CHECK_FALSE(workspace.reserve_calls({"chat.postMessage"}, now));
}

// ---------------------------------------------------------------- asynchronous calls

TEST_CASE("SlackWebApi: calls return at once; answers come on the network thread", "[slack][web_api][async]") {
  // Scenario: Slack takes 3 s to answer a chat.postMessage. The call returns
  // at once, and an auth.test started after it is answered first; both
  // answers arrive on the loop's thread, never inside the call.
  test::FakeSlack fake;
  const auto channel = fake.add_channel("ops");
  auto client = api_for(fake);
  fake.delay_next("chat.postMessage", 3s);
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::string> order;
  bool off_loop = false;
  auto note = [&](std::string what) {
    std::lock_guard lock(mutex);
    if (!client.net->on_loop_thread()) off_loop = true;
    order.push_back(std::move(what));
    changed.notify_all();
  };
  client.api.post_message_async(channel, "slow", "", [&](Result<MessageTs> r) { note(r ? "post" : "post failed"); });
  {
    std::lock_guard lock(mutex);
    CHECK(order.empty());
  }
  client.api.auth_test_async([&](Result<AuthInfo> r) { note(r ? "auth" : "auth failed"); });
  std::unique_lock lock(mutex);
  REQUIRE(changed.wait_for(lock, 30s, [&] { return order.size() == 2; }));
  CHECK(order == std::vector<std::string>{"auth", "post"});
  CHECK_FALSE(off_loop);
}

TEST_CASE("SlackWebApi: a tier slot within 250 ms is waited for on a timer, not refused", "[slack][web_api][async]") {
  // Scenario: users.info (Tier 4, 100/min) after a burst of 100: the next
  // call is refused with the refill time (600 ms). Once its slot is less
  // than 250 ms away, a call waits for it on a timer (no thread sleeps) and
  // is sent; its answer still comes on the loop's thread.
  test::FakeSlack fake;
  seed(fake);
  auto client = api_for(fake);
  for (int i = 0; i < 100; ++i) REQUIRE(client.user_info("U0ALICE"));
  auto refused = client.user_info("U0ALICE");
  REQUIRE_FALSE(refused);
  CHECK(refused.error().kind == ErrorKind::rate_limited);
  CHECK(refused.error().retry_after > 250ms);
  CHECK(refused.error().retry_after <= 600ms);
  CHECK(fake.calls("users.info").size() == 100);
  std::this_thread::sleep_for(refused.error().retry_after - 150ms);
  bool on_loop = false;
  auto waited = test::await_result<SlackUser>([&](auto done) {
    client.api.user_info_async("U0ALICE", [&, done](Result<SlackUser> r) {
      on_loop = client.net->on_loop_thread();
      done(std::move(r));
    });
  });
  REQUIRE(waited);
  CHECK(on_loop);
  CHECK(fake.calls("users.info").size() == 101);
}

TEST_CASE("SlackWebApi: response_url posts", "[slack][web_api][async]") {
  // A follow-up to an interaction's response_url: a JSON POST without a
  // token; 2xx is success, 5xx transient, 404 permanent.
  test::HttpPeer hook;
  test::FakeSlack fake;
  auto client = api_for(fake);
  auto post = [&](std::string path) {
    return test::await_result<void>(
        [&](auto done) { client.api.post_response_url_async(hook.url() + path, R"({"text":"done"})", done); });
  };
  CHECK(post("/ok"));
  REQUIRE(hook.requests().size() == 1);
  CHECK(hook.requests()[0].body == R"({"text":"done"})");
  CHECK(hook.requests()[0].header("content-type") == std::optional<std::string>("application/json"));
  CHECK_FALSE(hook.requests()[0].header("authorization"));
  hook.push_response(test::ScriptedResponse{503, {}, "", {}});
  CHECK(post("/busy").error().kind == ErrorKind::transient);
  hook.push_response(test::ScriptedResponse{404, {}, "", {}});
  CHECK(post("/gone").error().kind == ErrorKind::permanent);
}
