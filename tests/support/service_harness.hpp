#pragma once
// The whole service in-process for scenario tests: a temporary database, the
// App on port 0 with a fake clock, and an HTTP client for its API. Header-only:
// only bot_tests (which links baton_bot_lib) includes it.
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <filesystem>
#include <thread>
#include <unistd.h>

#include "bot/app.hpp"
#include "bot/config.hpp"
#include "integrations/http_client.hpp"
#include "tests/support/fake_clock.hpp"

namespace baton::test {

inline constexpr const char* kApiToken = "test-token-123";

/// A database file in a fresh temporary directory, removed afterwards.
struct TempDb {
  std::filesystem::path dir;
  TempDb() {
    static int counter = 0;
    dir = std::filesystem::temp_directory_path() /
          ("baton-svc-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::create_directories(dir);
  }
  ~TempDb() { std::filesystem::remove_all(dir); }
  std::string path() const { return (dir / "baton.db").string(); }
};

/// Waits (bounded, 5 s) for `pred` to hold; the service works on other threads.
template <typename Pred>
bool eventually(Pred pred) {
  for (int i = 0; i < 500; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

/// A running service built from `yaml` (no environment variables).
struct ServiceHarness {
  FakeClock& clock;
  std::unique_ptr<bot::App> app;
  std::string base;
  integrations::HttpClient http;

  ServiceHarness(FakeClock& c, const std::string& yaml) : clock(c) {
    auto cfg = bot::load_config_string(yaml, "test.yaml", [](std::string_view) { return std::optional<std::string>{}; });
    if (!cfg) FAIL(cfg.error().front().to_string());
    auto created = bot::App::create(std::move(*cfg), clock);
    REQUIRE(created);
    app = std::move(*created);
    auto port = app->start();
    REQUIRE(port);
    base = "http://127.0.0.1:" + std::to_string(*port);
  }

  integrations::HttpResponse call(std::string method, std::string path, std::string body = "",
                                  std::string content_type = "application/json", bool auth = true,
                                  std::vector<std::pair<std::string, std::string>> headers = {}) {
    integrations::HttpRequest req;
    req.method = std::move(method);
    req.url = base + path;
    req.body = std::move(body);
    req.headers = std::move(headers);
    if (!content_type.empty()) req.headers.emplace_back("Content-Type", content_type);
    if (auth) req.headers.emplace_back("Authorization", std::string("Bearer ") + kApiToken);
    auto res = http.request(req);
    REQUIRE(res);
    return *res;
  }

  boost::json::value get_json(const std::string& path) {
    auto res = call("GET", path, "", "");
    INFO(res.body);
    REQUIRE(res.status == 200);
    return boost::json::parse(res.body);
  }

  /// Every timeline message of incident `n`, one per line.
  std::string timeline_text(std::int64_t n) {
    std::string all;
    const auto incident = get_json("/api/v1/incidents/" + std::to_string(n));
    for (const auto& e : incident.at("timeline").as_array())
      all += std::string(e.at("kind").as_string()) + ": " + std::string(e.at("message").as_string()) + "\n";
    return all;
  }
};

}  // namespace baton::test
