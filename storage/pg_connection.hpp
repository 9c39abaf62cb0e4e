#pragma once
// Private to storage/: one libpq connection with prepared-statement caching,
// reconnection and error mapping, shared by the PostgreSQL back end (and meant
// for the later HA pieces: a lease keeper would own its own Connection).
// libpq-fe.h stays in the .cpp; only its opaque struct names appear here.
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/result.hpp"

struct pg_conn;    // PGconn
struct pg_result;  // PGresult

namespace baton::storage::pg {

/// A failed libpq call. `sqlstate` is the server's SQLSTATE (empty for
/// client-side failures); `connection_lost` is true when the connection is
/// gone (the next call reconnects).
struct PgError : std::runtime_error {
  PgError(std::string message, std::string sqlstate, bool connection_lost)
      : std::runtime_error(std::move(message)), sqlstate(std::move(sqlstate)), connection_lost(connection_lost) {}
  std::string sqlstate;
  bool connection_lost;
};

/// SQLSTATE -> ErrorKind (https://www.postgresql.org/docs/15/errcodes-appendix.html):
/// lost connection, class 08 (connection), 40001/40P01 (serialization failure,
/// deadlock), 57P01-57P03 (shutdown, cannot connect now), 53 (insufficient
/// resources: disk full, out of memory, too many connections), 58 (I/O),
/// 55P03/57014 (lock timeout, statement timeout) -> transient;
/// class 23 (integrity constraint) -> conflict; anything else -> permanent.
ErrorKind error_kind(const PgError& e);

/// Why libpq cannot parse `uri` (PQconninfoParse), or nothing if it can.
std::optional<std::string> uri_error(const std::string& uri);

/// Text-format parameters $1..$n, bound left to right (codec's Binder).
class Params {
 public:
  void i64(std::int64_t v) { values_.emplace_back(std::to_string(v)); }
  void text(const std::string& v) { values_.emplace_back(v); }
  void stable_text(const std::string& v) { values_.emplace_back(v); }
  void null() { values_.emplace_back(std::nullopt); }
  const std::vector<std::optional<std::string>>& values() const { return values_; }

 private:
  std::vector<std::optional<std::string>> values_;
};

/// One row of a result (codec's Row). Values come back in text format.
class Row {
 public:
  Row(const pg_result* r, int row) : r_(r), row_(row) {}
  bool is_null(int col) const;
  /// CorruptData if the value is not an integer.
  std::int64_t i64(int col) const;
  std::string text(int col) const;

 private:
  const pg_result* r_;
  int row_;
};

/// A command's result: its rows and the number of rows it affected.
class Rows {
 public:
  explicit Rows(pg_result* r);
  ~Rows();
  Rows(Rows&& other) noexcept;
  Rows& operator=(Rows&&) = delete;
  Rows(const Rows&) = delete;
  int size() const;
  Row operator[](int row) const { return Row(r_, row); }
  /// INSERT/UPDATE/DELETE: rows affected (PQcmdTuples).
  std::int64_t affected() const;
  /// The command tag, e.g. "COMMIT" or "ROLLBACK" (PQcmdStatus).
  std::string command() const;

 private:
  pg_result* r_;
};

class Connection {
 public:
  /// Does not connect yet: connect() does. `session_setup` statements run after
  /// every (re)connect, e.g. "SET default_transaction_read_only = on".
  Connection(std::string uri, std::vector<std::string> session_setup = {});
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Connects (the first time) or, when the connection was lost, re-connects
  /// (PQreset) and drops the prepared-statement cache. Throws PgError (lost).
  void connect();

  /// Runs one statement with parameters as a named prepared statement (cached
  /// per connection by SQL text). Throws PgError.
  Rows exec(const std::string& sql, const Params& params = {});
  /// Runs SQL without parameters through the simple query protocol (it may hold
  /// several statements: migrations, BEGIN/COMMIT). Throws PgError.
  Rows exec_script(const std::string& sql);

  /// Waits up to `timeout_ms` for a notification on a channel this session
  /// LISTENs to (put the LISTEN in `session_setup` so a reconnect renews it);
  /// true if at least one arrived (all pending ones are consumed). Throws
  /// PgError (lost) when the connection is gone.
  /// https://www.postgresql.org/docs/15/libpq-notify.html
  bool wait_notification(int timeout_ms);

  /// Rolls back an open (or failed) transaction; ignores errors.
  void rollback_quietly();

  /// The URI with its password hidden, for messages.
  const std::string& display_name() const { return display_; }

 private:
  Rows check(pg_result* r);
  void setup_session();

  std::string uri_;
  std::string display_;
  std::vector<std::string> session_setup_;
  pg_conn* conn_ = nullptr;
  bool session_ready_ = false;  // session_setup_ ran on this connection
  std::unordered_map<std::string, std::string> prepared_;  // SQL text -> statement name
};

/// BEGIN ... COMMIT; rolls back if destroyed before commit().
class Transaction {
 public:
  explicit Transaction(Connection& c, const char* begin = "BEGIN");
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  /// Throws PgError if the commit fails (deferred constraints are checked
  /// here); the transaction is over either way.
  void commit();

 private:
  Connection& c_;
  bool done_ = false;
};

}  // namespace baton::storage::pg
