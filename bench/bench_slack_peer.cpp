// bench_slack_peer: a loopback stand-in for the Slack Web API, for the Slack runs of
// bench/run.sh (bench/slack.sh). `POST /api/<method>` is answered at once, like Slack:
//   conversations.open -> {"ok":true,"channel":{"id":"D<user>"}}
//   chat.postMessage   -> {"ok":true,"channel":"<channel>","ts":"<increasing>"}
//   chat.update        -> {"ok":true}
//   anything else      -> {"ok":true}
// Records "<arrival CLOCK_REALTIME ns> <method> <channel> <seq>" per request, where
// channel is the body's "channel" (conversations.open: "users"; "-" when none) and seq
// is the number after the first "ttfp-" in the body (-1 when none): bench_load puts
// "ttfp-<seq>" into the summary, which the page's text and blocks carry.
// Single-threaded epoll, backlog 4096, keep-alive (as bench_sink).
// With delay_ms, every answer goes out delay_ms after its request arrived (a slow Slack;
// answers in arrival order, no thread waits), as bench_sink's delay (bench/outage.sh, O6).
// Usage: bench_slack_peer <port> <log file> [delay_ms]. SIGTERM/SIGINT: write the log,
// print counts (with a delay also the most answers held at once and connections open), exit.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace {

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

struct Conn {
  std::string in;
  unsigned long long gen = 0;  // tells a reused fd from the connection a held answer was for
};

struct Held {
  long long due_ns;
  int fd;
  unsigned long long gen;
  std::string out;
};

struct Hit {
  long long t;
  std::string method;
  std::string channel;
  long long seq;
};

long long now_ns() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<long long>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

std::string lower(std::string_view s) {
  std::string o(s);
  for (auto& c : o) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return o;
}

bool header_has(std::string_view head, std::string_view name, std::string_view value) {
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

long long seq_of(std::string_view body) {
  auto pos = body.find("ttfp-");
  if (pos == std::string_view::npos) return -1;
  return std::strtoll(std::string(body.substr(pos + 5, 20)).c_str(), nullptr, 10);
}

// The string value of the first `"key":"..."` in a JSON or form body (no escapes expected).
std::string field(std::string_view body, std::string_view key) {
  std::string json = "\"";
  json.append(key).append("\":\"");
  auto pos = body.find(json);
  if (pos != std::string_view::npos) {
    pos += json.size();
    auto end = body.find('"', pos);
    if (end != std::string_view::npos) return std::string(body.substr(pos, end - pos));
  }
  const std::string form = std::string(key) + "=";
  pos = body.find(form);
  if (pos != std::string_view::npos && (pos == 0 || body[pos - 1] == '&')) {
    pos += form.size();
    auto end = body.find('&', pos);
    return std::string(body.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos));
  }
  return {};
}

std::string reply(const std::string& json) {
  return "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: " +
         std::to_string(json.size()) + "\r\n\r\n" + json;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: bench_slack_peer <port> <log> [delay_ms]\n");
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
  std::vector<Hit> log;
  log.reserve(1 << 18);
  long long ts_counter = 0;
  static const char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
  std::fprintf(stderr, "bench_slack_peer listening on 127.0.0.1:%s (delay %lld ms)\n", argv[1], delay_ns / 1'000'000);
  std::deque<Held> held;  // answers not yet due, in due order (one delay for all)
  std::size_t max_held = 0, max_conns = 0;
  unsigned long long next_gen = 0;
  epoll_event events[256];
  char buf[65536];
  while (!g_stop) {
    // Answer what is due, then sleep until the next answer is due (at most 200 ms).
    int timeout_ms = 200;
    for (long long now = now_ns(); !held.empty(); now = now_ns()) {
      const Held& h = held.front();
      if (h.due_ns > now) {
        timeout_ms = static_cast<int>(std::min<long long>(200, (h.due_ns - now + 999'999) / 1'000'000));
        break;
      }
      auto it = conns.find(h.fd);
      if (it != conns.end() && it->second.gen == h.gen) (void)!write(h.fd, h.out.data(), h.out.size());
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
      // Answer every complete request in the buffer (the Web API client sends Content-Length).
      for (;;) {
        auto head_end = conn.in.find("\r\n\r\n");
        if (head_end == std::string::npos) break;
        std::string_view head(conn.in.data(), head_end + 2);
        const long len = content_length(head);
        if (conn.in.size() < head_end + 4 + static_cast<size_t>(len)) {
          if (header_has(head, "expect", "100-continue") && conn.in.size() == head_end + 4)
            (void)!write(fd, kContinue, sizeof kContinue - 1);
          break;
        }
        const long long t = now_ns();
        const std::size_t total = head_end + 4 + static_cast<size_t>(len);
        std::string_view body = std::string_view(conn.in).substr(head_end + 4, static_cast<size_t>(len));
        // "POST /api/chat.postMessage HTTP/1.1": the method is the last path segment.
        std::string_view line = std::string_view(conn.in).substr(0, conn.in.find("\r\n"));
        std::string_view target = line.substr(line.find(' ') + 1);
        target = target.substr(0, target.find(' '));
        std::string method(target.substr(target.rfind('/') + 1));
        std::string channel = method == "conversations.open" ? field(body, "users") : field(body, "channel");
        std::string json;
        if (method == "conversations.open") {
          json = R"({"ok":true,"channel":{"id":"D)" + channel + R"("}})";
        } else if (method == "chat.postMessage") {
          ++ts_counter;
          char ts[40];
          std::snprintf(ts, sizeof ts, "%lld.%06lld", 1700000000LL + ts_counter / 1000000, ts_counter % 1000000);
          json = R"({"ok":true,"channel":")" + channel + R"(","ts":")" + ts + R"("})";
        } else {
          json = R"({"ok":true})";
        }
        log.push_back(Hit{t, method, channel.empty() ? "-" : channel, seq_of(body)});
        std::string out = reply(json);
        if (delay_ns > 0) {
          held.push_back({t + delay_ns, fd, conn.gen, std::move(out)});
          max_held = std::max(max_held, held.size());
        } else {
          (void)!write(fd, out.data(), out.size());
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
  std::map<std::string, long> counts;
  FILE* f = std::fopen(argv[2], "w");
  for (auto& h : log) {
    ++counts[h.method];
    if (f) std::fprintf(f, "%lld %s %s %lld\n", h.t, h.method.c_str(), h.channel.c_str(), h.seq);
  }
  if (f) std::fclose(f);
  std::printf("slack_peer_requests %zu\n", log.size());
  for (auto& [m, c] : counts) std::printf("slack_peer_%s %ld\n", m.c_str(), c);
  if (delay_ns > 0) std::printf("sink_max_held %zu\nsink_max_connections %zu\n", max_held, max_conns);
  return 0;
}
