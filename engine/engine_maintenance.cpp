// The Engine's one-off maintenance windows (rules in engine/maintenance.hpp);
// holding and releasing incidents is in engine.cpp (start_incident, review_hold).
#include "engine/engine.hpp"

namespace baton::engine {

void Engine::restore_maintenance(MaintenanceWindow window) {
  const auto id = window.id;
  windows_.insert_or_assign(id, std::move(window));
}

std::vector<MaintenanceWindow> Engine::windows_of(std::string_view service_id) const {
  std::vector<MaintenanceWindow> out;
  for (const auto& [id, w] : windows_)
    if (w.service_id == service_id) out.push_back(w);
  return out;
}

std::optional<ActiveMaintenance> Engine::maintenance(std::string_view service_id, TimePoint at) const {
  const auto windows = windows_of(service_id);
  if (const Service* service = directory_->service(service_id)) return maintenance_at(*service, windows, at);
  Service unknown;  // removed from the configuration: only its stored windows count
  unknown.id = std::string(service_id);
  return maintenance_at(unknown, windows, at);
}

Effects Engine::add_maintenance(MaintenanceWindow window, TimePoint now) {
  const std::string service = window.service_id;
  restore_maintenance(std::move(window));
  Effects fx;
  for (auto& [number, inc] : open_) {
    if (inc.service_id != service || inc.state != IncidentState::triggered || !inc.suppressed_until) continue;
    const auto before = *inc.suppressed_until;
    review_hold(inc, now, fx, "Maintenance ended");
    if (inc.suppressed_until == before) continue;
    fx.touched.push_back(number);
    snapshot(inc, fx);
    schedule_timer(inc);
  }
  return fx;
}

Effects Engine::end_maintenance(MaintenanceWindow window, const Actor& actor, TimePoint now) {
  const std::string service = window.service_id;
  const std::string reason = window.reason;
  restore_maintenance(std::move(window));
  Effects fx;
  for (auto& [number, inc] : open_) {
    if (inc.service_id != service || inc.state != IncidentState::triggered || !inc.suppressed_until) continue;
    const auto before = inc.suppressed_until;
    review_hold(inc, now, fx, "Maintenance (" + reason + ") ended early by " + actor.id);
    if (inc.suppressed_until == before) continue;
    fx.touched.push_back(number);
    snapshot(inc, fx);
    schedule_timer(inc);
  }
  return fx;
}

}  // namespace baton::engine
