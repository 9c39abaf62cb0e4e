// The Store facade: picks the back end from the path, validates arguments the
// same way for both, and forwards. See storage/backend.hpp and docs/storage.md.
#include "storage/store.hpp"

#include <cctype>

#include "storage/backend.hpp"
#include "storage/codec.hpp"

namespace baton::storage {

namespace {

bool valid_chat_message(const ChatMessage& m) {
  return m.incident > 0 && !m.kind.empty() && !m.conversation.empty();
}

}  // namespace

bool is_postgres_uri(std::string_view path) {
  auto starts_with_ci = [&](std::string_view prefix) {
    if (path.size() < prefix.size()) return false;
    for (std::size_t i = 0; i < prefix.size(); ++i)
      if (std::tolower(static_cast<unsigned char>(path[i])) != prefix[i]) return false;
    return true;
  };
  return starts_with_ci("postgres://") || starts_with_ci("postgresql://");
}

std::string redact_uri(std::string_view uri) {
  if (!is_postgres_uri(uri)) return std::string(uri);
  std::string out(uri);
  // userinfo: scheme://user:password@host -> scheme://user:***@host
  // (https://www.postgresql.org/docs/15/libpq-connect.html#LIBPQ-CONNSTRING)
  // The last '@' before the query, so that a password with an unencoded '/' or
  // '@' is still hidden (over-hiding a database name with '@' is harmless).
  const auto authority = out.find("://") + 3;
  const auto query = out.find('?', authority);
  const auto at = out.rfind('@', query == std::string::npos ? std::string::npos : query);
  if (at != std::string::npos && at >= authority) {
    const auto colon = out.find(':', authority);
    if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
  }
  // query parameter: ?password=... or &password=...
  constexpr std::string_view key = "password=";
  if (auto q = out.find('?'); q != std::string::npos) {
    for (std::size_t start = q + 1; start < out.size();) {
      auto next = out.find('&', start);
      if (next == std::string::npos) next = out.size();
      if (out.compare(start, key.size(), key) == 0) {
        out.replace(start + key.size(), next - start - key.size(), "***");
        next = start + key.size() + 3;
      }
      start = next + 1;
    }
  }
  return out;
}

Store::Store(std::unique_ptr<Backend> backend) : backend_(std::move(backend)) {}
Store::~Store() = default;

Result<std::unique_ptr<Store>> Store::open(const std::string& path, Durability durability) {
  auto backend = is_postgres_uri(path) ? open_postgres(path) : open_sqlite(path, durability);
  if (!backend) return tl::unexpected(std::move(backend.error()));
  return std::unique_ptr<Store>(new Store(std::move(*backend)));
}

Result<std::unique_ptr<Store>> Store::open_reader(const std::string& path) {
  auto backend = is_postgres_uri(path) ? open_postgres_reader(path) : open_sqlite_reader(path);
  if (!backend) return tl::unexpected(std::move(backend.error()));
  return std::unique_ptr<Store>(new Store(std::move(*backend)));
}

int Store::schema_version() const { return backend_->schema_version(); }

Result<void> Store::apply(std::span<const engine::Effects* const> effects, std::span<const OutboxUpdate> updates,
                          std::span<const std::int64_t> consumed_inbox) {
  return backend_->apply(effects, updates, consumed_inbox);
}

void Store::set_fence(std::optional<Fence> fence) { backend_->set_fence(std::move(fence)); }

Result<std::int64_t> Store::add_inbox(const std::string& kind, const std::string& payload, const std::string& origin) {
  if (kind != "alert" && kind != "command") return fail(ErrorKind::invalid_request, "unknown inbox kind '" + kind + "'");
  return backend_->add_inbox(kind, payload, origin);
}

Result<void> Store::add_inbox_batch(std::span<const InboxEntry> rows) {
  for (const auto& r : rows)
    if (r.kind != "alert" && r.kind != "command")
      return fail(ErrorKind::invalid_request, "unknown inbox kind '" + r.kind + "'");
  if (rows.empty()) return {};
  return backend_->add_inbox_batch(rows);
}

Result<ClusterView> Store::cluster_view(engine::Millis live_within) { return backend_->cluster_view(live_within); }

Result<LoadedState> Store::load(std::optional<engine::TimePoint> now) { return backend_->load(now); }

Result<std::int64_t> Store::add_maintenance(const engine::MaintenanceWindow& w) {
  if (w.service_id.empty()) return fail(ErrorKind::invalid_request, "a maintenance window needs a service");
  if (w.end <= w.start) return fail(ErrorKind::invalid_request, "a maintenance window must end after it starts");
  return backend_->add_maintenance(w);
}

Result<engine::MaintenanceWindow> Store::end_maintenance(std::int64_t id, engine::TimePoint at, const std::string& by) {
  return backend_->end_maintenance(id, at, by);
}

Result<std::vector<engine::MaintenanceWindow>> Store::list_maintenance(std::optional<engine::TimePoint> now) {
  return backend_->list_maintenance(now);
}

Result<std::vector<engine::HeartbeatState>> Store::list_heartbeats() { return backend_->list_heartbeats(); }

Result<std::vector<engine::Incident>> Store::list_incidents(const IncidentQuery& q) {
  if (q.limit <= 0 || q.limit > 10000)
    return fail(ErrorKind::invalid_request, "limit must be 1..10000, got " + std::to_string(q.limit));
  return backend_->list_incidents(q);
}

Result<std::optional<engine::Incident>> Store::get_incident(std::int64_t number) {
  return backend_->get_incident(number);
}

Result<std::vector<engine::TimelineEvent>> Store::timeline(std::int64_t number) {
  return backend_->timeline(number);
}

Result<std::vector<OutboxEntry>> Store::outbox_for(std::int64_t number) { return backend_->outbox_for(number); }

Result<std::int64_t> Store::add_override(const engine::Override& o, std::optional<engine::TimePoint> created_at) {
  if (o.schedule_id.empty() || o.person.empty())
    return fail(ErrorKind::invalid_request, "override needs a schedule and a person");
  if (o.end <= o.start) return fail(ErrorKind::invalid_request, "override must end after it starts");
  return backend_->add_override(o, created_at);
}

Result<void> Store::remove_override(std::int64_t id) { return backend_->remove_override(id); }

Result<std::int64_t> Store::prune_overrides(engine::TimePoint now) { return backend_->prune_overrides(now); }

Result<std::vector<engine::Override>> Store::list_overrides() { return backend_->list_overrides(); }

Result<std::int64_t> Store::count_incidents(std::optional<engine::IncidentState> state) {
  return backend_->count_incidents(state);
}

Result<void> Store::consume_token(const std::string& token_id, engine::TimePoint now) {
  if (token_id.empty()) return fail(ErrorKind::invalid_request, "empty token id");
  auto r = backend_->consume_token(token_id, now);
  if (!r && r.error().kind == ErrorKind::conflict) return fail(ErrorKind::conflict, "token already used");
  return r;
}

Result<void> Store::probe_write(engine::TimePoint now) { return backend_->probe_write(now); }

Result<std::optional<engine::TimePoint>> Store::next_timer() { return backend_->next_timer(); }

Result<void> Store::add_chat_message(const ChatMessage& m, engine::TimePoint now) {
  if (!valid_chat_message(m))
    return fail(ErrorKind::invalid_request, "a chat message needs an incident, a kind and a conversation");
  return backend_->add_chat_messages(std::span<const ChatMessage>(&m, 1), now);
}

Result<void> Store::add_chat_messages(std::span<const ChatMessage> messages, engine::TimePoint now) {
  for (const auto& m : messages)
    if (!valid_chat_message(m))
      return fail(ErrorKind::invalid_request, "a chat message needs an incident, a kind and a conversation");
  return backend_->add_chat_messages(messages, now);
}

Result<std::optional<std::int64_t>> Store::incident_for_conversation(const std::string& conversation) {
  return backend_->incident_for_conversation(conversation);
}

Result<std::vector<ChatMessage>> Store::chat_messages(std::int64_t incident) {
  return backend_->chat_messages(incident);
}

Result<void> Store::save_teams_user(const std::string& aad_object_id, const std::string& teams_id,
                                    engine::TimePoint now) {
  if (aad_object_id.empty() || teams_id.empty())
    return fail(ErrorKind::invalid_request, "a Teams user needs an AAD object id and a Teams id");
  return backend_->save_teams_user(aad_object_id, teams_id, now);
}

Result<std::vector<std::pair<std::string, std::string>>> Store::teams_users() { return backend_->teams_users(); }

Result<void> Store::save_teams_channel(const std::string& team_id, const std::string& channel_id,
                                       const std::string& service_url, engine::TimePoint now) {
  if (team_id.empty() || channel_id.empty())
    return fail(ErrorKind::invalid_request, "a Teams channel needs a team id and a channel id");
  return backend_->save_teams_channel(team_id, channel_id, service_url, now);
}

Result<std::vector<std::array<std::string, 3>>> Store::teams_channels() { return backend_->teams_channels(); }

Result<ResponseReport> Store::response_report(const ReportQuery& q) {
  if (auto ok = validate_report_query(q); !ok) return tl::unexpected(std::move(ok.error()));
  auto data = backend_->report_data(engine::to_ms(q.from), engine::to_ms(q.to), q.service);
  if (!data) return tl::unexpected(std::move(data.error()));
  return compute_report(std::move(*data), q);
}

Result<std::vector<TableCount>> Store::copy_to(Store& target) {
  if (&target == this) return fail(ErrorKind::invalid_request, "cannot copy a database into itself");
  const auto& tables = codec::copy_tables();
  std::vector<TableCount> counts;
  for (const auto& t : tables) counts.push_back({t.name, 0});
  // The target's transaction is open (and its emptiness checked) before the
  // source's snapshot is taken; rows stream from one to the other in batches.
  auto copied = target.backend_->import_tables([&](const RowSink& write) -> Result<void> {
    return backend_->export_tables([&](std::size_t table, std::span<const TableRow> rows) -> Result<void> {
      counts.at(table).rows += static_cast<std::int64_t>(rows.size());
      return write(table, rows);
    });
  });
  if (!copied) return tl::unexpected(std::move(copied.error()));
  return counts;
}

}  // namespace baton::storage
