// bench_smtp_sink: a loopback SMTP receiver for baton's email channel (bench/outage.sh, O6).
// Speaks just enough ESMTP for libcurl's client: greeting, EHLO/HELO, MAIL, RCPT, DATA,
// RSET, NOOP, QUIT (no STARTTLS offered, no AUTH: configure `starttls: optional`, no
// username). Every reply goes out at once except the reply to the end of a message's
// data (the final "."), which goes out `delay_ms` after that "." arrived (a slow relay;
// held on a queue, no thread waits). Records "<arrival CLOCK_REALTIME ns of the final '.'> <seq>"
// per message, where seq is the number after the first "ttfp-" in the message (the
// Subject carries bench_load's summary; -1 when none). Single-threaded epoll, backlog 4096.
// Usage: bench_smtp_sink <port> <log file> [delay_ms]. SIGTERM/SIGINT: write the log,
// print counts (messages, connections, the most data replies held and connections open at once), exit.
#include <arpa/inet.h>
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
#include <cstdio>
#include <cstdlib>
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
  bool data = false;     // inside DATA: reading the message up to "\r\n.\r\n"
  bool waiting = false;  // the reply to the final "." is held: read nothing more until it goes
  unsigned long long gen = 0;
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

long long seq_of(std::string_view text) {
  auto pos = text.find("ttfp-");
  if (pos == std::string_view::npos) return -1;
  return std::strtoll(std::string(text.substr(pos + 5, 20)).c_str(), nullptr, 10);
}

std::string verb_of(std::string_view line) {
  std::string v(line.substr(0, line.find_first_of(" :")));
  for (auto& c : v) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return v;
}

void say(int fd, std::string_view text) { (void)!write(fd, text.data(), text.size()); }

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: bench_smtp_sink <port> <log> [delay_ms]\n");
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
  log.reserve(1 << 16);
  std::deque<Held> held;  // data replies not yet due, in due order (one delay for all)
  std::size_t max_held = 0, max_conns = 0, accepted = 0;
  unsigned long long next_gen = 0;
  static const char kQueued[] = "250 2.0.0 OK: queued\r\n";
  std::fprintf(stderr, "bench_smtp_sink listening on 127.0.0.1:%s (delay %lld ms)\n", argv[1], delay_ns / 1'000'000);

  auto drop = [&](int fd) {
    epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
    close(fd);
    conns.erase(fd);
  };
  // Handles every complete command (or message) in the buffer until a reply is held;
  // false when the connection is to be closed (QUIT).
  auto process = [&](int fd, Conn& c) {
    while (!c.waiting) {
      if (c.data) {
        // The data ends with "\r\n.\r\n" (or is just ".\r\n": an empty message).
        std::size_t end;
        if (c.in.compare(0, 3, ".\r\n") == 0) {
          end = 0;
        } else {
          auto pos = c.in.find("\r\n.\r\n");
          if (pos == std::string::npos) return true;
          end = pos + 2;
        }
        const long long arrival = now_ns();
        log.emplace_back(arrival, seq_of(std::string_view(c.in).substr(0, end)));
        c.in.erase(0, end + 3);
        c.data = false;
        if (delay_ns > 0) {
          held.push_back({arrival + delay_ns, fd, c.gen});
          max_held = std::max(max_held, held.size());
          c.waiting = true;
        } else {
          say(fd, kQueued);
        }
        continue;
      }
      auto eol = c.in.find("\r\n");
      if (eol == std::string::npos) return true;
      const std::string line = c.in.substr(0, eol);
      c.in.erase(0, eol + 2);
      const std::string verb = verb_of(line);
      if (verb == "EHLO") {
        say(fd, "250-bench-smtp\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n");
      } else if (verb == "HELO") {
        say(fd, "250 bench-smtp\r\n");
      } else if (verb == "MAIL" || verb == "RCPT" || verb == "RSET" || verb == "NOOP") {
        say(fd, "250 2.0.0 OK\r\n");
      } else if (verb == "DATA") {
        say(fd, "354 End data with <CR><LF>.<CR><LF>\r\n");
        c.data = true;
      } else if (verb == "QUIT") {
        say(fd, "221 2.0.0 Bye\r\n");
        return false;
      } else {
        say(fd, "502 5.5.2 Command not recognized\r\n");
      }
    }
    return true;
  };

  epoll_event events[256];
  char buf[65536];
  while (!g_stop) {
    // Send the data replies that are due, then sleep until the next one is (at most 200 ms).
    int timeout_ms = 200;
    for (long long now = now_ns(); !held.empty(); now = now_ns()) {
      const Held h = held.front();
      if (h.due_ns > now) {
        timeout_ms = static_cast<int>(std::min<long long>(200, (h.due_ns - now + 999'999) / 1'000'000));
        break;
      }
      held.pop_front();
      auto it = conns.find(h.fd);
      if (it == conns.end() || it->second.gen != h.gen) continue;
      say(h.fd, kQueued);
      it->second.waiting = false;
      if (!process(h.fd, it->second)) drop(h.fd);  // commands that came meanwhile (pipelining)
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
          ++accepted;
          max_conns = std::max(max_conns, conns.size());
          say(c, "220 bench-smtp ESMTP\r\n");
        }
        continue;
      }
      auto it = conns.find(fd);
      if (it == conns.end()) continue;
      Conn& conn = it->second;
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
      if (!process(fd, conn) || closed) drop(fd);
    }
  }
  FILE* f = std::fopen(argv[2], "w");
  if (f) {
    for (auto& [t, s] : log) std::fprintf(f, "%lld %lld\n", t, s);
    std::fclose(f);
  }
  std::printf("sink_requests %zu\nsink_connections %zu\n", log.size(), accepted);
  if (delay_ns > 0) std::printf("sink_max_held %zu\nsink_max_connections %zu\n", max_held, max_conns);
  return 0;
}
