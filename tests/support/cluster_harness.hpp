#pragma once
// Helpers for the in-process cluster scenarios (several App instances on one
// throwaway PostgreSQL): bounded polls, a single SQL value, ownership, and the
// loud skip where PostgreSQL is missing. Header-only, for bot_tests.
#include <chrono>
#include <string>
#include <thread>

#include "tests/support/pg_cluster.hpp"
#include "tests/support/service_harness.hpp"

namespace baton::test {

/// Polls `pred` every 20 ms, at most 60 s (takeovers wait for a 3 s lease).
template <typename Pred>
bool within_a_minute(Pred pred) {
  for (int i = 0; i < 3000; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

/// The first column of the first row of `sql` on `uri`; "" when none or NULL.
inline std::string scalar(const std::string& uri, const std::string& sql) {
  auto rows = PgCluster::query(uri, sql);
  return rows.empty() || rows[0].empty() || !rows[0][0] ? std::string() : *rows[0][0];
}

/// Whether this instance runs the engine now.
inline bool owner(ServiceHarness& s) { return s.app->incidents().cluster_status().owner; }

}  // namespace baton::test

/// Skips the test loudly (ctest's SKIP_REGULAR_EXPRESSION) where PostgreSQL cannot run.
#define BATON_REQUIRE_POSTGRES()                                     \
  if (auto why = ::baton::test::PgCluster::skip_reason()) {          \
    WARN("BATON-SKIPPED: " << *why);                                 \
    return;                                                          \
  }
