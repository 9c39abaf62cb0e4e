#include "tests/faults/fault_harness.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace baton::faults {
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

constexpr std::size_t kLogTail = 64 * 1024;

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

int remaining_ms(Clock::time_point until) {
  auto left = std::chrono::duration_cast<milliseconds>(until - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::string baton_binary() {
  if (const char* env = std::getenv("BATON_FAULTS_BIN"); env && *env) return env;
  return BATON_BIN;
}

std::string slow_fsync_library() {
  if (const char* env = std::getenv("BATON_FAULTS_SLOW_FSYNC"); env && *env) return env;
  return BATON_SLOW_FSYNC_LIB;
}

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

void report(const std::string& scenario, const std::string& figures) {
  std::cout << "[faults] " << scenario << ": " << figures << std::endl;
}

// ---------------------------------------------------------------------------
// TempDir, ports, config

TempDir::TempDir(const std::string& label) {
  static std::atomic<int> counter{0};
  path = fs::temp_directory_path() /
         ("baton-faults-" + label + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  fs::remove_all(path);
  fs::create_directories(path);
}

TempDir::~TempDir() {
  if (std::getenv("BATON_FAULTS_KEEP")) {
    std::cout << "[faults] kept " << path << std::endl;
    return;
  }
  std::error_code ec;
  fs::remove_all(path, ec);
}

std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket");
  auto a = loopback(0);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    throw std::runtime_error("bind");
  }
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

std::string config_yaml(const ConfigOptions& o, int generation) {
  std::ostringstream y;
  y << "server:\n"
    << "  listen: \"127.0.0.1:8080\"\n"  // --listen overrides it
    << "  action_secret: \"fault-action-secret\"\n"
    << "  api_tokens: [{name: faults, token: \"" << kApiToken << "\"}]\n"
    << "storage: {path: ./unused.db, durability: full}\n"  // --db overrides it
    << "webhook:\n"
    << "  url: \"" << o.webhook_url << "\"\n"
    << "  timeout: " << o.webhook_timeout << "\n"
    << "  headers: {X-Fault-Generation: \"" << generation << "\"}\n"
    << "dispatch: {max_attempts: " << o.max_attempts
    << ", base_backoff: " << o.base_backoff << "}\n";
  if (!o.directory_yaml.empty()) {
    y << o.directory_yaml;
  } else {
    y << "people:\n"
      << "  pat: {name: Pat, email: pat@example.com, contact_chain: [{method: webhook, after: 0s}]}\n"
      << "escalation_policies:\n"
      << "  only-pat: {steps: [{targets: [{person: pat}], timeout: 1h}]}\n"
      << "services:\n"
      << "  faults: {name: Faults, escalation_policy: only-pat, integration_keys: [" << kRoutingKey << "]}\n";
  }
  y << o.extra_yaml;
  return y.str();
}

// ---------------------------------------------------------------------------
// BatonProcess

BatonProcess::BatonProcess(fs::path dir, ConfigOptions config, SpawnOptions spawn)
    : dir_(std::move(dir)), config_(std::move(config)), spawn_(std::move(spawn)) {}

BatonProcess::~BatonProcess() {
  kill_now();
  if (drainer_.joinable()) drainer_.join();
}

bool BatonProcess::start(milliseconds timeout) {
  if (running()) throw std::logic_error("baton is already running");
  const auto until = Clock::now() + timeout;
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (port_ == 0 || attempt > 0) port_ = free_port();
    if (!spawn_once()) return false;
    while (Clock::now() < until) {
      if (!running()) break;  // e.g. the port was taken meanwhile: try another
      if (http_get_status(port_, "/readyz", milliseconds(1000)) == 200) return true;
      std::this_thread::sleep_for(milliseconds(20));
    }
    if (running()) {
      kill_now();
      return false;
    }
    std::cout << "[faults] baton exited during start-up (status " << last_status_ << "):\n"
              << log_tail(2000) << std::endl;
  }
  return false;
}

bool BatonProcess::spawn_once() {
  ++generation_;
  {
    std::ofstream out(dir_ / "baton.yaml", std::ios::trunc);
    out << config_yaml(config_, generation_);
  }
  if (drainer_.joinable()) drainer_.join();

  // Everything the child needs is built before fork(): after it, only
  // async-signal-safe calls.
  const std::string bin = baton_binary();
  const std::string config = (dir_ / "baton.yaml").string();
  const std::string listen = "127.0.0.1:" + std::to_string(port_.load());
  const std::string db = config_.db.empty() ? db_path().string() : config_.db;
  std::vector<std::string> args{bin, "serve", "--config", config, "--listen", listen, "--db", db};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  std::map<std::string, std::string> env_map;
  for (char** e = environ; *e; ++e) {
    std::string kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string::npos) env_map[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  env_map.erase("BATON_API_TOKEN");
  env_map.erase("LD_PRELOAD");
  for (const auto& [k, v] : spawn_.env) env_map[k] = v;
  if (!spawn_.preload.empty()) env_map["LD_PRELOAD"] = spawn_.preload;
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env_map) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);

  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return false;
  const pid_t parent = ::getpid();
  const bool limit_files = spawn_.nofile.has_value();
  const rlimit nofile{static_cast<rlim_t>(spawn_.nofile.value_or(0)), static_cast<rlim_t>(spawn_.nofile.value_or(0))};
  const std::string cwd = dir_.string();

  pid_t child = ::fork();
  if (child < 0) {
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    return false;
  }
  if (child == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(pipe_fds[1], 1);
    ::dup2(pipe_fds[1], 2);
    // The test's own sockets (sinks, peers) must not leak into baton: they
    // would count against its descriptor limit and keep closed listeners alive.
    if (::syscall(SYS_close_range, 3U, ~0U, 0U) != 0)
      for (int fd = 3; fd < 65536; ++fd) ::close(fd);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (limit_files) ::setrlimit(RLIMIT_NOFILE, &nofile);
    if (::chdir(cwd.c_str()) != 0) ::_exit(126);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  pid_ = child;
  drainer_ = std::thread([this, fd = pipe_fds[0]] { drain(fd); });
  return true;
}

void BatonProcess::drain(int fd) {
  std::ofstream file(dir_ / "log", std::ios::app);
  file << "---- generation " << generation_ << " ----\n";
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    log_bytes_ += static_cast<std::size_t>(n);
    file.write(buf, n);
    std::lock_guard lock(log_mutex_);
    log_tail_.append(buf, static_cast<std::size_t>(n));
    if (log_tail_.size() > 2 * kLogTail) log_tail_.erase(0, log_tail_.size() - kLogTail);
  }
  ::close(fd);
}

std::string BatonProcess::log_tail(std::size_t max_bytes) const {
  std::lock_guard lock(log_mutex_);
  return log_tail_.size() <= max_bytes ? log_tail_ : log_tail_.substr(log_tail_.size() - max_bytes);
}

void BatonProcess::signal(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
}

bool BatonProcess::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    last_status_ = status;
    pid_ = -1;
    return false;
  }
  return true;
}

std::optional<int> BatonProcess::wait_exit(milliseconds timeout) {
  const auto until = Clock::now() + timeout;
  while (running()) {
    if (Clock::now() >= until) return std::nullopt;
    std::this_thread::sleep_for(milliseconds(5));
  }
  if (drainer_.joinable()) drainer_.join();
  return last_status_;
}

void BatonProcess::kill_now() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  last_status_ = status;
  pid_ = -1;
  if (drainer_.joinable()) drainer_.join();
}

milliseconds BatonProcess::cpu_time() const {
  std::ifstream in("/proc/" + std::to_string(pid_.load()) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');
  if (close == std::string::npos) return milliseconds(0);
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  long long utime = 0, stime = 0;
  // After "pid (comm) ": state is field 3; utime and stime are fields 14 and 15.
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stoll(field);
    if (i == 15) stime = std::stoll(field);
  }
  const long ticks = ::sysconf(_SC_CLK_TCK);
  return milliseconds((utime + stime) * 1000 / (ticks > 0 ? ticks : 100));
}

bool BatonProcess::maps_contain(const std::string& needle) const {
  std::ifstream in("/proc/" + std::to_string(pid_.load()) + "/maps");
  std::string line;
  while (std::getline(in, line))
    if (line.find(needle) != std::string::npos) return true;
  return false;
}

// ---------------------------------------------------------------------------
// HTTP client

const char* to_string(HttpResult::Kind kind) {
  switch (kind) {
    case HttpResult::Kind::answered:
      return "answered";
    case HttpResult::Kind::refused:
      return "refused";
    case HttpResult::Kind::reset:
      return "reset";
    case HttpResult::Kind::dropped:
      return "dropped";
    case HttpResult::Kind::timeout:
      return "timeout";
    case HttpResult::Kind::error:
      return "error";
  }
  return "?";
}

HttpConnection::~HttpConnection() { close(); }

void HttpConnection::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

namespace {

// Connects with a deadline. Returns the fd, or -1 with `kind` set.
int connect_to(std::uint16_t port, Clock::time_point until, HttpResult::Kind& kind) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    kind = HttpResult::Kind::error;
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  auto a = loopback(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    if (errno != EINPROGRESS) {
      kind = errno == ECONNREFUSED ? HttpResult::Kind::refused : HttpResult::Kind::error;
      ::close(fd);
      return -1;
    }
    pollfd p{fd, POLLOUT, 0};
    int r = ::poll(&p, 1, remaining_ms(until));
    if (r <= 0) {
      kind = HttpResult::Kind::timeout;
      ::close(fd);
      return -1;
    }
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      kind = err == ECONNREFUSED ? HttpResult::Kind::refused : HttpResult::Kind::error;
      ::close(fd);
      return -1;
    }
  }
  return fd;
}

}  // namespace

HttpResult HttpConnection::request(std::uint16_t port, const std::string& method, const std::string& target,
                                   const std::string& body, std::vector<std::pair<std::string, std::string>> headers,
                                   milliseconds timeout, bool keep_alive) {
  HttpResult result;
  result.started = Clock::now();
  const auto until = result.started + timeout;
  if (fd_ >= 0 && port_ != port) close();
  result.reused = fd_ >= 0;
  if (fd_ < 0) {
    fd_ = connect_to(port, until, result.kind);
    if (fd_ < 0) return result;
    port_ = port;
  }
  {
    sockaddr_in local{};
    socklen_t len = sizeof local;
    if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&local), &len) == 0) result.local_port = ntohs(local.sin_port);
  }

  std::string out = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) + "\r\n";
  for (const auto& [k, v] : headers) out += k + ": " + v + "\r\n";
  if (!keep_alive) out += "Connection: close\r\n";
  if (!body.empty() || method == "POST") out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  out += "\r\n" + body;

  auto fail = [&](HttpResult::Kind kind) {
    close();
    result.kind = kind;
    return result;
  };

  std::size_t sent = 0;
  while (sent < out.size()) {
    ssize_t n = ::send(fd_, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd_, POLLOUT, 0};
      if (::poll(&p, 1, remaining_ms(until)) <= 0) return fail(HttpResult::Kind::timeout);
      continue;
    }
    return fail(errno == ECONNRESET || errno == EPIPE ? HttpResult::Kind::reset : HttpResult::Kind::error);
  }

  std::string in;
  std::size_t header_end = std::string::npos;
  std::size_t need = std::string::npos;  // total bytes of the response once known
  bool close_after = !keep_alive;
  char buf[16384];
  for (;;) {
    if (header_end != std::string::npos && in.size() >= need) break;
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, remaining_ms(until));
    if (r == 0) return fail(HttpResult::Kind::timeout);
    if (r < 0) {
      if (errno == EINTR) continue;
      return fail(HttpResult::Kind::error);
    }
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      if (in.empty()) return fail(errno == ECONNRESET ? HttpResult::Kind::reset : HttpResult::Kind::error);
      return fail(HttpResult::Kind::error);
    }
    if (n == 0) {
      if (!in.empty()) return fail(HttpResult::Kind::error);
      // A clean close before any response byte. Either the server closed the
      // connection before our request reached it (an idle close racing the
      // request, RFC 9112 §9.3.1) — then its kernel answers the late bytes
      // with a reset, as for data arriving at a closed socket (RFC 9293
      // §3.10.7.4) — or it had taken the request and closed without an answer.
      std::this_thread::sleep_for(milliseconds(50));
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
      return fail(err == ECONNRESET || err == EPIPE ? HttpResult::Kind::reset : HttpResult::Kind::dropped);
    }
    in.append(buf, static_cast<std::size_t>(n));
    if (header_end == std::string::npos) {
      header_end = in.find("\r\n\r\n");
      if (header_end == std::string::npos) continue;
      // Status line and the two headers that matter here.
      auto sp = in.find(' ');
      result.status = sp == std::string::npos ? 0 : std::atoi(in.c_str() + sp + 1);
      std::size_t length = 0;
      std::istringstream lines(in.substr(0, header_end));
      std::string line;
      std::getline(lines, line);
      while (std::getline(lines, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        auto name = lower(line.substr(0, colon));
        auto value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.erase(0, 1);
        if (name == "content-length") length = std::strtoull(value.c_str(), nullptr, 10);
        if (name == "connection" && lower(value) == "close") close_after = true;
      }
      need = header_end + 4 + length;
    }
  }
  result.kind = HttpResult::Kind::answered;
  result.body = in.substr(header_end + 4, need - header_end - 4);
  if (close_after || in.size() > need) close();
  return result;
}

int http_get_status(std::uint16_t port, const std::string& target, milliseconds timeout) {
  HttpConnection c;
  auto r = c.request(port, "GET", target, "", {}, timeout, false);
  return r.kind == HttpResult::Kind::answered ? r.status : 0;
}

// ---------------------------------------------------------------------------
// Senders

std::string events_v2_body(const Event& e) {
  json::object o{{"routing_key", kRoutingKey}, {"dedup_key", e.key}};
  if (e.acknowledge) {
    o["event_action"] = "acknowledge";
  } else {
    o["event_action"] = "trigger";
    o["payload"] =
        json::object{{"summary", "fault suite alert " + e.key}, {"source", "faults"}, {"severity", "critical"}};
  }
  return json::serialize(o);
}

std::string SendStats::summary() const {
  std::ostringstream s;
  s << "attempts " << attempts << ", 2xx " << accepted << ", 5xx " << answered_5xx << ", 4xx " << answered_4xx
    << ", refused " << refused << ", reset " << reset << ", dropped " << dropped << ", timeouts " << timeouts
    << ", errors " << errors << ", gave up " << gave_up;
  return s.str();
}

EventOutcome send_until_accepted(HttpConnection& conn, const std::function<std::uint16_t()>& port, const Event& event,
                                 Clock::time_point deadline, SendStats& stats, const SenderOptions& options) {
  EventOutcome outcome;
  outcome.event = event;
  const auto body = events_v2_body(event);
  const auto first = Clock::now();
  while (Clock::now() < deadline) {
    ++outcome.attempts;
    ++stats.attempts;
    auto timeout = std::min(options.request_timeout, std::chrono::duration_cast<milliseconds>(deadline - Clock::now()));
    auto r = conn.request(port(), "POST", "/v2/enqueue", body, {{"Content-Type", "application/json"}},
                          std::max(timeout, milliseconds(1)), options.keep_alive);
    const auto now = Clock::now();
    if (options.on_attempt) options.on_attempt(r, now);
    using K = HttpResult::Kind;
    switch (r.kind) {
      case K::answered:
        if (r.status >= 200 && r.status < 300) {
          ++stats.accepted;
          outcome.accepted = true;
          outcome.latency = std::chrono::duration_cast<milliseconds>(now - first);
          outcome.answered_at = now;
          return outcome;
        }
        if (r.status >= 500 || r.status == 429) {
          ++stats.answered_5xx;
          break;
        }
        ++stats.answered_4xx;
        std::cout << "[faults] " << event.key << " refused with " << r.status << ": " << r.body << std::endl;
        return outcome;
      case K::refused:
        ++stats.refused;
        break;
      case K::reset:
        ++stats.reset;
        break;
      case K::dropped:
        ++stats.dropped;
        break;
      case K::timeout:
        ++stats.timeouts;
        break;
      case K::error:
        ++stats.errors;
        break;
    }
    // A kept-alive connection closed under us is retried at once, as HTTP
    // clients do; anything else after a pause.
    if (!(r.reused && (r.kind == K::dropped || r.kind == K::reset))) std::this_thread::sleep_for(options.retry_pause);
  }
  ++stats.gave_up;
  return outcome;
}

std::vector<Event> storm_events(const std::string& prefix, int distinct, double retrigger_share, double ack_share,
                                unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> coin(0.0, 1.0);
  std::vector<Event> out;
  std::vector<std::string> unacked;
  for (int i = 0; i < distinct; ++i) {
    auto key = prefix + "-" + std::to_string(i);
    out.push_back({key, false});
    unacked.push_back(key);
    if (coin(rng) < retrigger_share) {
      std::uniform_int_distribution<int> pick(0, i);
      out.push_back({prefix + "-" + std::to_string(pick(rng)), false});
    }
    if (coin(rng) < ack_share && !unacked.empty()) {
      std::uniform_int_distribution<std::size_t> pick(0, unacked.size() - 1);
      auto at = pick(rng);
      out.push_back({unacked[at], true});
      unacked.erase(unacked.begin() + static_cast<std::ptrdiff_t>(at));
    }
  }
  return out;
}

void Accepted::add(const EventOutcome& o) {
  if (!o.accepted) return;
  (o.event.acknowledge ? acks : triggers).insert(o.event.key);
}

void Accepted::merge(const Accepted& other) {
  triggers.insert(other.triggers.begin(), other.triggers.end());
  acks.insert(other.acks.begin(), other.acks.end());
}

// ---------------------------------------------------------------------------
// Webhook sink

WebhookSink::WebhookSink() {
  peer_.set_handler([this](const test::RecordedRequest& req) -> std::optional<test::ScriptedResponse> {
    Receipt r;
    r.at = Clock::now();
    r.key = req.header("idempotency-key").value_or("");
    r.generation = std::atoi(req.header("x-fault-generation").value_or("0").c_str());
    boost::system::error_code ec;
    auto body = json::parse(req.body, ec);
    if (!ec && body.is_object()) {
      const auto& o = body.as_object();
      if (auto* e = o.if_contains("event"); e && e->is_string()) r.event = std::string(e->as_string());
      if (auto* inc = o.if_contains("incident"); inc && inc->is_object())
        if (auto* n = inc->as_object().if_contains("number"); n && n->is_int64()) r.incident = n->as_int64();
    }
    std::lock_guard lock(mutex_);
    r.answered = !hanging_;
    receipts_.push_back(r);
    if (hanging_) return test::ScriptedResponse{200, {}, "{}", std::chrono::hours(1)};
    return test::ScriptedResponse{200, {}, "{}", milliseconds(0)};
  });
}

std::string WebhookSink::url() const { return peer_.url() + "/hook"; }

void WebhookSink::set_hanging(bool hanging) {
  std::lock_guard lock(mutex_);
  hanging_ = hanging;
}

std::vector<WebhookSink::Receipt> WebhookSink::receipts() const {
  std::lock_guard lock(mutex_);
  return receipts_;
}

std::set<std::int64_t> WebhookSink::paged_incidents() const {
  std::set<std::int64_t> out;
  std::lock_guard lock(mutex_);
  for (const auto& r : receipts_)
    if (r.answered && r.event == "incident.page") out.insert(r.incident);
  return out;
}

// ---------------------------------------------------------------------------
// The database

DbSnapshot read_db(const fs::path& db) {
  DbSnapshot snap;
  sqlite3* conn = nullptr;
  const std::string uri = "file:" + db.string() + "?mode=ro";
  if (sqlite3_open_v2(uri.c_str(), &conn, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nullptr) != SQLITE_OK) {
    std::string msg = conn ? sqlite3_errmsg(conn) : "out of memory";
    sqlite3_close(conn);
    throw std::runtime_error("cannot open " + db.string() + ": " + msg);
  }
  sqlite3_busy_timeout(conn, 5000);
  auto each = [&](const char* sql, const std::function<void(sqlite3_stmt*)>& row) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(conn, sql, -1, &st, nullptr) != SQLITE_OK) {
      std::string msg = sqlite3_errmsg(conn);
      sqlite3_close(conn);
      throw std::runtime_error(std::string("cannot read the database: ") + msg);
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) row(st);
    sqlite3_finalize(st);
  };
  auto text = [](sqlite3_stmt* st, int col) {
    auto* p = sqlite3_column_text(st, col);
    return p ? std::string(reinterpret_cast<const char*>(p)) : std::string();
  };
  each("SELECT number, dedup_key, state FROM incidents", [&](sqlite3_stmt* st) {
    DbIncident i{sqlite3_column_int64(st, 0), text(st, 1), text(st, 2)};
    snap.by_key[i.dedup_key] = i;
  });
  each("SELECT id, incident, kind, state, idempotency_key, attempts, last_error FROM outbox ORDER BY id",
       [&](sqlite3_stmt* st) {
         snap.outbox.push_back(DbOutbox{sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1), text(st, 2),
                                        text(st, 3), text(st, 4), sqlite3_column_int(st, 5), text(st, 6)});
       });
  sqlite3_close(conn);
  return snap;
}

std::set<std::int64_t> incident_numbers(const DbSnapshot& db, const Accepted& accepted) {
  std::set<std::int64_t> out;
  for (const auto& key : accepted.triggers)
    if (auto it = db.by_key.find(key); it != db.by_key.end()) out.insert(it->second.number);
  return out;
}

bool wait_settled(const fs::path& db, const Accepted& accepted, const WebhookSink& sink, milliseconds timeout) {
  const auto until = Clock::now() + timeout;
  for (;;) {
    auto v = verify(read_db(db), accepted, sink.receipts());
    if (v.lost() == 0 && v.pending_pages == 0) return true;
    if (Clock::now() >= until) return false;
    std::this_thread::sleep_for(milliseconds(100));
  }
}

std::string Verdict::summary() const {
  std::ostringstream s;
  s << "triggers 2xx " << triggers << ", acks 2xx " << acks << ", lost " << lost() << " (missing incidents "
    << missing_incidents << ", acks not stored " << not_acknowledged << ", incidents without a page " << no_page
    << ", pages neither delivered nor pending " << not_paged << "), pages still pending " << pending_pages
    << ", pages cancelled by an acknowledgement " << cancelled_pages << ", phantom deliveries " << phantom
    << ", pages delivered " << page_keys << " (" << page_receipts << " receipts, " << duplicate_pages
    << " duplicates = " << duplicates_per_1000() << " per 1000), duplicate updates " << duplicate_updates;
  for (const auto& e : examples) s << "\n  e.g. " << e;
  return s.str();
}

Verdict verify(const DbSnapshot& db, const Accepted& accepted, const std::vector<WebhookSink::Receipt>& receipts) {
  Verdict v;
  v.triggers = accepted.triggers.size();
  v.acks = accepted.acks.size();
  auto example = [&](std::string s) {
    if (v.examples.size() < 8) v.examples.push_back(std::move(s));
  };

  std::map<std::string, std::size_t> answered;  // idempotency key -> receipts answered 200
  std::map<std::string, std::string> event_of;
  for (const auto& r : receipts) {
    if (!r.answered) continue;
    ++answered[r.key];
    event_of[r.key] = r.event;
  }
  for (const auto& [key, n] : answered) {
    if (event_of[key] == "incident.page") {
      ++v.page_keys;
      v.page_receipts += n;
      v.duplicate_pages += n - 1;
    } else {
      v.duplicate_updates += n - 1;
    }
  }

  std::multimap<std::int64_t, const DbOutbox*> pages_of;
  for (const auto& o : db.outbox) {
    if (o.kind == "page") pages_of.emplace(o.incident, &o);
    if (o.state == "delivered" && !answered.contains(o.key)) {
      ++v.phantom;
      example("outbox entry " + std::to_string(o.id) + " is delivered but the sink never answered it");
    }
  }

  for (const auto& key : accepted.triggers) {
    auto it = db.by_key.find(key);
    if (it == db.by_key.end()) {
      ++v.missing_incidents;
      example("trigger '" + key + "' was answered 2xx but there is no incident for it");
      continue;
    }
    auto [from, to] = pages_of.equal_range(it->second.number);
    if (from == to) {
      ++v.no_page;
      example("incident #" + std::to_string(it->second.number) + " ('" + key + "') has no page in the outbox");
      continue;
    }
    bool paged = false, pending = false, cancelled = false;
    for (auto p = from; p != to; ++p) {
      if (answered.contains(p->second->key)) paged = true;
      if (p->second->state == "pending") pending = true;
      if (p->second->state == "failed" && p->second->last_error.starts_with("cancelled")) cancelled = true;
    }
    // A page cancelled because someone acknowledged (or resolved) the incident
    // first is not owed to anyone any more.
    const bool closed = it->second.state != "triggered";
    if (!paged && pending) ++v.pending_pages;
    if (!paged && !pending && cancelled && closed) ++v.cancelled_pages;
    if (!paged && !pending && !(cancelled && closed)) {
      ++v.not_paged;
      example("incident #" + std::to_string(it->second.number) + " ('" + key +
              "'): its page was neither delivered nor pending");
    }
  }
  for (const auto& key : accepted.acks) {
    auto it = db.by_key.find(key);
    if (it == db.by_key.end()) continue;  // counted above
    if (it->second.state == "triggered") {
      ++v.not_acknowledged;
      example("acknowledge of '" + key + "' was answered 2xx but incident #" + std::to_string(it->second.number) +
              " is still triggered");
    }
  }
  return v;
}

}  // namespace baton::faults
