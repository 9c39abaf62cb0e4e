// bench_load: an open-loop HTTP/1.1 load generator for time-to-first-page.
// Sends `rate` requests per second for `seconds` over `conns` keep-alive
// connections (one request in flight per connection; a request whose slot comes
// while every connection is busy waits, but its intended send time is kept, so
// queueing is charged to the server, not hidden). Each Events v2 body carries a
// new dedup key "ttfp-<seq>", so every request opens an incident and pages.
// Writes "<seq> <intended ns> <actual send ns> <status>" per request (CLOCK_REALTIME).
// BENCH_LOAD_TARGET=alertmanager: POST one alert per request to Alertmanager's
// /api/v2/alerts instead, alertname "ttfp-<seq>" (for the side-by-side outage runs).
// Usage: bench_load <port> <rate> <seconds> <conns> <out file>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
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

std::string request_for(long long seq) {
  const std::string key = "ttfp-" + std::to_string(seq);
  if (alertmanager_target()) {
    const std::string body = R"([{"labels":{"alertname":")" + key +
                             R"(","severity":"critical","instance":"bench-load"},"annotations":{"summary":")" + key +
                             R"( latency probe"}}])";
    return "POST /api/v2/alerts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
  }
  const std::string routing = routing_keys() > 0 ? "bench-key-" + std::to_string(seq % routing_keys()) : "bench-key";
  const std::string body = R"({"routing_key":")" + routing + R"(","event_action":"trigger","dedup_key":")" + key +
                           R"(","payload":{"summary":")" + key + R"( latency probe","source":"bench-load","severity":"critical"}})";
  return "POST /v2/enqueue HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(stderr, "usage: bench_load <port> <rate> <seconds> <conns> <out>\n");
    return 2;
  }
  const int port = std::atoi(argv[1]);
  const double rate = std::atof(argv[2]);
  const double seconds = std::atof(argv[3]);
  const int nconns = std::atoi(argv[4]);
  const long long total = std::llround(rate * seconds);
  const long long interval = static_cast<long long>(1e9 / rate);

  int ep = epoll_create1(0);
  std::vector<Conn> conns(nconns);
  // Opens connection i (again: a server may close a keep-alive connection
  // that stayed idle, as baton does after server.header_timeout).
  auto open_conn = [&](int i) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      std::perror("connect");
      return false;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    conns[i].fd = fd;
    conns[i].in.clear();
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = static_cast<uint32_t>(i);
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    return true;
  };
  for (int i = 0; i < nconns; ++i)
    if (!open_conn(i)) return 1;
  std::vector<Sent> sent(static_cast<size_t>(total));
  std::deque<long long> waiting;  // seqs whose time came while all connections were busy
  const long long start = now_ns() + 10'000'000;
  long long next_seq = 0, done = 0, errors = 0;
  const long long hard_stop = start + static_cast<long long>((seconds + 30) * 1e9);
  char buf[65536];
  epoll_event events[64];
  while (done < total && now_ns() < hard_stop) {
    long long now = now_ns();
    while (next_seq < total && start + next_seq * interval <= now) {
      sent[next_seq].intended = start + next_seq * interval;
      waiting.push_back(next_seq++);
    }
    for (auto& c : conns) {
      if (waiting.empty()) break;
      if (c.busy) continue;
      const long long seq = waiting.front();
      waiting.pop_front();
      const std::string req = request_for(seq);
      sent[seq].actual = now_ns();
      if (write(c.fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) ++errors;
      c.busy = true;
      c.seq = seq;
    }
    long long wait_ns = next_seq < total ? start + next_seq * interval - now_ns() : 50'000'000;
    int timeout_ms = wait_ns <= 0 ? 0 : static_cast<int>(wait_ns / 1'000'000);
    int n = epoll_wait(ep, events, 64, timeout_ms);
    for (int i = 0; i < n; ++i) {
      Conn& c = conns[events[i].data.u32];
      ssize_t r = read(c.fd, buf, sizeof buf);
      if (r <= 0 && !c.busy) {  // an idle keep-alive connection closed: open it again
        epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
        close(c.fd);
        if (!open_conn(static_cast<int>(events[i].data.u32))) return 1;
        continue;
      }
      if (r <= 0) {
        std::fprintf(stderr, "connection closed by the server with a request in flight\n");
        return 1;
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
        if (c.seq >= 0) sent[c.seq].status = status;
        if (status < 200 || status >= 300) ++errors;
        c.in.erase(0, head + 4 + static_cast<size_t>(len));
        c.busy = false;
        c.seq = -1;
        ++done;
      }
    }
  }
  FILE* f = std::fopen(argv[5], "w");
  for (long long i = 0; i < next_seq; ++i)
    std::fprintf(f, "%lld %lld %lld %d\n", i, sent[i].intended, sent[i].actual, sent[i].status);
  std::fclose(f);
  const double elapsed = (now_ns() - start) / 1e9;
  std::printf("load_sent %lld\nload_done %lld\nload_errors %lld\nload_rate %.0f\n", next_seq, done, errors,
              done / elapsed);
  return 0;
}
