#include "storage/codec.hpp"

#include <boost/json.hpp>
#include <charconv>

namespace baton::storage::codec {
namespace json = boost::json;

namespace {

template <typename E, std::size_t N>
E parse_name(std::string_view s, const std::array<E, N>& values, const char* what) {
  for (E v : values)
    if (s == engine::to_string(v)) return v;
  throw CorruptData(std::string("unknown ") + what + " '" + std::string(s) + "'");
}

template <typename E>
E require(std::optional<E> v, std::string_view s, const char* what) {
  if (!v) throw CorruptData(std::string("unknown ") + what + " '" + std::string(s) + "'");
  return *v;
}

const char* target_kind_name(engine::Target::Kind k) {
  return k == engine::Target::Kind::person ? "person" : "schedule";
}

json::value parse_json(const std::string& text, const char* what) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) throw CorruptData(std::string("bad JSON in ") + what + ": " + ec.message());
  return v;
}

}  // namespace

engine::TimelineKind parse_timeline_kind(std::string_view s) {
  using K = engine::TimelineKind;
  return parse_name(s,
                    std::array{K::triggered, K::alert, K::acknowledged, K::resolved, K::escalated,
                               K::reassigned, K::paged, K::step_skipped, K::policy_exhausted,
                               K::notification_sent, K::notification_failed, K::note},
                    "timeline kind");
}

engine::NotificationKind parse_notification_kind(std::string_view s) {
  using K = engine::NotificationKind;
  return parse_name(s, std::array{K::page, K::update, K::open_channel}, "notification kind");
}

engine::IncidentState parse_incident_state(std::string_view s) {
  return require(engine::parse_incident_state(s), s, "incident state");
}
engine::Severity parse_severity(std::string_view s) { return require(engine::parse_severity(s), s, "severity"); }
engine::Source parse_source(std::string_view s) { return require(engine::parse_source(s), s, "source"); }
engine::MethodKind parse_method(std::string_view s) { return require(engine::parse_method(s), s, "method"); }

const char* to_string(OutboxState s) {
  switch (s) {
    case OutboxState::pending: return "pending";
    case OutboxState::delivered: return "delivered";
    case OutboxState::failed: return "failed";
  }
  return "pending";
}

// ---- JSON codecs (private: Boost.JSON stays out of the headers) ----

std::string encode_policy(const engine::PolicySnapshot& p) {
  json::array steps;
  steps.reserve(p.steps.size());
  for (const auto& step : p.steps) {
    json::array targets;
    for (const auto& t : step.targets)
      targets.push_back(json::object{{"kind", target_kind_name(t.kind)}, {"id", t.id}});
    steps.push_back(json::object{{"targets", std::move(targets)}, {"timeout", step.timeout.count()}});
  }
  return json::serialize(
      json::object{{"policy_id", p.policy_id}, {"repeat", p.repeat}, {"steps", std::move(steps)}});
}

engine::PolicySnapshotPtr decode_policy(const std::string& text) {
  auto v = parse_json(text, "policy_json");
  const auto& o = v.as_object();
  auto p = std::make_shared<engine::PolicySnapshot>();
  p->policy_id = json::value_to<std::string>(o.at("policy_id"));
  p->repeat = o.at("repeat").to_number<int>();
  for (const auto& sv : o.at("steps").as_array()) {
    const auto& so = sv.as_object();
    engine::EscalationStep step;
    step.timeout = engine::Seconds{so.at("timeout").to_number<std::int64_t>()};
    for (const auto& tv : so.at("targets").as_array()) {
      const auto& to = tv.as_object();
      engine::Target t;
      auto kind = to.at("kind").as_string();
      if (kind == "person")
        t.kind = engine::Target::Kind::person;
      else if (kind == "schedule")
        t.kind = engine::Target::Kind::schedule;
      else
        throw CorruptData("unknown target kind '" + std::string(kind) + "'");
      t.id = json::value_to<std::string>(to.at("id"));
      step.targets.push_back(std::move(t));
    }
    p->steps.push_back(std::move(step));
  }
  return p;
}

std::string encode_chain(const std::vector<engine::ContactRule>& chain) {
  json::array a;
  a.reserve(chain.size());
  for (const auto& r : chain)
    a.push_back(json::object{{"method", engine::to_string(r.method)}, {"delay", r.delay.count()}});
  return json::serialize(a);
}

std::vector<engine::ContactRule> decode_chain(const std::string& text) {
  std::vector<engine::ContactRule> chain;
  auto v = parse_json(text, "contact_chain");
  for (const auto& rv : v.as_array()) {
    const auto& o = rv.as_object();
    auto name = o.at("method").as_string();
    chain.push_back({require(engine::parse_method(name), name, "method"),
                     engine::Seconds{o.at("delay").to_number<std::int64_t>()}});
  }
  return chain;
}

std::string encode_ids(const std::vector<std::int64_t>& ids) {
  std::string out;
  for (auto id : ids) {
    if (!out.empty()) out += ',';
    out += std::to_string(id);
  }
  return out;
}

std::vector<std::int64_t> decode_ids(const std::string& text) {
  std::vector<std::int64_t> out;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    std::int64_t v = 0;
    auto [p, ec] = std::from_chars(text.data() + start, text.data() + end, v);
    if (ec != std::errc() || p != text.data() + end) throw CorruptData("corrupt contact_moved_on '" + text + "'");
    out.push_back(v);
    start = end + 1;
  }
  return out;
}

std::string encode_strings(const std::vector<std::string>& v) {
  json::array a;
  a.reserve(v.size());
  for (const auto& s : v) a.emplace_back(s);
  return json::serialize(a);
}

std::vector<std::string> decode_strings(const std::string& text) {
  std::vector<std::string> out;
  auto v = parse_json(text, "group_alert_keys");
  for (const auto& s : v.as_array()) out.push_back(json::value_to<std::string>(s));
  return out;
}

std::string encode_notified(const std::vector<std::pair<std::string, engine::MethodKind>>& v) {
  json::array a;
  a.reserve(v.size());
  for (const auto& [person, method] : v) a.push_back(json::array{person, engine::to_string(method)});
  return json::serialize(a);
}

std::vector<std::pair<std::string, engine::MethodKind>> decode_notified(const std::string& text) {
  std::vector<std::pair<std::string, engine::MethodKind>> out;
  auto v = parse_json(text, "notified");
  for (const auto& pv : v.as_array()) {
    const auto& pair = pv.as_array();
    auto name = pair.at(1).as_string();
    out.emplace_back(json::value_to<std::string>(pair.at(0)), require(engine::parse_method(name), name, "method"));
  }
  return out;
}

std::string encode_alert_payload(const engine::Alert& a) {
  json::array group;
  for (const auto& g : a.group) {
    json::object o{{"fingerprint", g.fingerprint}, {"firing", g.firing}, {"starts_at", g.starts_at}, {"summary", g.summary}};
    if (!g.alertname.empty()) o["alertname"] = g.alertname;
    group.push_back(std::move(o));
  }
  return json::serialize(json::object{{"integration_key", a.integration_key},
                                      {"source_name", a.source_name},
                                      {"severity", engine::to_string(a.severity)},
                                      {"client", a.client},
                                      {"client_url", a.client_url},
                                      {"details_json", a.details_json},
                                      {"group", std::move(group)}});
}

// ---- statements ----

std::string incident_select() {
  std::string sql = "SELECT ";
  for (std::size_t i = 0; i < kIncidentColumns.size(); ++i) {
    if (i) sql += ", ";
    sql += kIncidentColumns[i];
  }
  return sql + " FROM incidents";
}

std::string incident_upsert(std::string (*param)(int)) {
  std::string cols, params, sets;
  for (std::size_t i = 0; i < kIncidentColumns.size(); ++i) {
    if (i) {
      cols += ", ";
      params += ", ";
    }
    cols += kIncidentColumns[i];
    params += param(static_cast<int>(i) + 1);
    if (i) {  // every column but the key
      if (i > 1) sets += ", ";
      sets += std::string(kIncidentColumns[i]) + " = excluded." + kIncidentColumns[i];
    }
  }
  return "INSERT INTO incidents (" + cols + ") VALUES (" + params + ") ON CONFLICT(number) DO UPDATE SET " +
         sets;
}

AlertRef alert_ref(const engine::Effects& fx) {
  AlertRef ref;
  ref.incident = fx.touched.empty() ? 0 : fx.touched.front();
  for (const auto& inc : fx.incidents)
    if (inc.number == ref.incident) ref.received = inc.updated_at;
  if (!ref.received)
    for (const auto& ev : fx.timeline)
      if (!ref.received || ev.at > *ref.received) ref.received = ev.at;
  return ref;
}

std::vector<TimerRow> timer_rows(const engine::Incident& inc) {
  if (inc.state == engine::IncidentState::resolved) return {};
  return {TimerRow{"escalation", inc.escalation.active, inc.escalation.step_deadline},
          TimerRow{"contact",
                   inc.contact.next_rule >= 0 &&
                       static_cast<std::size_t>(inc.contact.next_rule) < inc.contact.chain.size(),
                   inc.contact.next_at},
          TimerRow{"maintenance", inc.suppressed_until.has_value() && inc.state == engine::IncidentState::triggered,
                   inc.suppressed_until.value_or(engine::TimePoint{})}};
}

const std::vector<CopyTable>& copy_tables() {
  static const std::vector<CopyTable> tables = [] {
    std::vector<std::string> incident_columns(kIncidentColumns.begin(), kIncidentColumns.end());
    return std::vector<CopyTable>{
        {"incidents", std::move(incident_columns), "number", "number", ""},
        {"alerts", {"id", "incident", "received_ms", "source", "action", "dedup_key", "summary", "payload"}, "id", "id",
         "id"},
        {"timeline", {"id", "incident", "at_ms", "kind", "actor", "channel", "message"}, "id", "id", "id"},
        {"outbox",
         {"id", "incident", "person", "method", "kind", "step", "created_ms", "idempotency_key", "state", "attempts",
          "next_attempt_ms", "last_error", "updated_ms"},
         "id", "id", ""},
        {"timers", {"incident", "kind", "due_ms"}, "incident, kind", "incident, kind COLLATE \"C\"", ""},
        {"overrides", {"id", "schedule_id", "person", "start_ms", "end_ms", "created_ms"}, "id", "id", "id"},
        // Insertion order: chat_messages() breaks ties of created_ms by it.
        {"chat_messages", {"incident", "channel_kind", "conversation_id", "message_id", "person", "created_ms"},
         "rowid", "seq", ""},
        {"used_tokens", {"token_id", "used_ms"}, "token_id", "token_id COLLATE \"C\"", ""},
        {"teams_users", {"aad_object_id", "teams_id", "updated_ms"}, "aad_object_id", "aad_object_id COLLATE \"C\"",
         ""},
        {"teams_channels", {"team_id", "channel_id", "service_url", "added_ms"}, "added_ms, team_id, channel_id",
         "added_ms, team_id COLLATE \"C\", channel_id COLLATE \"C\"", ""},
        {"heartbeats", {"service_id", "name", "first_seen_ms", "last_beat_ms", "since_ms", "incident"},
         "service_id, name", "service_id COLLATE \"C\", name COLLATE \"C\"", ""},
        {"maintenance_windows",
         {"id", "service_id", "start_ms", "end_ms", "reason", "created_by", "ended_ms", "ended_by"}, "id", "id", "id"},
    };
  }();
  return tables;
}

std::string column_list(const CopyTable& table) {
  std::string cols;
  for (std::size_t c = 0; c < table.columns.size(); ++c) cols += (c ? ", " : "") + table.columns[c];
  return cols;
}

std::string copy_select(const CopyTable& table, const std::string& order) {
  return "SELECT " + column_list(table) + " FROM " + table.name + " ORDER BY " + order;
}

}  // namespace baton::storage::codec
