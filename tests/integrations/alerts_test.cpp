// Alert-source parsers: PagerDuty Events v2 and Alertmanager webhook payloads,
// from fixture files (tests/fixtures/alerts) and inline edge cases.
#include <catch2/catch.hpp>

#include <boost/json.hpp>
#include <fstream>
#include <sstream>

#include "integrations/alerts/alertmanager.hpp"
#include "integrations/alerts/events_v2.hpp"
#include "integrations/alerts/json_fields.hpp"

using baton::alerts::parse_alertmanager;
using baton::alerts::parse_events_v2;
using baton::engine::AlertAction;
using baton::engine::Severity;
using baton::engine::Source;
namespace json = boost::json;

namespace {

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(BATON_TEST_DATA_DIR) + "/alerts/" + name, std::ios::binary);
  REQUIRE(in.good());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> ev2_errors(std::string_view body) {
  auto r = parse_events_v2(body);
  REQUIRE_FALSE(r.has_value());
  return r.error().errors;
}

std::vector<std::string> am_errors(std::string_view body) {
  auto r = parse_alertmanager(body, "k");
  REQUIRE_FALSE(r.has_value());
  return r.error().errors;
}

using Errors = std::vector<std::string>;

// A minimal valid trigger with `extra` members spliced into the top level.
std::string trigger_with(const std::string& payload_extra, const std::string& top_extra = "") {
  return R"({"routing_key":"rk","event_action":"trigger")" + top_extra +
         R"(,"payload":{"summary":"s","source":"h","severity":"info")" + payload_extra + "}}";
}

// A minimal valid Alertmanager notification built from parts.
std::string am_with(const std::string& top, const std::string& alerts) {
  return R"({"version":"4","status":"firing","receiver":"r","groupKey":"g")" + top + R"(,"alerts":[)" + alerts +
         "]}";
}

}  // namespace

// ---------------------------------------------------------------- Events v2

// The documented full trigger example: every field lands where it belongs.
TEST_CASE("events_v2: full trigger fixture maps every field", "[alerts][events_v2]") {
  auto r = parse_events_v2(fixture("events_v2_trigger.json"));
  REQUIRE(r.has_value());
  const auto& a = *r;
  CHECK(a.source == Source::events_v2);
  CHECK(a.integration_key == "svc-payments-key");
  CHECK(a.action == AlertAction::trigger);
  CHECK(a.dedup_key == "db-7/disk");
  CHECK(a.summary == "Disk 95% full on db-7");
  CHECK(a.source_name == "db-7");
  CHECK(a.severity == Severity::critical);
  CHECK(a.client == "Prometheus");
  CHECK(a.client_url == "https://prometheus.example/graph");
  CHECK(a.group.empty());
  // details: payload extras, then client fields, links and images, in that order.
  CHECK(a.details_json ==
        R"({"component":"postgres","group":"prod-db","class":"disk","custom_details":{"free_gb":3,"mounts":["/","/var"]},)"
        R"("timestamp":"2026-11-25T10:00:00.000+0000","client":"Prometheus","client_url":"https://prometheus.example/graph",)"
        R"("links":[{"href":"https://runbooks.example/disk","text":"Runbook"}],)"
        R"("images":[{"src":"https://grafana.example/render/disk.png","href":"https://grafana.example/d/disk","alt":"Disk usage"}]})");
}

// Acknowledge and resolve need only routing_key, event_action and dedup_key; a payload is ignored.
TEST_CASE("events_v2: acknowledge and resolve fixtures", "[alerts][events_v2]") {
  auto ack = parse_events_v2(fixture("events_v2_acknowledge.json"));
  REQUIRE(ack.has_value());
  CHECK(ack->action == AlertAction::acknowledge);
  CHECK(ack->dedup_key == "db-7/disk");
  CHECK(ack->summary.empty());
  CHECK(ack->details_json == "{}");

  auto res = parse_events_v2(fixture("events_v2_resolve.json"));
  REQUIRE(res.has_value());
  CHECK(res->action == AlertAction::resolve);
  CHECK(res->dedup_key == "db-7/disk");
  CHECK(res->summary.empty());  // payload is not read on resolve
  CHECK(res->details_json == "{}");
}

// A minimal trigger: no dedup key (caller generates), no extras, details "{}".
TEST_CASE("events_v2: minimal trigger", "[alerts][events_v2]") {
  auto r = parse_events_v2(trigger_with(""));
  REQUIRE(r.has_value());
  CHECK(r->dedup_key.empty());
  CHECK(r->severity == Severity::info);
  CHECK(r->details_json == "{}");
  CHECK(r->client.empty());
}

// Each severity name maps to its enum.
TEST_CASE("events_v2: every severity", "[alerts][events_v2]") {
  for (auto [name, sev] : {std::pair{"critical", Severity::critical}, std::pair{"error", Severity::error},
                           std::pair{"warning", Severity::warning}, std::pair{"info", Severity::info}}) {
    auto body = std::string(R"({"routing_key":"rk","event_action":"trigger","payload":{"summary":"s","source":"h","severity":")") +
                name + R"("}})";
    auto r = parse_events_v2(body);
    REQUIRE(r.has_value());
    CHECK(r->severity == sev);
  }
}

// The bad-fields fixture: every problem reported at once, worded like PagerDuty.
TEST_CASE("events_v2: all errors of a bad event are collected", "[alerts][events_v2]") {
  CHECK(ev2_errors(fixture("events_v2_bad_fields.json")) ==
        Errors{"'routing_key' is missing or blank", "'payload.summary' is missing or blank",
               "'payload.source' is missing or blank",
               "'payload.severity' must be one of critical, error, warning, info",
               "'payload.component' must be a string", "'client_url' must be a string",
               "'links[0].href' is missing or blank", "'links[1]' must be an object"});
}

// Malformed JSON and non-object bodies give exactly one error.
TEST_CASE("events_v2: malformed JSON and non-object bodies", "[alerts][events_v2]") {
  for (std::string_view body : {"", "{", "{\"routing_key\": }", "not json", "{\"a\":1} trailing"}) {
    auto errors = ev2_errors(body);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].rfind("malformed JSON: ", 0) == 0);
  }
  for (std::string_view body : {"[]", "42", "\"trigger\"", "null", "true"})
    CHECK(ev2_errors(body) == Errors{"the event must be a JSON object"});
}

// event_action: missing, wrong value, wrong type.
TEST_CASE("events_v2: event_action validation", "[alerts][events_v2]") {
  CHECK(ev2_errors(R"({"routing_key":"rk","dedup_key":"d"})") == Errors{"'event_action' is missing or blank"});
  CHECK(ev2_errors(R"({"routing_key":"rk","event_action":"TRIGGER","dedup_key":"d"})") ==
        Errors{"'event_action' must be one of trigger, acknowledge, resolve"});
  CHECK(ev2_errors(R"({"routing_key":"rk","event_action":1,"dedup_key":"d"})") ==
        Errors{"'event_action' must be a string"});
  // With an unknown action, a payload that is sent is still checked.
  CHECK(ev2_errors(R"({"routing_key":"rk","event_action":"page","payload":{"source":"h","severity":"info"}})") ==
        Errors{"'event_action' must be one of trigger, acknowledge, resolve", "'payload.summary' is missing or blank"});
}

// Missing pieces on trigger vs. acknowledge/resolve.
TEST_CASE("events_v2: required fields per action", "[alerts][events_v2]") {
  CHECK(ev2_errors(R"({"event_action":"trigger","payload":{"summary":"s","source":"h","severity":"info"}})") ==
        Errors{"'routing_key' is missing or blank"});
  CHECK(ev2_errors(R"({"routing_key":"rk","event_action":"trigger"})") == Errors{"'payload' is missing"});
  CHECK(ev2_errors(R"({"routing_key":"rk","event_action":"trigger","payload":"x"})") ==
        Errors{"'payload' must be an object"});
  CHECK(ev2_errors(R"({"routing_key":"rk","event_action":"acknowledge"})") == Errors{"'dedup_key' is missing or blank"});
  CHECK(ev2_errors(R"({"routing_key":"rk","event_action":"resolve","dedup_key":"  "})") ==
        Errors{"'dedup_key' is missing or blank"});
  CHECK(ev2_errors(R"({"routing_key":"rk","event_action":"resolve","dedup_key":5})") ==
        Errors{"'dedup_key' must be a string"});
  CHECK(ev2_errors(R"({"routing_key":7,"event_action":"resolve","dedup_key":"d"})") ==
        Errors{"'routing_key' must be a string"});
}

// null counts as absent; a blank dedup key on trigger is left for the caller to generate.
TEST_CASE("events_v2: nulls and blank dedup key on trigger", "[alerts][events_v2]") {
  auto r = parse_events_v2(trigger_with(R"(,"component":null,"custom_details":null)", R"(,"dedup_key":null,"client":null)"));
  REQUIRE(r.has_value());
  CHECK(r->dedup_key.empty());
  CHECK(r->details_json == "{}");
  auto blank = parse_events_v2(trigger_with("", R"(,"dedup_key":"   ")"));
  REQUIRE(blank.has_value());
  CHECK(blank->dedup_key.empty());
}

// dedup_key: 255 characters pass, 256 fail; the limit counts characters, not bytes.
TEST_CASE("events_v2: dedup_key length limit", "[alerts][events_v2]") {
  auto ok = parse_events_v2(trigger_with("", R"(,"dedup_key":")" + std::string(255, 'k') + "\""));
  REQUIRE(ok.has_value());
  CHECK(ok->dedup_key.size() == 255);
  CHECK(ev2_errors(trigger_with("", R"(,"dedup_key":")" + std::string(256, 'k') + "\"")) ==
        Errors{"'dedup_key' must be at most 255 characters"});
  std::string euros;
  for (int i = 0; i < 255; ++i) euros += "\xE2\x82\xAC";  // 255 x U+20AC, 765 bytes
  auto unicode = parse_events_v2(trigger_with("", R"(,"dedup_key":")" + euros + "\""));
  REQUIRE(unicode.has_value());
  CHECK(unicode->dedup_key == euros);
}

// summary: 2000 characters are truncated to 1024; multibyte characters are never split.
TEST_CASE("events_v2: long summaries are truncated on character boundaries", "[alerts][events_v2]") {
  auto body = std::string(R"({"routing_key":"rk","event_action":"trigger","payload":{"summary":")") +
              std::string(2000, 'x') + R"(","source":"h","severity":"info"}})";
  auto r = parse_events_v2(body);
  REQUIRE(r.has_value());
  CHECK(r->summary == std::string(1024, 'x'));

  std::string accents;
  for (int i = 0; i < 2000; ++i) accents += "\xC3\xA9";  // U+00E9, two bytes each
  body = std::string(R"({"routing_key":"rk","event_action":"trigger","payload":{"summary":")") + accents +
         R"(","source":"h","severity":"info"}})";
  r = parse_events_v2(body);
  REQUIRE(r.has_value());
  CHECK(r->summary.size() == 2048);
  CHECK(r->summary == accents.substr(0, 2048));

  // An escaped astral character (U+1F525, 4 bytes in UTF-8) survives intact.
  r = parse_events_v2(R"({"routing_key":"rk","event_action":"trigger","payload":{"summary":"fire \ud83d\udd25 on db","source":"h\u00e9","severity":"info"}})");
  REQUIRE(r.has_value());
  CHECK(r->summary == "fire \xF0\x9F\x94\xA5 on db");
  CHECK(r->source_name == "h\xC3\xA9");
}

// custom_details is free-form: strings and arrays are kept as sent.
TEST_CASE("events_v2: custom_details of any JSON type", "[alerts][events_v2]") {
  auto r = parse_events_v2(trigger_with(R"(,"custom_details":"plain text")"));
  REQUIRE(r.has_value());
  CHECK(r->details_json == R"({"custom_details":"plain text"})");
}

// links/images must be arrays of objects with their required key.
TEST_CASE("events_v2: links and images validation", "[alerts][events_v2]") {
  CHECK(ev2_errors(trigger_with("", R"(,"links":{"href":"x"})")) == Errors{"'links' must be an array"});
  CHECK(ev2_errors(trigger_with("", R"(,"images":[{"href":"x","alt":3}])")) ==
        Errors{"'images[0].src' is missing or blank", "'images[0].alt' must be a string"});
  CHECK(ev2_errors(trigger_with("", R"(,"links":[{"href":"h","text":["t"]}])")) ==
        Errors{"'links[0].text' must be a string"});
  auto ok = parse_events_v2(trigger_with("", R"(,"links":[])"));
  REQUIRE(ok.has_value());
  CHECK(ok->details_json == R"({"links":[]})");
}

// Optional payload strings of the wrong type and a timestamp of the wrong type.
TEST_CASE("events_v2: wrong types of optional payload fields", "[alerts][events_v2]") {
  CHECK(ev2_errors(trigger_with(R"(,"group":[],"class":{},"timestamp":12)")) ==
        Errors{"'payload.group' must be a string", "'payload.class' must be a string",
               "'payload.timestamp' must be a string"});
  CHECK(ev2_errors(trigger_with("", R"(,"client":false)")) == Errors{"'client' must be a string"});
}

// A large body (well over the stack arena) still parses.
TEST_CASE("events_v2: large custom_details beyond the stack arena", "[alerts][events_v2]") {
  std::string big = R"({"items":[)";
  for (int i = 0; i < 5000; ++i) big += (i ? "," : "") + std::to_string(i);
  big += "]}";
  auto r = parse_events_v2(trigger_with(R"(,"custom_details":)" + big));
  REQUIRE(r.has_value());
  CHECK(json::parse(r->details_json).at("custom_details").at("items").as_array().size() == 5000);
}

// ---------------------------------------------------------------- Alertmanager

// The captured firing notification.
TEST_CASE("alertmanager: captured firing payload", "[alerts][alertmanager]") {
  auto r = parse_alertmanager(fixture("alertmanager_firing.json"), "am-key");
  REQUIRE(r.has_value());
  const auto& a = *r;
  CHECK(a.source == Source::alertmanager);
  CHECK(a.integration_key == "am-key");
  CHECK(a.action == AlertAction::trigger);
  CHECK(a.dedup_key == R"(am:escalator:{}:{alertname="HighErrorRate", instance="api-1:9100"})");
  CHECK(a.summary == "Error rate above 5% on api-1");
  CHECK(a.source_name == "api-1:9100");
  CHECK(a.severity == Severity::critical);
  CHECK(a.client == "Alertmanager");
  CHECK(a.client_url == "http://127.0.0.1:9093");
  REQUIRE(a.group.size() == 1);
  CHECK(a.group[0].fingerprint == "45cf72cc755650fd");
  CHECK(a.group[0].firing);
  CHECK(a.group[0].starts_at == "2026-11-24T01:01:04.042663Z");
  CHECK(a.group[0].summary == "Error rate above 5% on api-1");

  auto d = json::parse(a.details_json).as_object();
  CHECK(d.at("receiver") == "escalator");
  CHECK(d.at("groupLabels").as_object().size() == 2);
  CHECK(d.at("commonLabels").at("team") == "payments");
  CHECK(d.at("commonAnnotations").at("runbook_url") == "https://runbooks.example.com/high-error-rate");
  CHECK(d.at("externalURL") == "http://127.0.0.1:9093");
  CHECK(d.at("truncatedAlerts") == 0);
  const auto& al = d.at("alerts").at(0).as_object();
  CHECK(al.at("status") == "firing");
  CHECK(al.at("labels").at("alertname") == "HighErrorRate");
  CHECK(al.at("annotations").at("summary") == "Error rate above 5% on api-1");
  CHECK(al.at("startsAt") == "2026-11-24T01:01:04.042663Z");
  CHECK_FALSE(al.contains("endsAt"));  // the Go zero time means unset
  CHECK(al.at("generatorURL") == "http://prometheus.example.com/graph?g0.expr=rate(errors%5B5m%5D)+%3E+0.05");
  CHECK(al.at("fingerprint") == "45cf72cc755650fd");
}

// The captured resolved notification: same group (same dedup key), action resolve, real endsAt kept.
TEST_CASE("alertmanager: captured resolved payload", "[alerts][alertmanager]") {
  auto firing = parse_alertmanager(fixture("alertmanager_firing.json"), "am-key");
  auto r = parse_alertmanager(fixture("alertmanager_resolved.json"), "am-key");
  REQUIRE(r.has_value());
  REQUIRE(firing.has_value());
  CHECK(r->action == AlertAction::resolve);
  CHECK(r->dedup_key == firing->dedup_key);
  CHECK(r->summary == "Error rate above 5% on api-1");
  REQUIRE(r->group.size() == 1);
  CHECK_FALSE(r->group[0].firing);
  CHECK(json::parse(r->details_json).at("alerts").at(0).at("endsAt") == "2026-11-24T01:03:10.118224Z");
}

// A truncated group without a summary annotation: alertname + count (incl. truncated),
// source from job, "page" severity -> critical, per-alert summary falls back to alertname.
TEST_CASE("alertmanager: truncated group without summaries", "[alerts][alertmanager]") {
  auto r = parse_alertmanager(fixture("alertmanager_truncated.json"), "k");
  REQUIRE(r.has_value());
  CHECK(r->summary == "Trunc (3 alerts)");
  CHECK(r->source_name == "node");
  CHECK(r->severity == Severity::critical);
  CHECK(r->dedup_key == R"(am:escalator:{}/{alertname="Trunc"}:{alertname="Trunc"})");
  REQUIRE(r->group.size() == 2);
  CHECK(r->group[1].fingerprint == "aaaa000000000002");
  CHECK(r->group[1].summary == "Trunc");
  CHECK(json::parse(r->details_json).at("truncatedAlerts") == 1);
}

// The bad fixture: every error named by field.
TEST_CASE("alertmanager: all errors of a bad notification are collected", "[alerts][alertmanager]") {
  CHECK(am_errors(fixture("alertmanager_bad.json")) ==
        Errors{"'version' must be \"4\"", "'status' must be firing or resolved", "'groupKey' is missing or blank",
               "'commonLabels' must be an object", "'truncatedAlerts' must be an integer from 0 to 1000000000",
               "'alerts[1]' must be an object", "'alerts[2].status' must be firing or resolved",
               "'alerts[2].labels' must be an object", "'alerts[2].annotations.summary' must be a string"});
}

// Malformed JSON, non-object bodies, missing/empty/non-array alerts.
TEST_CASE("alertmanager: structural errors", "[alerts][alertmanager]") {
  auto e = am_errors("{\"status\":");
  REQUIRE(e.size() == 1);
  CHECK(e[0].rfind("malformed JSON: ", 0) == 0);
  CHECK(am_errors("[{\"status\":\"firing\"}]") == Errors{"the notification must be a JSON object"});
  CHECK(am_errors(R"({"status":"firing","groupKey":"g"})") == Errors{"'alerts' is missing"});
  CHECK(am_errors(R"({"status":"firing","groupKey":"g","alerts":{}})") == Errors{"'alerts' must be an array"});
  CHECK(am_errors(am_with("", "")) == Errors{"'alerts' must not be empty"});
  CHECK(am_errors(R"({"groupKey":"g","alerts":[{"status":"firing"}]})") == Errors{"'status' must be firing or resolved"});
  CHECK(am_errors(R"({"status":1,"groupKey":"g","alerts":[{"status":"firing"}]})") == Errors{"'status' must be a string"});
  CHECK(am_errors(R"({"version":4,"status":"firing","groupKey":"g","alerts":[{"status":"firing"}]})") ==
        Errors{"'version' must be \"4\""});
  CHECK(am_errors(am_with("", R"({"labels":{}})")) == Errors{"'alerts[0].status' must be firing or resolved"});
  CHECK(am_errors(am_with(R"(,"receiver":5)", R"({"status":"firing","fingerprint":7})")) ==
        Errors{"'receiver' must be a string", "'alerts[0].fingerprint' must be a string"});
}

// A missing version is accepted; a minimal group gets defaults: warning, no source, "Alertmanager (1 alert)".
TEST_CASE("alertmanager: minimal notification and defaults", "[alerts][alertmanager]") {
  auto r = parse_alertmanager(R"({"status":"firing","groupKey":"g","alerts":[{"status":"firing"}]})", "k");
  REQUIRE(r.has_value());
  CHECK(r->dedup_key == "am::g");
  CHECK(r->severity == Severity::warning);
  CHECK(r->source_name.empty());
  CHECK(r->summary == "Alertmanager (1 alert)");
  CHECK(r->client_url.empty());
  CHECK(r->details_json == R"({"alerts":[{"status":"firing"}]})");
}

// Severity label mapping, including aliases, case and unknown values.
TEST_CASE("alertmanager: severity mapping", "[alerts][alertmanager]") {
  const std::vector<std::pair<std::string, Severity>> cases = {
      {"critical", Severity::critical}, {"page", Severity::critical}, {"CRITICAL", Severity::critical},
      {"error", Severity::error},       {"high", Severity::error},    {"warning", Severity::warning},
      {"info", Severity::info},         {"low", Severity::info},      {"medium", Severity::warning},
      {"", Severity::warning}};
  for (const auto& [label, sev] : cases) {
    auto r = parse_alertmanager(am_with(R"(,"commonLabels":{"severity":")" + label + "\"}", R"({"status":"firing"})"), "k");
    REQUIRE(r.has_value());
    INFO(label);
    CHECK(r->severity == sev);
  }
}

// Summary precedence: common annotation, else first *firing* alert's, else alertname + count.
TEST_CASE("alertmanager: summary precedence", "[alerts][alertmanager]") {
  auto r = parse_alertmanager(
      am_with("", R"({"status":"resolved","annotations":{"summary":"old"}},{"status":"firing","annotations":{"summary":"new"}})"),
      "k");
  REQUIRE(r.has_value());
  CHECK(r->summary == "new");
  r = parse_alertmanager(am_with(R"(,"commonAnnotations":{"summary":"common"})",
                                 R"({"status":"firing","annotations":{"summary":"own"}})"),
                         "k");
  REQUIRE(r.has_value());
  CHECK(r->summary == "common");
  // Resolved-only group without a common summary: the first alert's.
  r = parse_alertmanager(am_with("", R"({"status":"resolved","annotations":{"summary":"was bad"}})"), "k");
  REQUIRE(r.has_value());
  CHECK(r->summary == "was bad");
  // No summaries anywhere: first alert's alertname, count of alerts.
  r = parse_alertmanager(am_with("", R"({"status":"firing","labels":{"alertname":"X"}},{"status":"firing","labels":{"alertname":"X"}})"), "k");
  REQUIRE(r.has_value());
  CHECK(r->summary == "X (2 alerts)");
  CHECK(r->group[0].summary == "X");
}

// source_name: instance beats job.
TEST_CASE("alertmanager: source from instance, else job", "[alerts][alertmanager]") {
  auto r = parse_alertmanager(am_with(R"(,"commonLabels":{"job":"api","instance":"i-1"})", R"({"status":"firing"})"), "k");
  REQUIRE(r.has_value());
  CHECK(r->source_name == "i-1");
}

// Long group keys: over 255 characters the key becomes "am:" + FNV-1a 64 hex of the whole, stably.
TEST_CASE("alertmanager: long group keys are hashed", "[alerts][alertmanager]") {
  // Published FNV-1a 64 test vectors.
  CHECK(baton::alerts::detail::fnv1a_hex("") == "cbf29ce484222325");
  CHECK(baton::alerts::detail::fnv1a_hex("a") == "af63dc4c8601ec8c");

  auto with_group_key = [](const std::string& receiver, const std::string& key) {
    return R"({"status":"firing","receiver":")" + receiver + R"(","groupKey":")" + key +
           R"(","alerts":[{"status":"firing"}]})";
  };
  // "am:r:" is 5 characters: 250 more make exactly 255, kept as-is.
  auto exact = parse_alertmanager(with_group_key("r", std::string(250, 'g')), "k");
  REQUIRE(exact.has_value());
  CHECK(exact->dedup_key == "am:r:" + std::string(250, 'g'));

  auto a = parse_alertmanager(with_group_key("r", std::string(251, 'g')), "k");
  auto b = parse_alertmanager(with_group_key("r", std::string(251, 'g')), "other");
  auto c = parse_alertmanager(with_group_key("r2", std::string(251, 'g')), "k");
  REQUIRE(a.has_value());
  REQUIRE(b.has_value());
  REQUIRE(c.has_value());
  CHECK(a->dedup_key == "am:" + baton::alerts::detail::fnv1a_hex("am:r:" + std::string(251, 'g')));
  CHECK(a->dedup_key.size() == 3 + 16);
  CHECK(a->dedup_key == b->dedup_key);  // the integration key is not part of it
  CHECK(c->dedup_key != a->dedup_key);  // the receiver is

  // The limit counts characters: 250 two-byte characters (500 bytes) are kept.
  std::string accents;
  for (int i = 0; i < 250; ++i) accents += "\xC3\xA9";
  auto u = parse_alertmanager(with_group_key("r", accents), "k");
  REQUIRE(u.has_value());
  CHECK(u->dedup_key == "am:r:" + accents);
}

// Unicode labels and annotations come through unchanged.
TEST_CASE("alertmanager: unicode content", "[alerts][alertmanager]") {
  auto r = parse_alertmanager(
      am_with(R"(,"commonLabels":{"instance":"caf\u00e9-1"})", R"({"status":"firing","annotations":{"summary":"Zeitüberschreitung 🔥"}})"),
      "k");
  REQUIRE(r.has_value());
  CHECK(r->source_name == "caf\xC3\xA9-1");
  CHECK(r->summary == "Zeitüberschreitung 🔥");
}
