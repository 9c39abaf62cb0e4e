// Escalation engine scenarios, driven by a fake clock. Each test states its
// scenario first; all of them go through the public Engine API only.
#include <catch2/catch.hpp>

#include "engine/engine.hpp"
#include "tests/support/fake_clock.hpp"

using namespace baton;
using namespace baton::engine;
using namespace std::chrono_literals;

namespace {

Person person(std::string id, std::vector<ContactRule> chain = {}) {
  Person p;
  p.id = id;
  p.name = id;
  p.email = id + "@example.com";
  p.contact_chain = std::move(chain);
  return p;
}

EscalationStep step_person(std::string id, Seconds timeout) {
  return EscalationStep{{Target{Target::Kind::person, std::move(id)}}, timeout};
}

/// alice -> bob -> carol, 5 min / 90 s / 60 s, one repeat; service "payments"
/// with key "key-pay". A schedule "future" whose rotation starts in 2030.
std::shared_ptr<Directory> make_directory() {
  auto d = std::make_shared<Directory>();
  for (auto id : {"alice", "bob", "carol"}) d->people.emplace(id, person(id));
  d->people["dave"] = person("dave", {{MethodKind::webhook, 0s}, {MethodKind::email, 120s}, {MethodKind::sms, 300s}});
  EscalationPolicy p;
  p.id = "pay";
  p.name = "Payments";
  p.steps = {step_person("alice", 300s), step_person("bob", 90s), step_person("carol", 60s)};
  p.repeat = 1;
  d->policies.emplace(p.id, p);

  Schedule future;
  future.id = "future";
  future.name = "Starts later";
  Layer layer;
  layer.name = "weekly";
  layer.participants = {"bob"};
  layer.unit = ShiftUnit::weeks;
  layer.start_local = "2030-01-07T09:00";
  future.layers.push_back(layer);
  d->schedules.emplace(future.id, future);

  EscalationPolicy gap;
  gap.id = "gap";
  gap.steps = {EscalationStep{{Target{Target::Kind::schedule, "future"}}, 300s}, step_person("carol", 300s)};
  d->policies.emplace(gap.id, gap);

  EscalationPolicy chain;
  chain.id = "chain";
  chain.steps = {step_person("dave", 600s), step_person("bob", 600s)};
  d->policies.emplace(chain.id, chain);

  for (auto [id, policy, key] : {std::tuple{"payments", "pay", "key-pay"}, std::tuple{"gapsvc", "gap", "key-gap"},
                                 std::tuple{"chainsvc", "chain", "key-chain"}}) {
    Service s;
    s.id = id;
    s.name = id;
    s.escalation_policy = policy;
    s.integration_keys = {key};
    d->services.emplace(s.id, s);
    d->integration_keys.emplace(key, s.id);
  }
  return d;
}

Alert trigger(std::string key = "key-pay", std::string dedup = "db-7/disk") {
  Alert a;
  a.integration_key = std::move(key);
  a.action = AlertAction::trigger;
  a.dedup_key = std::move(dedup);
  a.summary = "Disk 95% full on db-7";
  a.source_name = "db-7";
  a.severity = Severity::critical;
  a.details_json = "{}";
  return a;
}

Alert with_action(Alert a, AlertAction action) {
  a.action = action;
  return a;
}

std::vector<std::string> pages_to(const Effects& fx) {
  std::vector<std::string> out;
  for (const auto& n : fx.notifications)
    if (n.kind == NotificationKind::page) out.push_back(n.person + ":" + to_string(n.method));
  return out;
}

bool has_event(const Effects& fx, TimelineKind kind) {
  for (const auto& e : fx.timeline)
    if (e.kind == kind) return true;
  return false;
}

struct World {
  test::FakeClock clock;
  Engine engine{make_directory()};

  Effects ingest(const Alert& a) {
    auto r = engine.ingest(a, clock.now());
    REQUIRE(r.has_value());
    return std::move(*r);
  }
  Effects tick() { return engine.tick(clock.now()); }
};

const Actor kApi{"api:ops", Source::api};

}  // namespace

TEST_CASE("a new alert opens one incident and pages only step 1's owner") {
  // Scenario: a critical trigger for a service with a 3-step policy. Expect
  // incident #1, triggered, owner alice, one webhook page to alice, a
  // triggered and a paged timeline event, and a timer at +5 min.
  World w;
  auto fx = w.ingest(trigger());
  REQUIRE(fx.incidents.size() == 1);
  const auto& inc = fx.incidents.back();
  CHECK(inc.number == 1);
  CHECK(inc.state == IncidentState::triggered);
  CHECK(inc.owner == "alice");
  CHECK(pages_to(fx) == std::vector<std::string>{"alice:webhook"});
  CHECK(has_event(fx, TimelineKind::triggered));
  CHECK(has_event(fx, TimelineKind::paged));
  CHECK(fx.alerts.size() == 1);
  REQUIRE(w.engine.next_wakeup());
  CHECK(*w.engine.next_wakeup() == w.clock.now() + 300s);
  CHECK(fx.notifications.front().idempotency_key == "baton-1-1");
}

TEST_CASE("a duplicate trigger adds nothing and needs no write") {
  // Scenario: the same dedup key arrives twice; the second returns empty
  // effects (no new incident, no page) but names the open incident.
  World w;
  w.ingest(trigger());
  auto fx = w.ingest(trigger());
  CHECK(fx.empty());
  REQUIRE(fx.touched == std::vector<std::int64_t>{1});
  CHECK(w.engine.open_count() == 1);
  CHECK(w.engine.stats().alerts_deduplicated == 1);
  // Another dedup key is another incident.
  auto other = w.ingest(trigger("key-pay", "other"));
  CHECK(other.incidents.back().number == 2);
}

TEST_CASE("acknowledging at step 1 stops the escalation") {
  // Scenario: trigger, ack by alice at +1 min through Slack. The incident is
  // acknowledged, alice owns it, an update goes to the webhook she was paged
  // on, and nothing fires even an hour later.
  World w;
  w.ingest(trigger());
  w.clock.advance(1min);
  auto fx = w.engine.acknowledge(1, Actor{"alice", Source::slack}, w.clock.now());
  REQUIRE(fx);
  CHECK(fx->incidents.back().state == IncidentState::acknowledged);
  CHECK(fx->incidents.back().acknowledged_at == w.clock.now());
  REQUIRE(fx->notifications.size() == 1);
  CHECK(fx->notifications[0].kind == NotificationKind::update);
  CHECK(fx->timeline.back().actor == "alice");
  CHECK(fx->timeline.back().channel == Source::slack);
  CHECK_FALSE(w.engine.next_wakeup());
  w.clock.advance(1h);
  CHECK(w.tick().empty());
  // A second ack is a conflict; an unknown incident is not found.
  CHECK(w.engine.acknowledge(1, kApi, w.clock.now()).error().kind == ErrorKind::conflict);
  CHECK(w.engine.acknowledge(99, kApi, w.clock.now()).error().kind == ErrorKind::not_found);
}

TEST_CASE("no acknowledgement escalates step by step, repeats, then stops") {
  // Scenario: nobody acks. At +5 min bob is paged (step 2), at +6.5 min carol
  // (step 3), at +7.5 min the policy repeats once from alice, and after the
  // second round it is exhausted: no more timers, carol stays owner.
  World w;
  w.ingest(trigger());
  w.clock.advance(299s);
  CHECK(w.tick().empty());
  w.clock.advance(1s);
  auto fx = w.tick();
  CHECK(pages_to(fx) == std::vector<std::string>{"bob:webhook"});
  CHECK(has_event(fx, TimelineKind::escalated));
  CHECK(fx.incidents.back().owner == "bob");
  // alice's page is updated to show the escalation.
  REQUIRE(std::count_if(fx.notifications.begin(), fx.notifications.end(), [](const Notification& n) {
            return n.kind == NotificationKind::update && n.person == "alice";
          }) == 1);
  CHECK(fx.incidents.back().escalation.step == 1);

  w.clock.advance(90s);
  fx = w.tick();
  CHECK(pages_to(fx) == std::vector<std::string>{"carol:webhook"});

  w.clock.advance(60s);
  fx = w.tick();
  CHECK(pages_to(fx) == std::vector<std::string>{"alice:webhook"});
  CHECK(fx.incidents.back().escalation.round == 1);

  // A late tick pages the next step once and gives it its full timeout from
  // now, rather than paging several steps in one burst.
  w.clock.advance(300s + 90s + 60s);
  fx = w.tick();
  CHECK(pages_to(fx) == std::vector<std::string>{"bob:webhook"});
  w.clock.advance(90s);
  CHECK(pages_to(w.tick()) == std::vector<std::string>{"carol:webhook"});
  w.clock.advance(60s);
  fx = w.tick();
  CHECK(pages_to(fx).empty());
  CHECK(has_event(fx, TimelineKind::policy_exhausted));
  CHECK_FALSE(w.engine.next_wakeup());
  CHECK(w.engine.find(1)->state == IncidentState::triggered);
  CHECK(w.engine.find(1)->owner == "carol");
}

TEST_CASE("acknowledging at step 2 after an escalation") {
  // Scenario: step 1 times out, bob is paged, bob acks; updates go to both
  // alice's and bob's channels and escalation stops.
  World w;
  w.ingest(trigger());
  w.clock.advance(300s);
  w.tick();
  auto fx = w.engine.acknowledge(1, Actor{"bob", Source::api}, w.clock.now());
  REQUIRE(fx);
  CHECK(fx->notifications.size() == 2);
  CHECK(fx->incidents.back().owner == "bob");
  w.clock.advance(1h);
  CHECK(w.tick().empty());
}

TEST_CASE("manual escalation moves on now and re-triggers an acknowledged incident") {
  // Scenario: alice acks, then escalates; bob is paged at once, the incident
  // is triggered again and a new step timer runs (90 s).
  World w;
  w.ingest(trigger());
  REQUIRE(w.engine.acknowledge(1, Actor{"alice", Source::api}, w.clock.now()));
  auto fx = w.engine.escalate(1, Actor{"alice", Source::api}, w.clock.now());
  REQUIRE(fx);
  CHECK(pages_to(*fx) == std::vector<std::string>{"bob:webhook"});
  CHECK(fx->incidents.back().state == IncidentState::triggered);
  CHECK_FALSE(fx->incidents.back().acknowledged_at);
  CHECK(*w.engine.next_wakeup() == w.clock.now() + 90s);
}

TEST_CASE("reassigning pages the new owner and restarts the step timer") {
  // Scenario: at +4 min the incident is reassigned to carol: carol is paged,
  // owner is carol, and the step-1 timeout counts from now (+5 min).
  World w;
  w.ingest(trigger());
  w.clock.advance(4min);
  auto fx = w.engine.reassign(1, "carol", kApi, w.clock.now());
  REQUIRE(fx);
  CHECK(pages_to(*fx) == std::vector<std::string>{"carol:webhook"});
  CHECK(fx->incidents.back().owner == "carol");
  CHECK(has_event(*fx, TimelineKind::reassigned));
  CHECK(*w.engine.next_wakeup() == w.clock.now() + 300s);
  CHECK(w.engine.reassign(1, "nobody", kApi, w.clock.now()).error().kind == ErrorKind::not_found);
}

TEST_CASE("the contact chain follows its delays and stops at acknowledgement") {
  // Scenario: dave's chain is webhook at 0, email at 2 min, sms at 5 min. The
  // webhook goes at once, email at +2 min, sms at +5 min; an ack at +6 min
  // stops everything.
  World w;
  auto fx = w.ingest(trigger("key-chain"));
  CHECK(pages_to(fx) == std::vector<std::string>{"dave:webhook"});
  CHECK(*w.engine.next_wakeup() == w.clock.now() + 120s);
  w.clock.advance(119s);
  CHECK(w.tick().empty());
  w.clock.advance(1s);
  CHECK(pages_to(w.tick()) == std::vector<std::string>{"dave:email"});
  w.clock.advance(180s);
  CHECK(pages_to(w.tick()) == std::vector<std::string>{"dave:sms"});
  w.clock.advance(60s);
  auto ack = w.engine.acknowledge(1, Actor{"dave", Source::sms}, w.clock.now());
  REQUIRE(ack);
  CHECK(ack->notifications.size() == 3);  // one update per channel that paged
  w.clock.advance(1h);
  CHECK(w.tick().empty());
}

TEST_CASE("a delivery failure tries the next contact method at once") {
  // Scenario: dave's webhook page fails permanently: email goes immediately
  // (not at +2 min) with timeline notes; the sms keeps its +5 min slot.
  World w;
  auto fx = w.ingest(trigger("key-chain"));
  const auto page = fx.notifications.front();
  w.clock.advance(3s);
  auto res = w.engine.delivery_result(page, DeliveryStatus::failed, "HTTP 410", w.clock.now());
  CHECK(pages_to(res) == std::vector<std::string>{"dave:email"});
  CHECK(has_event(res, TimelineKind::notification_failed));
  CHECK(*w.engine.next_wakeup() == w.clock.now() - 3s + 300s);
  // A failed email also moves on at once: sms now.
  auto email = res.notifications.front();
  auto res2 = w.engine.delivery_result(email, DeliveryStatus::failed, "550 no such user", w.clock.now());
  CHECK(pages_to(res2) == std::vector<std::string>{"dave:sms"});
  // Delivered pages only add a timeline row.
  auto ok = w.engine.delivery_result(res2.notifications.front(), DeliveryStatus::delivered, "", w.clock.now());
  CHECK(ok.incidents.empty());
  CHECK(has_event(ok, TimelineKind::notification_sent));
}

TEST_CASE("the first failed attempt of a page starts the next method while it retries") {
  // Scenario: dave's webhook page fails its first attempt (the channel will
  // retry): email starts at once, and the timeline says it is retrying. The
  // same page failing again (a retry) or for good moves the chain no further:
  // sms keeps its +5 min slot. Acknowledging then stops nothing the engine
  // must re-send; the chain is done.
  World w;
  auto fx = w.ingest(trigger("key-chain"));
  const auto page = fx.notifications.front();
  w.clock.advance(1s);
  auto first = w.engine.delivery_result(page, DeliveryStatus::retrying, "transient: connection refused", w.clock.now());
  CHECK(pages_to(first) == std::vector<std::string>{"dave:email"});
  bool retrying_line = false;
  for (const auto& e : first.timeline)
    retrying_line = retrying_line || e.message.find("failed, retrying: transient: connection refused") != std::string::npos;
  CHECK(retrying_line);
  w.clock.advance(2s);
  auto again = w.engine.delivery_result(page, DeliveryStatus::retrying, "transient: timeout", w.clock.now());
  CHECK(pages_to(again).empty());
  CHECK(has_event(again, TimelineKind::notification_failed));
  auto final_failure = w.engine.delivery_result(page, DeliveryStatus::failed, "gave up after 6 attempts", w.clock.now());
  CHECK(pages_to(final_failure).empty());
  // The chain remembers which pages moved it: the snapshot carries it.
  REQUIRE_FALSE(first.incidents.empty());
  CHECK(first.incidents.back().contact.moved_on == std::vector<std::int64_t>{page.id});
  w.clock.advance(297s);
  CHECK(pages_to(w.tick()) == std::vector<std::string>{"dave:sms"});
}

TEST_CASE("a step whose schedule has nobody on call is skipped at once") {
  // Scenario: step 1 targets a schedule whose rotation starts in 2030. It is
  // skipped immediately with a timeline note and carol (step 2) is paged now.
  World w;
  auto fx = w.ingest(trigger("key-gap"));
  CHECK(has_event(fx, TimelineKind::step_skipped));
  CHECK(pages_to(fx) == std::vector<std::string>{"carol:webhook"});
  CHECK(fx.incidents.back().escalation.step == 1);
}

TEST_CASE("the policy is snapshotted: a reload does not change a running escalation") {
  // Scenario: after the trigger the config is reloaded with step 2 -> carol.
  // The running incident still pages bob at step 2; a new incident uses carol.
  World w;
  w.ingest(trigger());
  auto d = make_directory();
  d->policies["pay"].steps[1] = step_person("carol", 90s);
  w.engine.set_directory(d);
  w.clock.advance(300s);
  CHECK(pages_to(w.tick()) == std::vector<std::string>{"bob:webhook"});
  w.ingest(trigger("key-pay", "new"));
  w.clock.advance(300s);
  auto fx = w.tick();
  CHECK(pages_to(fx) == std::vector<std::string>{"carol:webhook", "carol:webhook"});
}

TEST_CASE("resolve and acknowledge events act on the open incident by dedup key") {
  // Scenario: trigger; an acknowledge event acks it; a resolve event resolves
  // and closes it; the same dedup key then opens a new incident. Ack/resolve
  // for keys with nothing open are accepted and change nothing.
  World w;
  w.ingest(trigger());
  auto ack = w.ingest(with_action(trigger(), AlertAction::acknowledge));
  CHECK(ack.incidents.back().state == IncidentState::acknowledged);
  CHECK(ack.timeline.back().actor == "integration:payments");
  auto res = w.ingest(with_action(trigger(), AlertAction::resolve));
  CHECK(res.incidents.back().state == IncidentState::resolved);
  CHECK(w.engine.open_count() == 0);
  CHECK(w.ingest(with_action(trigger(), AlertAction::resolve)).empty());
  CHECK(w.ingest(with_action(trigger("key-pay", "nothing"), AlertAction::acknowledge)).empty());
  auto again = w.ingest(trigger());
  CHECK(again.incidents.back().number == 2);
}

TEST_CASE("an unknown integration key is refused") {
  World w;
  auto r = w.engine.ingest(trigger("nope"), w.clock.now());
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == ErrorKind::invalid_request);
  CHECK(w.engine.open_count() == 0);
}

TEST_CASE("an Alertmanager group is one incident; only new alert states are written") {
  // Scenario: a group of two firing alerts opens one incident; the same
  // notification again changes nothing; a third alert joining adds one alert
  // and one timeline row; no new page is sent.
  World w;
  Alert a = trigger("key-pay", "am:escalator:{}:{alertname=\"X\"}");
  a.source = Source::alertmanager;
  a.group = {GroupAlert{"f1", true, "2026-01-01T00:00:00Z", "api-1 down"},
             GroupAlert{"f2", true, "2026-01-01T00:00:00Z", "api-2 down"}};
  auto fx = w.ingest(a);
  CHECK(fx.incidents.back().alert_count == 2);
  CHECK(w.ingest(a).empty());
  a.group.push_back(GroupAlert{"f3", true, "2026-01-01T00:01:00Z", "api-3 down"});
  auto more = w.ingest(a);
  CHECK(more.incidents.back().alert_count == 3);
  CHECK(has_event(more, TimelineKind::alert));
  CHECK(pages_to(more).empty());
}

TEST_CASE("an incident restored after a restart resumes its escalation") {
  // Scenario: trigger; keep the snapshot the engine asked to persist; a new
  // engine (a restart) restores it, numbering continues after it, and at the
  // step-1 deadline bob is paged.
  World w;
  auto fx = w.ingest(trigger());
  Incident saved = fx.incidents.back();
  Engine restarted(make_directory(), 2, 2);
  restarted.restore(saved);
  CHECK(restarted.open_count() == 1);
  CHECK(*restarted.next_wakeup() == w.clock.now() + 300s);
  w.clock.advance(300s);
  auto step2 = restarted.tick(w.clock.now());
  CHECK(pages_to(step2) == std::vector<std::string>{"bob:webhook"});
  CHECK(step2.notifications.front().id == 2);
  // Dedup still works against restored incidents.
  auto dup = restarted.ingest(trigger(), w.clock.now());
  REQUIRE(dup);
  CHECK(dup->empty());
}

TEST_CASE("manual incidents and bad manual input") {
  // Scenario: an incident created through the API pages like an alert; an
  // unknown service or an empty summary are refused.
  World w;
  auto fx = w.engine.create("payments", "Checkout is slow", Severity::warning, kApi, w.clock.now());
  REQUIRE(fx);
  CHECK(fx->incidents.back().created_by == Source::api);
  CHECK(pages_to(*fx) == std::vector<std::string>{"alice:webhook"});
  CHECK(w.engine.create("nope", "x", Severity::info, kApi, w.clock.now()).error().kind == ErrorKind::not_found);
  CHECK(w.engine.create("payments", "", Severity::info, kApi, w.clock.now()).error().kind ==
        ErrorKind::invalid_request);
}

TEST_CASE("identical policy snapshots are shared between incidents") {
  World w;
  auto a = w.ingest(trigger("key-pay", "a"));
  auto b = w.ingest(trigger("key-pay", "b"));
  CHECK(a.incidents.back().policy.get() == b.incidents.back().policy.get());
}

TEST_CASE("contact-chain links without a configured channel are skipped") {
  // Scenario: only the webhook channel exists. dave's chain (webhook, email at
  // 2 min, sms at 5 min) pages by webhook only; no timer waits for email/sms.
  // A person whose chain has no usable link is paged on the first channel.
  auto d = make_directory();
  d->channels = {MethodKind::webhook};
  d->people["erin"] = person("erin", {{MethodKind::sms, 0s}});
  EscalationPolicy p;
  p.id = "erin";
  p.steps = {step_person("erin", 600s)};
  d->policies.emplace(p.id, p);
  Service s;
  s.id = "erinsvc";
  s.escalation_policy = "erin";
  d->services.emplace(s.id, s);
  d->integration_keys.emplace("key-erin", s.id);
  test::FakeClock clock;
  Engine engine(d);
  auto fx = engine.ingest(trigger("key-chain"), clock.now());
  REQUIRE(fx);
  CHECK(pages_to(*fx) == std::vector<std::string>{"dave:webhook"});
  CHECK(*engine.next_wakeup() == clock.now() + 600s);  // only the step timeout
  auto erin = engine.ingest(trigger("key-erin"), clock.now());
  REQUIRE(erin);
  CHECK(pages_to(*erin) == std::vector<std::string>{"erin:webhook"});
}

TEST_CASE("quiet hours hold low-urgency pages, not urgent ones") {
  // Scenario: dave's quiet hours are 22:00-07:00 in Europe/London (UTC in
  // January). A warning at 23:00 is not sent: the page, its contact chain and
  // the step timeout wait until 07:00; at 07:00 the webhook page goes out and
  // the 10-minute step timeout runs from then. A critical alert at 23:00 pages
  // at once.
  auto d = make_directory();
  d->people["dave"].time_zone = "Europe/London";
  d->people["dave"].quiet_hours = Person::QuietHours{22 * 60, 7 * 60};
  test::FakeClock clock(from_ms(1'767'999'600'000));  // 2026-01-09T23:00:00Z
  Engine engine(d);
  Alert low = trigger("key-chain", "low");
  low.severity = Severity::warning;
  auto fx = engine.ingest(low, clock.now());
  REQUIRE(fx);
  CHECK(pages_to(*fx).empty());
  CHECK(fx->timeline.back().message.find("quiet hours") != std::string::npos);
  const auto seven = clock.now() + 8h;
  CHECK(*engine.next_wakeup() == seven);
  CHECK(fx->incidents.back().escalation.step_deadline == seven + 600s);

  Alert high = trigger("key-chain", "high");
  auto urgent = engine.ingest(high, clock.now());
  REQUIRE(urgent);
  CHECK(pages_to(*urgent) == std::vector<std::string>{"dave:webhook"});

  clock.set(seven - 1s);
  auto early = engine.tick(clock.now());
  for (const auto& n : early.notifications) CHECK(n.incident != 1);
  clock.set(seven);
  auto at_seven = engine.tick(clock.now());
  std::vector<std::string> low_pages;
  for (const auto& n : at_seven.notifications)
    if (n.incident == 1) low_pages.push_back(n.person + ":" + to_string(n.method));
  CHECK(low_pages == std::vector<std::string>{"dave:webhook"});
}

TEST_CASE("a contact chain that runs into quiet hours waits for their end") {
  // Scenario: a warning pages dave at 21:59 (webhook at once); his email at
  // +2 min and sms at +5 min fall in quiet hours (from 22:00) and are sent
  // together at 07:00 (the step timeout is 12 h here, so nobody else is
  // paged in between).
  auto d = make_directory();
  d->people["dave"].quiet_hours = Person::QuietHours{22 * 60, 7 * 60};
  d->policies["chain"].steps[0].timeout = 12h;
  test::FakeClock clock(from_ms(1'767'996'000'000 - 60'000));  // 2026-01-09T21:59:00Z
  Engine engine(d);
  Alert low = trigger("key-chain");
  low.severity = Severity::info;
  auto fx = engine.ingest(low, clock.now());
  REQUIRE(fx);
  CHECK(pages_to(*fx) == std::vector<std::string>{"dave:webhook"});
  clock.advance(2min);
  CHECK(pages_to(engine.tick(clock.now())).empty());
  clock.set(from_ms(1'767'996'000'000) + 9h);  // 07:00
  CHECK(pages_to(engine.tick(clock.now())) == std::vector<std::string>{"dave:email", "dave:sms"});
}

TEST_CASE("a manual page goes to the named person, then escalates as usual") {
  // Scenario: "page carol" on the payments service: carol (not step 1's alice)
  // is paged at once; at step 1's timeout the policy moves on to bob.
  World w;
  auto fx = w.engine.create("payments", "Please look at checkout", Severity::critical, kApi, w.clock.now(), "carol");
  REQUIRE(fx);
  CHECK(pages_to(*fx) == std::vector<std::string>{"carol:webhook"});
  CHECK(fx->incidents.back().owner == "carol");
  w.clock.advance(300s);
  CHECK(pages_to(w.tick()) == std::vector<std::string>{"bob:webhook"});
  CHECK(w.engine.create("payments", "x", Severity::info, kApi, w.clock.now(), "nobody").error().kind ==
        ErrorKind::not_found);
}
