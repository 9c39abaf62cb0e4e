// The configuration's directory: people and their contact chains, schedules,
// escalation policies and services (heartbeats, maintenance windows). See
// bot/config_loader.hpp.
#include "bot/config_loader.hpp"

namespace baton::bot::config_internal {

std::vector<engine::ContactRule> Loader::load_chain(const YAML::Node& n, const std::string& owner) {
  std::vector<engine::ContactRule> chain;
  if (!is_seq(n, "'contact_chain' of " + owner)) return chain;
  for (std::size_t i = 0; i < n.size(); ++i) {
    const YAML::Node e = n[i];
    const std::string what = "contact_chain entry " + std::to_string(i + 1) + " of " + owner;
    Fields f(*this, e, {"method", "after"}, what);
    if (!e.IsMap()) {
      if (e.IsNull()) error(e.Mark(), what + " must be a mapping");
      continue;
    }
    engine::ContactRule rule;
    auto method = required_string(f["method"], "'method' in " + what, e.Mark());
    if (method) {
      if (auto m = engine::parse_method(*method)) {
        rule.method = *m;
        method_used_at_.emplace(*m, f["method"].Mark());  // keeps the first
      } else {
        error(f["method"].Mark(), "unknown contact method " + quoted(*method) + " in " + what +
                                      " (expected webhook, slack, teams, email, sms or voice)");
        method.reset();
      }
    }
    auto after = duration(f["after"], "'after' in " + what, true, true);
    if (after) rule.delay = std::chrono::duration_cast<engine::Seconds>(*after);
    if (method) chain.push_back(rule);
  }
  std::stable_sort(chain.begin(), chain.end(), [](const auto& a, const auto& b) { return a.delay < b.delay; });
  return chain;
}

void Loader::load_people(const YAML::Node& n, engine::Directory& d) {
  each_entry(n, "people", [&](const std::string& id, const YAML::Node& v, const YAML::Mark&) {
    const std::string ctx = "person " + quoted(id);
    Fields f(*this, v,
             {"name", "email", "phone", "time_zone", "slack_user_id", "teams_user_id", "contact_chain", "quiet_hours",
              "working_hours"},
             ctx);
    engine::Person p;
    p.id = id;
    p.name = string(f["name"], "'name' of " + ctx).value_or(id);
    p.email = string(f["email"], "'email' of " + ctx).value_or("");
    if (!p.email.empty() && p.email.find('@') == std::string::npos)
      error(f["email"].Mark(), "'email' of " + ctx + " is not an email address: " + quoted(p.email));
    p.phone = string(f["phone"], "'phone' of " + ctx).value_or("");
    if (!p.phone.empty() && !valid_e164(p.phone))
      error(f["phone"].Mark(), "'phone' of " + ctx + " must be in E.164 form like \"+15551234567\", not " +
                                   quoted(p.phone));
    if (auto tz = string(f["time_zone"], "'time_zone' of " + ctx)) {
      check_time_zone(f["time_zone"], *tz, ctx);
      p.time_zone = *tz;
    }
    p.slack_user_id = string(f["slack_user_id"], "'slack_user_id' of " + ctx).value_or("");
    p.teams_user_id = string(f["teams_user_id"], "'teams_user_id' of " + ctx).value_or("");
    p.contact_chain = load_chain(f["contact_chain"], ctx);
    if (const YAML::Node qh = f["quiet_hours"]; !qh.IsNull()) {
      const std::string qctx = "quiet_hours of " + ctx;
      Fields qf(*this, qh, {"from", "to"}, "'quiet_hours' of " + ctx);
      if (qh.IsMap()) {
        std::optional<int> minutes[2];
        const char* keys[2] = {"from", "to"};
        for (int i = 0; i < 2; ++i) {
          const std::string what = quoted(keys[i]) + " of " + qctx;
          auto t = required_string(qf[keys[i]], what, qh.Mark());
          if (!t) continue;
          // "24:00" ends a day; it cannot start one.
          if (auto m = parse_hh_mm(*t); m && !(i == 0 && *t == "24:00"))
            minutes[i] = *m;
          else
            error(qf[keys[i]].Mark(), what + " must be a time like \"22:00\", not " + quoted(*t));
        }
        if (minutes[0] && minutes[1]) {
          if (*minutes[0] == *minutes[1])
            error(qf["to"].Mark(), qctx + " must not start and end at the same time");
          else
            p.quiet_hours = engine::Person::QuietHours{*minutes[0], *minutes[1]};
        }
      }
    }
    if (const YAML::Node wh = f["working_hours"]; !wh.IsNull()) load_working_hours(wh, id, ctx);
    d.people.emplace(id, std::move(p));
  });
}

void Loader::load_schedules(const YAML::Node& n, engine::Directory& d) {
  each_entry(n, "schedules", [&](const std::string& id, const YAML::Node& v, const YAML::Mark& key_mark) {
    const std::size_t errors_before = errors_.size();
    const std::string ctx = "schedule " + quoted(id);
    Fields f(*this, v, {"name", "time_zone", "layers", "overrides"}, ctx);
    engine::Schedule s;
    s.id = id;
    s.name = string(f["name"], "'name' of " + ctx).value_or(id);
    if (auto tz = string(f["time_zone"], "'time_zone' of " + ctx)) {
      check_time_zone(f["time_zone"], *tz, ctx);
      s.time_zone = *tz;
    }
    const YAML::Node layers = f["layers"];
    if (is_seq(layers, "'layers' of " + ctx) && layers.size() > 0) {
      for (std::size_t i = 0; i < layers.size(); ++i) {
        const YAML::Node ln = layers[i];
        engine::Layer layer;
        layer.name = "layer-" + std::to_string(i + 1);
        if (ln.IsMap()) {
          const YAML::Node name = ln["name"];  // may be a zombie node: check IsDefined first
          if (name.IsDefined() && name.IsScalar()) layer.name = string(name, "'name'").value_or(layer.name);
        }
        const std::string lctx = "layer " + quoted(layer.name) + " of " + ctx;
        Fields lf(*this, ln, {"name", "rotation", "participants", "restrictions"}, lctx);
        if (!ln.IsMap()) {
          if (ln.IsNull()) error(ln.Mark(), lctx + " must be a mapping");
          continue;
        }
        if (!lf["name"].IsScalar() && !lf["name"].IsNull()) string(lf["name"], "'name' of " + lctx);

        const YAML::Node rot = lf["rotation"];
        const std::string rctx = "rotation of " + lctx;
        layer.time_zone = s.time_zone;
        if (rot.IsNull()) {
          error(ln.Mark(), "'rotation' of " + lctx + " is required");
        } else {
          Fields rf(*this, rot, {"unit", "length", "start", "time_zone"}, rctx);
          if (rot.IsMap()) {
            if (auto unit = string(rf["unit"], "'unit' of " + rctx)) {
              if (*unit == "hours" || *unit == "hour") layer.unit = engine::ShiftUnit::hours;
              else if (*unit == "days" || *unit == "day") layer.unit = engine::ShiftUnit::days;
              else if (*unit == "weeks" || *unit == "week") layer.unit = engine::ShiftUnit::weeks;
              else error(rf["unit"].Mark(), "'unit' of " + rctx + " must be hours, days or weeks, not " + quoted(*unit));
            }
            if (auto len = integer(rf["length"], "'length' of " + rctx, 1, 1000))
              layer.shift_length = static_cast<int>(*len);
            if (auto tz = string(rf["time_zone"], "'time_zone' of " + rctx)) {
              check_time_zone(rf["time_zone"], *tz, rctx);
              layer.time_zone = *tz;
            }
            if (auto start = required_string(rf["start"], "'start' of " + rctx, rot.Mark())) {
              layer.start_local = *start;
              if (engine::is_valid_time_zone(layer.time_zone)) {
                if (auto t = engine::parse_local_time(*start, layer.time_zone); !t)
                  error(rf["start"].Mark(), "'start' of " + rctx + " must be a local date-time like \"2026-01-05T09:00\", not " +
                                                quoted(*start));
              }
            }
          }
        }

        const YAML::Node parts = lf["participants"];
        if (is_seq(parts, "'participants' of " + lctx)) {
          for (std::size_t j = 0; j < parts.size(); ++j)
            if (auto pid = string(parts[j], "participant " + std::to_string(j + 1) + " of " + lctx)) {
              check_person(d, parts[j], *pid, lctx);
              layer.participants.push_back(*pid);
            }
        }
        if (layer.participants.empty()) error(parts.IsNull() ? ln.Mark() : parts.Mark(), lctx + " has no participants");

        const YAML::Node restr = lf["restrictions"];
        if (is_seq(restr, "'restrictions' of " + lctx)) {
          for (std::size_t j = 0; j < restr.size(); ++j) {
            const YAML::Node rn = restr[j];
            const std::string wctx = "restriction " + std::to_string(j + 1) + " of " + lctx;
            Fields wf(*this, rn, {"days", "from", "to"}, wctx);
            if (!rn.IsMap()) continue;
            engine::Restriction r;
            const YAML::Node days = wf["days"];
            if (days.IsNull()) {
              r.days = {1, 2, 3, 4, 5, 6, 7};
            } else if (is_seq(days, "'days' of " + wctx)) {
              for (std::size_t k = 0; k < days.size(); ++k)
                if (auto day = string(days[k], "day " + std::to_string(k + 1) + " of " + wctx)) {
                  if (auto dn = parse_weekday(*day))
                    r.days.push_back(*dn);
                  else
                    error(days[k].Mark(), "unknown day " + quoted(*day) + " in " + wctx + " (use mon, tue, ... sun)");
                }
              if (days.size() == 0) error(days.Mark(), "'days' of " + wctx + " is empty");
            }
            for (auto [key, out] : {std::pair{"from", &r.start_minute}, std::pair{"to", &r.end_minute}}) {
              if (auto t = required_string(wf[key], quoted(key) + " of " + wctx, rn.Mark())) {
                if (auto m = parse_hh_mm(*t))
                  *out = *m;
                else
                  error(wf[key].Mark(), quoted(key) + " of " + wctx + " must be a time like \"09:00\", not " + quoted(*t));
              }
            }
            layer.restrictions.push_back(std::move(r));
          }
        }
        s.layers.push_back(std::move(layer));
      }
    } else if (!layers.IsDefined() || layers.IsNull() || layers.IsSequence()) {
      error(layers.IsSequence() ? layers.Mark() : key_mark, ctx + " has no layers");
    }

    const YAML::Node overrides = f["overrides"];
    if (is_seq(overrides, "'overrides' of " + ctx)) {
      for (std::size_t i = 0; i < overrides.size(); ++i) {
        const YAML::Node on = overrides[i];
        const std::string octx = "override " + std::to_string(i + 1) + " of " + ctx;
        Fields of(*this, on, {"person", "start", "end"}, octx);
        if (!on.IsMap()) continue;
        engine::Override o;
        o.schedule_id = id;
        auto person = required_string(of["person"], "'person' of " + octx, on.Mark());
        if (person) {
          check_person(d, of["person"], *person, octx);
          o.person = *person;
        }
        int times_ok = 0;
        for (auto [key, out] : {std::pair{"start", &o.start}, std::pair{"end", &o.end}}) {
          if (auto t = required_string(of[key], quoted(key) + " of " + octx, on.Mark())) {
            if (auto tp = engine::parse_iso8601(*t)) {
              *out = *tp;
              ++times_ok;
            } else {
              error(of[key].Mark(), quoted(key) + " of " + octx + " must be an ISO 8601 instant like \"2026-12-24T00:00:00Z\", not " +
                                        quoted(*t));
            }
          }
        }
        if (times_ok == 2 && o.end <= o.start) error(of["end"].Mark(), "'end' of " + octx + " must be after its start");
        s.overrides.push_back(std::move(o));
      }
    }

    // The engine's own check, for whatever the loader does not already cover.
    if (errors_.size() == errors_before) {
      if (auto ok = engine::validate_schedule(s); !ok) error(key_mark, ok.error().message);
    }
    d.schedules.emplace(id, std::move(s));
  });
}

void Loader::load_policies(const YAML::Node& n, engine::Directory& d) {
  each_entry(n, "escalation_policies", [&](const std::string& id, const YAML::Node& v, const YAML::Mark& key_mark) {
    const std::string ctx = "escalation policy " + quoted(id);
    Fields f(*this, v, {"name", "repeat", "steps"}, ctx);
    engine::EscalationPolicy p;
    p.id = id;
    p.name = string(f["name"], "'name' of " + ctx).value_or(id);
    if (auto r = integer(f["repeat"], "'repeat' of " + ctx, 0, 100)) p.repeat = static_cast<int>(*r);
    const YAML::Node steps = f["steps"];
    if (is_seq(steps, "'steps' of " + ctx)) {
      for (std::size_t i = 0; i < steps.size(); ++i) {
        const YAML::Node sn = steps[i];
        const std::string sctx = "step " + std::to_string(i + 1) + " of " + ctx;
        Fields sf(*this, sn, {"targets", "timeout"}, sctx);
        if (!sn.IsMap()) {
          if (sn.IsNull()) error(sn.Mark(), sctx + " must be a mapping");
          continue;
        }
        engine::EscalationStep step;
        if (auto t = duration(sf["timeout"], "'timeout' of " + sctx, true, false))
          step.timeout = std::chrono::duration_cast<engine::Seconds>(*t);
        const YAML::Node targets = sf["targets"];
        if (is_seq(targets, "'targets' of " + sctx)) {
          for (std::size_t j = 0; j < targets.size(); ++j) {
            const YAML::Node tn = targets[j];
            const std::string tctx = "target " + std::to_string(j + 1) + " of " + sctx;
            Fields tf(*this, tn, {"person", "schedule"}, tctx);
            if (!tn.IsMap()) continue;
            if (tf.has("person") == tf.has("schedule")) {
              error(tn.Mark(), tctx + " must name exactly one of 'person' or 'schedule'");
              continue;
            }
            engine::Target target;
            const bool is_person = tf.has("person");
            const YAML::Node idn = tf[is_person ? "person" : "schedule"];
            auto tid = required_string(idn, quoted(is_person ? "person" : "schedule") + " of " + tctx, tn.Mark());
            if (!tid) continue;
            target.kind = is_person ? engine::Target::Kind::person : engine::Target::Kind::schedule;
            target.id = *tid;
            if (is_person)
              check_person(d, idn, *tid, tctx);
            else if (!d.schedule(*tid))
              error(idn.Mark(), "unknown schedule " + quoted(*tid) + " in " + tctx);
            step.targets.push_back(std::move(target));
          }
        }
        if (step.targets.empty() && (targets.IsNull() || targets.IsSequence()))
          error(targets.IsNull() ? sn.Mark() : targets.Mark(), sctx + " has no targets");
        p.steps.push_back(std::move(step));
      }
    }
    if (p.steps.empty() && (steps.IsNull() || steps.IsSequence()))
      error(steps.IsSequence() ? steps.Mark() : key_mark, ctx + " has no steps");
    d.policies.emplace(id, std::move(p));
  });
}

void Loader::load_services(const YAML::Node& n, engine::Directory& d) {
  std::map<std::string, YAML::Mark, std::less<>> key_marks;
  each_entry(n, "services", [&](const std::string& id, const YAML::Node& v, const YAML::Mark& key_mark) {
    const std::string ctx = "service " + quoted(id);
    Fields f(*this, v,
             {"name", "escalation_policy", "integration_keys", "contact_chain", "incident_channel", "slack_channel",
              "teams_channel", "teams_team", "heartbeats", "maintenance"},
             ctx);
    engine::Service s;
    s.id = id;
    s.name = string(f["name"], "'name' of " + ctx).value_or(id);
    if (auto pol = required_string(f["escalation_policy"], "'escalation_policy' of " + ctx, key_mark)) {
      if (!d.policy(*pol)) error(f["escalation_policy"].Mark(), "unknown escalation policy " + quoted(*pol) + " in " + ctx);
      s.escalation_policy = *pol;
    }
    const YAML::Node keys = f["integration_keys"];
    if (is_seq(keys, "'integration_keys' of " + ctx)) {
      for (std::size_t i = 0; i < keys.size(); ++i) {
        auto k = string(keys[i], "integration key " + std::to_string(i + 1) + " of " + ctx);
        if (!k) continue;
        if (k->empty()) {
          error(keys[i].Mark(), "integration key " + std::to_string(i + 1) + " of " + ctx + " is empty");
          continue;
        }
        if (auto [it, inserted] = d.integration_keys.emplace(*k, id); !inserted) {
          const YAML::Mark& first = key_marks[*k];
          error(keys[i].Mark(), "integration key " + quoted(*k) + " of " + ctx + " is already used by service " +
                                    quoted(it->second) + " (line " + std::to_string(first.line + 1) + ")");
          continue;
        }
        key_marks[*k] = keys[i].Mark();
        s.integration_keys.push_back(*k);
      }
    }
    if (s.integration_keys.empty())
      warning(key_mark, ctx + " has no integration keys: it can only get incidents from the API");
    if (f.has("contact_chain")) {
      s.default_contact_chain = load_chain(f["contact_chain"], ctx);
    } else {
      // Webhook is the one channel every deployment has; people without a chain get it at once.
      s.default_contact_chain = {engine::ContactRule{engine::MethodKind::webhook, engine::Seconds{0}}};
    }
    if (auto b = boolean(f["incident_channel"], "'incident_channel' of " + ctx)) s.open_incident_channel = *b;
    if (auto ch = string(f["slack_channel"], "'slack_channel' of " + ctx)) s.slack_channel = *ch;
    if (auto ch = string(f["teams_channel"], "'teams_channel' of " + ctx)) s.teams_channel = *ch;
    if (auto team = string(f["teams_team"], "'teams_team' of " + ctx)) s.teams_team = *team;

    // heartbeats: [{name, interval, grace, key, alertname}] (engine/heartbeats.hpp)
    const YAML::Node beats = f["heartbeats"];
    if (is_seq(beats, "'heartbeats' of " + ctx)) {
      for (std::size_t i = 0; i < beats.size(); ++i) {
        const YAML::Node hn = beats[i];
        const std::string hctx = "heartbeat " + std::to_string(i + 1) + " of " + ctx;
        Fields hf(*this, hn, {"name", "interval", "grace", "key", "alertname"}, hctx);
        if (!hn.IsMap()) {
          if (hn.IsNull()) error(hn.Mark(), hctx + " must be a mapping");
          continue;
        }
        engine::Heartbeat hb;
        bool ok = true;
        if (auto name = required_string(hf["name"], "'name' of " + hctx, hn.Mark())) {
          if (!valid_id(*name)) {
            error(hf["name"].Mark(), "'name' of " + hctx + " may contain only letters, digits, '-', '_' and '.'");
            ok = false;
          } else if (s.heartbeat(*name)) {
            error(hf["name"].Mark(), "duplicate heartbeat " + quoted(*name) + " in " + ctx);
            ok = false;
          }
          hb.name = *name;
        } else {
          ok = false;
        }
        if (!hf.has("interval")) error(hn.Mark(), "'interval' of " + hctx + " is required"), ok = false;
        if (auto v = duration(hf["interval"], "'interval' of " + hctx, false, false)) hb.interval = *v;
        else ok = false;
        if (auto v = duration(hf["grace"], "'grace' of " + hctx, false, true)) hb.grace = *v;
        else if (hf.has("grace")) ok = false;
        if (auto key = required_string(hf["key"], "'key' of " + hctx, hn.Mark())) {
          if (d.integration_keys.contains(*key) || d.heartbeat_keys.contains(*key)) {
            error(hf["key"].Mark(), "'key' of " + hctx + " is already used by another heartbeat or integration key");
            ok = false;
          } else {
            key_marks[*key] = hf["key"].Mark();
          }
          hb.key = *key;
        } else {
          ok = false;
        }
        if (auto an = string(hf["alertname"], "'alertname' of " + hctx); an && !an->empty()) {
          for (const auto& other : s.heartbeats)
            if (other.alertname == *an) {
              error(hf["alertname"].Mark(), "alertname " + quoted(*an) + " already feeds heartbeat " +
                                                quoted(other.name) + " of " + ctx);
              ok = false;
            }
          hb.alertname = *an;
        }
        if (!ok) continue;
        d.heartbeat_keys.emplace(hb.key, std::make_pair(id, hb.name));
        s.heartbeats.push_back(std::move(hb));
      }
    }

    // maintenance: [{days, start, duration, time_zone, reason}] (engine/maintenance.hpp)
    const YAML::Node windows = f["maintenance"];
    if (is_seq(windows, "'maintenance' of " + ctx)) {
      for (std::size_t i = 0; i < windows.size(); ++i) {
        const YAML::Node wn = windows[i];
        const std::string wctx = "maintenance window " + std::to_string(i + 1) + " of " + ctx;
        Fields wf(*this, wn, {"days", "start", "duration", "time_zone", "reason"}, wctx);
        if (!wn.IsMap()) {
          if (wn.IsNull()) error(wn.Mark(), wctx + " must be a mapping");
          continue;
        }
        engine::MaintenanceRule rule;
        bool ok = true;
        const YAML::Node days = wf["days"];
        if (days.IsNull()) {
          rule.days = {1, 2, 3, 4, 5, 6, 7};
        } else if (is_seq(days, "'days' of " + wctx)) {
          for (std::size_t k = 0; k < days.size(); ++k)
            if (auto day = string(days[k], "day " + std::to_string(k + 1) + " of " + wctx)) {
              if (auto dn = parse_weekday(*day)) {
                rule.days.push_back(*dn);
              } else {
                error(days[k].Mark(), "unknown day " + quoted(*day) + " in " + wctx + " (use mon, tue, ... sun)");
                ok = false;
              }
            }
          if (days.size() == 0) error(days.Mark(), "'days' of " + wctx + " is empty"), ok = false;
        } else {
          ok = false;
        }
        if (auto t = required_string(wf["start"], "'start' of " + wctx, wn.Mark())) {
          if (auto m = parse_hh_mm(*t); m && *t != "24:00") {
            rule.start_minute = *m;
          } else {
            error(wf["start"].Mark(), "'start' of " + wctx + " must be a time like \"02:00\", not " + quoted(*t));
            ok = false;
          }
        } else {
          ok = false;
        }
        if (!wf.has("duration")) error(wn.Mark(), "'duration' of " + wctx + " is required"), ok = false;
        if (auto v = duration(wf["duration"], "'duration' of " + wctx, false, false)) {
          if (*v > std::chrono::hours{24 * 7}) {
            error(wf["duration"].Mark(), "'duration' of " + wctx + " must be at most 7 days");
            ok = false;
          }
          rule.duration = *v;
        } else {
          ok = false;
        }
        if (auto tz = string(wf["time_zone"], "'time_zone' of " + wctx)) {
          check_time_zone(wf["time_zone"], *tz, wctx);
          if (!engine::is_valid_time_zone(*tz)) ok = false;
          rule.time_zone = *tz;
        }
        rule.reason = string(wf["reason"], "'reason' of " + wctx).value_or("");
        if (ok) s.maintenance.push_back(std::move(rule));
      }
    }
    d.services.emplace(id, std::move(s));
  });
  // Integration keys of services loaded after a heartbeat's key.
  for (const auto& [key, owner] : d.heartbeat_keys)
    if (auto it = d.integration_keys.find(key); it != d.integration_keys.end())
      error(key_marks[key], "heartbeat key of " + quoted(owner.second) + " in service " + quoted(owner.first) +
                                " is also an integration key of service " + quoted(it->second));
}

}  // namespace baton::bot::config_internal
