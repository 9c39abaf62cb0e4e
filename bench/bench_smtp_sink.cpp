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
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "bench/bench_support.hpp"

namespace {

using namespace baton::bench;

struct Conn {
  std::string in;
  bool data = false;     // inside DATA: reading the message up to "\r\n.\r\n"
  bool waiting = false;  // the reply to the final "." is held: read nothing more until it goes
  unsigned long long gen = 0;
};

std::string verb_of(std::string_view line) {
  std::string v(line.substr(0, line.find_first_of(" :")));
  for (auto& c : v) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return v;
}

void say(int fd, std::string_view text) { (void)!write(fd, text.data(), text.size()); }

}  // namespace

int main(int argc, char** argv) {
  const Receiver rx = start_receiver(argc, argv, "bench_smtp_sink");
  const long long delay_ns = rx.delay_ns;
  std::unordered_map<int, Conn> conns;
  std::vector<std::pair<long long, long long>> log;
  log.reserve(1 << 16);
  std::deque<HeldAnswer> held;  // data replies not yet due, in due order (one delay for all)
  std::size_t max_held = 0, max_conns = 0, accepted = 0;
  unsigned long long next_gen = 0;
  static const char kQueued[] = "250 2.0.0 OK: queued\r\n";

  auto drop = [&](int fd) {
    close_conn(rx.lb, fd);
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

  while (!stop_requested()) {
    // Send the data replies that are due, then sleep until the next one is (at most 200 ms).
    const int timeout_ms = send_due(held, conns, [&](const HeldAnswer& h, Conn& c) {
      say(h.fd, kQueued);
      c.waiting = false;
      if (!process(h.fd, c)) drop(h.fd);  // commands that came meanwhile (pipelining)
    });
    poll_once(
        rx.lb, timeout_ms,
        [&](int c) {
          conns[c].gen = ++next_gen;
          ++accepted;
          max_conns = std::max(max_conns, conns.size());
          say(c, "220 bench-smtp ESMTP\r\n");
        },
        [&](int fd) {
          auto it = conns.find(fd);
          if (it == conns.end()) return;
          Conn& conn = it->second;
          const bool closed = read_available(fd, conn.in);
          if (!process(fd, conn) || closed) drop(fd);
        });
  }
  write_log(argv[2], log);
  std::printf("sink_requests %zu\nsink_connections %zu\n", log.size(), accepted);
  if (delay_ns > 0) std::printf("sink_max_held %zu\nsink_max_connections %zu\n", max_held, max_conns);
  return 0;
}
