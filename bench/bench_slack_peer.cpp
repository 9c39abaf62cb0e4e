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
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "bench/bench_support.hpp"

namespace {

using namespace baton::bench;

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
  const Receiver rx = start_receiver(argc, argv, "bench_slack_peer");
  const long long delay_ns = rx.delay_ns;
  std::unordered_map<int, Conn> conns;
  std::vector<Hit> log;
  log.reserve(1 << 18);
  long long ts_counter = 0;
  std::deque<Held> held;  // answers not yet due, in due order (one delay for all)
  std::size_t max_held = 0, max_conns = 0;
  unsigned long long next_gen = 0;
  while (!stop_requested()) {
    // Answer what is due, then sleep until the next answer is due (at most 200 ms).
    const int timeout_ms =
        send_due(held, conns, [&](const Held& h, Conn&) { (void)!write(h.fd, h.out.data(), h.out.size()); });
    poll_once(
        rx.lb, timeout_ms,
        [&](int c) {
          conns[c].gen = ++next_gen;
          max_conns = std::max(max_conns, conns.size());
        },
        [&](int fd) {
          auto& conn = conns[fd];
          const bool closed = read_available(fd, conn.in);
          // Answer every complete request in the buffer (the Web API client sends Content-Length).
          while (auto req = next_request(conn.in, fd, /*chunked_ok=*/false)) {
            const long long t = now_ns();
            const std::size_t total = req->total;
            std::string_view body = req->body;
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
            close_conn(rx.lb, fd);
            conns.erase(fd);
          }
        });
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
