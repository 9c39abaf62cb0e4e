#include "bench/bench_support.hpp"

#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>

namespace baton::bench {

engine::DirectoryPtr make_directory(engine::Seconds first_step) {
  auto d = std::make_shared<engine::Directory>();
  engine::Person oncall;
  oncall.id = "oncall";
  oncall.name = "On Call";
  oncall.contact_chain = {engine::ContactRule{engine::MethodKind::webhook, engine::Seconds{0}}};
  engine::Person backup = oncall;
  backup.id = "backup";
  backup.name = "Backup";
  d->people.emplace(oncall.id, oncall);
  d->people.emplace(backup.id, backup);

  engine::EscalationPolicy policy;
  policy.id = "bench";
  policy.name = "Bench";
  policy.steps.push_back({{engine::Target{engine::Target::Kind::person, "oncall"}}, first_step});
  policy.steps.push_back({{engine::Target{engine::Target::Kind::person, "backup"}}, engine::Seconds{3600}});
  d->policies.emplace(policy.id, policy);

  engine::Service service;
  service.id = "bench";
  service.name = "Bench service";
  service.escalation_policy = "bench";
  service.integration_keys = {kIntegrationKey};
  service.default_contact_chain = oncall.contact_chain;
  d->services.emplace(service.id, service);
  d->integration_keys.emplace(kIntegrationKey, service.id);
  return d;
}

engine::Alert make_alert(const std::string& dedup_key) {
  engine::Alert a;
  a.source = engine::Source::events_v2;
  a.integration_key = kIntegrationKey;
  a.action = engine::AlertAction::trigger;
  a.dedup_key = dedup_key;
  a.summary = "High error rate on api-" + dedup_key;
  a.source_name = "api-" + dedup_key + ".prod.example.com";
  a.severity = engine::Severity::critical;
  a.details_json = R"({"component":"api","group":"prod","class":"errors","custom_details":{"error_rate":0.07}})";
  return a;
}

std::string events_v2_body(const std::string& dedup_key) {
  return R"({"routing_key":"bench-key","event_action":"trigger","dedup_key":")" + dedup_key +
         R"(","payload":{"summary":"High error rate on api-)" + dedup_key + R"(","source":"api-)" + dedup_key +
         R"(.prod.example.com","severity":"critical","component":"api","group":"prod","class":"errors",)"
         R"("custom_details":{"error_rate":0.07}}})";
}

std::string alertmanager_body(int group, int n, int generation) {
  std::ostringstream o;
  const std::string g = "Bench" + std::to_string(group);
  o << R"({"receiver":"baton","status":"firing","alerts":[)";
  for (int i = 0; i < n; ++i) {
    if (i) o << ',';
    o << R"({"status":"firing","labels":{"alertname":")" << g << R"(","instance":"host-)" << i
      << R"(:9100","severity":"critical"},"annotations":{"summary":"Error rate above 5% on host-)" << i
      << R"("},"startsAt":"2026-11-24T01:01:04.)" << generation
      << R"(Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prom/graph","fingerprint":")" << std::hex
      << (0x1000000 * (group + 1) + i) << std::dec << "\"}";
  }
  o << R"(],"groupLabels":{"alertname":")" << g << R"("},"commonLabels":{"alertname":")" << g
    << R"(","severity":"critical"},"commonAnnotations":{},"externalURL":"http://127.0.0.1:9093","version":"4",)"
    << R"("groupKey":"{}:{alertname=\")" << g << R"(\"}","truncatedAlerts":0})";
  return o.str();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  rank = std::clamp<std::size_t>(rank, 1, v.size());
  return v[rank - 1];
}

long rss_kib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

std::size_t malloc_in_use() {
  struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

long long now_ns() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<long long>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

long long seq_of(std::string_view text) {
  auto pos = text.find("ttfp-");
  if (pos == std::string_view::npos) return -1;
  return std::strtoll(std::string(text.substr(pos + 5, 20)).c_str(), nullptr, 10);
}

std::string lower(std::string_view s) {
  std::string o(s);
  for (auto& c : o) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return o;
}

bool header_has(std::string_view head, std::string_view name, std::string_view value) {
  // Case-insensitive "name: value" search, good enough for a sink.
  const std::string h = lower(head);
  auto pos = h.find("\r\n" + lower(name) + ":");
  if (pos == std::string::npos) return false;
  auto end = h.find("\r\n", pos + 2);
  return h.substr(pos, end - pos).find(lower(value)) != std::string::npos;
}

long content_length(std::string_view head) {
  const std::string h = lower(head);
  auto pos = h.find("\r\ncontent-length:");
  if (pos == std::string::npos) return 0;
  return std::strtol(h.c_str() + pos + 17, nullptr, 10);
}

namespace {
volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }
}  // namespace

void install_stop_signals() {
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  signal(SIGPIPE, SIG_IGN);
}

bool stop_requested() { return g_stop != 0; }

std::optional<Loopback> listen_loopback(const char* port) {
  Loopback lb;
  lb.listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(lb.listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::atoi(port)));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lb.listen_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(lb.listen_fd, 4096) != 0) {
    std::perror("bind/listen");
    return std::nullopt;
  }
  lb.epoll_fd = epoll_create1(0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = lb.listen_fd;
  epoll_ctl(lb.epoll_fd, EPOLL_CTL_ADD, lb.listen_fd, &ev);
  return lb;
}

Receiver start_receiver(int argc, char** argv, const char* name, const char* more_usage) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s <port> <log> [delay_ms]%s\n", name, more_usage);
    std::exit(2);
  }
  Receiver r;
  r.delay_ns = argc > 3 ? std::atoll(argv[3]) * 1'000'000LL : 0;
  install_stop_signals();
  auto lb = listen_loopback(argv[1]);
  if (!lb) std::exit(1);
  r.lb = *lb;
  std::fprintf(stderr, "%s listening on 127.0.0.1:%s (delay %lld ms)\n", name, argv[1], r.delay_ns / 1'000'000);
  return r;
}

void accept_all(const Loopback& lb, const std::function<void(int)>& on_accept) {
  const int one = 1;
  for (;;) {
    int c = accept4(lb.listen_fd, nullptr, nullptr, SOCK_NONBLOCK);
    if (c < 0) break;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    epoll_event cev{};
    cev.events = EPOLLIN;
    cev.data.fd = c;
    epoll_ctl(lb.epoll_fd, EPOLL_CTL_ADD, c, &cev);
    on_accept(c);
  }
}

void poll_once(const Loopback& lb, int timeout_ms, const std::function<void(int)>& on_accept,
               const std::function<void(int)>& on_readable) {
  epoll_event events[256];
  int n = epoll_wait(lb.epoll_fd, events, 256, timeout_ms);
  for (int i = 0; i < n; ++i) {
    const int fd = events[i].data.fd;
    if (fd == lb.listen_fd)
      accept_all(lb, on_accept);
    else
      on_readable(fd);
  }
}

bool read_available(int fd, std::string& in) {
  static char buf[65536];
  for (;;) {
    ssize_t r = read(fd, buf, sizeof buf);
    if (r > 0) {
      in.append(buf, static_cast<size_t>(r));
      continue;
    }
    return r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
  }
}

void close_conn(const Loopback& lb, int fd) {
  epoll_ctl(lb.epoll_fd, EPOLL_CTL_DEL, fd, nullptr);
  close(fd);
}

std::optional<HttpRequest> next_request(const std::string& in, int fd, bool chunked_ok) {
  static const char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
  auto head_end = in.find("\r\n\r\n");
  if (head_end == std::string::npos) return std::nullopt;
  HttpRequest req;
  req.head = std::string_view(in.data(), head_end + 2);
  if (chunked_ok && header_has(req.head, "transfer-encoding", "chunked")) {
    auto end = in.find("\r\n0\r\n\r\n", head_end);
    if (end == std::string::npos) {
      if (in.compare(head_end + 4, 5, "0\r\n\r\n") != 0) return std::nullopt;
      end = head_end + 2;
    }
    req.total = end + 7;
    req.body = std::string_view(in).substr(head_end + 4, end - head_end - 4);
    return req;
  }
  const long len = content_length(req.head);
  if (in.size() < head_end + 4 + static_cast<size_t>(len)) {
    if (header_has(req.head, "expect", "100-continue") && in.size() == head_end + 4)
      (void)!write(fd, kContinue, sizeof kContinue - 1);
    return std::nullopt;
  }
  req.total = head_end + 4 + static_cast<size_t>(len);
  req.body = std::string_view(in).substr(head_end + 4, static_cast<size_t>(len));
  return req;
}

void write_log(const char* path, const std::vector<std::pair<long long, long long>>& log) {
  FILE* f = std::fopen(path, "w");
  if (!f) return;
  for (auto& [t, s] : log) std::fprintf(f, "%lld %lld\n", t, s);
  std::fclose(f);
}

}  // namespace baton::bench
