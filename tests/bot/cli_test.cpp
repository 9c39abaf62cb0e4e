// The command line, run in-process: check-config, oncall and usage errors.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "bot/cli.hpp"

using baton::bot::run_cli;

namespace {
const std::string kExample = std::string(BATON_SOURCE_DIR) + "/manifests/baton.example.yaml";

struct Run {
  int code;
  std::string out;
  std::string err;
};

Run cli(std::vector<std::string> args) {
  std::ostringstream out, err;
  int code = run_cli(args, out, err);
  return {code, out.str(), err.str()};
}
}  // namespace

TEST_CASE("check-config accepts the example and names every error with its location", "[cli]") {
  // Scenario: the shipped example is valid; a copy with a typo'd key and a bad
  // time zone fails with exit 1 and both errors as file:line:column.
  auto ok = cli({"check-config", kExample});
  CHECK(ok.code == 0);
  CHECK(ok.out.find("ok (2 services") != std::string::npos);

  const auto bad = std::filesystem::temp_directory_path() / "baton-cli-bad.yaml";
  {
    std::ofstream f(bad);
    f << "people:\n  alice: {name: A, time_zone: Mars/Olympus}\n"
         "services:\n  s: {name: S, escalation_polcy: p}\n";
  }
  auto r = cli({"check-config", bad.string()});
  CHECK(r.code == 1);
  CHECK(r.err.find(bad.string() + ":2:") != std::string::npos);
  CHECK(r.err.find("Mars/Olympus") != std::string::npos);
  CHECK(r.err.find(bad.string() + ":4:") != std::string::npos);
  CHECK(r.err.find("escalation_polcy") != std::string::npos);
  std::filesystem::remove(bad);
}

TEST_CASE("oncall prints who is on call at a given time", "[cli]") {
  // Scenario: the example's platform schedule has a holiday override: carol on
  // 2026-12-25; the primary weekly rotation has alice from Monday 2026-01-05
  // 09:00 New York, and Dave's business-hours layer on weekdays.
  auto r = cli({"oncall", "platform", "--at", "2026-12-25T12:00:00Z", "--config", kExample});
  CHECK(r.code == 0);
  CHECK(r.out.find("Carol Tan (carol)") != std::string::npos);
  auto night = cli({"oncall", "primary", "--at", "2026-01-06T03:00:00Z", "--config", kExample});
  CHECK(night.out.find("Alice Ng (alice)") != std::string::npos);
  auto day = cli({"oncall", "primary", "--at", "2026-01-06T15:00:00Z", "--config", kExample});
  CHECK(day.out.find("Dave Okafor (dave)") != std::string::npos);
  CHECK(cli({"oncall", "nope", "--config", kExample}).code == 1);
  CHECK(cli({"oncall", "--at", "yesterday", "--config", kExample}).code == 2);
}

TEST_CASE("usage errors exit 2", "[cli]") {
  CHECK(cli({}).code == 2);
  CHECK(cli({"frobnicate"}).code == 2);
  CHECK(cli({"check-config"}).code == 2);
  CHECK(cli({"incident", "ack", "x", "--url", "http://127.0.0.1:1"}).code == 2);
  CHECK(cli({"help"}).code == 0);
}

TEST_CASE("incident commands report an unreachable server", "[cli]") {
  auto r = cli({"incident", "list", "--url", "http://127.0.0.1:1"});
  CHECK(r.code == 1);
  CHECK(r.err.find("cannot reach") != std::string::npos);
}

// ---- baton migrate ----

#include "storage/store.hpp"
#include "tests/storage/storage_fixtures.hpp"
#include "tests/support/pg_cluster.hpp"

namespace {
// A PostgreSQL URI with a password in it (the test cluster trusts every local
// connection, so the password is never checked, only carried).
std::string with_password(const std::string& uri, const std::string& password) {
  const auto at = uri.find("postgres@");
  REQUIRE(at != std::string::npos);
  return uri.substr(0, at) + "postgres:" + password + uri.substr(at + 8);
}
}  // namespace

TEST_CASE("migrate: usage errors exit 2", "[cli][migrate]") {
  baton::test::TempDir dir;
  const auto db = dir.file();
  const std::string pg = "postgresql://baton:s3cret@127.0.0.1:1/baton";
  CHECK(cli({"migrate"}).code == 2);
  CHECK(cli({"migrate", "--from", db}).code == 2);
  CHECK(cli({"migrate", "--to", pg}).code == 2);
  CHECK(cli({"migrate", "--from", db, "--to", dir.file("other.db")}).code == 2);  // not PostgreSQL
  CHECK(cli({"migrate", "--from", pg, "--to", pg}).code == 2);                     // not SQLite
  CHECK(cli({"migrate", "--from", db, "--to", pg, "--force", "yes"}).code == 2);
  CHECK(cli({"migrate", "extra", "--from", db, "--to", pg}).code == 2);
  auto r = cli({"migrate", "--from", db, "--to", dir.file("other.db")});
  CHECK(r.err.find("usage: baton migrate --from") != std::string::npos);
  CHECK(cli({"help"}).out.find("baton migrate --from SQLITE_FILE --to postgres://") != std::string::npos);
}

TEST_CASE("migrate: failures exit 1 and never show the password", "[cli][migrate]") {
  baton::test::TempDir dir;
  const auto db = dir.file();
  const std::string pg = "postgresql://baton:s3cret@127.0.0.1:1/baton?connect_timeout=2";
  auto missing = cli({"migrate", "--from", db, "--to", pg});
  CHECK(missing.code == 1);
  CHECK(missing.err.find("no SQLite database at " + db) != std::string::npos);
  { REQUIRE(baton::storage::Store::open(db)); }
  auto down = cli({"migrate", "--from", db, "--to", pg});
  CHECK(down.code == 1);
  CHECK(down.err.find("cannot open postgresql://baton:***@127.0.0.1:1/baton") != std::string::npos);
  CHECK((down.out + down.err).find("s3cret") == std::string::npos);
}

TEST_CASE("migrate: copies into PostgreSQL, one line per table, password hidden", "[cli][migrate][postgres]") {
  using baton::test::PgCluster;
  if (auto why = PgCluster::skip_reason()) {
    WARN("BATON-SKIPPED: " << *why);
    return;
  }
  baton::test::TempDir dir;
  const auto db = dir.file();
  {
    auto store = baton::storage::Store::open(db);
    REQUIRE(store);
    REQUIRE(baton::test::apply_one(**store, baton::test::make_trigger_effects(1, 1)));
    REQUIRE(baton::test::apply_one(**store, baton::test::make_trigger_effects(2, 2)));
    REQUIRE((*store)->consume_token("tok-1", baton::test::t0()));
  }
  const auto uri = with_password(PgCluster::shared().create_database(), "pw-s3cret");
  auto r = cli({"migrate", "--from", db, "--to", uri});
  INFO(r.out << r.err);
  CHECK(r.code == 0);
  CHECK(r.out.find("postgres:***@127.0.0.1") != std::string::npos);
  CHECK(r.out.find("  incidents                2 rows\n") != std::string::npos);
  CHECK(r.out.find("  outbox                   2 rows\n") != std::string::npos);
  CHECK(r.out.find("  used_tokens              1 rows\n") != std::string::npos);
  CHECK(r.out.find("migrated ") != std::string::npos);
  CHECK(r.out.find("(2 open incidents, 0 resolved)") != std::string::npos);
  CHECK((r.out + r.err).find("pw-s3cret") == std::string::npos);
  CHECK(PgCluster::query(uri, "SELECT COUNT(*) FROM incidents").at(0).at(0) == "2");

  // Again: the target is no longer empty; refused, nothing changes.
  auto again = cli({"migrate", "--from", db, "--to", uri});
  CHECK(again.code == 1);
  CHECK(again.err.find("not empty (incidents: 2 rows)") != std::string::npos);
  CHECK(again.err.find("nothing was copied") != std::string::npos);
  CHECK((again.out + again.err).find("pw-s3cret") == std::string::npos);
  CHECK(PgCluster::query(uri, "SELECT COUNT(*) FROM incidents").at(0).at(0) == "2");
}
