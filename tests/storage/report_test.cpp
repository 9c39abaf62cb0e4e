// The response report (storage/reports.hpp, docs/reports.md) on both back ends,
// against the hand-computed scenario of tests/storage/report_fixture.hpp.
#include "storage/reports.hpp"

#include <catch2/catch.hpp>

#include "storage/store.hpp"
#include "tests/storage/report_fixture.hpp"
#include "tests/storage/test_db.hpp"

using namespace baton;
using namespace baton::test;
using namespace std::chrono_literals;

namespace {

const storage::ReportRow& row(const std::vector<storage::ReportRow>& rows, const std::string& key) {
  for (const auto& r : rows)
    if (r.key == key) return r;
  FAIL("no row " << key);
  throw std::logic_error("unreachable");
}

bool has_row(const std::vector<storage::ReportRow>& rows, const std::string& key) {
  for (const auto& r : rows)
    if (r.key == key) return true;
  return false;
}

std::unique_ptr<storage::Store> seeded(const TestDb& db) {
  auto store = storage::Store::open(db.path());
  REQUIRE(store);
  REQUIRE(report::seed(**store));
  return std::move(*store);
}

}  // namespace

TEMPLATE_TEST_CASE("the response report adds up the timeline by service, person and channel", "[storage][report]",
                   BATON_STORAGE_BACKENDS) {
  BATON_TEST_DB(db);
  auto store = seeded(db);
  auto r = store->response_report(report::query());
  REQUIRE(r);

  // Totals: #1, #2, #3 (#4 starts at `to`, #5 ends before `from`).
  const auto& t = r->totals;
  CHECK(t.incidents == 3);
  CHECK(t.acknowledged == 2);
  CHECK(t.unacknowledged == 1);
  CHECK(t.time_to_first_page.count == 3);  // 2 s, 1 s, 5 s
  CHECK(t.time_to_first_page.p50 == 2000);
  CHECK(t.time_to_first_page.p90 == 5000);
  CHECK(t.time_to_acknowledge.count == 2);  // 420 s (after an escalation, via SMS), 60 s
  CHECK(t.time_to_acknowledge.p50 == 60'000);
  CHECK(t.time_to_acknowledge.p90 == 420'000);
  CHECK(t.acknowledged_via == std::map<std::string, std::int64_t>{{"sms", 1}, {"voice", 1}});
  CHECK(t.escalations_total == 1);
  CHECK(t.escalations_max == 1);
  CHECK(t.escalations_histogram == std::array<std::int64_t, 4>{1, 1, 0, 0});
  CHECK(t.pages == 5);
  CHECK(t.pages_out_of_hours == 3);  // bob at 05:05 and 07:05 New York, alice at 03:00 Berlin

  // Services: every configured one (web: zeros), by id.
  REQUIRE(r->services.size() == 3);
  CHECK(r->services[0].key == "payments");
  CHECK(r->services[2].key == "web");
  const auto& pay = row(r->services, "payments").stats;
  CHECK(pay.incidents == 2);
  CHECK(pay.acknowledged == 1);
  CHECK(pay.unacknowledged == 1);
  CHECK(pay.time_to_first_page.p50 == 1000);
  CHECK(pay.time_to_first_page.p90 == 2000);
  CHECK(pay.time_to_acknowledge.p50 == 420'000);
  CHECK(pay.acknowledged_via == std::map<std::string, std::int64_t>{{"sms", 1}});
  CHECK(pay.escalations_histogram == std::array<std::int64_t, 4>{0, 1, 0, 0});
  CHECK(pay.pages == 4);
  CHECK(pay.pages_out_of_hours == 2);
  const auto& search = row(r->services, "search").stats;
  CHECK(search.incidents == 1);
  CHECK(search.time_to_first_page.p50 == 5000);
  CHECK(search.time_to_acknowledge.p50 == 60'000);
  CHECK(search.pages_out_of_hours == 1);
  const auto& web = row(r->services, "web").stats;
  CHECK(web.incidents == 0);
  CHECK_FALSE(web.time_to_acknowledge.p50);

  // People: time to acknowledge from their own first page.
  REQUIRE(r->people.size() == 2);
  const auto& alice = row(r->people, "alice").stats;
  CHECK(alice.incidents == 3);
  CHECK(alice.acknowledged == 1);
  CHECK(alice.unacknowledged == 1);
  CHECK(alice.time_to_first_page.p50 == 2000);
  CHECK(alice.time_to_acknowledge.p50 == 60'000);
  CHECK(alice.acknowledged_via == std::map<std::string, std::int64_t>{{"voice", 1}});
  CHECK(alice.pages == 3);
  CHECK(alice.pages_out_of_hours == 1);
  const auto& bob = row(r->people, "bob").stats;
  CHECK(bob.incidents == 2);
  CHECK(bob.acknowledged == 1);
  CHECK(bob.unacknowledged == 1);
  CHECK(bob.time_to_first_page.p50 == 301'000);
  CHECK(bob.time_to_first_page.p90 == 303'000);
  CHECK(bob.time_to_acknowledge.p50 == 120'000);  // paged at +300 s, acknowledged at +420 s
  CHECK(bob.escalations_histogram == std::array<std::int64_t, 4>{0, 1, 0, 0});
  CHECK(bob.pages == 2);
  CHECK(bob.pages_out_of_hours == 2);

  // Channels: contact methods paged by, and acknowledgement channels.
  REQUIRE(r->channels.size() == 3);
  const auto& slack = row(r->channels, "slack").stats;
  CHECK(slack.incidents == 2);
  CHECK(slack.acknowledged == 0);
  CHECK(slack.unacknowledged == 1);
  CHECK(slack.pages == 2);
  CHECK(slack.pages_out_of_hours == 0);
  const auto& sms = row(r->channels, "sms").stats;
  CHECK(sms.incidents == 2);
  CHECK(sms.acknowledged == 1);
  CHECK(sms.time_to_first_page.p50 == 301'000);
  CHECK(sms.time_to_acknowledge.p50 == 120'000);  // from the first SMS page
  CHECK(sms.pages_out_of_hours == 2);
  const auto& voice = row(r->channels, "voice").stats;
  CHECK(voice.incidents == 1);
  CHECK(voice.acknowledged == 1);
  CHECK(voice.time_to_acknowledge.p50 == 60'000);
  CHECK(voice.pages_out_of_hours == 1);

  // Daily series (UTC): 2026-11-02 .. 2026-11-09, one per service.
  REQUIRE(r->daily.size() == 3);
  CHECK(r->daily[0].service == "payments");
  REQUIRE(r->daily[0].days.size() == 8);
  CHECK(r->daily[0].days[0].date == "2026-11-02");
  CHECK(r->daily[0].days[0].incidents == 2);
  CHECK(r->daily[0].days[0].acknowledged == 1);
  CHECK(r->daily[0].days[0].time_to_acknowledge_p50 == 420'000);
  CHECK(r->daily[0].days[1].incidents == 0);
  CHECK_FALSE(r->daily[0].days[1].time_to_acknowledge_p50);
  CHECK(r->daily[0].days[7].date == "2026-11-09");
  CHECK(r->daily[1].service == "search");
  CHECK(r->daily[1].days[1].date == "2026-11-03");
  CHECK(r->daily[1].days[1].incidents == 1);
  CHECK(r->daily[1].days[1].time_to_acknowledge_p50 == 60'000);
}

TEMPLATE_TEST_CASE("the response report filters by service, person, range and day zone", "[storage][report]",
                   BATON_STORAGE_BACKENDS) {
  BATON_TEST_DB(db);
  auto store = seeded(db);

  SECTION("service") {
    auto q = report::query();
    q.service = "search";
    auto r = store->response_report(q);
    REQUIRE(r);
    CHECK(r->totals.incidents == 1);
    REQUIRE(r->services.size() == 1);
    CHECK(r->services[0].key == "search");
    REQUIRE(r->people.size() == 1);
    CHECK(r->people[0].key == "alice");
    CHECK(r->people[0].stats.incidents == 1);
    REQUIRE(r->channels.size() == 1);
    CHECK(r->channels[0].key == "voice");
  }
  SECTION("person") {
    auto q = report::query();
    q.person = "bob";
    auto r = store->response_report(q);
    REQUIRE(r);
    CHECK(r->totals.incidents == 2);  // #1 and #2 paged bob; #3 did not
    CHECK(r->totals.pages == 4);
    REQUIRE(r->people.size() == 1);
    CHECK(r->people[0].key == "bob");
    CHECK(r->people[0].stats.pages == 2);
    CHECK(row(r->services, "payments").stats.incidents == 2);
    CHECK(row(r->services, "search").stats.incidents == 0);
  }
  SECTION("a person nobody paged has a row of zeros") {
    auto q = report::query();
    q.person = "carol";
    auto r = store->response_report(q);
    REQUIRE(r);
    CHECK(r->totals.incidents == 0);
    REQUIRE(r->people.size() == 1);
    CHECK(r->people[0].stats.incidents == 0);
    CHECK(r->channels.empty());
  }
  SECTION("from is inclusive, to exclusive") {
    auto q = report::query();
    q.from = report::from() + 1ms;  // #1 was created exactly at `from`
    auto r = store->response_report(q);
    REQUIRE(r);
    CHECK(r->totals.incidents == 2);
    q.from = report::from() - 1ms;  // #5
    q.to = report::to() + 1ms;      // #4
    r = store->response_report(q);
    REQUIRE(r);
    CHECK(r->totals.incidents == 5);
  }
  SECTION("the daily series in another time zone") {
    auto q = report::query();
    q.tz = "America/New_York";
    auto r = store->response_report(q);
    REQUIRE(r);
    // 05:00 New York on 2026-11-02 .. 19:00 on 2026-11-09: 8 local days. #3
    // (02:00Z on the 3rd) is 21:00 on the 2nd in New York.
    REQUIRE(r->daily[1].days.size() == 8);
    CHECK(r->daily[1].days[0].date == "2026-11-02");
    CHECK(r->daily[1].days[0].incidents == 1);
  }
  SECTION("working hours of a person's own") {
    auto q = report::query();
    q.people["bob"].working_hours = storage::WorkingHours{{1, 2, 3, 4, 5}, 5 * 60, 14 * 60};  // an early shift
    auto r = store->response_report(q);
    REQUIRE(r);
    CHECK(row(r->people, "bob").stats.pages_out_of_hours == 0);
    CHECK(r->totals.pages_out_of_hours == 1);
  }
}

TEMPLATE_TEST_CASE("the response report refuses bad ranges and zones", "[storage][report]", BATON_STORAGE_BACKENDS) {
  BATON_TEST_DB(db);
  auto store = storage::Store::open(db.path());
  REQUIRE(store);
  auto q = report::query();
  q.from = q.to;
  CHECK((*store)->response_report(q).error().kind == ErrorKind::invalid_request);
  q = report::query();
  q.from = q.to - storage::kMaxReportRange - 1ms;
  CHECK((*store)->response_report(q).error().kind == ErrorKind::invalid_request);
  q.from = q.to - storage::kMaxReportRange;  // exactly 400 days is fine
  auto empty = (*store)->response_report(q);
  REQUIRE(empty);
  CHECK(empty->totals.incidents == 0);
  CHECK(empty->daily.at(0).days.size() == 400);  // midnight to midnight: 400 dates
  q = report::query();
  q.tz = "Mars/Olympus";
  CHECK((*store)->response_report(q).error().kind == ErrorKind::invalid_request);
}

TEST_CASE("working hours and percentiles", "[storage][report]") {
  storage::WorkingHours day;  // Mon-Fri 09:00-18:00
  CHECK(storage::in_working_hours(day, 1, 9 * 60));
  CHECK_FALSE(storage::in_working_hours(day, 1, 18 * 60));
  CHECK_FALSE(storage::in_working_hours(day, 6, 12 * 60));
  storage::WorkingHours night{{1, 2, 3, 4, 5}, 22 * 60, 6 * 60};  // starts Mon-Fri 22:00
  CHECK(storage::in_working_hours(night, 5, 23 * 60));
  CHECK(storage::in_working_hours(night, 6, 5 * 60));  // Friday's shift, Saturday morning
  CHECK_FALSE(storage::in_working_hours(night, 1, 5 * 60));  // nothing started on Sunday
  CHECK_FALSE(storage::in_working_hours(night, 2, 12 * 60));
  CHECK(storage::percentile({}, 50) == std::nullopt);
  CHECK(storage::percentile({7}, 90) == 7);
  CHECK(storage::percentile({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 50) == 5);
  CHECK(storage::percentile({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 90) == 9);
  CHECK(storage::percentile({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, 90) == 10);
}

TEMPLATE_TEST_CASE("the report's queries use the report indexes", "[storage][report]", BATON_STORAGE_BACKENDS) {
  BATON_TEST_DB(db);
  auto store = seeded(db);
  if (db.postgres()) {
    // The planner picks by statistics (a small table is scanned); the indexes exist.
    for (const char* index : {"incidents_created", "timeline_response", "outbox_page"})
      CHECK(db.scalar(std::string("SELECT COUNT(*) FROM pg_indexes WHERE indexname = '") + index + "'") == "1");
    return;
  }
  auto plan = [&](const std::string& sql) {
    std::string text;
    for (const auto& r : db.query("EXPLAIN QUERY PLAN " + sql)) text += r.back().value_or("") + "\n";
    return text;
  };
  CHECK_THAT(plan("SELECT number, service_id, created_ms FROM incidents WHERE created_ms >= 0 AND created_ms < 1 "
                  "ORDER BY number"),
             Catch::Contains("incidents_created") || Catch::Contains("PRIMARY KEY"));
  CHECK_THAT(plan("SELECT incident, id, kind, at_ms, actor, channel FROM timeline WHERE kind IN ('acknowledged', "
                  "'escalated') AND incident >= 1 AND incident <= 3"),
             Catch::Contains("timeline_response"));
  CHECK_THAT(plan("SELECT incident, person, method, created_ms, state, updated_ms FROM outbox WHERE kind = 'page' "
                  "AND incident >= 1 AND incident <= 3"),
             Catch::Contains("outbox_page"));
}
