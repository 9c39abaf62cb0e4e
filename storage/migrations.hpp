#pragma once
// The schema migrations embedded at build time from storage/migrations/*.sql
// (SQLite) and storage/migrations/postgres/*.sql (PostgreSQL); see
// storage/CMakeLists.txt. Store::open applies the pending ones in order.
#include <span>

namespace baton::storage {

struct Migration {
  int version;       ///< NNNN of the file name, strictly increasing
  const char* name;  ///< file name without extension, e.g. "0001_init"
  const char* sql;   ///< the whole script, run in one transaction
};

/// Every SQLite migration, ordered by version.
std::span<const Migration> embedded_migrations();

/// Every PostgreSQL migration, ordered by version (a separate numbering).
std::span<const Migration> embedded_postgres_migrations();

}  // namespace baton::storage
