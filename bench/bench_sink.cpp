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
#include <unistd.h>

#include <algorithm>
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
  unsigned long long gen = 0;  // tells a reused fd from the connection a held response was for
};

}  // namespace

int main(int argc, char** argv) {
  const Receiver rx = start_receiver(argc, argv, "bench_sink", " [twilio]");
  const long long delay_ns = rx.delay_ns;
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
  std::deque<HeldAnswer> held;  // responses not yet due, in due order (one delay for all)
  std::size_t max_held = 0, max_conns = 0;
  unsigned long long next_gen = 0;
  while (!stop_requested()) {
    // Answer what is due, then sleep until the next response is due (at most 200 ms).
    const int timeout_ms =
        send_due(held, conns, [&](const HeldAnswer& h, Conn&) { (void)!write(h.fd, ok.data(), ok.size()); });
    poll_once(
        rx.lb, timeout_ms,
        [&](int c) {
          conns[c].gen = ++next_gen;
          max_conns = std::max(max_conns, conns.size());
        },
        [&](int fd) {
          auto& conn = conns[fd];
          const bool closed = read_available(fd, conn.in);
          // Answer every complete request in the buffer.
          while (auto req = next_request(conn.in, fd, /*chunked_ok=*/true)) {
            const long long arrival = now_ns();
            log.emplace_back(arrival, seq_of(req->body));
            if (delay_ns > 0) {
              held.push_back({arrival + delay_ns, fd, conn.gen});
              max_held = std::max(max_held, held.size());
            } else {
              (void)!write(fd, ok.data(), ok.size());
            }
            conn.in.erase(0, req->total);
          }
          if (closed) {
            close_conn(rx.lb, fd);
            conns.erase(fd);
          }
        });
  }
  write_log(argv[2], log);
  std::printf("sink_requests %zu\n", log.size());
  if (delay_ns > 0) std::printf("sink_max_held %zu\nsink_max_connections %zu\n", max_held, max_conns);
  return 0;
}
