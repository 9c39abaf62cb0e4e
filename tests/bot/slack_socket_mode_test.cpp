#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "integrations/common/command_grammar.hpp"
#include "integrations/slack/commands.hpp"
#include "integrations/slack/socket_mode.hpp"
#include "integrations/slack/interactions.hpp"
#include "integrations/slack/web_api.hpp"
#include "tests/support/fake_slack.hpp"
#include "tests/support/fake_socket_mode.hpp"

using namespace baton;
using namespace baton::slack;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

constexpr auto kWait = 15s;  // generous: only bounds a hang, never asserted on

// Polls `pred` until it holds or `timeout` passes.
template <typename Pred>
bool wait_until(Pred pred, std::chrono::milliseconds timeout = kWait) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

// What the handler received, with the acks it was given, so a test can ack
// later from its own thread (as the service does after a commit).
struct Inbox {
  std::mutex mutex;
  std::condition_variable arrived;
  std::vector<Envelope> envelopes;
  std::deque<AckFn> pending;

  EnvelopeHandler handler(bool ack_at_once) {
    return [this, ack_at_once](const Envelope& env, AckFn ack) {
      {
        std::lock_guard lock(mutex);
        envelopes.push_back(env);
        if (!ack_at_once) pending.push_back(std::move(ack));
      }
      arrived.notify_all();
      if (ack_at_once) ack(std::nullopt);
    };
  }
  bool wait_for(std::size_t n) {
    std::unique_lock lock(mutex);
    return arrived.wait_for(lock, kWait, [&] { return envelopes.size() >= n; });
  }
  std::size_t size() {
    std::lock_guard lock(mutex);
    return envelopes.size();
  }
  AckFn take_ack() {
    std::lock_guard lock(mutex);
    AckFn a = std::move(pending.front());
    pending.pop_front();
    return a;
  }
};

// open_url that hands out the fake's fresh URLs and counts the calls.
struct Opener {
  test::FakeSocketMode& fake;
  std::atomic<int> calls{0};
  Result<std::string> operator()() {
    ++calls;
    return fake.url();
  }
};

SocketModeOptions options_for(Opener& opener) {
  SocketModeOptions o;
  o.app_token = "xapp-1-test";
  o.open_url = [&opener] { return opener(); };
  o.initial_backoff = 20ms;
  o.max_backoff = 200ms;
  return o;
}

const std::string kEvent = R"({"type":"event_callback","team_id":"T0","api_app_id":"A0","event_id":"Ev1",)"
                           R"("event":{"type":"app_mention","user":"U1","channel":"C1","text":"<@UBOT> oncall"}})";

// Another event (another event_id): a retry of an envelope carries the same one.
std::string event_with_id(const std::string& id) {
  auto e = kEvent;
  e.replace(e.find("Ev1"), 3, id);
  return e;
}

}  // namespace

TEST_CASE("Socket Mode: hello, then an envelope is handled and acked", "[slack][socket_mode]") {
  // The client connects with the URL from open_url, waits for hello, hands the
  // envelope to the handler and acks it with {"envelope_id"} on the same link.
  test::FakeSocketMode fake;
  Opener opener{fake};
  Inbox inbox;
  SlackSocketMode client(options_for(opener), inbox.handler(true));
  CHECK_FALSE(client.connected());
  client.start();
  REQUIRE(wait_until([&] { return client.connected(); }));

  const auto id = fake.push_envelope("events_api", kEvent);
  REQUIRE(fake.wait_for_acks(1, kWait));
  const auto acks = fake.acks();
  CHECK(acks[0].envelope_id == id);
  CHECK_FALSE(acks[0].payload_json.has_value());
  CHECK(acks[0].connection == 1);

  REQUIRE(inbox.size() == 1);
  const Envelope env = inbox.envelopes[0];
  CHECK(env.envelope_id == id);
  CHECK(env.type == "events_api");
  CHECK_FALSE(env.accepts_response_payload);
  CHECK(env.retry_attempt == 0);
  auto event = slack::parse_event(env.payload_json);
  REQUIRE(event);
  CHECK(event->type == "app_mention");
  CHECK(event->text == "<@UBOT> oncall");

  const auto st = client.stats();
  CHECK(st.state == SocketModeState::connected);
  CHECK(st.hellos == 1);
  CHECK(st.envelopes == 1);
  CHECK(st.acks_sent == 1);
  CHECK(opener.calls == 1);

  // stop() closes with a close frame.
  client.stop();
  REQUIRE(fake.wait_for_open_connections(0, kWait));
  CHECK(fake.connection_log()[0].closed_by_client);
  CHECK(client.stats().state == SocketModeState::stopped);
  CHECK_FALSE(client.connected());
}

TEST_CASE("Socket Mode: a slash command is acked later, from another thread, with a response", "[slack][socket_mode]") {
  // accepts_response_payload: the ack carries the message; the handler stored
  // its ack and the test thread sends it, as the service does after a commit.
  test::FakeSocketMode fake;
  Opener opener{fake};
  Inbox inbox;
  SlackSocketMode client(options_for(opener), inbox.handler(false));
  client.start();
  REQUIRE(wait_until([&] { return client.connected(); }));

  const auto id = fake.push_envelope(
      "slash_commands",
      R"({"token":"legacy","team_id":"T0","channel_id":"C0","user_id":"U0","command":"/baton","text":"help",)"
      R"("response_url":"https://hooks.slack.com/commands/T0/1/x","trigger_id":"1.2.3"})",
      true);
  REQUIRE(inbox.wait_for(1));
  const Envelope env = inbox.envelopes[0];
  CHECK(env.accepts_response_payload);
  auto request = slack::parse_slash_json(env.payload_json);
  REQUIRE(request);
  CHECK(integrations::parse_command(*slack::command_text(request->command, request->text)).verb ==
        integrations::Verb::help);

  json::object reply{{"response_type", "ephemeral"}, {"text", slack::usage_text()}};
  AckFn ack = inbox.take_ack();
  std::thread([ack, body = json::serialize(reply)] { ack(body); }).join();
  ack(std::string(R"({"text":"second call is ignored"})"));  // idempotent

  REQUIRE(fake.wait_for_acks(1, kWait));
  auto acks = fake.acks();
  CHECK(acks[0].envelope_id == id);
  REQUIRE(acks[0].payload_json.has_value());
  auto payload = json::parse(*acks[0].payload_json);
  CHECK(payload.at("response_type").as_string() == "ephemeral");
  CHECK(std::string(payload.at("text").as_string()) == slack::usage_text());

  // An envelope that accepts no payload is acked without one; a handler that
  // drops its ack without calling it still gets the envelope acked.
  const auto no_payload = fake.push_envelope("events_api", kEvent, false);
  REQUIRE(inbox.wait_for(2));
  inbox.take_ack()(std::string(R"({"text":"not allowed here"})"));
  const auto dropped = fake.push_envelope("interactive", R"({"type":"block_actions"})", false);
  REQUIRE(inbox.wait_for(3));
  { AckFn unused = inbox.take_ack(); }  // the last copy goes away uncalled
  REQUIRE(fake.wait_for_acks(3, kWait));
  acks = fake.acks();
  CHECK(acks[1].envelope_id == no_payload);
  CHECK_FALSE(acks[1].payload_json.has_value());
  CHECK(acks[2].envelope_id == dropped);
  CHECK_FALSE(acks[2].payload_json.has_value());
}

TEST_CASE("Socket Mode: a retried envelope is acked twice but handled once", "[slack][socket_mode]") {
  // Slack redelivers an envelope whose ack it missed, with retry_attempt
  // incremented: ack it again, but do not page twice.
  test::FakeSocketMode fake;
  Opener opener{fake};
  Inbox inbox;
  SlackSocketMode client(options_for(opener), inbox.handler(true));
  client.start();
  REQUIRE(wait_until([&] { return client.connected(); }));

  const auto id = fake.push_envelope("events_api", kEvent);
  REQUIRE(fake.wait_for_acks(1, kWait));
  fake.push_envelope("events_api", kEvent, false, 1, id);
  REQUIRE(fake.wait_for_acks(2, kWait));
  // A new envelope (another event) after the retry is handled normally.
  auto other_event = kEvent;
  other_event.replace(other_event.find("Ev1"), 3, "Ev2");
  const auto next = fake.push_envelope("events_api", other_event);
  REQUIRE(fake.wait_for_acks(3, kWait));

  const auto acks = fake.acks();
  CHECK(acks[0].envelope_id == id);
  CHECK(acks[1].envelope_id == id);
  CHECK(acks[2].envelope_id == next);
  REQUIRE(inbox.size() == 2);
  CHECK(inbox.envelopes[0].envelope_id == id);
  CHECK(inbox.envelopes[1].envelope_id == next);
  CHECK(client.stats().duplicates == 1);
}

TEST_CASE("Socket Mode: an envelope retried under a new envelope id is handled once", "[slack][socket_mode]") {
  // Slack may deliver an envelope it considers unacknowledged again under a
  // NEW envelope id, with retry_attempt > 0. The content says it is the same
  // user action: a slash command's trigger_id, a button's trigger_id, an
  // event's event_id. Each is acked every time, handed over once (it used to
  // open a second incident). Another action with a new trigger_id is handled.
  test::FakeSocketMode fake;
  Opener opener{fake};
  Inbox inbox;
  SlackSocketMode client(options_for(opener), inbox.handler(true));
  client.start();
  REQUIRE(wait_until([&] { return client.connected(); }));

  const std::string command = R"({"command":"/baton","text":"incident new Disk full","user_id":"U1",)"
                              R"("channel_id":"C1","trigger_id":"111.222.aaa"})";
  const std::string button = R"({"type":"block_actions","user":{"id":"U1"},"trigger_id":"333.444.bbb",)"
                             R"("actions":[{"action_id":"baton_ack","value":"1","action_ts":"1700000001.000200"}]})";
  fake.push_envelope("slash_commands", command, true);
  fake.push_envelope("interactive", button);
  fake.push_envelope("events_api", kEvent);
  REQUIRE(fake.wait_for_acks(3, kWait));
  fake.push_envelope("slash_commands", command, true, 1);
  fake.push_envelope("interactive", button, false, 1);
  fake.push_envelope("events_api", kEvent, false, 2);
  REQUIRE(fake.wait_for_acks(6, kWait));
  auto another = command;
  another.replace(another.find("111.222.aaa"), 11, "555.666.ccc");
  fake.push_envelope("slash_commands", another, true);
  REQUIRE(fake.wait_for_acks(7, kWait));

  REQUIRE(inbox.size() == 4);
  CHECK(inbox.envelopes[0].content_key == "slack-command:111.222.aaa");
  CHECK(inbox.envelopes[1].content_key == "slack-action:333.444.bbb");
  CHECK(inbox.envelopes[2].content_key == "slack-event:Ev1");
  CHECK(inbox.envelopes[3].content_key == "slack-command:555.666.ccc");
  CHECK(client.stats().duplicates == 3);
}

TEST_CASE("Socket Mode: refresh_requested opens the new connection before closing the old", "[slack][socket_mode]") {
  // The second open_url call is held at a gate, so the test can push an
  // envelope on the old connection while the switch is under way.
  test::FakeSocketMode fake;
  std::mutex gate_mutex;
  std::condition_variable gate_cv;
  bool gate_open = false;
  std::atomic<int> calls{0};
  Inbox inbox;
  SocketModeOptions o;
  o.initial_backoff = 20ms;
  o.max_backoff = 200ms;
  o.open_url = [&]() -> Result<std::string> {
    if (++calls >= 2) {
      std::unique_lock lock(gate_mutex);
      gate_cv.wait_for(lock, kWait, [&] { return gate_open; });
    }
    return fake.url();
  };
  SlackSocketMode client(o, inbox.handler(true));
  client.start();
  REQUIRE(wait_until([&] { return client.connected(); }));

  fake.send_disconnect("refresh_requested");
  REQUIRE(wait_until([&] { return calls == 2; }));
  // During the switch the old connection still delivers and acks.
  const auto during = fake.push_envelope("events_api", event_with_id("Ev-during"));
  REQUIRE(fake.wait_for_acks(1, kWait));
  CHECK(fake.acks()[0].envelope_id == during);
  CHECK(fake.acks()[0].connection == 1);
  {
    std::lock_guard lock(gate_mutex);
    gate_open = true;
  }
  gate_cv.notify_all();

  REQUIRE(fake.wait_for_connections(2, kWait));
  REQUIRE(fake.wait_for_open_connections(1, kWait));
  const auto log = fake.connection_log();
  CHECK(log[1].others_open == 1);  // opened while the first was still open
  CHECK_FALSE(log[0].open);
  CHECK(log[0].closed_by_client);  // a clean close, after the new hello
  CHECK(log[1].open);
  CHECK(log[0].ticket != log[1].ticket);

  const auto after = fake.push_envelope("events_api", event_with_id("Ev-after"));
  REQUIRE(fake.wait_for_acks(2, kWait));
  CHECK(fake.acks()[1].envelope_id == after);
  CHECK(fake.acks()[1].connection == 2);
  CHECK(inbox.size() == 2);
  CHECK(client.connected());
  CHECK(client.stats().refreshes == 1);
  CHECK(fake.refused_handshakes() == 0);
}

TEST_CASE("Socket Mode: an abrupt drop reconnects with a fresh URL", "[slack][socket_mode]") {
  // No close frame: the read fails, the client backs off briefly, calls
  // open_url again (URLs are single use) and carries on; a redelivery of an
  // envelope handled before the drop is acked, not handled again.
  test::FakeSocketMode fake;
  Opener opener{fake};
  Inbox inbox;
  SlackSocketMode client(options_for(opener), inbox.handler(true));
  client.start();
  REQUIRE(wait_until([&] { return client.connected(); }));
  const auto first = fake.push_envelope("events_api", event_with_id("Ev-first"));
  REQUIRE(fake.wait_for_acks(1, kWait));

  fake.drop_connection();
  REQUIRE(fake.wait_for_connections(2, kWait));
  REQUIRE(wait_until([&] { return client.connected(); }));
  CHECK(opener.calls == 2);
  CHECK(fake.refused_handshakes() == 0);
  const auto log = fake.connection_log();
  CHECK_FALSE(log[0].closed_by_client);
  CHECK(log[0].ticket != log[1].ticket);

  fake.push_envelope("events_api", event_with_id("Ev-first"), false, 1, first);
  const auto second = fake.push_envelope("events_api", event_with_id("Ev-second"));
  REQUIRE(fake.wait_for_acks(3, kWait));
  const auto acks = fake.acks();
  CHECK(acks[1].envelope_id == first);
  CHECK(acks[1].connection == 2);
  CHECK(acks[2].envelope_id == second);
  REQUIRE(inbox.size() == 2);
  CHECK(inbox.envelopes[1].envelope_id == second);
}

TEST_CASE("Socket Mode: open_url failures are retried with backoff", "[slack][socket_mode]") {
  // apps.connections.open failing (Slack down) is not fatal.
  test::FakeSocketMode fake;
  std::atomic<int> calls{0};
  Inbox inbox;
  SocketModeOptions o;
  o.initial_backoff = 10ms;
  o.max_backoff = 100ms;
  o.open_url = [&]() -> Result<std::string> {
    if (++calls <= 2) return fail(ErrorKind::transient, "service_unavailable");
    return fake.url();
  };
  SlackSocketMode client(o, inbox.handler(true));
  client.start();
  REQUIRE(wait_until([&] { return client.connected(); }));
  CHECK(calls == 3);
  const auto st = client.stats();
  CHECK(st.connect_failures == 2);
  CHECK(st.last_error == "service_unavailable");
}

TEST_CASE("Socket Mode: too_many_websockets backs off, then reconnects", "[slack][socket_mode]") {
  test::FakeSocketMode fake;
  Opener opener{fake};
  Inbox inbox;
  SlackSocketMode client(options_for(opener), inbox.handler(true));
  client.start();
  REQUIRE(wait_until([&] { return client.connected(); }));
  fake.send_disconnect("too_many_websockets");
  REQUIRE(fake.wait_for_connections(2, kWait));
  REQUIRE(fake.wait_for_open_connections(1, kWait));
  CHECK(fake.connection_log()[0].closed_by_client);
  CHECK(opener.calls == 2);
  CHECK(client.stats().last_error == "too_many_websockets");
}

TEST_CASE("Socket Mode: link_disabled stops the client", "[slack][socket_mode]") {
  // Socket Mode was turned off for the app: close, do not reconnect, report.
  test::FakeSocketMode fake;
  Opener opener{fake};
  Inbox inbox;
  SlackSocketMode client(options_for(opener), inbox.handler(true));
  client.start();
  REQUIRE(wait_until([&] { return client.connected(); }));
  fake.send_disconnect("link_disabled");
  REQUIRE(wait_until([&] { return client.stats().state == SocketModeState::disabled; }));
  REQUIRE(fake.wait_for_open_connections(0, kWait));
  CHECK(fake.connection_log()[0].closed_by_client);
  CHECK_FALSE(client.connected());
  CHECK(client.stats().last_error == "link_disabled");
  CHECK(opener.calls == 1);
  CHECK(fake.connections() == 1);
  client.stop();
  CHECK(client.stats().state == SocketModeState::disabled);
}

TEST_CASE("Socket Mode: open_url_async connects through the Web API client without a helper thread", "[slack][socket_mode]") {
  // Scenario: the URL comes from apps.connections.open on the non-blocking
  // client (a fake Slack Web API): the client connects, handles an envelope,
  // and after a refresh asks for a fresh URL again; a failed call is retried.
  test::FakeSocketMode socket;
  test::FakeSlack slack;
  test::SlackNet net;
  slack::SlackWebApi api(slack::SlackConfig{slack.base_url(), "xoxb-test-token", 5s}, net.http(), net.io());
  slack.set_socket_url(socket.url());
  slack.fail_next("apps.connections.open", "internal_error");
  Inbox inbox;
  SocketModeOptions o;
  o.initial_backoff = 10ms;
  o.max_backoff = 100ms;
  o.open_url_async = [&api, &slack, &socket](auto done) {
    slack.set_socket_url(socket.url());  // single use: a fresh one for every call
    api.open_connection_async("xapp-test-token", std::move(done));
  };
  SlackSocketMode client(o, inbox.handler(true));
  client.start();
  REQUIRE(wait_until([&] { return client.connected(); }));
  CHECK(client.stats().connect_failures == 1);
  CHECK(slack.calls("apps.connections.open").size() == 2);
  socket.push_envelope("events_api", kEvent);
  REQUIRE(socket.wait_for_acks(1, kWait));
  socket.send_disconnect("refresh_requested");
  REQUIRE(socket.wait_for_connections(2, kWait));
  REQUIRE(wait_until([&] { return client.connected(); }));
  CHECK(slack.calls("apps.connections.open").size() == 3);
  client.stop();
}

TEST_CASE("Socket Mode: stop() does not wait for an open_url_async answer", "[slack][socket_mode]") {
  // Scenario: apps.connections.open never answers before stop(); stop()
  // returns, and the late answer is dropped (it reaches no connection).
  test::FakeSocketMode socket;
  Inbox inbox;
  std::mutex mutex;
  std::function<void(Result<std::string>)> pending;
  SocketModeOptions o;
  o.open_url_async = [&](auto done) {
    std::lock_guard lock(mutex);
    pending = std::move(done);
  };
  {
    SlackSocketMode client(o, inbox.handler(true));
    client.start();
    REQUIRE(wait_until([&] {
      std::lock_guard lock(mutex);
      return pending != nullptr;
    }));
    client.stop();
    CHECK(client.stats().state == SocketModeState::stopped);
  }
  std::lock_guard lock(mutex);
  pending(socket.url());  // after the client is gone: nothing happens
  CHECK(socket.connections() == 0);
}
