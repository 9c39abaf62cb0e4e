// PostgreSQL-only behaviour of the Store: concurrent migration, reconnection
// after a server restart or outage, URI handling, and the schema kept in step
// with SQLite's. Each case gets a fresh database in the test process's cluster
// (tests/support/pg_cluster.hpp); without PostgreSQL they skip visibly.
#include <catch2/catch.hpp>
#include <latch>
#include <set>
#include <thread>

#include "storage/backend.hpp"
#include "storage/migrations.hpp"
#include "storage/store.hpp"
#include "tests/storage/storage_fixtures.hpp"
#include "tests/storage/test_db.hpp"

using namespace baton;
using namespace baton::test;
using storage::Store;

namespace {

int latest_pg_version() { return storage::embedded_postgres_migrations().back().version; }

// Starts the server again at scope exit if a test stopped it (also when an
// assertion fails half-way), so later tests in the process find it running.
struct ServerBack {
  bool stopped = false;
  ~ServerBack() {
    if (stopped) PgCluster::shared().start_server();
  }
};

}  // namespace

TEST_CASE("is_postgres_uri and redact_uri", "[storage][postgres]") {
  CHECK(storage::is_postgres_uri("postgres://h/db"));
  CHECK(storage::is_postgres_uri("postgresql://u:p@h:5432/db?sslmode=require"));
  CHECK(storage::is_postgres_uri("PostgreSQL://h/db"));
  CHECK_FALSE(storage::is_postgres_uri("/var/lib/baton/baton.db"));
  CHECK_FALSE(storage::is_postgres_uri("postgres.db"));
  CHECK_FALSE(storage::is_postgres_uri(":memory:"));

  CHECK(storage::redact_uri("postgresql://baton:s3cret@db.example:5432/baton?sslmode=verify-full") ==
        "postgresql://baton:***@db.example:5432/baton?sslmode=verify-full");
  CHECK(storage::redact_uri("postgres://baton@db/baton?password=s3cret&sslmode=require") ==
        "postgres://baton@db/baton?password=***&sslmode=require");
  CHECK(storage::redact_uri("postgres://db:5432/baton") == "postgres://db:5432/baton");
  CHECK(storage::redact_uri("postgres://u:p%40ss@[::1]:5432/db") == "postgres://u:***@[::1]:5432/db");
  CHECK(storage::redact_uri("postgresql://u:pa/ss@h/db") == "postgresql://u:***@h/db");
  CHECK(storage::redact_uri("postgresql://u:p@ss@h/db?sslmode=require") == "postgresql://u:***@h/db?sslmode=require");
  CHECK(storage::redact_uri("/var/lib/baton.db") == "/var/lib/baton.db");
}

// No password reaches an error message, whether the server is unreachable
// (transient: it may be starting) or the URI does not parse (invalid_request).
TEST_CASE("errors never show the password of the URI", "[storage][postgres]") {
  auto down = Store::open("postgresql://baton:s3cret@127.0.0.1:1/baton?connect_timeout=2");
  REQUIRE_FALSE(down.has_value());
  CHECK(down.error().kind == ErrorKind::transient);
  CHECK(down.error().message.find("s3cret") == std::string::npos);
  CHECK(down.error().message.find("baton:***@127.0.0.1:1") != std::string::npos);

  auto bad = Store::open("postgresql://baton:s3cret@127.0.0.1:1/baton?no_such_parameter=1");
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().kind == ErrorKind::invalid_request);
  CHECK(bad.error().message.find("s3cret") == std::string::npos);

  auto reader = Store::open_reader("postgres://baton@127.0.0.1:1/baton?password=s3cret&connect_timeout=2");
  REQUIRE_FALSE(reader.has_value());
  CHECK(reader.error().message.find("s3cret") == std::string::npos);
}

// Several instances starting at once against a fresh database: the advisory
// lock lets one migrate; the others wait, then find nothing to do.
TEST_CASE("instances opening a fresh database at once migrate it once", "[storage][postgres]") {
  BATON_TEST_DB_OF(db, BackendKind::postgres);
  constexpr int kInstances = 4;
  std::vector<Result<std::unique_ptr<Store>>> opened(kInstances);
  std::latch start(kInstances);
  std::vector<std::thread> threads;
  for (int i = 0; i < kInstances; ++i)
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      opened[i] = Store::open(db.path());
    });
  for (auto& t : threads) t.join();
  for (auto& s : opened) {
    INFO((s ? std::string("ok") : s.error().message));
    REQUIRE(s.has_value());
    CHECK((*s)->schema_version() == latest_pg_version());
  }
  CHECK(db.scalar("SELECT COUNT(*) FROM schema_migrations") ==
        std::to_string(storage::embedded_postgres_migrations().size()));
  REQUIRE(apply_one(**opened[0], make_trigger_effects(1, 1)));
  CHECK((*opened[3])->count_incidents(std::nullopt).value() == 1);
}

// URI parameters go to libpq as they are.
TEST_CASE("URI parameters reach the connection", "[storage][postgres]") {
  BATON_TEST_DB_OF(db, BackendKind::postgres);
  auto store = open_store(db.path() + "?application_name=baton-uri-test&sslmode=disable");
  REQUIRE(store->count_incidents(std::nullopt));
  CHECK(db.scalar("SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = 'baton-uri-test'") == "1");
}

// A restart drops every connection: the next call on each Store fails
// transient (nothing half-applied), the one after reconnects and works; the
// reader is still read-only on its new connection.
TEST_CASE("a server restart fails one call transient, then the store heals", "[storage][postgres]") {
  BATON_TEST_DB_OF(db, BackendKind::postgres);
  auto writer = open_store(db.path());
  auto reader_r = Store::open_reader(db.path());
  REQUIRE(reader_r.has_value());
  auto& reader = **reader_r;
  REQUIRE(apply_one(*writer, make_trigger_effects(1, 1)));
  REQUIRE(reader.count_incidents(std::nullopt).value() == 1);

  PgCluster::shared().restart();

  auto fx = make_trigger_effects(2, 2);
  auto lost = apply_one(*writer, fx);
  REQUIRE_FALSE(lost.has_value());
  CHECK(lost.error().kind == ErrorKind::transient);
  REQUIRE(apply_one(*writer, fx));  // the same change again: it was not half-applied
  CHECK(writer->count_incidents(std::nullopt).value() == 2);
  CHECK(writer->timeline(2)->size() == 2);

  auto read_lost = reader.count_incidents(std::nullopt);
  REQUIRE_FALSE(read_lost.has_value());
  CHECK(read_lost.error().kind == ErrorKind::transient);
  CHECK(reader.count_incidents(std::nullopt).value() == 2);
  auto write = apply_one(reader, make_trigger_effects(3, 3));
  REQUIRE_FALSE(write.has_value());
  CHECK(write.error().kind == ErrorKind::permanent);
}

// While the server is down every call (and open) fails transient; once it is
// back, the same Store works again without being reopened.
TEST_CASE("calls fail transient while the server is down and work once it is back", "[storage][postgres]") {
  BATON_TEST_DB_OF(db, BackendKind::postgres);
  auto store = open_store(db.path());
  REQUIRE(apply_one(*store, make_trigger_effects(1, 1)));
  {
    ServerBack back;
    PgCluster::shared().stop_server();
    back.stopped = true;
    for (int i = 0; i < 3; ++i) {
      auto r = store->load();
      REQUIRE_FALSE(r.has_value());
      CHECK(r.error().kind == ErrorKind::transient);
    }
    auto probe = store->probe_write(t0());
    REQUIRE_FALSE(probe.has_value());
    CHECK(probe.error().kind == ErrorKind::transient);
    auto opened = Store::open(db.path());
    REQUIRE_FALSE(opened.has_value());
    CHECK(opened.error().kind == ErrorKind::transient);
  }  // server started again
  CHECK(store->probe_write(t0()).has_value());
  auto loaded = store->load();
  REQUIRE(loaded.has_value());
  CHECK(loaded->open_incidents.size() == 1);
}

// The PostgreSQL schema has the same tables, columns and named indexes as the
// SQLite one (plus what PostgreSQL alone needs), so a new SQLite migration
// without its PostgreSQL counterpart fails here.
TEST_CASE("the PostgreSQL schema matches the SQLite schema", "[storage][postgres]") {
  BATON_TEST_DB_OF(pg, BackendKind::postgres);
  TestDb lite(BackendKind::sqlite);
  open_store(pg.path());
  open_store(lite.path());

  using Set = std::set<std::string>;
  auto set_of = [](const TestDb::Rows& rows) {
    Set out;
    for (const auto& r : rows) out.insert(*r.at(0) + (r.size() > 1 ? "." + *r.at(1) : std::string()));
    return out;
  };
  Set lite_columns = set_of(lite.query(
      "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p WHERE m.type = 'table'"));
  Set pg_columns = set_of(pg.query(
      "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()"));
  // PostgreSQL only: the HA tables (lease, instances, inbox) and chat_messages.seq (SQLite's rowid).
  for (auto it = pg_columns.begin(); it != pg_columns.end();)
    it = it->starts_with("cluster_lease.") || it->starts_with("instances.") || it->starts_with("inbox.") ||
                 *it == "chat_messages.seq"
             ? pg_columns.erase(it)
             : std::next(it);
  CHECK(pg_columns == lite_columns);

  Set lite_indexes = set_of(lite.query("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"));
  Set pg_indexes = set_of(pg.query(
      "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
      "AND indexname NOT LIKE '%\\_pkey' AND indexname NOT LIKE '%\\_key'"));
  CHECK(pg_indexes == lite_indexes);
}
