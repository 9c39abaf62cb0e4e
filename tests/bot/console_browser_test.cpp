// The web console end to end in REAL headless Chromium (Debian's `chromium`),
// driven by tests/console/console_test.mjs with playwright-core (pinned in
// tests/console/package-lock.json, installed by scripts/deps.sh). The test
// starts baton in-process with some history (incidents acknowledged through
// the API and the console over the last days, a webhook receiver that takes
// every page), makes a fresh and an expired sign-in link, and runs the script,
// which checks sign-in, a live incident, an acknowledgement from the page, the
// on-call timeline across a DST change, and the refusals (expired link, reused
// link, missing CSRF token). Without node, chromium or the package the test
// prints "BATON-SKIPPED:" and ctest reports it skipped.
//
// BATON_CONSOLE_SCREENSHOTS=<dir> makes the script save a screenshot of each
// page there (docs/console/*.png are made so, see docs/console.md).
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "bot/console_auth.hpp"
#include "tests/support/http_peer.hpp"
#include "tests/support/service_harness.hpp"

extern char** environ;

using namespace baton;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

std::optional<std::string> find_in_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const auto candidate = fs::path(dir.empty() ? "." : dir) / name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  return std::nullopt;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// Runs `args` in `cwd` with `extra_env`, in its own process group, output to
/// `out`; waits at most `limit`, then kills the group. Returns the exit status
/// (-1 when killed). PR_SET_PDEATHSIG takes it down with a killed test.
int run(const std::vector<std::string>& args, const fs::path& cwd, const std::vector<std::string>& extra_env,
        const fs::path& out, std::chrono::seconds limit) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) env.emplace_back(*e);
  env.insert(env.end(), extra_env.begin(), extra_env.end());
  std::vector<std::string> a = args;
  std::vector<char*> argv, envp;
  for (auto& s : a) argv.push_back(s.data());
  argv.push_back(nullptr);
  for (auto& s : env) envp.push_back(s.data());
  envp.push_back(nullptr);
  const std::string out_path = out.string(), dir = cwd.string();
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    const int log = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    const int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (log < 0 || null < 0 || ::chdir(dir.c_str()) != 0) ::_exit(127);
    ::dup2(null, 0);
    ::dup2(log, 1);
    ::dup2(log, 2);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::setpgid(pid, pid);
  const auto until = std::chrono::steady_clock::now() + limit;
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) != pid) {
    if (std::chrono::steady_clock::now() > until) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(50ms);
  }
  ::kill(-pid, SIGKILL);  // whatever the script left behind (a browser) goes too
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string config(const std::string& db, const std::string& webhook) {
  return R"(
server:
  listen: "127.0.0.1:0"
  action_secret: "browser-test-secret"
  api_tokens: [{name: ops, token: ")" + std::string(test::kApiToken) + R"("}]
storage: {path: ")" + db + R"(", durability: normal}
webhook: {url: ")" + webhook + R"("}
people:
  alice: {name: Alice Example, email: alice@example.com, time_zone: America/New_York}
  bob: {name: Bob Builder, email: bob@example.com, time_zone: Europe/Berlin}
  carol: {name: Carol Chen, email: carol@example.com, time_zone: Asia/Singapore}
schedules:
  primary:
    name: Payments primary
    time_zone: America/New_York
    layers:
      - name: daily
        rotation: {unit: days, length: 1, start: "2026-03-02T09:00", time_zone: America/New_York}
        participants: [alice, bob]
      - name: saturday
        rotation: {unit: weeks, length: 1, start: "2026-03-07T00:00", time_zone: America/New_York}
        participants: [carol]
        restrictions:
          - {days: [sat], from: "00:00", to: "00:00"}
  platform:
    name: Platform on-call
    time_zone: Europe/London
    layers:
      - name: daily
        rotation: {unit: days, length: 1, start: "2026-01-05T10:00"}
        participants: [bob, carol]
escalation_policies:
  payments: {steps: [{targets: [{schedule: primary}], timeout: 5m}, {targets: [{person: carol}], timeout: 5m}]}
  platform: {steps: [{targets: [{schedule: platform}], timeout: 10m}]}
services:
  payments: {name: Payments, escalation_policy: payments, integration_keys: [key-pay]}
  platform: {name: Platform, escalation_policy: platform, integration_keys: [key-platform]}
)";
}

std::string alert(const std::string& key, const std::string& dedup, const std::string& summary) {
  return R"({"routing_key":")" + key + R"(","event_action":"trigger","dedup_key":")" + dedup +
         R"(","payload":{"summary":")" + summary + R"(","source":"prod","severity":"critical"}})";
}

}  // namespace

TEST_CASE("the console in headless Chromium: sign-in, live incidents, acknowledge, DST timeline, refusals",
          "[console][browser]") {
  const fs::path dir = fs::path(BATON_SOURCE_DIR) / "tests" / "console";
  const auto node = find_in_path("node");
  const char* chromium_env = std::getenv("BATON_CHROMIUM");
  const auto chromium = chromium_env && *chromium_env ? std::optional<std::string>(chromium_env) : find_in_path("chromium");
  if (!node || !chromium || !fs::exists(dir / "node_modules" / "playwright-core" / "package.json")) {
    std::string why = !node ? "node is not installed" : !chromium ? "chromium is not installed"
                                                                  : "playwright-core is not installed in tests/console";
    WARN("BATON-SKIPPED: " << why << " (bash scripts/deps.sh installs it)");
    std::printf("BATON-SKIPPED: %s (bash scripts/deps.sh installs it)\n", why.c_str());
    return;
  }

  test::HttpPeer hook;  // takes every page: the timelines show "delivered"
  test::TempDb db;
  // Three days of history, ending now (the browser's clock is the real one).
  const auto now = engine::SystemClock().now();
  test::FakeClock clock(now - 72h);
  test::ServiceHarness svc(clock, config(db.path(), hook.url() + "/hook"));
  auto& incidents = svc.app->incidents();
  struct Past {
    const char* key;
    const char* summary;
    std::chrono::minutes ack_after;  // 0: resolved without an acknowledgement
    bool from_console;
  };
  const Past past[] = {{"key-pay", "Payment API error rate 7%", 3min, true},
                       {"key-platform", "Node pool at 95% memory", 6min, false},
                       {"key-pay", "Card processor timeouts", 2min, true},
                       {"key-platform", "Disk 90% full on db-7", 12min, false},
                       {"key-pay", "Refund queue stuck", 0min, false}};
  int n = 0;
  for (const auto& p : past) {
    ++n;
    REQUIRE(svc.call("POST", "/v2/enqueue", alert(p.key, "past-" + std::to_string(n), p.summary)).status == 202);
    incidents.drain();
    if (p.ack_after.count() > 0) {
      clock.advance(p.ack_after);
      incidents.drain();
      const auto path = "/api/v1/incidents/" + std::to_string(n) + "/ack";
      if (p.from_console) {
        auto session = bot::start_console_session(*svc.app->config(), "alice", clock.now());
        REQUIRE(svc.call("POST", path, "", "", false,
                         {{"Cookie", session.set_cookie.substr(0, session.set_cookie.find(';'))},
                          {"X-CSRF-Token", session.session.csrf}})
                    .status == 200);
      } else
        REQUIRE(svc.call("POST", path).status == 200);
    }
    clock.advance(20min);
    REQUIRE(svc.call("POST", "/api/v1/incidents/" + std::to_string(n) + "/resolve").status == 200);
    clock.advance(13h);
    incidents.drain();
  }
  REQUIRE(svc.call("POST", "/v2/enqueue", alert("key-platform", "open-1", "Certificate expires in 3 days")).status == 202);
  incidents.drain();
  clock.set(now);
  incidents.drain();

  auto link = bot::console_link(*svc.app, "alice");
  REQUIRE(link);
  auto expired = bot::console_link(*svc.app->config(), "alice", clock.now() - 11min);
  REQUIRE(expired);
  // The links name the configured public_url (the listen address, port 0):
  // the browser goes to the port baton really listens on.
  const auto path_of = [](const std::string& l) { return l.substr(l.find("/console/login/")); };

  const fs::path out = fs::path(db.dir) / "console_test.out";
  std::vector<std::string> env = {"BATON_URL=" + svc.base,
                                  "BATON_LINK=" + svc.base + path_of(*link),
                                  "BATON_LINK_EXPIRED=" + svc.base + path_of(*expired),
                                  "BATON_ROUTING_KEY=key-pay",
                                  "BATON_CHROMIUM=" + *chromium};
  const int status = run({*node, "console_test.mjs"}, dir, env, out, 100s);
  const auto output = read_file(out);
  INFO(output);
  std::printf("%s", output.c_str());
  CHECK(status == 0);
  CHECK(output.find("ok - acknowledged from the page") != std::string::npos);
  CHECK(output.find("not ok") == std::string::npos);
}
