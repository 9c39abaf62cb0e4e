#pragma once
// Runs storage tests on both back ends. A TEMPLATE_TEST_CASE over
// BATON_STORAGE_BACKENDS instantiates each case for SQLite and for PostgreSQL
// ("name - Sqlite", "name - Postgres"); TestDb gives each a fresh database and
// raw SQL access to check what was stored.
//
// Skipping: Catch2 2.13 (Debian 12) has no SKIP(). Where PostgreSQL cannot run
// (no server binaries), BATON_REQUIRE_BACKEND WARNs "BATON-SKIPPED: <reason>"
// and returns; the console reporter always prints warnings, and ctest reports
// such a test as Skipped (SKIP_REGULAR_EXPRESSION in tests/CMakeLists.txt).
#include <SQLiteCpp/SQLiteCpp.h>

#include <catch2/catch.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "storage/store.hpp"
#include "tests/storage/storage_fixtures.hpp"
#include "tests/support/pg_cluster.hpp"

namespace baton::test {

enum class BackendKind { sqlite, postgres };

struct Sqlite {
  static constexpr BackendKind kind = BackendKind::sqlite;
};
struct Postgres {
  static constexpr BackendKind kind = BackendKind::postgres;
};
#define BATON_STORAGE_BACKENDS Sqlite, Postgres  // unqualified: Catch2 names the cases after this text

/// One fresh database for a test on one back end.
class TestDb {
 public:
  using Rows = PgCluster::Rows;

  explicit TestDb(BackendKind kind) : kind_(kind) {
    if (kind_ == BackendKind::sqlite) {
      path_ = dir_.file();
      return;
    }
    skip_reason_ = PgCluster::skip_reason();
    if (!skip_reason_) path_ = PgCluster::shared().create_database();  // throws: the test fails
  }

  BackendKind kind() const { return kind_; }
  bool postgres() const { return kind_ == BackendKind::postgres; }
  bool available() const { return !skip_reason_; }
  std::string skip_reason() const { return skip_reason_.value_or(""); }

  /// The database, reopenable: an SQLite file in a temp dir, or a fresh
  /// PostgreSQL database's URI.
  const std::string& path() const { return path_; }
  /// For a test that never reopens: ":memory:" for SQLite, else path().
  std::string scratch() const { return kind_ == BackendKind::sqlite ? std::string(":memory:") : path_; }
  /// A second fresh, empty database of the same kind.
  std::string another(const std::string& name) {
    if (kind_ == BackendKind::sqlite) return dir_.file(name);
    return PgCluster::shared().create_database();
  }

  /// Runs SQL on path() outside the Store (no parameters: tests write literals);
  /// text values, NULL as nullopt.
  Rows query(const std::string& sql) const { return query_at(path_, sql); }
  void exec(const std::string& sql) const { query(sql); }
  /// The first column of the first row (nullopt for NULL).
  std::optional<std::string> scalar(const std::string& sql) const {
    auto rows = query(sql);
    REQUIRE_FALSE(rows.empty());
    return rows.at(0).at(0);
  }

  Rows query_at(const std::string& path, const std::string& sql) const {
    if (kind_ == BackendKind::postgres) return PgCluster::query(path, sql);
    SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    SQLite::Statement s(db, sql);
    Rows rows;
    while (s.executeStep()) {
      auto& row = rows.emplace_back();
      for (int i = 0; i < s.getColumnCount(); ++i)
        row.push_back(s.getColumn(i).isNull() ? std::nullopt : std::optional<std::string>(s.getColumn(i).getString()));
    }
    return rows;
  }

 private:
  BackendKind kind_;
  TempDir dir_;
  std::string path_;
  std::optional<std::string> skip_reason_;
};

/// Store::open, or the test fails.
inline std::unique_ptr<storage::Store> open_store(const std::string& path,
                                                  storage::Durability d = storage::Durability::full) {
  auto s = storage::Store::open(path, d);
  REQUIRE(s.has_value());
  return std::move(*s);
}

/// Store::open_reader, or the test fails.
inline std::unique_ptr<storage::Store> open_reader(const std::string& path) {
  auto s = storage::Store::open_reader(path);
  REQUIRE(s.has_value());
  return std::move(*s);
}

/// Every field of two incidents is the same (the policy snapshot's and the
/// contact chain's by value, not by pointer).
inline void check_same_incident(const engine::Incident& a, const engine::Incident& b) {
  INFO("incident #" << a.number);
  CHECK(a.number == b.number);
  CHECK(a.service_id == b.service_id);
  CHECK(a.dedup_key == b.dedup_key);
  CHECK(a.state == b.state);
  CHECK(a.summary == b.summary);
  CHECK(a.source_name == b.source_name);
  CHECK(a.severity == b.severity);
  CHECK(a.created_by == b.created_by);
  CHECK(a.created_at == b.created_at);
  CHECK(a.updated_at == b.updated_at);
  CHECK(a.acknowledged_at == b.acknowledged_at);
  CHECK(a.resolved_at == b.resolved_at);
  CHECK(a.owner == b.owner);
  CHECK(a.details_json == b.details_json);
  CHECK(a.alert_count == b.alert_count);
  CHECK(a.group_alert_keys == b.group_alert_keys);
  REQUIRE((a.policy == nullptr) == (b.policy == nullptr));
  if (a.policy) {
    CHECK(a.policy->policy_id == b.policy->policy_id);
    CHECK(a.policy->repeat == b.policy->repeat);
    REQUIRE(a.policy->steps.size() == b.policy->steps.size());
    for (std::size_t i = 0; i < a.policy->steps.size(); ++i) {
      const auto& sa = a.policy->steps[i];
      const auto& sb = b.policy->steps[i];
      CHECK(sa.timeout == sb.timeout);
      REQUIRE(sa.targets.size() == sb.targets.size());
      for (std::size_t j = 0; j < sa.targets.size(); ++j) {
        CHECK(sa.targets[j].kind == sb.targets[j].kind);
        CHECK(sa.targets[j].id == sb.targets[j].id);
      }
    }
  }
  CHECK(a.escalation.step == b.escalation.step);
  CHECK(a.escalation.round == b.escalation.round);
  CHECK(a.escalation.active == b.escalation.active);
  CHECK(a.escalation.step_deadline == b.escalation.step_deadline);
  CHECK(a.contact.person == b.contact.person);
  CHECK(a.contact.page_started == b.contact.page_started);
  CHECK(a.contact.next_rule == b.contact.next_rule);
  REQUIRE(a.contact.chain.size() == b.contact.chain.size());
  for (std::size_t i = 0; i < a.contact.chain.size(); ++i) {
    CHECK(a.contact.chain[i].method == b.contact.chain[i].method);
    CHECK(a.contact.chain[i].delay == b.contact.chain[i].delay);
  }
  CHECK(a.contact.next_at == b.contact.next_at);
  CHECK(a.contact.moved_on == b.contact.moved_on);
  CHECK(a.notified == b.notified);
  CHECK(a.suppressed_until == b.suppressed_until);
  CHECK(a.suppressed_reason == b.suppressed_reason);
}

}  // namespace baton::test

/// Declares `db`, a TestDb of `kind`, or skips the test, visibly.
#define BATON_TEST_DB_OF(db, kind)                \
  baton::test::TestDb db(kind);                   \
  if (!db.available()) {                          \
    WARN("BATON-SKIPPED: " << db.skip_reason());  \
    return;                                       \
  }

/// In a TEMPLATE_TEST_CASE over BATON_STORAGE_BACKENDS: the TestDb of TestType.
#define BATON_TEST_DB(db) BATON_TEST_DB_OF(db, TestType::kind)
