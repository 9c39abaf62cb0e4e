#include "bench/bench_support.hpp"

#include <malloc.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <memory>
#include <sstream>

namespace baton::bench {

engine::DirectoryPtr make_directory(engine::Seconds first_step) {
  auto d = std::make_shared<engine::Directory>();
  engine::Person oncall;
  oncall.id = "oncall";
  oncall.name = "On Call";
  oncall.contact_chain = {engine::ContactRule{engine::MethodKind::webhook, engine::Seconds{0}}};
  engine::Person backup = oncall;
  backup.id = "backup";
  backup.name = "Backup";
  d->people.emplace(oncall.id, oncall);
  d->people.emplace(backup.id, backup);

  engine::EscalationPolicy policy;
  policy.id = "bench";
  policy.name = "Bench";
  policy.steps.push_back({{engine::Target{engine::Target::Kind::person, "oncall"}}, first_step});
  policy.steps.push_back({{engine::Target{engine::Target::Kind::person, "backup"}}, engine::Seconds{3600}});
  d->policies.emplace(policy.id, policy);

  engine::Service service;
  service.id = "bench";
  service.name = "Bench service";
  service.escalation_policy = "bench";
  service.integration_keys = {kIntegrationKey};
  service.default_contact_chain = oncall.contact_chain;
  d->services.emplace(service.id, service);
  d->integration_keys.emplace(kIntegrationKey, service.id);
  return d;
}

engine::Alert make_alert(const std::string& dedup_key) {
  engine::Alert a;
  a.source = engine::Source::events_v2;
  a.integration_key = kIntegrationKey;
  a.action = engine::AlertAction::trigger;
  a.dedup_key = dedup_key;
  a.summary = "High error rate on api-" + dedup_key;
  a.source_name = "api-" + dedup_key + ".prod.example.com";
  a.severity = engine::Severity::critical;
  a.details_json = R"({"component":"api","group":"prod","class":"errors","custom_details":{"error_rate":0.07}})";
  return a;
}

std::string events_v2_body(const std::string& dedup_key) {
  return R"({"routing_key":"bench-key","event_action":"trigger","dedup_key":")" + dedup_key +
         R"(","payload":{"summary":"High error rate on api-)" + dedup_key + R"(","source":"api-)" + dedup_key +
         R"(.prod.example.com","severity":"critical","component":"api","group":"prod","class":"errors",)"
         R"("custom_details":{"error_rate":0.07}}})";
}

std::string alertmanager_body(int group, int n, int generation) {
  std::ostringstream o;
  const std::string g = "Bench" + std::to_string(group);
  o << R"({"receiver":"baton","status":"firing","alerts":[)";
  for (int i = 0; i < n; ++i) {
    if (i) o << ',';
    o << R"({"status":"firing","labels":{"alertname":")" << g << R"(","instance":"host-)" << i
      << R"(:9100","severity":"critical"},"annotations":{"summary":"Error rate above 5% on host-)" << i
      << R"("},"startsAt":"2026-11-24T01:01:04.)" << generation
      << R"(Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prom/graph","fingerprint":")" << std::hex
      << (0x1000000 * (group + 1) + i) << std::dec << "\"}";
  }
  o << R"(],"groupLabels":{"alertname":")" << g << R"("},"commonLabels":{"alertname":")" << g
    << R"(","severity":"critical"},"commonAnnotations":{},"externalURL":"http://127.0.0.1:9093","version":"4",)"
    << R"("groupKey":"{}:{alertname=\")" << g << R"(\"}","truncatedAlerts":0})";
  return o.str();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  rank = std::clamp<std::size_t>(rank, 1, v.size());
  return v[rank - 1];
}

long rss_kib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

std::size_t malloc_in_use() {
  struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace baton::bench
