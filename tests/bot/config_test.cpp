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
  // With no environment the email and SMS channels are off, and the chains that use them say so.
  const std::string file = std::string(BATON_SOURCE_DIR) + "/manifests/baton.example.yaml";
  CHECK(c.warnings == Strings{file + ":130:18: a contact chain uses the email method but smtp.url is not set",
                              file + ":131:18: a contact chain uses the sms method but neither twilio.account_sid "
                                     "nor sms_gateway.url is set"});
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
  CHECK(c.dispatch.max_attempts == 6);
  CHECK(c.dispatch.base_backoff == 1s);
  CHECK(c.dispatch.max_in_flight_per_channel == 1024);
  CHECK(c.dispatch.max_connections_per_host == 0);
  CHECK_FALSE(c.smtp.enabled);
  CHECK(c.smtp.from.empty());
  CHECK(c.smtp.require_starttls);
  CHECK(c.smtp.verify_peer);
  CHECK(c.smtp.timeout == 10s);
  CHECK_FALSE(c.twilio.enabled);
  CHECK(c.twilio.base_url == "https://api.twilio.com");
  CHECK(c.twilio.validity == 600s);
  CHECK_FALSE(c.sms_gateway.enabled);

  const auto& d = *c.directory;
  CHECK(d.channels == std::vector<engine::MethodKind>{engine::MethodKind::webhook});
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
  CHECK_FALSE(alice->quiet_hours.has_value());
  REQUIRE(d.person("bob")->quiet_hours.has_value());
  CHECK(d.person("bob")->quiet_hours->start_minute == 22 * 60);
  CHECK(d.person("bob")->quiet_hours->end_minute == 7 * 60);

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
                                    {"BATON_PAYMENTS_KEY", "0123456789abcdef0123456789abcdef"},
                                    {"SMTP_URL", "smtp://mail.example.com:587"},
                                    {"SMTP_FROM", "pages@example.com"},
                                    {"SMTP_USERNAME", "baton-smtp"},
                                    {"SMTP_PASSWORD", "smtp-pw"},
                                    {"TWILIO_ACCOUNT_SID", "AC0123456789abcdef0123456789abcdef"},
                                    {"TWILIO_AUTH_TOKEN", "twilio-token"},
                                    {"TWILIO_FROM", "+15550100000"}}));
  if (!r)
    for (const auto& e : r.error()) UNSCOPED_INFO(e.to_string());
  REQUIRE(r.has_value());
  CHECK(r->smtp.enabled);
  CHECK(r->smtp.url == "smtp://mail.example.com:587");
  CHECK(r->smtp.from == "pages@example.com");
  CHECK(r->smtp.username == "baton-smtp");
  CHECK(r->smtp.password == "smtp-pw");
  CHECK(r->twilio.enabled);
  CHECK(r->twilio.account_sid == "AC0123456789abcdef0123456789abcdef");
  CHECK(r->twilio.auth_token == "twilio-token");
  CHECK(r->twilio.from == "+15550100000");
  CHECK(r->directory->channels ==
        std::vector<engine::MethodKind>{engine::MethodKind::webhook, engine::MethodKind::email, engine::MethodKind::sms});
  // Every used method has a channel now; only the example's localhost public_url is left to warn about.
  CHECK(r->warnings == Strings{std::string(BATON_SOURCE_DIR) +
                               "/manifests/baton.example.yaml:27:15: server.public_url 'http://localhost:8080' is a "
                               "local address: Twilio cannot reach it for status callbacks and SMS replies, whose "
                               "signatures are checked against it"});
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
  CHECK(c.dispatch.max_attempts == 6);
  CHECK(c.dispatch.base_backoff == 1000ms);
  CHECK_FALSE(c.smtp.enabled);
  CHECK(c.smtp.url.empty());
  CHECK(c.smtp.from_name == "baton");
  CHECK(c.smtp.require_starttls);
  CHECK(c.smtp.verify_peer);
  CHECK(c.smtp.ca_file.empty());
  CHECK(c.smtp.timeout == 10000ms);
  CHECK_FALSE(c.twilio.enabled);
  CHECK(c.twilio.base_url == "https://api.twilio.com");
  CHECK(c.twilio.messages_per_second == 1.0);
  CHECK(c.twilio.status_callbacks);
  CHECK(c.twilio.validity == 600s);
  CHECK_FALSE(c.sms_gateway.enabled);
  CHECK(c.sms_gateway.method == "POST");
  CHECK(c.sms_gateway.content_type == "application/json");
  CHECK(c.sms_gateway.messages_per_second == 1.0);
  CHECK(c.directory->channels == std::vector<engine::MethodKind>{engine::MethodKind::webhook});
  CHECK_FALSE(c.directory->person("alice")->quiet_hours.has_value());
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

// dispatch.workers sized the blocking send threads, which are gone: an old file
// still loads, with a warning saying why the key no longer does anything.
TEST_CASE("config: dispatch.workers is ignored with a warning", "[config]") {
  const std::string yaml = std::string(kMinimal) + "dispatch: {workers: 16}\n";
  Config c = load_ok(yaml);
  REQUIRE_FALSE(c.warnings.empty());
  CHECK(c.warnings.back().find("'workers' in dispatch is ignored") != std::string::npos);
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
  max_in_flight_per_channel: ${INFLIGHT:-32}
  max_connections_per_host: 16
webhook:
  url: "${HOOK:-}"
)";
  Config c = load_ok(yaml, env_of({{"PORT", "9999"}, {"SECRET", "s3"}, {"URL", ""}, {"EMPTY", ""}}));
  CHECK(c.server.listen == "127.0.0.1:9999");
  CHECK(c.server.action_secret == "pre-s3-post");
  CHECK(c.server.public_url == "http://fallback:1");  // empty value -> default
  CHECK(c.storage.path == "${NOT_A_VAR}/$HOME/");     // escape kept literally; a lone $ is plain text
  CHECK(c.dispatch.max_in_flight_per_channel == 32);
  CHECK(c.dispatch.max_connections_per_host == 16);
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
dispatch: {max_in_flight_per_channel: 0, max_attempts: 1000}
webhook: {url: "127.0.0.1:9000", headers: [a]}
)";
  CHECK(errors_of(yaml) == Strings{"t.yaml:16:23: 'incident_channel' of service 'svc' must be true or false, not 'maybe'",
                                   "t.yaml:18:11: 'listen' in server must be a string",
                                   "t.yaml:19:19: 'max_body_bytes' in server must be an integer, not 'lots'",
                                   "t.yaml:20:15: 'public_url' in server must start with http:// or https://",
                                   "t.yaml:21:15: 'api_tokens' in server must be a list",
                                   "t.yaml:22:23: 'durability' in storage must be full or normal, not 'sometimes'",
                                   "t.yaml:23:39: 'max_in_flight_per_channel' in dispatch must be between 1 and 100000",
                                   "t.yaml:23:56: 'max_attempts' in dispatch must be between 1 and 100",
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
                "webhook, slack, teams, email, sms or voice)",
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
dispatch: {max_attempts: many}
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

// The smtp section: every field read; smtps:// with a path, a display name, a CA file.
TEST_CASE("config: smtp section", "[config][channels]") {
  const std::string yaml = std::string(kMinimal) + R"(server: {action_secret: x}
smtp:
  url: "smtps://mail.example.com:465"
  from: pages@example.com
  from_name: "Baton pages"
  username: "${SMTP_USERNAME}"
  password: "${SMTP_PASSWORD:-}"
  starttls: required
  ca_file: /etc/baton/ca.pem
  verify_peer: yes
  timeout: 2500ms
)";
  Config c = load_ok(yaml, env_of({{"SMTP_USERNAME", "u1"}, {"SMTP_PASSWORD", "p1"}}));
  CHECK(c.warnings.empty());
  CHECK(c.smtp.enabled);
  CHECK(c.smtp.url == "smtps://mail.example.com:465");
  CHECK(c.smtp.from == "pages@example.com");
  CHECK(c.smtp.from_name == "Baton pages");
  CHECK(c.smtp.username == "u1");
  CHECK(c.smtp.password == "p1");
  CHECK(c.smtp.require_starttls);
  CHECK(c.smtp.ca_file == "/etc/baton/ca.pem");
  CHECK(c.smtp.verify_peer);
  CHECK(c.smtp.timeout == 2500ms);
  CHECK(c.directory->channels == std::vector<engine::MethodKind>{engine::MethodKind::email});

  // An empty url (the example's "${SMTP_URL:-}") switches the channel off, and then
  // nothing else in the section is required.
  Config off = load_ok(std::string(kMinimal) + "smtp: {url: \"${SMTP_URL:-}\", from: \"\", username: u}\n");
  CHECK_FALSE(off.smtp.enabled);
  CHECK(off.directory->channels == std::vector<engine::MethodKind>{engine::MethodKind::webhook});

  // An unset SMTP_USERNAME without a default is an error at its scalar, like any other.
  CHECK(errors_of(std::string(kMinimal) + "smtp: {url: \"smtp://h\", from: a@b, username: \"${SMTP_USERNAME}\"}\n") ==
        Strings{"t.yaml:16:46: environment variable SMTP_USERNAME is not set (write ${SMTP_USERNAME:-default} to give "
                "a default)"});
}

// smtp: schemes, hosts, ports, credentials in the url, addresses, header injection,
// starttls values, booleans, durations, and what an enabled channel requires.
TEST_CASE("config: smtp errors", "[config][channels][errors]") {
  CHECK(errors_of(std::string(kMinimal) + R"(smtp:
  url: "https://mail.example.com"
  from: "Baton <pages@example.com>"
  from_name: "baton\r\nBcc: x@example.com"
  starttls: maybe
  verify_peer: sometimes
  timeout: 0
  port: 25
)") == Strings{"t.yaml:17:8: 'url' in smtp must start with smtp:// or smtps://",
               "t.yaml:18:9: 'from' in smtp is not an email address: 'Baton <pages@example.com>'",
               "t.yaml:19:14: 'from_name' in smtp must not contain line breaks or control characters",
               "t.yaml:20:13: 'starttls' in smtp must be required or optional, not 'maybe'",
               "t.yaml:21:16: 'verify_peer' in smtp must be true or false, not 'sometimes'",
               "t.yaml:22:12: 'timeout' in smtp must be longer than zero",
               "t.yaml:23:3: unknown key 'port' in smtp"});
  // Credentials never go in the url (it would be logged); the message does not echo them.
  CHECK(errors_of(std::string(kMinimal) + R"(smtp:
  url: "smtp://user:secret@mail.example.com"
  from: a@example.com
)") == Strings{"t.yaml:17:8: 'url' in smtp must not contain credentials (use the section's own secret fields)"});
  CHECK(errors_of(std::string(kMinimal) + R"(smtp:
  url: "smtp://mail.example.com:0"
  from: a@example.com
)") == Strings{"t.yaml:17:8: 'url' in smtp has a bad port: 'smtp://mail.example.com:0'"});
  CHECK(errors_of(std::string(kMinimal) + "smtp: {url: \"smtps://:465\", from: a@example.com}\n") ==
        Strings{"t.yaml:16:13: 'url' in smtp has no host: 'smtps://:465'"});
  // Enabled: from is required (at the section when absent), and credentials come in pairs.
  CHECK(errors_of(std::string(kMinimal) + R"(smtp:
  url: "smtp://mail.example.com:587"
  username: baton
)") == Strings{"t.yaml:17:3: 'from' in smtp is required",
               "t.yaml:17:3: 'password' in smtp is required when 'username' is set"});
  CHECK(errors_of(std::string(kMinimal) + R"(smtp:
  url: "smtp://mail.example.com:587"
  from: ""
  password: "${SMTP_PASSWORD}"
)", env_of({{"SMTP_PASSWORD", "pw"}})) ==
        Strings{"t.yaml:18:9: 'from' in smtp is required", "t.yaml:19:13: 'password' in smtp is set but 'username' is not"});
}

// The weakening switches load, with a warning each at their key; starttls: optional
// only weakens smtp:// (smtps:// is TLS from the start).
TEST_CASE("config: smtp starttls optional and verify_peer false warn", "[config][channels]") {
  Config c = load_ok(std::string(kMinimal) + R"(server: {action_secret: x}
smtp:
  url: "smtp://mail.example.com:25"
  from: a@example.com
  starttls: optional
  verify_peer: false
)");
  CHECK_FALSE(c.smtp.require_starttls);
  CHECK_FALSE(c.smtp.verify_peer);
  CHECK(c.warnings ==
        Strings{"t.yaml:20:13: smtp.starttls is optional: when the server does not offer STARTTLS, pages and the SMTP "
                "password are sent in clear text",
                "t.yaml:21:16: smtp.verify_peer is false: the SMTP server's certificate is NOT checked, so anyone on "
                "the network path can read pages and the SMTP password; never use this in production"});
  Config tls = load_ok(std::string(kMinimal) + "server: {action_secret: x}\nsmtp: {url: \"smtps://h:465\", from: a@b, starttls: optional}\n");
  CHECK_FALSE(tls.smtp.require_starttls);
  CHECK(tls.warnings.empty());
}

// The twilio section: every field read, the auth token from the environment, a
// public base URL for the callbacks.
TEST_CASE("config: twilio section", "[config][channels]") {
  const std::string yaml = std::string(kMinimal) + R"(server: {action_secret: x, public_url: "https://baton.example.com"}
twilio:
  base_url: "http://127.0.0.1:4010/"
  account_sid: AC0123456789abcdef0123456789abcdef
  auth_token: "${TWILIO_AUTH_TOKEN}"
  api_key_sid: SK0123
  api_key_secret: "${TWILIO_API_KEY_SECRET:-ks}"
  messaging_service_sid: MG0123
  messages_per_second: 2.5
  status_callbacks: false
  validity: 1h
)";
  Config c = load_ok(yaml, env_of({{"TWILIO_AUTH_TOKEN", "tok"}}));
  CHECK(c.warnings.empty());
  CHECK(c.twilio.enabled);
  CHECK(c.twilio.base_url == "http://127.0.0.1:4010");  // trailing '/' dropped
  CHECK(c.twilio.account_sid == "AC0123456789abcdef0123456789abcdef");
  CHECK(c.twilio.auth_token == "tok");
  CHECK(c.twilio.api_key_sid == "SK0123");
  CHECK(c.twilio.api_key_secret == "ks");
  CHECK(c.twilio.from.empty());
  CHECK(c.twilio.messaging_service_sid == "MG0123");
  CHECK(c.twilio.messages_per_second == 2.5);
  CHECK_FALSE(c.twilio.status_callbacks);
  CHECK(c.twilio.validity == 3600s);
  CHECK(c.directory->channels == std::vector<engine::MethodKind>{engine::MethodKind::sms});

  // Senders: E.164 or an alphanumeric id of up to 11 characters with a letter.
  for (std::string from : {"+15551230001", "BatonOnCall", "SRE 24x7", "A"}) {
    INFO(from);
    Config s = load_ok(std::string(kMinimal) + "twilio: {account_sid: AC1, auth_token: t, from: \"" + from + "\"}\n");
    CHECK(s.twilio.from == from);
  }
  // An empty account_sid (the example's "${TWILIO_ACCOUNT_SID:-}") switches it off.
  Config off = load_ok(std::string(kMinimal) + "twilio: {account_sid: \"${TWILIO_ACCOUNT_SID:-}\", auth_token: \"\"}\n");
  CHECK_FALSE(off.twilio.enabled);
}

// twilio: sid prefixes (values not echoed), senders, rates, validity, credentials,
// and exactly one sender.
TEST_CASE("config: twilio errors", "[config][channels][errors]") {
  CHECK(errors_of(std::string(kMinimal) + R"(twilio:
  base_url: "api.twilio.com"
  account_sid: "0123456789abcdef"
  from: "BatonOnCallPager"
  messaging_service_sid: PN0123
  messages_per_second: 0
  status_callbacks: sometimes
  validity: 11h
)") == Strings{"t.yaml:17:3: twilio needs 'auth_token' (or 'api_key_sid' and 'api_key_secret')",
               "t.yaml:17:13: 'base_url' in twilio must start with http:// or https://",
               "t.yaml:18:16: 'account_sid' in twilio must be an Account SID (starting with AC)",
               R"(t.yaml:19:9: 'from' in twilio must be an E.164 number like "+15551234567" or an alphanumeric sender id of at most 11 letters, digits and spaces, not 'BatonOnCallPager')",
               "t.yaml:20:26: 'messaging_service_sid' in twilio must be a Messaging Service SID (starting with MG)",
               "t.yaml:20:26: twilio needs exactly one of 'from' or 'messaging_service_sid'",
               "t.yaml:21:24: 'messages_per_second' in twilio must be a number greater than 0 and at most 1000, not '0'",
               "t.yaml:22:21: 'status_callbacks' in twilio must be true or false, not 'sometimes'",
               "t.yaml:23:13: 'validity' in twilio must be at most 10h (Twilio's limit)"});
  // Neither sender, an API key half, an empty auth token, a bad rate and sender id.
  CHECK(errors_of(std::string(kMinimal) + R"(twilio:
  account_sid: AC1
  auth_token: ""
  api_key_sid: SK1
  messages_per_second: fast
)") == Strings{"t.yaml:17:3: twilio needs exactly one of 'from' or 'messaging_service_sid'",
               "t.yaml:19:16: 'api_key_secret' in twilio is required when 'api_key_sid' is set",
               "t.yaml:20:24: 'messages_per_second' in twilio must be a number greater than 0 and at most 1000, not 'fast'"});
  // Half an API key is the one credential error (not also "needs auth_token").
  CHECK(errors_of(std::string(kMinimal) + R"(twilio:
  account_sid: AC1
  api_key_secret: s
  from: "12345"
  validity: 90500ms
)") == Strings{"t.yaml:18:19: 'api_key_sid' in twilio is required when 'api_key_secret' is set",
               R"(t.yaml:19:9: 'from' in twilio must be an E.164 number like "+15551234567" or an alphanumeric sender id of at most 11 letters, digits and spaces, not '12345')",
               "t.yaml:20:13: 'validity' in twilio must be a whole number of seconds, not '90500ms'"});
}

// An API key alone sends, but Twilio's signed callbacks cannot be checked: a warning.
TEST_CASE("config: twilio with an API key and no auth token warns", "[config][channels]") {
  Config c = load_ok(std::string(kMinimal) + R"(server: {action_secret: x, public_url: "https://baton.example.com"}
twilio:
  account_sid: AC1
  api_key_sid: SK1
  api_key_secret: "${TWILIO_API_KEY_SECRET}"
  from: BatonOnCall
)", env_of({{"TWILIO_API_KEY_SECRET", "sec"}}));
  CHECK(c.twilio.enabled);
  CHECK(c.twilio.api_key_secret == "sec");
  CHECK(c.warnings == Strings{"t.yaml:19:16: twilio.auth_token is not set: Twilio signs status callbacks and SMS "
                              "replies with it, so they cannot be verified"});
}

// Twilio calls back server.public_url: a loopback or unspecified host is warned about,
// at public_url when set, at the twilio section when defaulted from listen.
TEST_CASE("config: twilio with a local public_url warns", "[config][channels]") {
  const std::string twilio = "twilio: {account_sid: AC1, auth_token: t, from: \"+15551230001\"}\n";
  Config defaulted = load_ok(std::string(kMinimal) + "server: {action_secret: x}\n" + twilio);
  CHECK(defaulted.warnings ==
        Strings{"t.yaml:17:9: server.public_url 'http://127.0.0.1:8080' is a local address: Twilio cannot reach it "
                "for status callbacks and SMS replies, whose signatures are checked against it"});
  Config set = load_ok(std::string(kMinimal) + "server: {action_secret: x, public_url: \"http://[::1]:8080/\"}\n" + twilio);
  CHECK(set.warnings ==
        Strings{"t.yaml:16:40: server.public_url 'http://[::1]:8080' is a local address: Twilio cannot reach it "
                "for status callbacks and SMS replies, whose signatures are checked against it"});
  for (std::string url : {"http://localhost", "https://LOCALHOST:8443", "http://127.0.1.1:80", "http://0.0.0.0:8080",
                          "http://api.localhost"}) {
    INFO(url);
    CHECK(load_ok(std::string(kMinimal) + "server: {action_secret: x, public_url: \"" + url + "\"}\n" + twilio)
              .warnings.size() == 1);
  }
  for (std::string url : {"https://baton.example.com", "http://10.0.0.5:8080", "https://127example.com"}) {
    INFO(url);
    CHECK(load_ok(std::string(kMinimal) + "server: {action_secret: x, public_url: \"" + url + "\"}\n" + twilio)
              .warnings.empty());
  }
  // Without twilio a local public_url is fine.
  CHECK(load_ok(std::string(kMinimal) + "server: {action_secret: x}\n").warnings.empty());
}

// The sms_gateway section: every field read; the method is case-insensitive.
TEST_CASE("config: sms_gateway section", "[config][channels]") {
  Config c = load_ok(std::string(kMinimal) + R"(server: {action_secret: x}
sms_gateway:
  url: "https://sms.example.com/send"
  method: put
  headers:
    Authorization: "Bearer ${GW_TOKEN}"
    X-Account: ops
  content_type: "application/x-www-form-urlencoded"
  body_template: "to={{to}}&text={{text}}"
  messages_per_second: 0.5
)", env_of({{"GW_TOKEN", "g1"}}));
  CHECK(c.warnings.empty());
  CHECK(c.sms_gateway.enabled);
  CHECK(c.sms_gateway.url == "https://sms.example.com/send");
  CHECK(c.sms_gateway.method == "PUT");
  CHECK(c.sms_gateway.headers ==
        std::vector<std::pair<std::string, std::string>>{{"Authorization", "Bearer g1"}, {"X-Account", "ops"}});
  CHECK(c.sms_gateway.content_type == "application/x-www-form-urlencoded");
  CHECK(c.sms_gateway.body_template == "to={{to}}&text={{text}}");
  CHECK(c.sms_gateway.messages_per_second == 0.5);
  CHECK(c.directory->channels == std::vector<engine::MethodKind>{engine::MethodKind::sms});
}

// sms_gateway: url, method, headers, content type, rate, the required template; and
// one SMS channel only.
TEST_CASE("config: sms_gateway errors", "[config][channels][errors]") {
  CHECK(errors_of(std::string(kMinimal) + R"(sms_gateway:
  url: "ftp://sms.example.com"
  method: GET
  headers: [a]
  content_type: ""
  messages_per_second: -1
)") == Strings{"t.yaml:17:8: 'url' in sms_gateway must start with http:// or https://",
               "t.yaml:18:11: 'method' in sms_gateway must be POST or PUT, not 'GET'",
               "t.yaml:19:12: 'headers' in sms_gateway must be a mapping",
               R"(t.yaml:20:17: 'content_type' in sms_gateway must be a media type like "application/json")",
               "t.yaml:21:24: 'messages_per_second' in sms_gateway must be a number greater than 0 and at most 1000, not '-1'"});
  CHECK(errors_of(std::string(kMinimal) + "sms_gateway: {url: \"https://sms.example.com\"}\n") ==
        Strings{"t.yaml:16:14: 'body_template' in sms_gateway is required"});
  CHECK(errors_of(std::string(kMinimal) + "sms_gateway: {url: \"https://sms.example.com\", body_template: \"\"}\n") ==
        Strings{"t.yaml:16:62: 'body_template' in sms_gateway is required"});
  CHECK(errors_of(std::string(kMinimal) + R"(twilio: {account_sid: AC1, auth_token: t, from: "+15551230001"}
sms_gateway:
  body_template: x
  url: "http://127.0.0.1:9100/sms"
)") == Strings{"t.yaml:19:8: twilio and sms_gateway are both configured: baton sends SMS through one of them"});
}

// Channels: one per enabled section, webhook first; nothing enabled = webhook.
TEST_CASE("config: channels follow the enabled sections", "[config][channels]") {
  using engine::MethodKind;
  using Methods = std::vector<MethodKind>;
  const std::string webhook = "webhook: {url: \"http://127.0.0.1:9000/hook\"}\n";
  const std::string smtp = "smtp: {url: \"smtp://mail.example.com\", from: a@example.com}\n";
  const std::string twilio = "twilio: {account_sid: AC1, auth_token: t, from: \"+15551230001\"}\n";
  const std::string gateway = "sms_gateway: {url: \"https://sms.example.com\", body_template: x}\n";
  const std::string base(kMinimal);
  CHECK(load_ok(base).directory->channels == Methods{MethodKind::webhook});
  CHECK(load_ok(base + webhook).directory->channels == Methods{MethodKind::webhook});
  CHECK(load_ok(base + smtp).directory->channels == Methods{MethodKind::email});
  CHECK(load_ok(base + twilio).directory->channels == Methods{MethodKind::sms});
  CHECK(load_ok(base + gateway).directory->channels == Methods{MethodKind::sms});
  CHECK(load_ok(base + twilio + smtp + webhook).directory->channels ==
        Methods{MethodKind::webhook, MethodKind::email, MethodKind::sms});
  CHECK(load_ok(base + gateway + webhook).directory->channels == Methods{MethodKind::webhook, MethodKind::sms});
}

// Each method used without a channel warns once, at its first use, in file order;
// methods with a channel do not.
TEST_CASE("config: contact methods without a channel warn once each", "[config][channels]") {
  const std::string yaml = R"(server: {action_secret: x}
people:
  alice:
    contact_chain: [{method: sms, after: 5m}, {method: email, after: 1m}, {method: sms, after: 9m}]
  bob:
    contact_chain: [{method: slack}, {method: teams}, {method: webhook}, {method: email}]
smtp: {url: "${SMTP_URL:-}", from: a@example.com}
services: {}
)";
  auto warnings = [&](EnvLookup env) {
    Strings out = load_ok(yaml, std::move(env)).warnings;
    out.pop_back();  // "no services are configured"
    return out;
  };
  CHECK(warnings(kNoEnv) ==
        Strings{"t.yaml:4:30: a contact chain uses the sms method but neither twilio.account_sid nor sms_gateway.url is set",
                "t.yaml:4:56: a contact chain uses the email method but smtp.url is not set",
                "t.yaml:6:30: a contact chain uses the slack method but slack.bot_token is not set",
                "t.yaml:6:47: a contact chain uses the teams method but teams.app_id is not set",
                "t.yaml:6:64: a contact chain uses the webhook method but webhook.url is not set"});
  CHECK(warnings(env_of({{"SMTP_URL", "smtps://mail.example.com"}})) ==
        Strings{"t.yaml:4:30: a contact chain uses the sms method but neither twilio.account_sid nor sms_gateway.url is set",
                "t.yaml:6:30: a contact chain uses the slack method but slack.bot_token is not set",
                "t.yaml:6:47: a contact chain uses the teams method but teams.app_id is not set",
                "t.yaml:6:64: a contact chain uses the webhook method but webhook.url is not set"});
}

// Quiet hours: a wrapping window, a same-day one, "24:00" as the end.
TEST_CASE("config: quiet hours", "[config][quiet_hours]") {
  Config c = load_ok(R"(people:
  night: {time_zone: Europe/Berlin, quiet_hours: {from: "22:00", to: "07:00"}}
  day: {quiet_hours: {from: "12:30", to: "13:15"}}
  evening:
    quiet_hours:
      from: "18:00"
      to: "24:00"
  none: {}
)");
  const auto& d = *c.directory;
  REQUIRE(d.person("night")->quiet_hours);
  CHECK(d.person("night")->quiet_hours->start_minute == 22 * 60);
  CHECK(d.person("night")->quiet_hours->end_minute == 7 * 60);
  CHECK(d.person("night")->time_zone == "Europe/Berlin");
  REQUIRE(d.person("day")->quiet_hours);
  CHECK(d.person("day")->quiet_hours->start_minute == 12 * 60 + 30);
  CHECK(d.person("day")->quiet_hours->end_minute == 13 * 60 + 15);
  REQUIRE(d.person("evening")->quiet_hours);
  CHECK(d.person("evening")->quiet_hours->start_minute == 18 * 60);
  CHECK(d.person("evening")->quiet_hours->end_minute == 0);  // midnight; end <= start wraps
  CHECK_FALSE(d.person("none")->quiet_hours);
}

// Quiet hours errors: bad times, "24:00" as a start, equal ends (also 00:00-24:00),
// missing ends, unknown keys, the wrong shape.
TEST_CASE("config: quiet hours errors", "[config][quiet_hours][errors]") {
  CHECK(errors_of(R"(people:
  a: {quiet_hours: {from: "10pm", to: "7:00"}}
  b: {quiet_hours: {from: "24:00", to: "07:00"}}
  c: {quiet_hours: {from: "08:00", to: "08:00"}}
  d: {quiet_hours: {from: "00:00", to: "24:00"}}
  e: {quiet_hours: {to: "07:00", until: "08:00"}}
  f: {quiet_hours: "22:00-07:00"}
)") == Strings{R"(t.yaml:2:27: 'from' of quiet_hours of person 'a' must be a time like "22:00", not '10pm')",
               R"(t.yaml:2:39: 'to' of quiet_hours of person 'a' must be a time like "22:00", not '7:00')",
               R"(t.yaml:3:27: 'from' of quiet_hours of person 'b' must be a time like "22:00", not '24:00')",
               "t.yaml:4:40: quiet_hours of person 'c' must not start and end at the same time",
               "t.yaml:5:40: quiet_hours of person 'd' must not start and end at the same time",
               "t.yaml:6:20: 'from' of quiet_hours of person 'e' is required",
               "t.yaml:6:34: unknown key 'until' in 'quiet_hours' of person 'e'",
               "t.yaml:7:20: 'quiet_hours' of person 'f' must be a mapping"});
}

TEST_CASE("config: the slack section", "[config]") {
  // Scenario: socket mode with both tokens from the environment enables the
  // slack channel and keeps the service's channel id; http mode needs a
  // signing secret; wrong token kinds and an unknown mode are errors at their
  // location; without a bot token the section is off.
  const std::string base = std::string(kMinimal) + "    slack_channel: C0PAYMENTS\n";
  auto cfg = load_ok(base + "slack:\n  bot_token: \"${SLACK_BOT_TOKEN}\"\n  app_token: \"${SLACK_APP_TOKEN}\"\n",
                     env_of({{"SLACK_BOT_TOKEN", "xoxb-1"}, {"SLACK_APP_TOKEN", "xapp-1"}}));
  CHECK(cfg.slack.enabled);
  CHECK(cfg.slack.mode == "socket");
  CHECK(cfg.slack.base_url == "https://slack.com/api");
  CHECK(cfg.directory->service("svc")->slack_channel == "C0PAYMENTS");
  CHECK(cfg.directory->has_channel(engine::MethodKind::slack));

  auto http = load_ok(base + "slack:\n  mode: http\n  bot_token: xoxb-1\n  signing_secret: s3cret\n"
                             "  base_url: http://127.0.0.1:9/api/\n");
  CHECK(http.slack.mode == "http");
  CHECK(http.slack.base_url == "http://127.0.0.1:9/api");

  CHECK(errors_of(base + "slack:\n  mode: http\n  bot_token: xoxb-1\n") ==
        Strings{"t.yaml:19:14: http mode needs 'signing_secret' in slack to verify Slack's requests"});
  CHECK(errors_of(base + "slack:\n  bot_token: xoxp-user\n  app_token: xapp-1\n") ==
        Strings{"t.yaml:18:14: 'bot_token' in slack must be a bot token (xoxb-...)"});
  CHECK(errors_of(base + "slack:\n  mode: rtm\n  bot_token: xoxb-1\n  app_token: xapp-1\n") ==
        Strings{"t.yaml:18:9: 'mode' in slack must be socket or http, not 'rtm'"});
  CHECK_FALSE(load_ok(base + "slack:\n  mode: socket\n").slack.enabled);
}

TEST_CASE("config: the teams section", "[config]") {
  // Scenario: app id, password and tenant from the environment enable the
  // teams channel; base URLs can point elsewhere; a missing password or tenant
  // is an error; the unauthenticated Playground switch is refused unless
  // baton listens on loopback, and warned about when it does.
  const std::string base = std::string(kMinimal) + "    teams_channel: \"19:abc@thread.tacv2\"\n    teams_team: g-1\n";
  auto cfg = load_ok(base + "teams:\n  app_id: \"${TEAMS_APP_ID}\"\n  app_password: \"${TEAMS_APP_PASSWORD}\"\n"
                             "  tenant_id: \"${TEAMS_TENANT_ID}\"\n  connector_base: http://127.0.0.1:9/\n",
                     env_of({{"TEAMS_APP_ID", "app-1"}, {"TEAMS_APP_PASSWORD", "pw"}, {"TEAMS_TENANT_ID", "t-1"}}));
  CHECK(cfg.teams.enabled);
  CHECK(cfg.teams.connector_service_url == "http://127.0.0.1:9/");
  CHECK(cfg.directory->service("svc")->teams_channel == "19:abc@thread.tacv2");
  CHECK(cfg.directory->service("svc")->teams_team == "g-1");
  CHECK(cfg.directory->has_channel(engine::MethodKind::teams));
  CHECK(errors_of(base + "teams:\n  app_id: app-1\n  tenant_id: t\n") ==
        Strings{"t.yaml:19:11: the teams channel needs 'app_password' (the bot's client secret)"});
  CHECK(errors_of("server: {listen: \"0.0.0.0:8080\"}\n" + base +
                  "teams:\n  app_id: a\n  app_password: p\n  tenant_id: t\n  allow_unauthenticated: true\n") ==
        Strings{"t.yaml:23:26: 'allow_unauthenticated' in teams is only allowed when server.listen is a loopback "
                "address"});
  auto local = load_ok(base + "teams:\n  app_id: a\n  app_password: p\n  tenant_id: t\n  allow_unauthenticated: true\n");
  CHECK(local.teams.allow_unauthenticated);
  INFO(local.warnings.front());
  CHECK(std::any_of(local.warnings.begin(), local.warnings.end(),
                    [](const std::string& w) { return w.find("UNAUTHENTICATED") != std::string::npos; }));
}
