#pragma once
// A page about incident #42 (critical, "Disk \"full\" on db-1", service
// Payments) to alice at step 2, for channel tests. Header-only.
#include "integrations/notifier.hpp"

namespace baton::test {

inline integrations::Delivery sample_page(engine::MethodKind method, engine::TimePoint created) {
  integrations::Delivery d;
  d.notification.id = 17;
  d.notification.incident = 42;
  d.notification.person = "alice";
  d.notification.method = method;
  d.notification.kind = engine::NotificationKind::page;
  d.notification.step = 1;  // the second step, 0-based
  d.notification.idempotency_key = "notif-17";
  d.incident.number = 42;
  d.incident.service_id = "payments";
  d.incident.summary = "Disk \"full\" on db-1";
  d.incident.source_name = "db-1";
  d.incident.severity = engine::Severity::critical;
  d.incident.state = engine::IncidentState::triggered;
  d.incident.owner = "alice";
  d.incident.created_at = created;
  d.person = engine::Person{};
  d.person->id = "alice";
  d.person->name = "Alice Example";
  d.person->email = "alice@example.com";
  d.person->phone = "+15551234567";
  d.service_name = "Payments";
  return d;
}

}  // namespace baton::test
