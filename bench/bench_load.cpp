// bench_load: an HTTP/1.1 load generator, open loop (time to first page) or closed loop (intake rate).
//
// Open loop (rate > 0): sends `rate` requests per second for `seconds` over `conns` keep-alive
// connections (one request in flight per connection; a request whose slot comes while every
// connection is busy waits, but its intended send time is kept, so queueing is charged to the
// server, not hidden). Each Events v2 body carries a new dedup key "ttfp-<seq>", so every request
// opens an incident and pages.
// Writes "<seq> <intended ns> <actual send ns> <status>" per request (CLOCK_REALTIME).
// BENCH_LOAD_TARGET=alertmanager: POST one alert per request to Alertmanager's
// /api/v2/alerts instead, alertname "ttfp-<seq>" (for the side-by-side outage runs).
//
// Closed loop (rate 0, as wrk): every connection sends its next request as soon as the answer to
// the previous one is in, for `seconds`; then the requests in flight are awaited (at most 30 s).
// The file gets "<seq> <send ns> <answer ns> <status>" per request ("-": no file). Prints, besides
// the load_* counts, load_p50_ms / load_p99_ms / load_max_ms (send -> answer) and load_port_<port>
// (answered requests per port).
//
// Several ports ("18101,18102,18103"): a round-robin client. Request k goes to port k % n, in
// strict rotation (a request whose port has no idle connection waits, and so do the ones behind
// it, as behind a round-robin balancer: every instance gets the same share); connection i is
// opened to port i % n, so give at least one connection per port.
//
// BENCH_LOAD_BODIES=<file> (optional): request bodies, one per line, cycled (request k gets line
// k % lines), POSTed to BENCH_LOAD_PATH (default /v2/enqueue) as application/json; replaces the
// ttfp bodies (for the intake shapes of bench/ha.sh, which writes the same bodies as the wrk scripts).
// Usage: bench_load <port[,port...]> <rate | 0> <seconds> <conns> <out file | ->
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <string>
#include <vector>

namespace {

long long now_ns() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<long long>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

struct Conn {
  int fd = -1;
  int port = 0;  // index into the port list
  bool busy = false;
  long long seq = -1;
  std::string in;
};

struct Sent {
  long long intended = 0, actual = 0;
  int status = 0;
};

// BENCH_ROUTING_KEYS=N (optional, for the Slack run): request seq goes to routing key
// "bench-key-<seq % N>", so N services (and their owners) share the load; unset = "bench-key".
long long routing_keys() {
  static const long long n = std::getenv("BENCH_ROUTING_KEYS") ? std::atoll(std::getenv("BENCH_ROUTING_KEYS")) : 0;
  return n;
}

bool alertmanager_target() {
  static const bool am = std::getenv("BENCH_LOAD_TARGET") && std::string(std::getenv("BENCH_LOAD_TARGET")) == "alertmanager";
  return am;
}

std::string post(const std::string& path, const std::string& body) {
  return "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

// BENCH_LOAD_BODIES: the formatted requests, one per line of the file; empty when unset.
std::vector<std::string> fixed_requests() {
  std::vector<std::string> out;
  const char* file = std::getenv("BENCH_LOAD_BODIES");
  if (!file || !*file) return out;
  const char* path = std::getenv("BENCH_LOAD_PATH");
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(post(path && *path ? path : "/v2/enqueue", line));
  if (out.empty()) {
    std::fprintf(stderr, "bench_load: no bodies in %s\n", file);
    std::exit(2);
  }
  return out;
}

std::string request_for(long long seq) {
  const std::string key = "ttfp-" + std::to_string(seq);
  if (alertmanager_target()) {
    const std::string body = R"([{"labels":{"alertname":")" + key +
                             R"(","severity":"critical","instance":"bench-load"},"annotations":{"summary":")" + key +
                             R"( latency probe"}}])";
    return post("/api/v2/alerts", body);
  }
  const std::string routing = routing_keys() > 0 ? "bench-key-" + std::to_string(seq % routing_keys()) : "bench-key";
  const std::string body = R"({"routing_key":")" + routing + R"(","event_action":"trigger","dedup_key":")" + key +
                           R"(","payload":{"summary":")" + key + R"( latency probe","source":"bench-load","severity":"critical"}})";
  return post("/v2/enqueue", body);
}

double pct_ms(std::vector<long long>& v, double p) {
  if (v.empty()) return 0;
  const auto rank = static_cast<std::size_t>(std::max(0.0, std::ceil(p / 100 * static_cast<double>(v.size())) - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(rank), v.end());
  return v[rank] / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(stderr, "usage: bench_load <port[,port...]> <rate | 0> <seconds> <conns> <out | ->\n");
    return 2;
  }
  std::vector<int> ports;
  for (const char* p = argv[1]; *p;) {
    char* end = nullptr;
    ports.push_back(static_cast<int>(std::strtol(p, &end, 10)));
    p = *end == ',' ? end + 1 : end;
    if (end == p && *p) break;
  }
  const int nports = static_cast<int>(ports.size());
  const double rate = std::atof(argv[2]);
  const bool closed = rate <= 0;
  const double seconds = std::atof(argv[3]);
  const int nconns = std::atoi(argv[4]);
  if (nports == 0 || nconns < nports) {
    std::fprintf(stderr, "bench_load: need at least one connection per port\n");
    return 2;
  }
  const long long total = closed ? -1 : std::llround(rate * seconds);
  const long long interval = closed ? 0 : static_cast<long long>(1e9 / rate);
  const std::vector<std::string> fixed = fixed_requests();
  auto request = [&](long long seq) -> std::string {
    return fixed.empty() ? request_for(seq) : fixed[static_cast<std::size_t>(seq) % fixed.size()];
  };

  int ep = epoll_create1(0);
  std::vector<Conn> conns(nconns);
  std::vector<std::vector<int>> idle(nports);  // idle connections per port (closed loop)
  // Opens connection i (again: a server may close a keep-alive connection
  // that stayed idle, as baton does after server.header_timeout).
  auto open_conn = [&](int i) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(ports[i % nports]));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      std::perror("connect");
      close(fd);
      return false;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    conns[i].fd = fd;
    conns[i].port = i % nports;
    conns[i].in.clear();
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = static_cast<uint32_t>(i);
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    return true;
  };
  for (int i = 0; i < nconns; ++i) {
    if (!open_conn(i)) return 1;
    idle[i % nports].push_back(i);
  }
  std::vector<Sent> sent(closed ? 0 : static_cast<size_t>(total));
  if (closed) sent.reserve(1 << 20);
  std::vector<std::deque<long long>> waiting(nports);  // open loop: seqs whose time came, per port
  std::vector<long long> per_port(nports, 0);
  const long long start = now_ns() + 10'000'000;
  const long long end = start + static_cast<long long>(seconds * 1e9);  // closed loop: last send
  long long next_seq = 0, done = 0, errors = 0, in_flight = 0, last_answer = start;
  const long long hard_stop = start + static_cast<long long>((seconds + 30) * 1e9);
  char buf[65536];
  epoll_event events[64];
  auto send_on = [&](Conn& c, long long seq) {
    const std::string req = request(seq);
    sent[seq].actual = now_ns();
    if (write(c.fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) ++errors;
    c.busy = true;
    c.seq = seq;
    ++in_flight;
  };
  auto finished = [&] { return closed ? (now_ns() >= end && in_flight == 0) : done >= total; };
  while (!finished() && now_ns() < hard_stop) {
    long long now = now_ns();
    if (closed) {
      // Strict rotation: request next_seq goes to port next_seq % nports, once it has an idle connection.
      while (now >= start && now < end) {
        auto& free = idle[next_seq % nports];
        if (free.empty()) break;
        Conn& c = conns[free.back()];
        free.pop_back();
        sent.push_back({});
        send_on(c, next_seq++);
      }
    } else {
      while (next_seq < total && start + next_seq * interval <= now) {
        sent[next_seq].intended = start + next_seq * interval;
        waiting[next_seq % nports].push_back(next_seq);
        ++next_seq;
      }
      for (auto& c : conns) {
        auto& w = waiting[c.port];
        if (w.empty() || c.busy) continue;
        const long long seq = w.front();
        w.pop_front();
        send_on(c, seq);
      }
    }
    long long wait_ns = closed ? (now < start ? start - now : 10'000'000)
                               : (next_seq < total ? start + next_seq * interval - now_ns() : 50'000'000);
    int timeout_ms = wait_ns <= 0 ? 0 : static_cast<int>(std::min<long long>(wait_ns / 1'000'000, 50));
    int n = epoll_wait(ep, events, 64, timeout_ms);
    for (int i = 0; i < n; ++i) {
      const int ci = static_cast<int>(events[i].data.u32);
      Conn& c = conns[ci];
      ssize_t r = read(c.fd, buf, sizeof buf);
      if (r <= 0 && !c.busy) {  // an idle keep-alive connection closed: open it again
        epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
        close(c.fd);
        if (!open_conn(ci)) return 1;
        continue;
      }
      if (r <= 0) {
        if (!closed) {
          std::fprintf(stderr, "connection closed by the server with a request in flight\n");
          return 1;
        }
        // Closed loop: an error; the connection is opened again and goes on.
        ++errors;
        ++done;
        --in_flight;
        epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
        close(c.fd);
        c.busy = false;
        c.seq = -1;
        if (!open_conn(ci)) return 1;
        idle[c.port].push_back(ci);
        continue;
      }
      c.in.append(buf, static_cast<size_t>(r));
      for (;;) {
        auto head = c.in.find("\r\n\r\n");
        if (head == std::string::npos) break;
        auto cl = c.in.find("Content-Length: ");
        if (cl == std::string::npos || cl > head) cl = c.in.find("content-length: ");
        const long len = (cl != std::string::npos && cl < head) ? std::strtol(c.in.c_str() + cl + 16, nullptr, 10) : 0;
        if (c.in.size() < head + 4 + static_cast<size_t>(len)) break;
        const int status = std::atoi(c.in.c_str() + 9);
        if (c.seq >= 0) {
          sent[c.seq].status = status;
          if (closed) sent[c.seq].intended = last_answer = now_ns();  // closed loop: the answer time
        }
        if (status < 200 || status >= 300) ++errors;
        c.in.erase(0, head + 4 + static_cast<size_t>(len));
        c.busy = false;
        c.seq = -1;
        ++done;
        --in_flight;
        ++per_port[c.port];
        if (closed) idle[c.port].push_back(ci);
      }
    }
  }
  if (std::strcmp(argv[5], "-") != 0) {
    FILE* f = std::fopen(argv[5], "w");
    for (long long i = 0; i < next_seq; ++i) {
      if (closed)
        std::fprintf(f, "%lld %lld %lld %d\n", i, sent[i].actual, sent[i].intended, sent[i].status);
      else
        std::fprintf(f, "%lld %lld %lld %d\n", i, sent[i].intended, sent[i].actual, sent[i].status);
    }
    std::fclose(f);
  }
  if (closed) {
    std::vector<long long> lat;
    lat.reserve(sent.size());
    for (const auto& s : sent)
      if (s.status != 0) lat.push_back(s.intended - s.actual);
    const double elapsed = (last_answer - start) / 1e9;
    std::printf("load_sent %lld\nload_done %lld\nload_errors %lld\nload_rate %.0f\n", next_seq, done, errors,
                elapsed > 0 ? done / elapsed : 0.0);
    std::printf("load_seconds %.3f\nload_p50_ms %.2f\nload_p99_ms %.2f\nload_max_ms %.2f\n", elapsed,
                pct_ms(lat, 50), pct_ms(lat, 99), pct_ms(lat, 100));
  } else {
    const double elapsed = (now_ns() - start) / 1e9;
    std::printf("load_sent %lld\nload_done %lld\nload_errors %lld\nload_rate %.0f\n", next_seq, done, errors,
                done / elapsed);
  }
  if (nports > 1)
    for (int p = 0; p < nports; ++p) std::printf("load_port_%d %lld\n", ports[p], per_port[p]);
  return 0;
}
