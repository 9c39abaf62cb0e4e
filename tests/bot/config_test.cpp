// The configuration loader: the example manifest, defaults, environment
// substitution, durations, and every class of error with its exact location.
#include <catch2/catch.hpp>

#include <map>

#include "bot/config.hpp"

using baton::bot::Config;
using baton::bot::ConfigError;
using baton::bot::EnvLookup;
using baton::bot::load_config_file;
using baton::bot::load_config_string;
using baton::bot::parse_duration;
namespace engine = baton::engine;
using namespace std::chrono_literals;
using Strings = std::vector<std::string>;

namespace {

EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}
const EnvLookup kNoEnv = env_of({});

Config load_ok(std::string_view yaml, EnvLookup env = kNoEnv) {
  auto r = load_config_string(yaml, "t.yaml", std::move(env));
  if (!r) {
    for (const auto& e : r.error()) UNSCOPED_INFO(e.to_string());
  }
  REQUIRE(r.has_value());
  return std::move(*r);
}

Strings errors_of(std::string_view yaml, EnvLookup env = kNoEnv) {
  auto r = load_config_string(yaml, "t.yaml", std::move(env));
  REQUIRE_FALSE(r.has_value());
  Strings out;
  for (const auto& e : r.error()) out.push_back(e.to_string());
  return out;
}

// A small valid configuration (line numbers matter to tests that append to it).
constexpr std::string_view kMinimal = R"(people:
  alice: {name: Alice}
schedules:
  s1:
    layers:
      - rotation: {unit: weeks, start: "2026-01-05T09:00"}
        participants: [alice]
escalation_policies:
  p1:
    steps:
      - targets: [{schedule: s1}]
services:
  svc:
    escalation_policy: p1
    integration_keys: [k1]
)";

}  // namespace

// The shipped example loads with no environment at all, and means what its comments say.
TEST_CASE("config: the example manifest loads", "[config]") {
  auto r = load_config_file(std::string(BATON_SOURCE_DIR) + "/manifests/baton.example.yaml", kNoEnv);
  if (!r)
    for (const auto& e : r.error()) UNSCOPED_INFO(e.to_string());
  REQUIRE(r.has_value());
  const Config& c = *r;
  CHECK(c.warnings.empty());
  CHECK(c.server.listen == "127.0.0.1:8080");
  CHECK(c.server.public_url == "http://localhost:8080");
  CHECK(c.server.action_secret == "dev-only-action-secret");
  REQUIRE(c.server.api_tokens.size() == 1);
  CHECK(c.server.api_tokens[0] == std::pair<std::string, std::string>{"ops", "dev-only-ops-token"});
  CHECK(c.server.max_body_bytes == 1048576);
  CHECK(c.server.request_timeout == 30s);
  CHECK(c.storage.path == "./baton.db");
  CHECK(c.storage.durability == "full");
  CHECK(c.webhook.enabled);
  CHECK(c.webhook.url == "http://127.0.0.1:9000/hook");
  CHECK(c.webhook.headers == std::vector<std::pair<std::string, std::string>>{{"X-Team", "sre"}});
  CHECK(c.webhook.timeout == 5s);
  CHECK(c.webhook.signing_secret == "dev-only-webhook-secret");
  CHECK(c.dispatch.workers == 4);
  CHECK(c.dispatch.max_attempts == 6);
  CHECK(c.dispatch.base_backoff == 1s);

  const auto& d = *c.directory;
  CHECK(d.people.size() == 4);
  const auto* alice = d.person("alice");
  REQUIRE(alice);
  CHECK(alice->name == "Alice Ng");
  CHECK(alice->phone == "+15551230001");
  CHECK(alice->time_zone == "America/New_York");
  CHECK(alice->slack_user_id == "U0ALICE01");
  REQUIRE(alice->contact_chain.size() == 3);
  CHECK(alice->contact_chain[1].method == engine::MethodKind::email);
  CHECK(alice->contact_chain[1].delay == 120s);
  CHECK(alice->contact_chain[2].method == engine::MethodKind::sms);
  CHECK(d.person("dave")->contact_chain.empty());

  const auto* primary = d.schedule("primary");
  REQUIRE(primary);
  REQUIRE(primary->layers.size() == 2);
  CHECK(primary->layers[0].participants == Strings{"alice", "bob", "carol"});
  CHECK(primary->layers[0].unit == engine::ShiftUnit::weeks);
  CHECK(primary->layers[0].start_local == "2026-01-05T09:00");
  CHECK(primary->layers[1].time_zone == "America/New_York");  // inherited from the schedule
  CHECK(primary->layers[1].unit == engine::ShiftUnit::days);
  REQUIRE(primary->layers[1].restrictions.size() == 1);
  CHECK(primary->layers[1].restrictions[0].days == std::vector<int>{1, 2, 3, 4, 5});
  CHECK(primary->layers[1].restrictions[0].start_minute == 9 * 60);
  CHECK(primary->layers[1].restrictions[0].end_minute == 17 * 60);
  const auto* platform = d.schedule("platform");
  REQUIRE(platform);
  REQUIRE(platform->overrides.size() == 1);
  CHECK(platform->overrides[0].person == "carol");
  CHECK(platform->overrides[0].schedule_id == "platform");
  CHECK(engine::format_iso8601(platform->overrides[0].start) == "2026-12-24T00:00:00.000Z");
  CHECK(engine::format_iso8601(platform->overrides[0].end) == "2026-12-27T00:00:00.000Z");

  const auto* policy = d.policy("payments");
  REQUIRE(policy);
  CHECK(policy->repeat == 2);
  REQUIRE(policy->steps.size() == 3);
  CHECK(policy->steps[0].timeout == 300s);
  CHECK(policy->steps[1].timeout == 90s);
  REQUIRE(policy->steps[1].targets.size() == 2);
  CHECK(policy->steps[1].targets[0].kind == engine::Target::Kind::schedule);
  CHECK(policy->steps[1].targets[1].kind == engine::Target::Kind::person);
  CHECK(policy->steps[1].targets[1].id == "carol");

  CHECK(d.services.size() == 2);
  CHECK(d.service_by_key("payments-dev-key")->id == "payments");
  CHECK(d.service_by_key("platform-am-key")->id == "platform");
  CHECK(d.service("payments")->default_contact_chain.size() == 2);
  CHECK_FALSE(d.service("payments")->open_incident_channel);
}

// The example's secrets come from the environment when it is set; BATON_API_TOKEN adds a token.
TEST_CASE("config: the example manifest with production environment", "[config]") {
  auto r = load_config_file(std::string(BATON_SOURCE_DIR) + "/manifests/baton.example.yaml",
                            env_of({{"BATON_ACTION_SECRET", "prod-secret"},
                                    {"BATON_OPS_TOKEN", "ops-tok"},
                                    {"BATON_API_TOKEN", "env-tok"},
                                    {"BATON_PAYMENTS_KEY", "0123456789abcdef0123456789abcdef"}}));
  REQUIRE(r.has_value());
  CHECK(r->server.action_secret == "prod-secret");
  CHECK(r->server.api_tokens == std::vector<std::pair<std::string, std::string>>{{"ops", "ops-tok"}, {"env", "env-tok"}});
  CHECK(r->directory->service_by_key("0123456789abcdef0123456789abcdef")->id == "payments");
  CHECK(r->directory->service_by_key("payments-dev-key") == nullptr);
}

// Everything left out takes its documented default.
TEST_CASE("config: defaults", "[config]") {
  Config c = load_ok(kMinimal);
  CHECK(c.file == "t.yaml");
  CHECK(c.server.listen == "127.0.0.1:8080");
  CHECK(c.server.public_url == "http://127.0.0.1:8080");
  CHECK(c.server.api_tokens.empty());
  CHECK(c.server.max_body_bytes == 1u << 20);
  CHECK(c.server.request_timeout == 30s);
  CHECK(c.storage.path == "./baton.db");
  CHECK(c.storage.durability == "full");
  CHECK_FALSE(c.webhook.enabled);
  CHECK(c.webhook.timeout == 5000ms);
  CHECK(c.dispatch.workers == 4);
  CHECK(c.dispatch.max_attempts == 6);
  CHECK(c.dispatch.base_backoff == 1000ms);
  // The empty action secret is a warning, not an error.
  CHECK(c.warnings == Strings{"t.yaml: server.action_secret is empty: action links (acknowledge/resolve) will not be signed"});
  const auto& d = *c.directory;
  CHECK(d.person("alice")->time_zone == "UTC");
  CHECK(d.schedule("s1")->name == "s1");
  CHECK(d.schedule("s1")->layers[0].name == "layer-1");
  CHECK(d.schedule("s1")->layers[0].shift_length == 1);
  CHECK(d.schedule("s1")->layers[0].time_zone == "UTC");
  CHECK(d.policy("p1")->repeat == 0);
  CHECK(d.policy("p1")->steps[0].timeout == 300s);
  const auto* svc = d.service("svc");
  CHECK(svc->name == "svc");
  REQUIRE(svc->default_contact_chain.size() == 1);
  CHECK(svc->default_contact_chain[0].method == engine::MethodKind::webhook);
  CHECK(svc->default_contact_chain[0].delay == 0s);
  CHECK_FALSE(svc->open_incident_channel);
}

// An empty document is valid (all defaults) but warns that nothing can be paged.
TEST_CASE("config: empty document", "[config]") {
  Config c = load_ok("");
  CHECK(c.directory->services.empty());
  CHECK(c.warnings.size() == 2);
}

// ${NAME}: set, default, default-when-empty, set-but-empty without default, escape, several per scalar, in integers.
TEST_CASE("config: environment substitution", "[config][env]") {
  const std::string yaml = std::string(kMinimal) + R"(server:
  listen: "${HOST:-127.0.0.1}:${PORT}"
  action_secret: "pre-${SECRET}-post"
  public_url: "${URL:-http://fallback:1}"
storage:
  path: "$${NOT_A_VAR}/$HOME/${EMPTY}"
dispatch:
  workers: ${WORKERS:-8}
webhook:
  url: "${HOOK:-}"
)";
  Config c = load_ok(yaml, env_of({{"PORT", "9999"}, {"SECRET", "s3"}, {"URL", ""}, {"EMPTY", ""}}));
  CHECK(c.server.listen == "127.0.0.1:9999");
  CHECK(c.server.action_secret == "pre-s3-post");
  CHECK(c.server.public_url == "http://fallback:1");  // empty value -> default
  CHECK(c.storage.path == "${NOT_A_VAR}/$HOME/");     // escape kept literally; a lone $ is plain text
  CHECK(c.dispatch.workers == 8);
  CHECK_FALSE(c.webhook.enabled);  // "${HOOK:-}" = empty
}

// An unset variable without a default is an error at the scalar, naming the variable; all are reported.
TEST_CASE("config: unset environment variables are errors with locations", "[config][env]") {
  const std::string yaml = std::string(kMinimal) + R"(server:
  api_tokens: [{name: ops, token: "${BATON_OPS_TOKEN}"}]
  action_secret: ${A}${B:-b}${C}
storage:
  path: "${UNTERMINATED"
  durability: "${bad-name}"
)";
  CHECK(errors_of(yaml) ==
        Strings{"t.yaml:17:35: environment variable BATON_OPS_TOKEN is not set (write ${BATON_OPS_TOKEN:-default} "
                "to give a default)",
                "t.yaml:18:18: environment variable A is not set (write ${A:-default} to give a default)",
                "t.yaml:18:18: environment variable C is not set (write ${C:-default} to give a default)",
                "t.yaml:20:9: unterminated '${' (write '$${' for a literal '${')",
                "t.yaml:21:15: invalid environment variable name 'bad-name' in '${...}'"});
}

// Durations: integers are seconds; unit strings combine; anything else is refused.
TEST_CASE("config: parse_duration", "[config][duration]") {
  CHECK(parse_duration("0") == 0ms);
  CHECK(parse_duration("90") == 90s);
  CHECK(parse_duration("90s") == 90s);
  CHECK(parse_duration("5m") == 300s);
  CHECK(parse_duration("1h") == 3600s);
  CHECK(parse_duration("1h30m") == 5400s);
  CHECK(parse_duration("1h30m15s") == 5415s);
  CHECK(parse_duration("250ms") == 250ms);
  CHECK(parse_duration("1s500ms") == 1500ms);
  CHECK(parse_duration("2d") == 48h);
  for (std::string_view bad : {"", "s", "5x", "1h30", "-5s", "5 m", "1.5s", "m5", "5S", "99999999999999s"}) {
    INFO(bad);
    CHECK_FALSE(parse_duration(bad).has_value());
  }
}

// Durations in the file: bad strings, fractions of seconds where seconds are needed, zero timeouts.
TEST_CASE("config: bad durations are reported where they are", "[config][duration]") {
  const std::string yaml = R"(people:
  alice:
    contact_chain: [{method: webhook, after: soon}, {method: sms, after: 1500ms}]
schedules: {}
escalation_policies:
  p1:
    steps:
      - targets: [{person: alice}]
        timeout: 0
dispatch: {base_backoff: 1h30}
webhook: {timeout: 250ms}
services: {}
server: {request_timeout: -1}
)";
  CHECK(errors_of(yaml) ==
        Strings{R"(t.yaml:3:46: invalid duration 'soon' for 'after' in contact_chain entry 1 of person 'alice' (use seconds, or e.g. "90s", "5m", "1h30m"))",
                "t.yaml:3:74: 'after' in contact_chain entry 2 of person 'alice' must be a whole number of seconds, not '1500ms'",
                "t.yaml:9:18: 'timeout' of step 1 of escalation policy 'p1' must be longer than zero",
                R"(t.yaml:10:26: invalid duration '1h30' for 'base_backoff' in dispatch (use seconds, or e.g. "90s", "5m", "1h30m"))",
                R"(t.yaml:13:27: invalid duration '-1' for 'request_timeout' in server (use seconds, or e.g. "90s", "5m", "1h30m"))"});
}

// Contact chains are kept sorted by delay whatever the file order.
TEST_CASE("config: contact chains are sorted by delay", "[config]") {
  const std::string yaml = std::string(kMinimal) + R"(    contact_chain: [{method: sms, after: 10m}, {method: webhook}, {method: email, after: 1m}]
)";
  Config c = load_ok(yaml);
  const auto& chain = c.directory->service("svc")->default_contact_chain;
  REQUIRE(chain.size() == 3);
  CHECK(chain[0].method == engine::MethodKind::webhook);
  CHECK(chain[0].delay == 0s);
  CHECK(chain[1].method == engine::MethodKind::email);
  CHECK(chain[2].delay == 600s);
}

// A YAML syntax error: one error at the parser's (1-based) position; nothing else is checked.
TEST_CASE("config: YAML syntax errors", "[config][errors]") {
  // yaml-cpp notices an unclosed flow mapping where the next token cannot continue it.
  CHECK(errors_of("people:\n  alice: {name: Alice\nservices: {}\n") ==
        Strings{"t.yaml:3:9: YAML syntax error: end of map flow not found"});
  CHECK(errors_of("server: {listen: x}\nstorage: a: b\n") == Strings{"t.yaml:2:11: YAML syntax error: illegal map value"});
  CHECK(errors_of("people:\n  - alice\n  bob: {}\n") == Strings{"t.yaml:3:3: YAML syntax error: end of map not found"});
  // A list at the top level is not a configuration.
  CHECK(errors_of("- a\n- b\n") ==
        Strings{"t.yaml:1:1: the configuration must be a mapping with server, people, schedules, escalation_policies, services..."});
}

// Unknown keys anywhere, with a suggestion when one is close.
TEST_CASE("config: unknown keys", "[config][errors]") {
  const std::string yaml = R"(people:
  alice: {name: Alice, emial: a@example.com, pager: 1}
schedules:
  s1:
    layers:
      - rotation: {unit: weeks, start: "2026-01-05T09:00", tz: UTC}
        participants: [alice]
escalation_policies:
  p1:
    steps: [{targets: [{person: alice}], timout: 5m}]
services:
  payments:
    escalation_polcy: p1
    integration_keys: [k1]
servers: {}
)";
  CHECK(errors_of(yaml) ==
        Strings{"t.yaml:2:24: unknown key 'emial' in person 'alice' (did you mean 'email'?)",
                "t.yaml:2:46: unknown key 'pager' in person 'alice'",
                "t.yaml:6:60: unknown key 'tz' in rotation of layer 'layer-1' of schedule 's1'",
                "t.yaml:10:42: unknown key 'timout' in step 1 of escalation policy 'p1' (did you mean 'timeout'?)",
                "t.yaml:12:3: 'escalation_policy' of service 'payments' is required",
                "t.yaml:13:5: unknown key 'escalation_polcy' in service 'payments' (did you mean 'escalation_policy'?)",
                "t.yaml:15:1: unknown key 'servers' in the configuration (did you mean 'server'?)"});
}

// Wrong types: mappings vs lists vs scalars, integers, booleans, enumerations, ranges.
TEST_CASE("config: wrong types and bad values", "[config][errors]") {
  const std::string yaml = std::string(kMinimal) + R"(    incident_channel: maybe
server:
  listen: {host: x}
  max_body_bytes: lots
  public_url: ftp://x
  api_tokens: {name: ops}
storage: {durability: sometimes}
dispatch: {workers: 0, max_attempts: 1000}
webhook: {url: "127.0.0.1:9000", headers: [a]}
)";
  CHECK(errors_of(yaml) == Strings{"t.yaml:16:23: 'incident_channel' of service 'svc' must be true or false, not 'maybe'",
                                   "t.yaml:18:11: 'listen' in server must be a string",
                                   "t.yaml:19:19: 'max_body_bytes' in server must be an integer, not 'lots'",
                                   "t.yaml:20:15: 'public_url' in server must start with http:// or https://",
                                   "t.yaml:21:15: 'api_tokens' in server must be a list",
                                   "t.yaml:22:23: 'durability' in storage must be full or normal, not 'sometimes'",
                                   "t.yaml:23:21: 'workers' in dispatch must be between 1 and 256",
                                   "t.yaml:23:38: 'max_attempts' in dispatch must be between 1 and 100",
                                   "t.yaml:24:16: 'url' in webhook must start with http:// or https://",
                                   "t.yaml:24:43: 'headers' in webhook must be a mapping"});
}

// Sections of the wrong shape, bad ids and duplicate ids.
TEST_CASE("config: section shapes and ids", "[config][errors]") {
  const std::string yaml = R"(people:
  - alice
schedules: {}
escalation_policies:
  "bad id": {steps: []}
services:
  svc: {escalation_policy: p1}
  svc: {escalation_policy: p1}
)";
  CHECK(errors_of(yaml) == Strings{"t.yaml:2:3: people must be a mapping",
                                   "t.yaml:5:3: id 'bad id' in escalation_policies may contain only letters, digits, '-', '_' and '.'",
                                   "t.yaml:7:28: unknown escalation policy 'p1' in service 'svc'",
                                   "t.yaml:8:3: duplicate id 'svc' in services"});
}

// References to things that do not exist: policy, person, schedule, participant, override person.
TEST_CASE("config: dangling references", "[config][errors]") {
  const std::string yaml = R"(people:
  alice: {}
schedules:
  s1:
    layers:
      - rotation: {unit: days, start: "2026-01-05T09:00"}
        participants: [alice, bob]
    overrides: [{person: zed, start: "2026-12-24T00:00:00Z", end: "2026-12-25T00:00:00Z"}]
escalation_policies:
  p1:
    steps:
      - targets: [{schedule: nope}, {person: carol}]
services:
  svc: {escalation_policy: p2, integration_keys: [k]}
)";
  CHECK(errors_of(yaml) ==
        Strings{"t.yaml:7:31: unknown person 'bob' in layer 'layer-1' of schedule 's1'",
                "t.yaml:8:26: unknown person 'zed' in override 1 of schedule 's1'",
                "t.yaml:12:30: unknown schedule 'nope' in target 1 of step 1 of escalation policy 'p1'",
                "t.yaml:12:46: unknown person 'carol' in target 2 of step 1 of escalation policy 'p1'",
                "t.yaml:14:28: unknown escalation policy 'p2' in service 'svc'"});
}

// Time zones, local start times, override instants, restrictions, empty rotations.
TEST_CASE("config: schedule validation", "[config][errors]") {
  const std::string yaml = R"(people:
  alice: {time_zone: Mars/Olympus_Mons}
schedules:
  s1:
    time_zone: Europe/Atlantis
    layers:
      - name: bad-start
        rotation: {unit: fortnights, length: 0, start: "next monday", time_zone: UTC}
        participants: []
        restrictions: [{days: [mon, funday], from: "9am", to: "24:00"}, {days: [], from: "00:00", to: "25:00"}]
      - name: bad-zone
        rotation: {start: "2026-01-05T09:00", time_zone: Not/AZone}
        participants: [alice]
    overrides: [{person: alice, start: "2026-12-25T00:00:00Z", end: "2026-12-24T00:00:00Z"}, {person: alice, start: yesterday}]
  s2: {name: Empty}
escalation_policies: {}
services: {}
)";
  CHECK(errors_of(yaml) ==
        Strings{"t.yaml:2:22: unknown time zone 'Mars/Olympus_Mons' for person 'alice'",
                "t.yaml:5:16: unknown time zone 'Europe/Atlantis' for schedule 's1'",
                "t.yaml:8:26: 'unit' of rotation of layer 'bad-start' of schedule 's1' must be hours, days or weeks, not 'fortnights'",
                "t.yaml:8:46: 'length' of rotation of layer 'bad-start' of schedule 's1' must be between 1 and 1000",
                R"(t.yaml:8:56: 'start' of rotation of layer 'bad-start' of schedule 's1' must be a local date-time like "2026-01-05T09:00", not 'next monday')",
                "t.yaml:9:23: layer 'bad-start' of schedule 's1' has no participants",
                "t.yaml:10:37: unknown day 'funday' in restriction 1 of layer 'bad-start' of schedule 's1' (use mon, tue, ... sun)",
                R"(t.yaml:10:52: 'from' of restriction 1 of layer 'bad-start' of schedule 's1' must be a time like "09:00", not '9am')",
                "t.yaml:10:80: 'days' of restriction 2 of layer 'bad-start' of schedule 's1' is empty",
                R"(t.yaml:10:103: 'to' of restriction 2 of layer 'bad-start' of schedule 's1' must be a time like "09:00", not '25:00')",
                "t.yaml:12:58: unknown time zone 'Not/AZone' for rotation of layer 'bad-zone' of schedule 's1'",
                "t.yaml:14:69: 'end' of override 1 of schedule 's1' must be after its start",
                "t.yaml:14:94: 'end' of override 2 of schedule 's1' is required",
                R"(t.yaml:14:117: 'start' of override 2 of schedule 's1' must be an ISO 8601 instant like "2026-12-24T00:00:00Z", not 'yesterday')",
                "t.yaml:15:3: schedule 's2' has no layers"});
}

// Policy shape: no steps, a step without targets, a target naming both or neither.
TEST_CASE("config: escalation policy validation", "[config][errors]") {
  const std::string yaml = R"(people: {alice: {}}
escalation_policies:
  empty: {}
  p1:
    repeat: -1
    steps:
      - timeout: 1m
      - targets: [{person: alice, schedule: s}, {}]
)";
  CHECK(errors_of(yaml) ==
        Strings{"t.yaml:3:3: escalation policy 'empty' has no steps",
                "t.yaml:5:13: 'repeat' of escalation policy 'p1' must be between 0 and 100",
                "t.yaml:7:9: step 1 of escalation policy 'p1' has no targets",
                "t.yaml:8:18: step 2 of escalation policy 'p1' has no targets",
                "t.yaml:8:19: target 1 of step 2 of escalation policy 'p1' must name exactly one of 'person' or 'schedule'",
                "t.yaml:8:49: target 2 of step 2 of escalation policy 'p1' must name exactly one of 'person' or 'schedule'"});
}

// People: E.164 phones, email addresses, contact methods.
TEST_CASE("config: person validation", "[config][errors]") {
  const std::string yaml = R"(people:
  alice: {phone: "555-1234", email: alice.example.com, contact_chain: [{method: pager}, {after: 1m}]}
)";
  CHECK(errors_of(yaml) ==
        Strings{                R"(t.yaml:2:18: 'phone' of person 'alice' must be in E.164 form like "+15551234567", not '555-1234')",
                "t.yaml:2:37: 'email' of person 'alice' is not an email address: 'alice.example.com'",
                "t.yaml:2:81: unknown contact method 'pager' in contact_chain entry 1 of person 'alice' (expected "
                "webhook, slack, teams, email or sms)",
                "t.yaml:2:89: 'method' in contact_chain entry 2 of person 'alice' is required"});
}

// Integration keys are unique across (and within) services.
TEST_CASE("config: duplicate integration keys", "[config][errors]") {
  const std::string yaml = std::string(kMinimal) + R"(  other:
    escalation_policy: p1
    integration_keys: [k2, k1, k2, ""]
)";
  CHECK(errors_of(yaml) ==
        Strings{"t.yaml:18:28: integration key 'k1' of service 'other' is already used by service 'svc' (line 15)",
                "t.yaml:18:32: integration key 'k2' of service 'other' is already used by service 'other' (line 18)",
                "t.yaml:18:36: integration key 4 of service 'other' is empty"});
}

// API tokens: name and token required, names unique.
TEST_CASE("config: api token validation", "[config][errors]") {
  const std::string yaml = std::string(kMinimal) + R"(server:
  api_tokens:
    - {name: ops, token: a}
    - {name: ops, token: b}
    - {name: ci}
    - {name: x, token: t, scope: all}
)";
  CHECK(errors_of(yaml) == Strings{"t.yaml:19:14: duplicate api token name 'ops'",
                                   "t.yaml:20:7: 'token' of api token 3 is required",
                                   "t.yaml:21:27: unknown key 'scope' in api token 4"});
}

// Many problems in one file: all reported, in file order.
TEST_CASE("config: all errors are collected, sorted by position", "[config][errors]") {
  const std::string yaml = R"(services:
  svc: {escalation_policy: missing, integration_keys: [k]}
dispatch: {workers: many}
people:
  alice: {time_zone: Nowhere/Place, nmae: A}
)";
  auto r = load_config_string(yaml, "t.yaml", kNoEnv);
  REQUIRE_FALSE(r.has_value());
  REQUIRE(r.error().size() == 4);
  const auto& e = r.error();
  CHECK(e[0].line == 2);
  CHECK(e[0].column == 28);
  CHECK(e[0].message == "unknown escalation policy 'missing' in service 'svc'");
  CHECK(e[1].line == 3);
  CHECK(e[2].line == 5);
  CHECK(e[2].message == "unknown time zone 'Nowhere/Place' for person 'alice'");
  CHECK(e[3].message == "unknown key 'nmae' in person 'alice' (did you mean 'name'?)");
  CHECK(e[0].to_string() == "t.yaml:2:28: unknown escalation policy 'missing' in service 'svc'");
}

// A file that does not exist is one error without a location.
TEST_CASE("config: missing file", "[config][errors]") {
  auto r = load_config_file("/nonexistent/baton.yaml", kNoEnv);
  REQUIRE_FALSE(r.has_value());
  REQUIRE(r.error().size() == 1);
  CHECK(r.error()[0].line == 0);
  CHECK(r.error()[0].to_string() == "/nonexistent/baton.yaml: cannot open the file");
}

// The webhook method used with no webhook url configured is a warning.
TEST_CASE("config: webhook method without a webhook url warns", "[config]") {
  const std::string yaml = std::string(kMinimal) + R"(    contact_chain: [{method: webhook}]
server: {action_secret: x}
)";
  Config c = load_ok(yaml);
  CHECK(c.warnings == Strings{"t.yaml:16:30: a contact chain uses the webhook method but webhook.url is not set"});
}
