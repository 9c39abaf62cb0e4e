#pragma once
// Shared helpers of the bench programs: a small configured world, a realistic
// alert, percentiles and process memory figures. Bench-only code.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/incident.hpp"
#include "engine/model.hpp"

namespace baton::bench {

inline constexpr const char* kIntegrationKey = "bench-key";

/// One service ("bench", key kIntegrationKey) with a two-step policy: person
/// "oncall" for `first_step`, then "backup" for an hour; webhook page at once.
engine::DirectoryPtr make_directory(engine::Seconds first_step = engine::Seconds{300});

/// A trigger alert shaped like a typical Events v2 event after parsing
/// (summary, source, severity, details_json with custom_details).
engine::Alert make_alert(const std::string& dedup_key);

/// The Events v2 JSON body for `dedup_key` (what a sender posts).
std::string events_v2_body(const std::string& dedup_key);
/// An Alertmanager v4 webhook body with `n` firing alerts of group `group`.
std::string alertmanager_body(int group, int n, int generation);

/// Nearest-rank percentile of an unsorted sample (sorts a copy); 0 when empty.
double percentile(std::vector<double> v, double p);

/// VmRSS of this process in KiB (from /proc/self/status).
long rss_kib();
/// Bytes in use by malloc (mallinfo2().uordblks + hblkhd).
std::size_t malloc_in_use();

double seconds_since(std::chrono::steady_clock::time_point t0);

}  // namespace baton::bench
