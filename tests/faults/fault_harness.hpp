#pragma once
// The fault suite's harness: the real `baton serve` as a child process on a
// temporary database, HTTP senders that behave like Alertmanager or an
// Events v2 client (retry on connection errors and 5xx until 2xx), a webhook
// sink that records every page by idempotency key, and a read-only look at
// the SQLite file. What baton promises is written in docs/reliability.md;
// each scenario checks one fault against it.
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/support/http_peer.hpp"

namespace baton::faults {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

inline constexpr const char* kRoutingKey = "fault-key";
inline constexpr const char* kApiToken = "fault-api-token";

/// The baton executable: $BATON_FAULTS_BIN if set, else the one CMake built.
std::string baton_binary();
/// The LD_PRELOAD library that slows fsync/fdatasync (slow_fsync.cpp).
std::string slow_fsync_library();

/// A fresh directory under the system temp dir, removed afterwards unless
/// BATON_FAULTS_KEEP is set (then its path is printed).
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& label);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

/// A port on 127.0.0.1 that was free a moment ago.
std::uint16_t free_port();

/// The minimal configuration every scenario uses: one service (routing key
/// kRoutingKey) whose policy pages one person through the webhook channel.
/// Escalation timeouts are long so that only alerts cause pages.
struct ConfigOptions {
  std::string webhook_url;  ///< the sink
  std::string webhook_timeout = "5s";
  int max_attempts = 100;  ///< high: pages must outlast the faults
  std::string base_backoff = "100ms";
  std::string extra_yaml;  ///< appended as is (e.g. a teams: section)
  /// Replaces the people, escalation_policies and services sections when set.
  std::string directory_yaml;
  /// --db: a PostgreSQL URI shared by several processes; empty = baton.db in the directory.
  std::string db;
};
std::string config_yaml(const ConfigOptions& options, int generation);

/// How a child is started (applied between fork and exec).
struct SpawnOptions {
  std::vector<std::pair<std::string, std::string>> env;  ///< added to (or replacing in) ours
  std::optional<std::uint64_t> nofile;                   ///< RLIMIT_NOFILE, soft and hard
  std::string preload;                                   ///< LD_PRELOAD
};

/// One `baton serve` at a time on a fixed database. start() writes the config
/// for the next generation (its webhook requests carry X-Fault-Generation: N),
/// spawns, and waits for GET /readyz to answer 200. stderr/stdout go through a
/// pipe (a pipe is not subject to RLIMIT_FSIZE) into `log` in the directory.
/// All process control from one thread: the child is bound to it with
/// PR_SET_PDEATHSIG, so a killed test leaves no baton behind.
class BatonProcess {
 public:
  BatonProcess(std::filesystem::path dir, ConfigOptions config, SpawnOptions spawn = {});
  ~BatonProcess();  ///< SIGKILL if still running
  BatonProcess(const BatonProcess&) = delete;
  BatonProcess& operator=(const BatonProcess&) = delete;

  /// Spawns the next generation on the same port (a new one the first time, or
  /// if the old one cannot be bound) and waits for readiness. False if it
  /// never became ready within `timeout` (the child is then killed).
  bool start(milliseconds timeout = std::chrono::seconds(30));
  void signal(int sig);
  /// Waits for the child to exit; its wait status, or nullopt on timeout.
  std::optional<int> wait_exit(milliseconds timeout);
  /// SIGKILL and reap; a no-op when not running.
  void kill_now();
  /// Reaps if it exited; true while the child is alive.
  bool running();

  pid_t pid() const { return pid_.load(); }
  std::uint16_t port() const { return port_.load(); }
  int generation() const { return generation_; }
  /// The wait status of the last exit seen (0 before any).
  int last_status() const { return last_status_; }
  std::filesystem::path db_path() const { return dir_ / "baton.db"; }
  std::size_t log_bytes() const { return log_bytes_.load(); }
  std::string log_tail(std::size_t max_bytes = 4000) const;
  /// User + system CPU time the child has used so far (from /proc/<pid>/stat).
  milliseconds cpu_time() const;
  /// Whether /proc/<pid>/maps mentions `needle` (a preloaded library).
  bool maps_contain(const std::string& needle) const;

 private:
  bool spawn_once();
  void drain(int fd);

  std::filesystem::path dir_;
  ConfigOptions config_;
  SpawnOptions spawn_;
  std::atomic<pid_t> pid_{-1};
  std::atomic<std::uint16_t> port_{0};
  int generation_ = 0;
  int last_status_ = 0;
  std::thread drainer_;
  std::atomic<std::size_t> log_bytes_{0};
  mutable std::mutex log_mutex_;
  std::string log_tail_;
};

/// What happened to one HTTP request, as a sender sees it.
struct HttpResult {
  enum class Kind {
    answered,  ///< a complete response
    refused,   ///< connect failed: nothing was sent
    reset,     ///< RST before any response byte: the server never read the request
               ///< (still in the listen backlog, or its connection closed first)
    dropped,   ///< the server took the request and closed cleanly without answering
    timeout,
    error,
  } kind = Kind::error;
  int status = 0;
  std::string body;
  bool reused = false;           ///< sent on a kept-alive connection
  Clock::time_point started{};   ///< when the attempt began (connect included)
  std::uint16_t local_port = 0;  ///< of the connection used (to find it in a trace)
};
const char* to_string(HttpResult::Kind kind);

/// A minimal HTTP/1.1 client over one socket, kept alive between requests
/// unless `keep_alive` is false. Not thread-safe: one per sender thread.
class HttpConnection {
 public:
  HttpConnection() = default;
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  HttpResult request(std::uint16_t port, const std::string& method, const std::string& target, const std::string& body,
                     std::vector<std::pair<std::string, std::string>> headers, milliseconds timeout,
                     bool keep_alive = true);
  void close();

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

/// A one-shot GET with a short timeout; the status, or 0 when not answered.
int http_get_status(std::uint16_t port, const std::string& target, milliseconds timeout = milliseconds(2000));

/// One Events v2 event. `trigger` opens (or re-triggers) the incident of `key`.
struct Event {
  std::string key;
  bool acknowledge = false;
};
std::string events_v2_body(const Event& e);

/// Counters shared by all the senders of a scenario.
struct SendStats {
  std::atomic<std::uint64_t> attempts{0}, accepted{0}, answered_5xx{0}, answered_4xx{0}, refused{0}, reset{0},
      dropped{0}, timeouts{0}, errors{0}, gave_up{0};
  std::string summary() const;
};

/// What a sender learned about one event.
struct EventOutcome {
  Event event;
  bool accepted = false;  ///< answered 2xx
  int attempts = 0;
  milliseconds latency{0};  ///< first attempt to the 2xx
  Clock::time_point answered_at{};
};

/// Sends one event like Alertmanager or an Events v2 client would: retries
/// connection errors, timeouts and 5xx (and 429) until 2xx, up to `deadline`.
/// A 4xx other than 429 is final (not accepted). `port` is read per attempt,
/// so a restart on another port is followed.
struct SenderOptions {
  milliseconds request_timeout{10000};
  milliseconds retry_pause{25};
  bool keep_alive = true;
  /// Called with the result of every attempt (e.g. to timestamp answers).
  std::function<void(const HttpResult&, Clock::time_point)> on_attempt;
};
EventOutcome send_until_accepted(HttpConnection& conn, const std::function<std::uint16_t()>& port, const Event& event,
                                 Clock::time_point deadline, SendStats& stats, const SenderOptions& options = {});

/// The events of one storm sender: distinct triggers `<prefix>-<n>`, and after
/// some of them a re-trigger of an earlier key or an acknowledgement of one.
std::vector<Event> storm_events(const std::string& prefix, int distinct, double retrigger_share, double ack_share,
                                unsigned seed);

/// What the senders of a scenario got answered 2xx.
struct Accepted {
  std::set<std::string> triggers;
  std::set<std::string> acks;
  void add(const EventOutcome& o);
  void merge(const Accepted& other);
};

/// The webhook channel's receiving end. Answers 200 (or hangs while
/// set_hanging(true): the connection is accepted and never answered) and
/// records every request.
class WebhookSink {
 public:
  struct Receipt {
    std::string key;    ///< Idempotency-Key
    std::string event;  ///< "incident.page", "incident.update"...
    std::int64_t incident = 0;
    int generation = 0;     ///< X-Fault-Generation of the baton that sent it
    bool answered = false;  ///< answered 200 (not left hanging)
    Clock::time_point at;
  };

  WebhookSink();
  std::string url() const;  ///< ".../hook"
  void set_hanging(bool hanging);
  std::vector<Receipt> receipts() const;
  /// Incidents with at least one page answered 200.
  std::set<std::int64_t> paged_incidents() const;
  void stop() { peer_.stop(); }

 private:
  test::HttpPeer peer_;
  mutable std::mutex mutex_;
  std::vector<Receipt> receipts_;
  bool hanging_ = false;
};

/// The database read with SQLite itself, read-only (WAL: also while baton runs).
struct DbIncident {
  std::int64_t number = 0;
  std::string dedup_key;
  std::string state;
};
struct DbOutbox {
  std::int64_t id = 0;
  std::int64_t incident = 0;
  std::string kind;   ///< page, update, open_channel
  std::string state;  ///< pending, delivered, failed
  std::string key;
  int attempts = 0;
  std::string last_error;  ///< "cancelled: ..." for a page no longer needed
};
struct DbSnapshot {
  std::map<std::string, DbIncident> by_key;  ///< dedup key -> incident
  std::vector<DbOutbox> outbox;
};
DbSnapshot read_db(const std::filesystem::path& db);

/// The check every scenario ends with.
struct Verdict {
  std::size_t triggers = 0, acks = 0;
  std::size_t missing_incidents = 0;  ///< trigger answered 2xx, no incident
  std::size_t not_acknowledged = 0;   ///< ack answered 2xx, incident still triggered
  std::size_t no_page = 0;            ///< incident without a page in the outbox
  std::size_t not_paged = 0;          ///< page neither received by the sink nor pending
  std::size_t pending_pages = 0;      ///< still in the outbox (will be sent)
  std::size_t cancelled_pages = 0;    ///< not sent: the incident was acknowledged or resolved first
  std::size_t phantom = 0;            ///< outbox says delivered, the sink never answered it
  std::size_t page_keys = 0;          ///< distinct page idempotency keys answered by the sink
  std::size_t page_receipts = 0;      ///< pages answered by the sink, repeats included
  std::size_t duplicate_pages = 0;    ///< page_receipts - page_keys
  std::size_t duplicate_updates = 0;
  std::vector<std::string> examples;  ///< a few of the problems, for the failure message

  std::size_t lost() const { return missing_incidents + not_acknowledged + no_page + not_paged; }
  double duplicates_per_1000() const {
    return page_keys == 0 ? 0.0 : 1000.0 * static_cast<double>(duplicate_pages) / static_cast<double>(page_keys);
  }
  std::string summary() const;
};
Verdict verify(const DbSnapshot& db, const Accepted& accepted, const std::vector<WebhookSink::Receipt>& receipts);

/// The incident numbers of the accepted triggers.
std::set<std::int64_t> incident_numbers(const DbSnapshot& db, const Accepted& accepted);

/// Waits (bounded) while baton runs until no accepted incident's page is
/// still owed: each was answered by the sink, or cancelled by an
/// acknowledgement. False on timeout (verify() then says what is missing).
bool wait_settled(const std::filesystem::path& db, const Accepted& accepted, const WebhookSink& sink,
                  milliseconds timeout);

/// Prints one line of figures for docs/reliability.md ("[faults] name: ...").
void report(const std::string& scenario, const std::string& figures);

double seconds(Clock::duration d);

}  // namespace baton::faults
