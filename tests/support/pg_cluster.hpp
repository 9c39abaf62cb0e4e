#pragma once
// A throwaway PostgreSQL cluster for tests: a data directory in a temp dir
// ($BATON_PG_TMPDIR, else /dev/shm, else the system temp dir), copied from a
// template that initdb wrote once per user and server build (kept in the system
// temp dir as baton-pg-template-*), postgres on a free loopback port, one fresh
// database per test. When running as root the
// server binaries run as "nobody" (initdb and postgres refuse root) and the temp
// dir belongs to that user. The destructor stops the server and removes the
// dir; a watchdog process does the same if the test process dies without
// running destructors (crash, SIGKILL, ctest timeout).
//
// Binaries: $BATON_PG_BINDIR, else the newest /usr/lib/postgresql/N/bin (Debian),
// else initdb on PATH. Where none is found, skip_reason() says why and the tests
// skip; binaries that are there but fail to start a cluster are a test failure.
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace baton::test {

class PgCluster {
 public:
  /// Why PostgreSQL tests cannot run here (no server binaries; root without a
  /// "nobody" user), or nothing.
  static std::optional<std::string> skip_reason();

  /// The cluster of this test process, started on first use and stopped at
  /// exit. Throws std::runtime_error (every call) if it could not start.
  static PgCluster& shared();

  /// Starts a new cluster; throws std::runtime_error with the reason.
  static std::unique_ptr<PgCluster> start();
  ~PgCluster();
  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;

  int port() const { return port_; }
  /// postgresql://postgres@127.0.0.1:PORT/<database>
  std::string uri(const std::string& database = "postgres") const;
  /// CREATE DATABASE with a name unique in this cluster; returns its URI.
  std::string create_database();

  /// pg_ctl restart -m fast: every open connection is terminated.
  void restart();
  /// pg_ctl stop -m fast / start again on the same port (e.g. for "server down").
  void stop_server();
  void start_server();

  using Rows = std::vector<std::vector<std::optional<std::string>>>;
  /// Runs SQL (no parameters) on a new connection to `uri`; text values, NULL as
  /// nullopt. Throws std::runtime_error with the server's message.
  static Rows query(const std::string& uri, const std::string& sql);

 private:
  PgCluster() = default;
  void pg_ctl(const std::vector<std::string>& args) const;
  void start_watchdog();

  std::string bin_dir_;
  std::string dir_;   // temp dir: data/, the socket, log
  int port_ = 0;
  bool unprivileged_ = false;  // run the binaries as uid_/gid_
  unsigned uid_ = 0, gid_ = 0;
  int watchdog_fd_ = -1;  // write end of the watchdog's pipe
  int watchdog_pid_ = -1;
  std::string options_;  // postgres options (pg_ctl -o), again at start_server()
};

}  // namespace baton::test
