#include "tests/support/pg_cluster.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace baton::test {
namespace fs = std::filesystem;

namespace {

bool executable(const fs::path& p) { return ::access(p.c_str(), X_OK) == 0; }

bool has_server_binaries(const fs::path& dir) {
  return executable(dir / "initdb") && executable(dir / "pg_ctl") && executable(dir / "postgres");
}

// $BATON_PG_BINDIR, the newest Debian /usr/lib/postgresql/N/bin, or PATH.
std::optional<std::string> find_bin_dir() {
  if (const char* env = std::getenv("BATON_PG_BINDIR"); env && *env) {
    if (has_server_binaries(env)) return std::string(env);
    return std::nullopt;
  }
  std::vector<std::pair<int, fs::path>> found;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    const auto name = e.path().filename().string();
    if (!name.empty() && std::all_of(name.begin(), name.end(), ::isdigit) && has_server_binaries(e.path() / "bin"))
      found.emplace_back(std::stoi(name), e.path() / "bin");
  }
  if (!found.empty()) return std::max_element(found.begin(), found.end())->second.string();
  if (const char* path = std::getenv("PATH")) {
    std::stringstream ss(path);
    for (std::string dir; std::getline(ss, dir, ':');)
      if (!dir.empty() && has_server_binaries(dir)) return dir;
  }
  return std::nullopt;
}

struct User {
  uid_t uid;
  gid_t gid;
};

std::optional<User> nobody() {
  const passwd* pw = ::getpwnam("nobody");
  if (!pw) return std::nullopt;
  return User{pw->pw_uid, pw->pw_gid};
}

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("bind 127.0.0.1:0: " + std::string(std::strerror(errno)));
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

// argv as execv wants it; the strings must outlive the call.
std::vector<char*> c_argv(std::vector<std::string>& args) {
  std::vector<char*> out;
  for (auto& a : args) out.push_back(a.data());
  out.push_back(nullptr);
  return out;
}

// In a forked child: drop to `user` (if any), stdin from /dev/null, stdout and
// stderr to `log` (or /dev/null), no other descriptors. Async-signal-safe calls
// only: the parent may have other threads.
void child_setup(const std::optional<User>& user, const char* log) {
  if (user) {
    if (::setgroups(0, nullptr) != 0 || ::setgid(user->gid) != 0 || ::setuid(user->uid) != 0) ::_exit(126);
  }
  int in = ::open("/dev/null", O_RDONLY);
  int out = log ? ::open(log, O_WRONLY | O_CREAT | O_APPEND, 0644) : ::open("/dev/null", O_WRONLY);
  if (in < 0 || out < 0) ::_exit(126);
  ::dup2(in, 0);
  ::dup2(out, 1);
  ::dup2(out, 2);
  ::close_range(3, ~0U, 0);
}

// Runs a program to completion; returns its exit status (or -1 if it died).
int run(std::vector<std::string> args, const std::optional<User>& user, const std::string& log) {
  auto argv = c_argv(args);
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork: " + std::string(std::strerror(errno)));
  if (pid == 0) {
    child_setup(user, log.c_str());
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string tail(const std::string& path, std::size_t max = 2000) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  auto s = ss.str();
  return s.size() > max ? s.substr(s.size() - max) : s;
}

std::string quote_ident(const std::string& s) { return "\"" + s + "\""; }

// Where clusters live: $BATON_PG_TMPDIR, else /dev/shm (tmpfs: a cluster
// writes tens of megabytes that need not reach a disk), else the temp dir.
fs::path cluster_base_dir() {
  if (const char* env = std::getenv("BATON_PG_TMPDIR"); env && *env) return env;
  if (::access("/dev/shm", W_OK | X_OK) == 0) return "/dev/shm";
  return fs::temp_directory_path();
}

// initdb costs about a second of CPU; every test process would pay it. The
// first process initdb's a template data directory, kept in the temp dir per
// user and server build; each cluster starts from a copy of it. The template is
// renamed into place only once complete, so a half-written one is never used.
std::string template_data_dir(const std::string& bin_dir, const std::optional<User>& user, const std::string& log) {
  struct stat st {};
  ::stat((bin_dir + "/postgres").c_str(), &st);
  const auto key = std::hash<std::string>{}(bin_dir + "@" + std::to_string(st.st_mtime));
  const fs::path final_dir = fs::temp_directory_path() / ("baton-pg-template-" + std::to_string(::geteuid()) +
                                                           "-" + std::to_string(key % 1'000'000'007));
  if (fs::exists(final_dir / "PG_VERSION")) return final_dir.string();
  std::string work = (fs::temp_directory_path() / "baton-pg-initdb-XXXXXX").string();
  if (!::mkdtemp(work.data())) throw std::runtime_error("mkdtemp: " + std::string(std::strerror(errno)));
  if (user && ::chown(work.c_str(), user->uid, user->gid) != 0)
    throw std::runtime_error("chown " + work + ": " + std::strerror(errno));
  // -N: no fsync of the new files; -A trust: loopback only, a test cluster
  // (https://www.postgresql.org/docs/15/app-initdb.html).
  const int rc = run({bin_dir + "/initdb", "-D", work + "/data", "-U", "postgres", "-A", "trust", "-E", "UTF8",
                      "--no-locale", "-N"},
                     user, log);
  std::error_code ec;
  if (rc != 0) {
    fs::remove_all(work, ec);
    throw std::runtime_error("initdb failed: " + tail(log));
  }
  fs::rename(work + "/data", final_dir, ec);  // fails if another process got there first: fine
  fs::remove_all(work, ec);
  if (!fs::exists(final_dir / "PG_VERSION")) throw std::runtime_error("no template data directory at " + final_dir.string());
  return final_dir.string();
}

}  // namespace

std::optional<std::string> PgCluster::skip_reason() {
  if (!find_bin_dir())
    return std::string(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found in $BATON_PG_BINDIR, "
        "/usr/lib/postgresql/*/bin or PATH: install postgresql-15 (scripts/deps.sh)");
  if (::geteuid() == 0 && !nobody())
    return std::string("running as root and there is no 'nobody' user to run PostgreSQL as");
  return std::nullopt;
}

PgCluster& PgCluster::shared() {
  struct Holder {
    std::unique_ptr<PgCluster> cluster;
    std::string error;
  };
  static Holder holder = [] {
    Holder h;
    try {
      h.cluster = start();
    } catch (const std::exception& e) {
      h.error = e.what();
    }
    return h;
  }();
  if (!holder.cluster) throw std::runtime_error("cannot start a PostgreSQL cluster: " + holder.error);
  return *holder.cluster;
}

std::unique_ptr<PgCluster> PgCluster::start() {
  if (auto why = skip_reason()) throw std::runtime_error(*why);
  std::unique_ptr<PgCluster> c(new PgCluster());
  c->bin_dir_ = *find_bin_dir();
  if (::geteuid() == 0) {
    // initdb and postgres refuse to run as root
    // (https://www.postgresql.org/docs/15/app-initdb.html): run them as nobody.
    auto u = nobody();
    c->unprivileged_ = true;
    c->uid_ = u->uid;
    c->gid_ = u->gid;
  }
  std::string tmpl = (cluster_base_dir() / "baton-pg-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp: " + std::string(std::strerror(errno)));
  c->dir_ = tmpl;
  if (c->unprivileged_ && ::chown(c->dir_.c_str(), c->uid_, c->gid_) != 0)
    throw std::runtime_error("chown " + c->dir_ + ": " + std::strerror(errno));
  c->start_watchdog();  // from here on the dir goes away even if we crash

  const std::optional<User> user =
      c->unprivileged_ ? std::optional<User>(User{c->uid_, c->gid_}) : std::nullopt;
  const std::string log = c->dir_ + "/setup.log";
  const std::string tmpl_dir = template_data_dir(c->bin_dir_, user, log);
  if (run({"/bin/cp", "-a", tmpl_dir, c->dir_ + "/data"}, user, log) != 0)
    throw std::runtime_error("cannot copy " + tmpl_dir + ": " + tail(log));

  // A free port can be taken between probing and binding: try a few.
  for (int attempt = 0;; ++attempt) {
    c->port_ = free_port();
    // https://www.postgresql.org/docs/15/app-postgres.html: -k is the Unix
    // socket directory (kept inside the temp dir), TCP only on 127.0.0.1.
    // fsync=off: the tests do not survive power loss anyway.
    c->options_ = "-p " + std::to_string(c->port_) + " -k " + c->dir_ +
                             " -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
                             " -c shared_buffers=16MB -c max_connections=40";
    if (run({c->bin_dir_ + "/pg_ctl", "-D", c->dir_ + "/data", "-l", c->dir_ + "/server.log", "-w", "-t", "60",
             "-s", "-o", c->options_, "start"},
            user, log) == 0)
      break;
    if (attempt == 4) throw std::runtime_error("pg_ctl start failed: " + tail(c->dir_ + "/server.log"));
  }
  return c;
}

PgCluster::~PgCluster() {
  if (!dir_.empty()) {
    const std::optional<User> user = unprivileged_ ? std::optional<User>(User{uid_, gid_}) : std::nullopt;
    if (fs::exists(dir_ + "/data/postmaster.pid"))
      run({bin_dir_ + "/pg_ctl", "-D", dir_ + "/data", "-m", "fast", "-w", "-s", "stop"}, user, "/dev/null");
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  if (watchdog_fd_ >= 0) ::close(watchdog_fd_);  // the watchdog finds nothing left to do
  if (watchdog_pid_ > 0) {
    int status = 0;
    while (::waitpid(watchdog_pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

// A child process that waits until our end of a pipe closes (we exited, however
// we died), then stops the server and removes the temp dir if still there.
void PgCluster::start_watchdog() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2: " + std::string(std::strerror(errno)));
  std::vector<std::string> stop_args{bin_dir_ + "/pg_ctl", "-D", dir_ + "/data", "-m", "immediate", "-w", "-s",
                                     "stop"};
  std::vector<std::string> rm_args{"/bin/rm", "-rf", dir_};
  auto stop_argv = c_argv(stop_args);
  auto rm_argv = c_argv(rm_args);
  const std::string pid_file = dir_ + "/data/postmaster.pid";
  const std::optional<User> user = unprivileged_ ? std::optional<User>(User{uid_, gid_}) : std::nullopt;
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork: " + std::string(std::strerror(errno)));
  if (pid == 0) {
    const int rfd = fds[0];
    ::setsid();  // outlive a kill of our process group (ctest timeout)
    int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, 0);
    ::dup2(null, 1);
    ::dup2(null, 2);
    ::dup2(rfd, 3);
    ::close_range(4, ~0U, 0);
    char buf[16];
    for (;;) {
      ssize_t n = ::read(3, buf, sizeof buf);
      if (n == 0 || (n < 0 && errno != EINTR)) break;
    }
    if (::access(pid_file.c_str(), F_OK) == 0) {
      pid_t p = ::fork();
      if (p == 0) {
        child_setup(user, nullptr);
        ::execv(stop_argv[0], stop_argv.data());
        ::_exit(127);
      }
      if (p > 0) ::waitpid(p, nullptr, 0);
    }
    ::execv(rm_argv[0], rm_argv.data());
    ::_exit(0);
  }
  ::close(fds[0]);
  watchdog_fd_ = fds[1];
  watchdog_pid_ = pid;
}

void PgCluster::pg_ctl(const std::vector<std::string>& args) const {
  std::vector<std::string> all{bin_dir_ + "/pg_ctl", "-D", dir_ + "/data", "-w", "-t", "60", "-s"};
  all.insert(all.end(), args.begin(), args.end());
  const std::optional<User> user = unprivileged_ ? std::optional<User>(User{uid_, gid_}) : std::nullopt;
  const std::string log = dir_ + "/setup.log";
  if (run(all, user, log) != 0) throw std::runtime_error("pg_ctl " + args.back() + " failed: " + tail(log));
}

void PgCluster::restart() { pg_ctl({"-m", "fast", "restart"}); }
void PgCluster::stop_server() { pg_ctl({"-m", "fast", "stop"}); }
void PgCluster::start_server() { pg_ctl({"-l", dir_ + "/server.log", "-o", options_, "start"}); }

std::string PgCluster::uri(const std::string& database) const {
  return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/" + database;
}

std::string PgCluster::create_database() {
  static std::atomic<int> counter{0};
  const std::string name = "baton_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
  query(uri(), "CREATE DATABASE " + quote_ident(name));
  return uri(name);
}

PgCluster::Rows PgCluster::query(const std::string& uri, const std::string& sql) {
  PGconn* conn = PQconnectdb(uri.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(conn);
    PQfinish(conn);
    throw std::runtime_error("connect " + uri + ": " + msg);
  }
  PQsetNoticeProcessor(conn, [](void*, const char*) {}, nullptr);
  PGresult* r = PQexec(conn, sql.c_str());
  const auto status = PQresultStatus(r);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    std::string msg = PQresultErrorMessage(r);
    PQclear(r);
    PQfinish(conn);
    throw std::runtime_error(sql + ": " + msg);
  }
  Rows rows;
  for (int i = 0; i < PQntuples(r); ++i) {
    auto& row = rows.emplace_back();
    for (int j = 0; j < PQnfields(r); ++j)
      row.push_back(PQgetisnull(r, i, j) ? std::nullopt : std::optional<std::string>(PQgetvalue(r, i, j)));
  }
  PQclear(r);
  PQfinish(conn);
  return rows;
}

}  // namespace baton::test
