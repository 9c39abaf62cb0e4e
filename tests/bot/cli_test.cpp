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
