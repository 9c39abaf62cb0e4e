// bench_sink: a loopback HTTP/1.1 receiver for baton's outgoing webhooks.
// Answers every request 200 with an empty body (keep-alive), at once or `delay_ms`
// after its arrival (a slow paging provider; responses go out in arrival order, no
// thread waits), and records "<arrival CLOCK_REALTIME ns> <seq>" per request, where seq
// is the number after the first "ttfp-" in the body (-1 when none). Single-threaded
// epoll, backlog 4096. Usage: bench_sink <port> <log file> [delay_ms] [twilio].
// `twilio`: answer like Twilio's Messages API (201 Created with a queued message's
// JSON) instead of an empty 200, to stand in for it (bench/outage.sh, O6).
// SIGTERM/SIGINT: write the log, print the count (and, with a delay, the most requests
// held at once and the most connections open at once), exit.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace {

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

struct Conn {
  std::string in;
  unsigned long long gen = 0;  // tells a reused fd from the connection a held response was for
};

struct Held {
  long long due_ns;
  int fd;
  unsigned long long gen;
};

long long now_ns() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<long long>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

bool header_has(std::string_view head, std::string_view name, std::string_view value) {
  // Case-insensitive "name: value" search, good enough for a sink.
  auto lower = [](std::string_view s) {
    std::string o(s);
    for (auto& c : o) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return o;
  };
  const std::string h = lower(head);
  auto pos = h.find("\r\n" + lower(name) + ":");
  if (pos == std::string::npos) return false;
  auto end = h.find("\r\n", pos + 2);
  return h.substr(pos, end - pos).find(lower(value)) != std::string::npos;
}

long content_length(std::string_view head) {
  std::string h(head);
  for (auto& c : h) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto pos = h.find("\r\ncontent-length:");
  if (pos == std::string::npos) return 0;
  return std::strtol(h.c_str() + pos + 17, nullptr, 10);
}

long long seq_of(std::string_view body) {
  auto pos = body.find("ttfp-");
  if (pos == std::string_view::npos) return -1;
  return std::strtoll(std::string(body.substr(pos + 5, 20)).c_str(), nullptr, 10);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: bench_sink <port> <log> [delay_ms] [twilio]\n");
    return 2;
  }
  const long long delay_ns = argc > 3 ? std::atoll(argv[3]) * 1'000'000LL : 0;
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  signal(SIGPIPE, SIG_IGN);
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::atoi(argv[1])));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(ls, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(ls, 4096) != 0) {
    std::perror("bind/listen");
    return 1;
  }
  int ep = epoll_create1(0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = ls;
  epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
  std::unordered_map<int, Conn> conns;
  std::vector<std::pair<long long, long long>> log;
  log.reserve(1 << 20);
  static const char kEmpty[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  static const char kTwilioJson[] =
      R"({"sid":"SM00000000000000000000000000bench","status":"queued","error_code":null,"error_message":null})";
  const bool twilio = argc > 4 && std::string_view(argv[4]) == "twilio";
  const std::string ok = twilio ? "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: " +
                                      std::to_string(sizeof kTwilioJson - 1) + "\r\n\r\n" + kTwilioJson
                                : std::string(kEmpty);
  static const char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
  std::fprintf(stderr, "bench_sink listening on 127.0.0.1:%s (delay %lld ms)\n", argv[1], delay_ns / 1'000'000);
  std::deque<Held> held;  // responses not yet due, in due order (one delay for all)
  std::size_t max_held = 0, max_conns = 0;
  unsigned long long next_gen = 0;
  epoll_event events[256];
  char buf[65536];
  while (!g_stop) {
    // Answer what is due, then sleep until the next response is due (at most 200 ms).
    int timeout_ms = 200;
    for (long long now = now_ns(); !held.empty(); now = now_ns()) {
      const Held& h = held.front();
      if (h.due_ns > now) {
        timeout_ms = static_cast<int>(std::min<long long>(200, (h.due_ns - now + 999'999) / 1'000'000));
        break;
      }
      auto it = conns.find(h.fd);
      if (it != conns.end() && it->second.gen == h.gen) (void)!write(h.fd, ok.data(), ok.size());
      held.pop_front();
    }
    int n = epoll_wait(ep, events, 256, timeout_ms);
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == ls) {
        for (;;) {
          int c = accept4(ls, nullptr, nullptr, SOCK_NONBLOCK);
          if (c < 0) break;
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          epoll_event cev{};
          cev.events = EPOLLIN;
          cev.data.fd = c;
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
          conns[c].gen = ++next_gen;
          max_conns = std::max(max_conns, conns.size());
        }
        continue;
      }
      auto& conn = conns[fd];
      bool closed = false;
      for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r > 0) {
          conn.in.append(buf, static_cast<size_t>(r));
          continue;
        }
        if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) closed = true;
        break;
      }
      // Answer every complete request in the buffer.
      for (;;) {
        auto head_end = conn.in.find("\r\n\r\n");
        if (head_end == std::string::npos) break;
        std::string_view head(conn.in.data(), head_end + 2);
        const bool chunked = header_has(head, "transfer-encoding", "chunked");
        std::size_t total;
        std::string_view body;
        if (chunked) {
          auto end = conn.in.find("\r\n0\r\n\r\n", head_end);
          if (end == std::string::npos) {
            if (conn.in.compare(head_end + 4, 5, "0\r\n\r\n") != 0) break;
            end = head_end + 2;
          }
          total = end + 7;
          body = std::string_view(conn.in).substr(head_end + 4, end - head_end - 4);
        } else {
          const long len = content_length(head);
          if (conn.in.size() < head_end + 4 + static_cast<size_t>(len)) {
            if (header_has(head, "expect", "100-continue") && conn.in.size() == head_end + 4)
              (void)!write(fd, kContinue, sizeof kContinue - 1);
            break;
          }
          total = head_end + 4 + static_cast<size_t>(len);
          body = std::string_view(conn.in).substr(head_end + 4, static_cast<size_t>(len));
        }
        const long long arrival = now_ns();
        log.emplace_back(arrival, seq_of(body));
        if (delay_ns > 0) {
          held.push_back({arrival + delay_ns, fd, conn.gen});
          max_held = std::max(max_held, held.size());
        } else {
          (void)!write(fd, ok.data(), ok.size());
        }
        conn.in.erase(0, total);
      }
      if (closed) {
        epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
        close(fd);
        conns.erase(fd);
      }
    }
  }
  FILE* f = std::fopen(argv[2], "w");
  if (f) {
    for (auto& [t, s] : log) std::fprintf(f, "%lld %lld\n", t, s);
    std::fclose(f);
  }
  std::printf("sink_requests %zu\n", log.size());
  if (delay_ns > 0) std::printf("sink_max_held %zu\nsink_max_connections %zu\n", max_held, max_conns);
  return 0;
}
