#include "storage/pg_connection.hpp"

#include <libpq-fe.h>

#include <poll.h>

#include <charconv>
#include <cstring>

#include "storage/backend.hpp"
#include "storage/codec.hpp"

namespace baton::storage::pg {

namespace {

std::string trimmed(const char* s) {
  std::string out = s ? s : "";
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  // libpq messages span lines ("ERROR: ...\nDETAIL: ..."): keep them on one.
  for (auto& ch : out)
    if (ch == '\n') ch = ' ';
  return out;
}

// Server notices (e.g. "relation already exists, skipping") are not errors;
// libpq would print them on stderr by default
// (https://www.postgresql.org/docs/15/libpq-notice-processing.html).
void ignore_notice(void*, const char*) {}

}  // namespace

ErrorKind error_kind(const PgError& e) {
  if (e.connection_lost) return ErrorKind::transient;
  const std::string& s = e.sqlstate;
  if (s.size() != 5) return ErrorKind::permanent;
  const std::string cls = s.substr(0, 2);
  if (cls == "08" || cls == "53" || cls == "58") return ErrorKind::transient;
  if (s == "40001" || s == "40P01" || s == "57P01" || s == "57P02" || s == "57P03" || s == "55P03" ||
      s == "57014")
    return ErrorKind::transient;
  if (cls == "23") return ErrorKind::conflict;
  return ErrorKind::permanent;
}

std::optional<std::string> uri_error(const std::string& uri) {
  char* err = nullptr;
  PQconninfoOption* options = PQconninfoParse(uri.c_str(), &err);
  if (!options) {
    std::string message = err ? trimmed(err) : "out of memory";
    if (err) PQfreemem(err);
    return message;
  }
  PQconninfoFree(options);
  return std::nullopt;
}

// ---- Row / Rows ----

bool Row::is_null(int col) const { return PQgetisnull(r_, row_, col) != 0; }

std::int64_t Row::i64(int col) const {
  const char* v = PQgetvalue(r_, row_, col);
  const int len = PQgetlength(r_, row_, col);
  std::int64_t out = 0;
  auto [p, ec] = std::from_chars(v, v + len, out);
  if (ec != std::errc() || p != v + len)
    throw codec::CorruptData(std::string("not an integer in column '") + PQfname(r_, col) + "': '" +
                             std::string(v, static_cast<std::size_t>(len)) + "'");
  return out;
}

std::string Row::text(int col) const {
  return std::string(PQgetvalue(r_, row_, col), static_cast<std::size_t>(PQgetlength(r_, row_, col)));
}

Rows::Rows(pg_result* r) : r_(r) {}
Rows::~Rows() {
  if (r_) PQclear(r_);
}
Rows::Rows(Rows&& other) noexcept : r_(other.r_) { other.r_ = nullptr; }
int Rows::size() const { return PQntuples(r_); }
std::int64_t Rows::affected() const {
  const char* n = PQcmdTuples(r_);
  std::int64_t out = 0;
  std::from_chars(n, n + std::strlen(n), out);
  return out;
}

std::string Rows::command() const { return PQcmdStatus(r_); }

// ---- Connection ----

Connection::Connection(std::string uri, std::vector<std::string> session_setup)
    : uri_(std::move(uri)), display_(redact_uri(uri_)), session_setup_(std::move(session_setup)) {}

Connection::~Connection() {
  if (conn_) PQfinish(conn_);
}

void Connection::connect() {
  if (conn_ && PQstatus(conn_) == CONNECTION_OK && session_ready_) return;
  if (conn_ && PQstatus(conn_) == CONNECTION_OK) {  // connected, but the session setup failed last time
    setup_session();
    return;
  }
  session_ready_ = false;
  if (!conn_) {
    // Defaults first, then the URI "expanded" in place of dbname: whatever the
    // URI sets overrides them (https://www.postgresql.org/docs/15/libpq-connect.html,
    // PQconnectdbParams). connect_timeout bounds a connect or reconnect; the
    // keepalive and tcp_user_timeout settings notice a dead server instead of
    // waiting on a half-open TCP connection for the kernel's many minutes.
    const char* keywords[] = {"fallback_application_name", "connect_timeout", "keepalives_idle",
                              "keepalives_interval", "keepalives_count", "tcp_user_timeout", "dbname", nullptr};
    const char* values[] = {"baton", "10", "30", "10", "3", "30000", uri_.c_str(), nullptr};
    conn_ = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
    if (!conn_) throw PgError("cannot connect to " + display_ + ": out of memory", "", true);
    PQsetNoticeProcessor(conn_, &ignore_notice, nullptr);
  } else {
    PQreset(conn_);  // same parameters; keeps the notice processor
  }
  prepared_.clear();  // prepared statements live and die with the server session
  if (PQstatus(conn_) != CONNECTION_OK)
    throw PgError("cannot connect to " + display_ + ": " + trimmed(PQerrorMessage(conn_)), "", true);
  setup_session();
}

void Connection::setup_session() {
  for (const auto& sql : session_setup_) check(PQexec(conn_, sql.c_str()));
  session_ready_ = true;
}

Rows Connection::check(pg_result* r) {
  if (r) {
    const auto status = PQresultStatus(r);
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_EMPTY_QUERY) return Rows(r);
  }
  std::string sqlstate;
  std::string message;
  if (r) {
    if (const char* s = PQresultErrorField(r, PG_DIAG_SQLSTATE)) sqlstate = s;
    message = trimmed(PQresultErrorMessage(r));
    PQclear(r);
  }
  if (message.empty()) message = trimmed(PQerrorMessage(conn_));
  const bool lost = PQstatus(conn_) != CONNECTION_OK;
  if (lost && message.empty()) message = "connection to the server was lost";
  throw PgError(message, sqlstate, lost);
}

Rows Connection::exec(const std::string& sql, const Params& params) {
  connect();
  const auto& values = params.values();
  auto it = prepared_.find(sql);
  if (it == prepared_.end()) {
    std::string name = "baton_" + std::to_string(prepared_.size() + 1);
    // Parameter types are inferred from the statement (write casts where the
    // context does not say): https://www.postgresql.org/docs/15/libpq-exec.html
    check(PQprepare(conn_, name.c_str(), sql.c_str(), static_cast<int>(values.size()), nullptr));
    it = prepared_.emplace(sql, std::move(name)).first;
  }
  std::vector<const char*> raw;
  raw.reserve(values.size());
  for (const auto& v : values) raw.push_back(v ? v->c_str() : nullptr);
  return check(PQexecPrepared(conn_, it->second.c_str(), static_cast<int>(raw.size()), raw.data(), nullptr,
                              nullptr, /*resultFormat=text*/ 0));
}

Rows Connection::exec_script(const std::string& sql) {
  connect();
  return check(PQexec(conn_, sql.c_str()));
}

bool Connection::wait_notification(int timeout_ms) {
  connect();
  auto drain = [&] {
    bool any = false;
    while (PGnotify* n = PQnotifies(conn_)) {
      any = true;
      PQfreemem(n);
    }
    return any;
  };
  if (drain()) return true;
  pollfd fd{PQsocket(conn_), POLLIN, 0};
  if (fd.fd < 0) throw PgError("connection to the server was lost", "", true);
  const int n = ::poll(&fd, 1, timeout_ms);
  if (n > 0) {
    if (PQconsumeInput(conn_) == 0 || PQstatus(conn_) != CONNECTION_OK)
      throw PgError("connection to the server was lost: " + trimmed(PQerrorMessage(conn_)), "", true);
  }
  return drain();
}

void Connection::rollback_quietly() {
  if (!conn_ || PQstatus(conn_) != CONNECTION_OK) return;
  const auto ts = PQtransactionStatus(conn_);
  if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) PQclear(PQexec(conn_, "ROLLBACK"));
}

// ---- Transaction ----

Transaction::Transaction(Connection& c, const char* begin) : c_(c) { c_.exec_script(begin); }

Transaction::~Transaction() {
  if (!done_) c_.rollback_quietly();
}

void Transaction::commit() {
  done_ = true;
  auto r = c_.exec_script("COMMIT");
  // COMMIT of a transaction that already failed answers ROLLBACK, not an error
  // (https://www.postgresql.org/docs/15/sql-commit.html). Statements here throw
  // on their first error, so this is a safety net.
  if (r.command() != "COMMIT") throw PgError("the transaction was rolled back, not committed", "", false);
}

}  // namespace baton::storage::pg
