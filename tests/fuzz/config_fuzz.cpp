// The YAML configuration loader (load_config_string), then the engine's
// on-call math over every schedule it accepted: an accepted file must be
// complete (no dangling reference) and its schedules must answer "who is on
// call" without crashing or hanging.
#include <algorithm>
#include <tuple>

#include "bot/config.hpp"
#include "engine/oncall.hpp"
#include "tests/fuzz/fuzz_checks.hpp"

using namespace baton;

namespace {

// A fixed environment, so the same input always loads the same way.
std::optional<std::string> fake_env(std::string_view name) {
  if (name == "BATON_API_TOKEN") return "env-token";
  if (name == "EMPTY") return "";
  if (name.starts_with("SET_")) return std::string(name.substr(4));
  return std::nullopt;
}

bool sorted_by_delay(const std::vector<engine::ContactRule>& chain) {
  return std::is_sorted(chain.begin(), chain.end(), [](const auto& a, const auto& b) { return a.delay < b.delay; });
}

void check_schedules(const engine::Directory& d) {
  const engine::TimePoint t0 = engine::from_ms(1'790'000'000'000);  // 2026-09
  for (const auto& [id, s] : d.schedules) {
    for (const auto& layer : s.layers) {
      fuzz::require(!layer.participants.empty() && layer.shift_length >= 1, "a layer rotates someone", id);
      for (const auto& p : layer.participants) fuzz::require(d.person(p) != nullptr, "participants are people", p);
    }
    for (const auto& o : s.overrides) fuzz::require(d.person(o.person) != nullptr, "overrides name people", o.person);
    for (auto at : {t0, t0 + std::chrono::hours(37), t0 + std::chrono::days(400)}) {
      if (auto who = engine::on_call_at(s, {}, at))
        fuzz::require(d.person(*who) != nullptr, "on call is a person", *who);
    }
    for (const auto& shift : engine::next_handoffs(s, {}, t0, 3)) {
      fuzz::require(shift.start > t0, "handoffs come after `at`", id);
      if (!shift.person.empty()) fuzz::require(d.person(shift.person) != nullptr, "handoff to a person", shift.person);
    }
    const auto week = engine::final_schedule(s, {}, t0, t0 + std::chrono::days(7));
    for (std::size_t i = 0; i < week.size(); ++i) {
      fuzz::require(week[i].start < week[i].end, "shifts are not empty", id);
      if (i > 0) fuzz::require(week[i - 1].end == week[i].start, "the final schedule has no holes", id);
    }
    if (!week.empty())
      fuzz::require(week.front().start == t0 && week.back().end == t0 + std::chrono::days(7),
                    "the final schedule covers the range", id);
  }
}

void check_directory(const bot::Config& c) {
  fuzz::require(c.directory != nullptr, "an accepted config has a directory");
  const engine::Directory& d = *c.directory;
  for (const auto& [id, p] : d.people) {
    fuzz::require(sorted_by_delay(p.contact_chain), "a person's chain is sorted by delay", id);
    if (p.quiet_hours) {
      const auto& q = *p.quiet_hours;
      fuzz::require(q.start_minute >= 0 && q.start_minute < 1440 && q.end_minute >= 0 && q.end_minute < 1440 &&
                        q.start_minute != q.end_minute,
                    "quiet hours are minutes of a day", id);
    }
  }
  for (const auto& [id, pol] : d.policies) {
    fuzz::require(!pol.steps.empty() && pol.repeat >= 0, "a policy has steps", id);
    for (const auto& step : pol.steps) {
      fuzz::require(!step.targets.empty() && step.timeout.count() > 0, "a step has targets and a timeout", id);
      for (const auto& t : step.targets) {
        const bool known =
            t.kind == engine::Target::Kind::person ? d.person(t.id) != nullptr : d.schedule(t.id) != nullptr;
        fuzz::require(known, "step targets exist", t.id);
      }
    }
  }
  for (const auto& [id, s] : d.services) {
    fuzz::require(d.policy(s.escalation_policy) != nullptr, "a service's policy exists", id);
    fuzz::require(sorted_by_delay(s.default_contact_chain), "a service's chain is sorted by delay", id);
    for (const auto& k : s.integration_keys) fuzz::require(d.service_by_key(k) == &s, "keys route to their service", k);
  }
  for (const auto& [key, service] : d.integration_keys)
    fuzz::require(d.service(service) != nullptr, "integration keys name services", key);
  fuzz::require(!(c.twilio.enabled && c.sms_gateway.enabled), "at most one SMS channel");
  check_schedules(d);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view yaml = fuzz::as_text(data, size);
  auto config = bot::load_config_string(yaml, "fuzz.yaml", fake_env);
  if (!config) {
    const auto& errors = config.error();
    fuzz::require(!errors.empty(), "a refused config names a problem");
    for (std::size_t i = 0; i < errors.size(); ++i) {
      fuzz::require(errors[i].file == "fuzz.yaml" && !errors[i].message.empty(), "errors name the file and say what");
      if (i > 0)
        fuzz::require(std::tie(errors[i - 1].line, errors[i - 1].column) <= std::tie(errors[i].line, errors[i].column),
                      "errors are sorted by position", errors[i].to_string());
    }
    return 0;
  }
  check_directory(*config);
  return 0;
}
