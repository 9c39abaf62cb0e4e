// Hostile and odd input at the inbound boundaries: numbers JSON cannot hold,
// bodies built to produce huge error answers, and bytes that are not UTF-8.
// Each is refused with a bounded error or repaired; nothing half-valid is kept.
#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include "integrations/alerts/alertmanager.hpp"
#include "integrations/alerts/events_v2.hpp"
#include "integrations/common/utf8.hpp"
#include "integrations/slack/commands.hpp"

using namespace baton;
namespace json = boost::json;

namespace {

std::string trigger_with_details(const std::string& custom_details) {
  return R"({"routing_key":"k","event_action":"trigger","dedup_key":"d",
             "payload":{"summary":"s","source":"h","severity":"critical","custom_details":)" +
         custom_details + R"(},"client":"c","links":[{"href":"https://x.test"}]})";
}

bool mentions(const std::vector<std::string>& errors, std::string_view text) {
  for (const auto& e : errors)
    if (e.find(text) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("a number JSON cannot represent is refused, naming the field", "[alerts][hostile]") {
  // 1e999 parses as infinity; stored, it became "Infinity" (not JSON) and the
  // whole details object read back empty. Now it is a 400 naming the path.
  auto r = alerts::parse_events_v2(trigger_with_details(R"({"free_gb":1e999})"));
  REQUIRE_FALSE(r.has_value());
  CHECK(mentions(r.error().errors, "'payload.custom_details.free_gb' must be a finite number"));

  r = alerts::parse_events_v2(trigger_with_details(R"({"disks":[1, {"x":-1e400}]})"));
  REQUIRE_FALSE(r.has_value());
  CHECK(mentions(r.error().errors, "'payload.custom_details.disks[1].x'"));

  // Inside a link's extra fields too (links are kept whole).
  r = alerts::parse_events_v2(
      R"({"routing_key":"k","event_action":"trigger","payload":{"summary":"s","source":"h","severity":"info"},
          "links":[{"href":"https://x.test","w":1e999}]})");
  REQUIRE_FALSE(r.has_value());
  CHECK(mentions(r.error().errors, "'links[0].w'"));

  auto am = alerts::parse_alertmanager(
      R"({"version":"4","status":"firing","groupKey":"g","commonLabels":{"v":1e999},
          "alerts":[{"status":"firing","labels":{"alertname":"A"}}]})",
      "k");
  REQUIRE_FALSE(am.has_value());
  CHECK(mentions(am.error().errors, "'commonLabels.v'"));
}

TEST_CASE("accepted details read back as the same JSON", "[alerts][hostile]") {
  // Large but finite numbers, unicode and nesting survive the round trip, and
  // nothing else (client, links) is lost beside them.
  const std::string details = R"({"free_gb":1.5e300,"name":"d\u00e9j\u00e0 vu \ud83d\ude80","n":[1,-2,3.25]})";
  auto r = alerts::parse_events_v2(trigger_with_details(details));
  REQUIRE(r.has_value());
  auto stored = json::parse(r->details_json);
  CHECK(stored.at("custom_details") == json::parse(details));
  CHECK(stored.at("client") == "c");
  CHECK(stored.at("links").as_array().size() == 1);
  CHECK(integrations::valid_utf8(r->details_json));
}

TEST_CASE("error answers are bounded", "[alerts][hostile]") {
  // 300,000 bad links gave a 10.7 MB answer; 300,000 empty alerts 15.8 MB.
  std::string links = "[";
  for (int i = 0; i < 300000; ++i) links += i ? ",1" : "1";
  links += "]";
  auto r = alerts::parse_events_v2(
      R"({"routing_key":"k","event_action":"trigger","payload":{"summary":"s","source":"h","severity":"info"},"links":)" +
      links + "}");
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().errors.size() <= alerts::ParseErrors::kMaxListed + 1);
  CHECK(mentions(r.error().errors, "'links' must hold at most 100 items"));

  // 100 links (the cap), each broken: 20 listed, then a count of the rest.
  std::string bad = "[";
  for (int i = 0; i < 100; ++i) bad += i ? ",{}" : "{}";
  bad += "]";
  r = alerts::parse_events_v2(
      R"({"routing_key":"k","event_action":"trigger","payload":{"summary":"s","source":"h","severity":"info"},"links":)" +
      bad + "}");
  REQUIRE_FALSE(r.has_value());
  REQUIRE(r.error().errors.size() == alerts::ParseErrors::kMaxListed + 1);
  CHECK(r.error().errors.back() == "... and 80 more problems");

  std::string alerts_body = R"({"version":"4","status":"firing","groupKey":"g","alerts":[)";
  for (int i = 0; i < 300000; ++i) alerts_body += i ? ",{}" : "{}";
  alerts_body += "]}";
  auto am = alerts::parse_alertmanager(alerts_body, "k");
  REQUIRE_FALSE(am.has_value());
  CHECK(am.error().errors.size() <= alerts::ParseErrors::kMaxListed + 1);
  CHECK(mentions(am.error().errors, "at most 10000 alerts"));

  // Under the cap, every broken alert still counts, and the list stays short.
  alerts_body = R"({"version":"4","status":"firing","groupKey":"g","alerts":[)";
  for (int i = 0; i < 5000; ++i) alerts_body += i ? ",{}" : "{}";
  alerts_body += "]}";
  am = alerts::parse_alertmanager(alerts_body, "k");
  REQUIRE_FALSE(am.has_value());
  CHECK(am.error().errors.size() == alerts::ParseErrors::kMaxListed + 1);
  CHECK(am.error().errors.back() == "... and 4980 more problems");
}

TEST_CASE("UTF-8 validation follows RFC 3629", "[utf8][hostile]") {
  using integrations::valid_utf8;
  CHECK(valid_utf8(""));
  CHECK(valid_utf8("plain ascii"));
  CHECK(valid_utf8("d\xC3\xA9j\xC3\xA0"));             // é à
  CHECK(valid_utf8("\xE2\x82\xAC"));                   // €
  CHECK(valid_utf8("\xF0\x9F\x9A\x80"));               // U+1F680
  CHECK(valid_utf8("\xF4\x8F\xBF\xBF"));               // U+10FFFF
  CHECK_FALSE(valid_utf8("\xFF\xFE"));                 // never in UTF-8
  CHECK_FALSE(valid_utf8("\xC0\x80"));                 // overlong NUL
  CHECK_FALSE(valid_utf8("\xE0\x80\xAF"));             // overlong '/'
  CHECK_FALSE(valid_utf8("\xED\xA0\x80"));             // surrogate U+D800
  CHECK_FALSE(valid_utf8("\xF4\x90\x80\x80"));         // above U+10FFFF
  CHECK_FALSE(valid_utf8("\xE2\x82"));                 // truncated
  CHECK_FALSE(valid_utf8("a\x80" "b"));                // stray continuation
}

TEST_CASE("UTF-8 repair substitutes maximal subparts", "[utf8][hostile]") {
  using integrations::repair_utf8;
  const std::string r = "\xEF\xBF\xBD";  // U+FFFD
  CHECK(repair_utf8("ok \xE2\x82\xAC") == "ok \xE2\x82\xAC");
  CHECK(repair_utf8("\xFF\xFE") == r + r);
  CHECK(repair_utf8("a\xE2\x82" "b") == "a" + r + "b");  // one U+FFFD for the truncated sequence
  CHECK(repair_utf8("\xED\xA0\x80") == r + r + r);       // surrogates: each byte on its own
  CHECK(repair_utf8("\xF0\x9F\x9A") == r);
  CHECK(integrations::valid_utf8(repair_utf8("\xC0\xAF\xE0\x80\xBF\xF0\x81\x82\x41")));
  std::string s = "fine";
  CHECK_FALSE(integrations::repair_utf8_in_place(s));
  s = "bad\xFF";
  CHECK(integrations::repair_utf8_in_place(s));
  CHECK(s == "bad" + r);
}

TEST_CASE("a Slack form with bytes that are not UTF-8 is repaired", "[slack][hostile]") {
  // A signed `/baton incident new` with %FF%FE in the text made the JSON API
  // serve bytes no parser accepts once the incident was stored.
  auto req = slack::parse_slash_form("team_id=T1&channel_id=C1&user_id=U1&command=%2Fbaton&text=incident+new+db+%FF%FE+down");
  REQUIRE(req.has_value());
  CHECK(integrations::valid_utf8(req->text));
  CHECK(req->text == "incident new db \xEF\xBF\xBD\xEF\xBF\xBD down");
}

TEST_CASE("a huge truncatedAlerts is refused instead of overflowing the summary's count", "[alerts][hostile]") {
  // Found by the alertmanager fuzz target (UBSan): INT64_MAX + the group's
  // alerts overflowed when the summary counted them.
  auto am = alerts::parse_alertmanager(
      R"({"version":"4","status":"firing","groupKey":"g","alerts":[{"status":"firing","labels":{"alertname":"A"}}],
          "truncatedAlerts":9223372036854775807})",
      "k");
  REQUIRE_FALSE(am.has_value());
  CHECK(mentions(am.error().errors, "'truncatedAlerts' must be an integer from 0 to 1000000000"));
  am = alerts::parse_alertmanager(
      R"({"version":"4","status":"firing","groupKey":"g","alerts":[{"status":"firing","labels":{"alertname":"A"}}],
          "truncatedAlerts":1000000000})",
      "k");
  REQUIRE(am.has_value());
  CHECK(am->summary == "A (1000000001 alerts)");
}

TEST_CASE("a blank Alertmanager summary falls back to the alert name", "[alerts][hostile]") {
  // Found by the alertmanager fuzz target: commonAnnotations.summary "" gave
  // an incident with an empty summary.
  auto am = alerts::parse_alertmanager(
      R"({"version":"4","status":"firing","groupKey":"g","commonAnnotations":{"summary":" "},
          "commonLabels":{"alertname":""},
          "alerts":[{"status":"firing","labels":{"alertname":"HighErrorRate"},"annotations":{"summary":""}}]})",
      "k");
  REQUIRE(am.has_value());
  CHECK(am->summary == "HighErrorRate (1 alert)");
}
