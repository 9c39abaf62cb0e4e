#pragma once
// Shared helpers of the bench programs: a small configured world, a realistic
// alert, percentiles and process memory figures, and the socket plumbing of the
// loopback receivers (bench_sink, bench_smtp_sink, bench_slack_peer). Bench-only code.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/incident.hpp"
#include "engine/model.hpp"

namespace baton::bench {

inline constexpr const char* kIntegrationKey = "bench-key";

/// One service ("bench", key kIntegrationKey) with a two-step policy: person
/// "oncall" for `first_step`, then "backup" for an hour; webhook page at once.
engine::DirectoryPtr make_directory(engine::Seconds first_step = engine::Seconds{300});

/// A trigger alert shaped like a typical Events v2 event after parsing
/// (summary, source, severity, details_json with custom_details).
engine::Alert make_alert(const std::string& dedup_key);

/// The Events v2 JSON body for `dedup_key` (what a sender posts).
std::string events_v2_body(const std::string& dedup_key);
/// An Alertmanager v4 webhook body with `n` firing alerts of group `group`.
std::string alertmanager_body(int group, int n, int generation);

/// Nearest-rank percentile of an unsorted sample (sorts a copy); 0 when empty.
double percentile(std::vector<double> v, double p);

/// VmRSS of this process in KiB (from /proc/self/status).
long rss_kib();
/// Bytes in use by malloc (mallinfo2().uordblks + hblkhd).
std::size_t malloc_in_use();

double seconds_since(std::chrono::steady_clock::time_point t0);

// --- Loopback receivers: single-threaded epoll, one listening socket. ---

/// CLOCK_REALTIME in nanoseconds (the arrival stamps the receivers log).
long long now_ns();
/// The number after the first "ttfp-" in `text` (bench_load's sequence number); -1 when none.
long long seq_of(std::string_view text);
/// ASCII lower case.
std::string lower(std::string_view s);
/// Case-insensitive search for a header `name` whose line contains `value` in an HTTP
/// head (from the request line up to, and including, the CRLF before the blank line).
bool header_has(std::string_view head, std::string_view name, std::string_view value);
/// The Content-Length of an HTTP head; 0 when none.
long content_length(std::string_view head);

/// SIGTERM and SIGINT set stop_requested(); SIGPIPE is ignored.
void install_stop_signals();
bool stop_requested();

/// A receiver's listening socket and the epoll set that watches it.
struct Loopback {
  int listen_fd = -1;
  int epoll_fd = -1;
};
/// A non-blocking TCP socket listening on 127.0.0.1:`port` (SO_REUSEADDR, backlog 4096),
/// watched (EPOLLIN) by a new epoll set; nullopt (after perror "bind/listen") on failure.
std::optional<Loopback> listen_loopback(const char* port);
/// Accepts every pending connection (non-blocking, TCP_NODELAY), has the epoll set watch
/// it (EPOLLIN) and calls `on_accept` with its fd.
void accept_all(const Loopback& lb, const std::function<void(int)>& on_accept);
/// Waits up to `timeout_ms` for the epoll set; on the listening socket accepts every
/// pending connection (accept_all, `on_accept`), else calls `on_readable` with the
/// connection's fd (data came in, or it closed).
void poll_once(const Loopback& lb, int timeout_ms, const std::function<void(int)>& on_accept,
               const std::function<void(int)>& on_readable);
/// Appends all that can be read from the non-blocking `fd` now to `in`; true when the
/// peer closed the connection or the read failed (anything but EAGAIN).
bool read_available(int fd, std::string& in);
/// Stops watching `fd` and closes it.
void close_conn(const Loopback& lb, int fd);

/// A started receiver: its socket and epoll set, and the delay of its answers.
struct Receiver {
  Loopback lb;
  long long delay_ns = 0;  // argv[3] (ms), 0 when absent
};
/// Starts a receiver run as `<name> <port> <log file> [delay_ms]<more_usage>`: with fewer
/// arguments prints the usage and exits 2; installs the stop signals, listens on the port
/// (exits 1 when it cannot) and says so on stderr.
Receiver start_receiver(int argc, char** argv, const char* name, const char* more_usage = "");

/// What a held answer needs to be sent when due.
struct HeldAnswer {
  long long due_ns;
  int fd;
  unsigned long long gen;  // the connection's, to tell a reused fd
};

/// Hands every answer that is due (the front of `held`, in due order: each has `due_ns`,
/// `fd` and `gen`) to `send(held_answer, conn)`, skipping those whose connection is gone or
/// is not the one it was for (its `gen` differs: a reused fd); returns how long to wait,
/// in ms, until the next one is due (at most 200). Each answer leaves `held` before `send`.
template <class Held, class Conn, class Send>
int send_due(std::deque<Held>& held, std::unordered_map<int, Conn>& conns, Send send) {
  for (long long now = now_ns(); !held.empty(); now = now_ns()) {
    if (held.front().due_ns > now)
      return static_cast<int>(std::min<long long>(200, (held.front().due_ns - now + 999'999) / 1'000'000));
    Held h = std::move(held.front());
    held.pop_front();
    auto it = conns.find(h.fd);
    if (it != conns.end() && it->second.gen == h.gen) send(h, it->second);
  }
  return 200;
}

/// A complete HTTP/1.1 request at the front of a connection's buffer.
struct HttpRequest {
  std::string_view head;  // request line and headers, up to the CRLF before the blank line
  std::string_view body;  // a chunked body keeps its chunk framing
  std::size_t total = 0;  // bytes it takes up in the buffer
};
/// The complete request at the front of `in`, if it is all there. The body is framed by
/// Content-Length or, when `chunked_ok`, by "Transfer-Encoding: chunked" (up to the zero
/// chunk; no trailers). When only the head of a Content-Length request is in and it asks
/// for "Expect: 100-continue", writes "100 Continue" to `fd`.
std::optional<HttpRequest> next_request(const std::string& in, int fd, bool chunked_ok);

/// Writes "<first> <second>" a line to `path` (a receiver's log); nothing when it cannot open it.
void write_log(const char* path, const std::vector<std::pair<long long, long long>>& log);

}  // namespace baton::bench
