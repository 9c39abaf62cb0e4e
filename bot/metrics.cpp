#include "bot/metrics.hpp"

#include <algorithm>
#include <cstdio>

namespace baton::bot {

void Histogram::observe(double seconds) {
  std::size_t i = 0;
  while (i < kBounds.size() && seconds > kBounds[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_micros_.fetch_add(static_cast<std::uint64_t>(seconds * 1e6), std::memory_order_relaxed);
}

std::string Histogram::render(const std::string& name, const std::string& help) const {
  std::string out = "# HELP " + name + " " + help + "\n# TYPE " + name + " histogram\n";
  std::uint64_t cumulative = 0;
  char buf[64];
  for (std::size_t i = 0; i < kBounds.size(); ++i) {
    cumulative += buckets_[i].load();
    std::snprintf(buf, sizeof buf, "%g", kBounds[i]);
    out += name + "_bucket{le=\"" + buf + "\"} " + std::to_string(cumulative) + "\n";
  }
  cumulative += buckets_[kBounds.size()].load();
  out += name + "_bucket{le=\"+Inf\"} " + std::to_string(cumulative) + "\n";
  std::snprintf(buf, sizeof buf, "%.6f", static_cast<double>(sum_micros_.load()) / 1e6);
  out += name + "_sum " + buf + "\n";
  out += name + "_count " + std::to_string(count_.load()) + "\n";
  return out;
}

void Metrics::count_event(const std::string& source) {
  std::lock_guard lock(mutex_);
  ++events_[source];
}

void Metrics::count_rejected(const std::string& source) {
  std::lock_guard lock(mutex_);
  ++rejected_[source];
}

void Metrics::count_notification(const std::string& channel, const std::string& result) {
  std::lock_guard lock(mutex_);
  ++notifications_[{channel, result}];
}

void Metrics::observe_time_to_acknowledge(const std::string& service, const std::string& channel, double seconds) {
  seconds = std::max(0.0, seconds);
  std::lock_guard lock(mutex_);
  auto& h = time_to_acknowledge_[{service, channel}];
  std::size_t i = 0;
  while (i < kAckBounds.size() && seconds > kAckBounds[i]) ++i;
  ++h.buckets[i];
  ++h.count;
  h.sum += seconds;
}

namespace {
void metric(std::string& out, const char* name, const char* type, const char* help, std::uint64_t value) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " +
         std::to_string(value) + "\n";
}
}  // namespace

std::string Metrics::render(const RuntimeState& st) const {
  std::string out;
  {
    std::lock_guard lock(mutex_);
    out += "# HELP baton_events_received_total Alert events accepted for processing, by source.\n"
           "# TYPE baton_events_received_total counter\n";
    for (const auto& [source, n] : events_)
      out += "baton_events_received_total{source=\"" + source + "\"} " + std::to_string(n) + "\n";
    out += "# HELP baton_events_rejected_total Alert requests refused (bad input, unknown key), by source.\n"
           "# TYPE baton_events_rejected_total counter\n";
    for (const auto& [source, n] : rejected_)
      out += "baton_events_rejected_total{source=\"" + source + "\"} " + std::to_string(n) + "\n";
    out += "# HELP baton_notifications_total Notification attempts by channel and result.\n"
           "# TYPE baton_notifications_total counter\n";
    for (const auto& [key, n] : notifications_)
      out += "baton_notifications_total{channel=\"" + key.first + "\",result=\"" + key.second + "\"} " +
             std::to_string(n) + "\n";
    // Label values are config ids and channel names: nothing to escape.
    out += "# HELP baton_time_to_acknowledge_seconds From an incident's creation to its acknowledgement, by service "
           "and the channel it came through.\n# TYPE baton_time_to_acknowledge_seconds histogram\n";
    for (const auto& [key, h] : time_to_acknowledge_) {
      const std::string labels = "service=\"" + key.first + "\",channel=\"" + key.second + "\"";
      std::uint64_t cumulative = 0;
      char buf[64];
      for (std::size_t i = 0; i < kAckBounds.size(); ++i) {
        cumulative += h.buckets[i];
        std::snprintf(buf, sizeof buf, "%g", kAckBounds[i]);
        out += "baton_time_to_acknowledge_seconds_bucket{" + labels + ",le=\"" + buf + "\"} " +
               std::to_string(cumulative) + "\n";
      }
      cumulative += h.buckets[kAckBounds.size()];
      out += "baton_time_to_acknowledge_seconds_bucket{" + labels + ",le=\"+Inf\"} " + std::to_string(cumulative) +
             "\n";
      std::snprintf(buf, sizeof buf, "%.3f", h.sum);
      out += "baton_time_to_acknowledge_seconds_sum{" + labels + "} " + buf + "\n";
      out += "baton_time_to_acknowledge_seconds_count{" + labels + "} " + std::to_string(h.count) + "\n";
    }
  }
  out += "# HELP baton_incidents Incidents by state.\n# TYPE baton_incidents gauge\n";
  out += "baton_incidents{state=\"triggered\"} " + std::to_string(st.triggered) + "\n";
  out += "baton_incidents{state=\"acknowledged\"} " + std::to_string(st.acknowledged) + "\n";
  out += "baton_incidents{state=\"resolved\"} " + std::to_string(resolved.load()) + "\n";
  metric(out, "baton_storage_commits_total", "counter", "Database transactions committed by the group-commit writer.",
         st.commits);
  metric(out, "baton_storage_committed_items_total", "counter",
         "Changes committed (several share one transaction).", st.committed_items);
  metric(out, "baton_storage_failed_items_total", "counter",
         "Changes whose commit failed (their senders were answered 503).", st.failed_items);
  metric(out, "baton_storage_write_failures_total", "counter",
         "Times a commit failed and baton stopped taking changes until the disk took writes again.",
         st.commit_failures);
  metric(out, "baton_storage_failing", "gauge",
         "1 while commits fail: changes are refused with 503 and /readyz answers 503.", st.storage_failing ? 1 : 0);
  metric(out, "baton_storage_recoveries_total", "counter",
         "Times the state was rebuilt from the database after commits failed.", st.storage_recoveries);
  metric(out, "baton_http_accept_errors_total", "counter", "Failed accepts of HTTP connections.", st.accept_errors);
  metric(out, "baton_http_fd_exhausted_total", "counter",
         "Accepts that failed for lack of file descriptors (EMFILE/ENFILE).", st.fd_exhausted);
  metric(out, "baton_http_accept_backing_off", "gauge",
         "1 while the HTTP server pauses accepting for lack of descriptors.", st.accept_backing_off ? 1 : 0);
  metric(out, "baton_http_connections_open", "gauge", "Open HTTP connections.", st.connections_open);
  if (st.cluster) {
    metric(out, "baton_cluster_owner", "gauge", "1 while this instance holds the engine lease and runs the engine.",
           st.cluster_owner ? 1 : 0);
    metric(out, "baton_cluster_epoch", "gauge",
           "The engine lease's epoch (this instance's own while it is the owner).",
           static_cast<std::uint64_t>(std::max<std::int64_t>(0, st.cluster_epoch)));
    metric(out, "baton_cluster_takeovers_total", "counter", "Times this instance became the engine owner.",
           st.cluster_takeovers);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.3f", st.inbox_lag_seconds);
    out += std::string("# HELP baton_inbox_lag_seconds How long the oldest unconsumed inbox row has waited.\n"
                       "# TYPE baton_inbox_lag_seconds gauge\nbaton_inbox_lag_seconds ") +
           buf + "\n";
  }
  {
    // Label values are config ids (letters, digits, '-', '_', '.'): nothing to escape.
    out += "# HELP baton_heartbeat_last_beat_age_seconds Seconds since each heartbeat's last beat (absent until its "
           "first beat).\n# TYPE baton_heartbeat_last_beat_age_seconds gauge\n";
    char buf[64];
    for (const auto& h : st.heartbeats) {
      if (!h.last_beat_age_seconds) continue;
      std::snprintf(buf, sizeof buf, "%.3f", *h.last_beat_age_seconds);
      out += "baton_heartbeat_last_beat_age_seconds{service=\"" + h.service + "\",heartbeat=\"" + h.name + "\"} " +
             buf + "\n";
    }
    out += "# HELP baton_heartbeat_missing 1 while a heartbeat's \"no heartbeat\" incident is open.\n"
           "# TYPE baton_heartbeat_missing gauge\n";
    for (const auto& h : st.heartbeats)
      out += "baton_heartbeat_missing{service=\"" + h.service + "\",heartbeat=\"" + h.name + "\"} " +
             (h.missing ? "1" : "0") + "\n";
    out += "# HELP baton_maintenance_active 1 while a service is in a maintenance window (nobody is paged for it).\n"
           "# TYPE baton_maintenance_active gauge\n";
    for (const auto& [service, active] : st.maintenance_active)
      out += "baton_maintenance_active{service=\"" + service + "\"} " + (active ? "1" : "0") + "\n";
  }
  out += time_to_first_page.render("baton_time_to_first_page_seconds",
                                   "From receiving the alert to the first page's delivery by its channel.");
  out += time_to_commit.render("baton_time_to_commit_seconds",
                               "From receiving an alert that opens an incident to the commit of that incident "
                               "(the part of the time to first page spent waiting for the database).");
  return out;
}

}  // namespace baton::bot
