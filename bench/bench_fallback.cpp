// bench_fallback: the fallback chain (email and SMS pages) end to end, in one process.
//  1. latency: N deadlines spread over a real-time window, a quarter each of
//     - escalation-step deadlines paging the next step's owner by email,
//     - the same by SMS,
//     - contact-chain links due (page started 120 s earlier) whose method is email,
//     - the same for SMS;
//     a real loop sleeping until Engine::next_wakeup() on SystemClock, each tick's
//     notifications submitted to a real integrations::Dispatcher (the bot's defaults) with
//     SmtpNotifier (plain smtp://, require_starttls off) and TwilioNotifier, pointed at
//     loopback sinks in this process. Lateness = arrival at the sink - deadline, where
//     arrival is the SMTP `MAIL FROM` command and the Twilio Messages POST.
//  2. pacing (Twilio, 1 msg/s per long-code number, TwilioConfig's default):
//     - `paced` SMS pages due at once from one sender (and as many emails due with them);
//     - the same pages split over two senders;
//     - pages and updates due together behind a busy sender: the order at the sink.
// The sinks stamp CLOCK_REALTIME (std::chrono::system_clock), the clock the engine's
// deadlines are on. The outbox commit of the real server is not in this path
// (bench_storage measures it). Loopback only; every loop is bounded in count and time.
// Usage: bench_fallback [n=2000] [window_s=20] [latency_sms_rate=100] [paced=30]
// Prints "key value" lines (parsed by bench/run.sh) and never asserts on time.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_support.hpp"
#include "engine/engine.hpp"
#include "engine/time.hpp"
#include "integrations/action_links.hpp"
#include "integrations/dispatcher.hpp"
#include "integrations/email/smtp_notifier.hpp"
#include "integrations/sms/twilio_notifier.hpp"

using namespace baton;
using Steady = std::chrono::steady_clock;

namespace {

long long now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double ms_after(long long ns, engine::TimePoint deadline) {
  return static_cast<double>(ns - engine::to_ms(deadline) * 1000000LL) / 1e6;
}

std::string loadavg() {
  std::ifstream f("/proc/loadavg");
  std::string one, five, fifteen;
  f >> one >> five >> fifteen;
  return one + "/" + five + "/" + fifteen;
}

// ---------------------------------------------------------------- loopback sinks

/// A TCP listener on 127.0.0.1 (kernel-picked port), one thread per connection
/// (the dispatcher keeps one connection per worker and channel). Every blocking
/// call polls with a 100 ms timeout so that stop() is prompt.
class TcpSink {
 public:
  using Serve = std::function<void(int fd, std::string& in)>;

  ~TcpSink() { stop(); }

  void start(Serve serve) {
    serve_ = std::move(serve);
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(listen_fd_, 128) != 0 ||
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      std::perror("sink bind/listen");
      std::exit(1);
    }
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  void stop() {
    if (stopping_.exchange(true)) return;
    if (acceptor_.joinable()) acceptor_.join();
    std::lock_guard lock(mutex_);
    for (auto& t : conns_) t.join();
    conns_.clear();
    if (listen_fd_ >= 0) close(listen_fd_);
  }

  int port() const { return port_; }
  int connections() const { return accepted_; }

  /// Reads more into `in`; false when the peer closed or the sink stops.
  bool read_more(int fd, std::string& in) const {
    char buf[16384];
    while (!stopping_) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      const ssize_t r = read(fd, buf, sizeof buf);
      if (r <= 0) return false;
      in.append(buf, static_cast<std::size_t>(r));
      return true;
    }
    return false;
  }

  static void write_all(int fd, std::string_view s) {
    while (!s.empty()) {
      const ssize_t w = write(fd, s.data(), s.size());
      if (w <= 0) return;
      s.remove_prefix(static_cast<std::size_t>(w));
    }
  }

 private:
  void accept_loop() {
    while (!stopping_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      const int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      ++accepted_;
      std::lock_guard lock(mutex_);
      conns_.emplace_back([this, fd] {
        std::string in;
        serve_(fd, in);
        close(fd);
      });
    }
  }

  Serve serve_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepted_{0};
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<std::thread> conns_;
};

/// An SMTP receiver that speaks just enough (EHLO/HELO, MAIL, RCPT, DATA, RSET,
/// NOOP, QUIT; no STARTTLS offered) and stamps each `MAIL FROM` command's arrival.
/// The incident comes from the message's X-Baton-Incident header.
class SmtpSink {
 public:
  struct Mail {
    long long mail_from_ns = 0;  ///< arrival of MAIL FROM
    long long data_end_ns = 0;   ///< arrival of the end of DATA
    std::int64_t incident = -1;
  };

  SmtpSink() {
    tcp_.start([this](int fd, std::string& in) { serve(fd, in); });
  }
  ~SmtpSink() { tcp_.stop(); }
  std::string url() const { return "smtp://127.0.0.1:" + std::to_string(tcp_.port()); }
  int connections() const { return tcp_.connections(); }
  std::vector<Mail> mails() const {
    std::lock_guard lock(mutex_);
    return mails_;
  }

 private:
  void serve(int fd, std::string& in) {
    TcpSink::write_all(fd, "220 bench-smtp ESMTP\r\n");
    long long mail_from_ns = 0;
    for (;;) {
      auto eol = in.find("\r\n");
      if (eol == std::string::npos) {
        if (!tcp_.read_more(fd, in)) return;
        continue;
      }
      const long long t = now_ns();
      std::string verb = in.substr(0, std::min<std::size_t>(4, eol));
      for (auto& c : verb) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      in.erase(0, eol + 2);
      if (verb == "EHLO") {
        TcpSink::write_all(fd, "250-bench-smtp\r\n250-8BITMIME\r\n250 SIZE 10485760\r\n");
      } else if (verb == "HELO") {
        TcpSink::write_all(fd, "250 bench-smtp\r\n");
      } else if (verb == "MAIL") {
        mail_from_ns = t;
        TcpSink::write_all(fd, "250 2.1.0 OK\r\n");
      } else if (verb == "RCPT") {
        TcpSink::write_all(fd, "250 2.1.5 OK\r\n");
      } else if (verb == "DATA") {
        TcpSink::write_all(fd, "354 End data with <CR><LF>.<CR><LF>\r\n");
        std::size_t end;
        while ((end = in.find("\r\n.\r\n")) == std::string::npos)
          if (!tcp_.read_more(fd, in)) return;
        Mail m{mail_from_ns, now_ns(), -1};
        const std::string_view data(in.data(), end);
        if (auto pos = data.find("\r\nX-Baton-Incident: "); pos != std::string_view::npos)
          m.incident = std::strtoll(in.c_str() + pos + 20, nullptr, 10);
        in.erase(0, end + 5);
        {
          std::lock_guard lock(mutex_);
          mails_.push_back(m);
        }
        TcpSink::write_all(fd, "250 2.0.0 OK: queued\r\n");
      } else if (verb == "RSET" || verb == "NOOP") {
        TcpSink::write_all(fd, "250 2.0.0 OK\r\n");
      } else if (verb == "QUIT") {
        TcpSink::write_all(fd, "221 2.0.0 Bye\r\n");
        return;
      } else {
        TcpSink::write_all(fd, "502 5.5.2 Command not recognized\r\n");
      }
    }
  }

  TcpSink tcp_;
  mutable std::mutex mutex_;
  std::vector<Mail> mails_;
};

std::string url_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::strtol(std::string(s.substr(i + 1, 2)).c_str(), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

/// A fake Twilio Messages API: answers every request 201 with a small JSON body at
/// once (keep-alive) and stamps its arrival (when the whole request is in).
class TwilioSink {
 public:
  struct Message {
    long long arrival_ns = 0;
    std::string from, to, body;
    std::int64_t incident = -1;  ///< "baton #N ..." in Body
    bool page = false;           ///< a page's text carries "Reply 1=ack"
  };

  TwilioSink() {
    tcp_.start([this](int fd, std::string& in) { serve(fd, in); });
  }
  ~TwilioSink() { tcp_.stop(); }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(tcp_.port()); }
  int connections() const { return tcp_.connections(); }
  std::vector<Message> messages() const {
    std::lock_guard lock(mutex_);
    return messages_;
  }

 private:
  void serve(int fd, std::string& in) {
    static constexpr std::string_view kCreated =
        "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 42\r\n\r\n"
        R"({"sid":"SMbench","status":"queued","x":""})";
    for (;;) {
      auto head_end = in.find("\r\n\r\n");
      if (head_end == std::string::npos) {
        if (!tcp_.read_more(fd, in)) return;
        continue;
      }
      std::string head = in.substr(0, head_end + 2);
      for (auto& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::size_t length = 0;
      if (auto pos = head.find("\r\ncontent-length:"); pos != std::string::npos)
        length = std::strtoul(head.c_str() + pos + 17, nullptr, 10);
      if (in.size() < head_end + 4 + length && head.find("\r\nexpect: 100-continue") != std::string::npos)
        TcpSink::write_all(fd, "HTTP/1.1 100 Continue\r\n\r\n");
      while (in.size() < head_end + 4 + length)
        if (!tcp_.read_more(fd, in)) return;
      Message m;
      m.arrival_ns = now_ns();
      const std::string_view form(in.data() + head_end + 4, length);
      std::size_t start = 0;
      while (start <= form.size()) {
        auto amp = form.find('&', start);
        if (amp == std::string_view::npos) amp = form.size();
        const auto field = form.substr(start, amp - start);
        const auto eq = field.find('=');
        const auto key = field.substr(0, eq);
        const auto value = eq == std::string_view::npos ? std::string() : url_decode(field.substr(eq + 1));
        if (key == "From") m.from = value;
        if (key == "To") m.to = value;
        if (key == "Body") m.body = value;
        start = amp + 1;
      }
      if (auto pos = m.body.find('#'); pos != std::string::npos)
        m.incident = std::strtoll(m.body.c_str() + pos + 1, nullptr, 10);
      m.page = m.body.find("Reply 1=ack") != std::string::npos;
      in.erase(0, head_end + 4 + length);
      {
        std::lock_guard lock(mutex_);
        messages_.push_back(std::move(m));
      }
      TcpSink::write_all(fd, kCreated);
    }
  }

  TcpSink tcp_;
  mutable std::mutex mutex_;
  std::vector<Message> messages_;
};

// ---------------------------------------------------------------- the world

engine::Person person(const std::string& id, std::vector<engine::ContactRule> chain) {
  static int phone = 0;
  engine::Person p;
  p.id = id;
  p.name = "Person " + id;
  p.email = id + "@example.com";
  char buf[32];
  std::snprintf(buf, sizeof buf, "+1555010%04d", ++phone);
  p.phone = buf;
  p.contact_chain = std::move(chain);
  return p;
}

/// People, and one service per (first owner, second owner) pair: step 1 pages
/// `first` for `first_timeout`, step 2 pages `second` for an hour.
struct World {
  std::shared_ptr<engine::Directory> dir = std::make_shared<engine::Directory>();

  void add_person(engine::Person p) { dir->people.emplace(p.id, std::move(p)); }
  void add_service(const std::string& id, const std::string& first, const std::string& second) {
    engine::EscalationPolicy policy;
    policy.id = id;
    policy.name = id;
    policy.steps.push_back({{engine::Target{engine::Target::Kind::person, first}}, engine::Seconds{300}});
    policy.steps.push_back({{engine::Target{engine::Target::Kind::person, second}}, engine::Seconds{3600}});
    dir->policies.emplace(id, policy);
    engine::Service service;
    service.id = id;
    service.name = "Service " + id;
    service.escalation_policy = id;
    service.integration_keys = {id + "-key"};
    dir->services.emplace(id, service);
    dir->integration_keys.emplace(id + "-key", id);
  }
};

engine::Alert alert_for(const std::string& service, const std::string& dedup) {
  auto a = bench::make_alert(dedup);
  a.integration_key = service + "-key";
  return a;
}

constexpr auto kStep = engine::Seconds{300};  // step 1 timeout of every service
constexpr auto kLink = engine::Seconds{120};  // the chain-link delay of the link kinds

/// Deliveries for `fx`'s notifications, built as the bot builds them.
std::vector<integrations::Delivery> deliveries(const engine::Engine& eng, const engine::Effects& fx) {
  return integrations::deliveries_for(eng, fx);
}

integrations::EmailConfig email_config(const SmtpSink& sink) {
  integrations::EmailConfig c;
  c.url = sink.url();
  c.from = "pager@baton.example.com";
  c.require_starttls = false;
  c.verify_peer = false;
  c.public_url = "https://baton.example.com";
  return c;
}

integrations::TwilioConfig twilio_config(const TwilioSink& sink, const std::string& from, double rate) {
  integrations::TwilioConfig c;
  c.base_url = sink.base_url();
  c.account_sid = "ACbench0000000000000000000000000000";
  c.auth_token = "bench-token";
  c.from = from;
  c.messages_per_second = rate;
  c.status_callback_url = "https://baton.example.com/sms/twilio/status";
  return c;
}

struct Outcomes {
  std::atomic<int> delivered{0}, retried{0}, failed{0};
  std::function<void(const integrations::DispatchOutcome&)> callback() {
    return [this](const integrations::DispatchOutcome& o) {
      if (o.kind == integrations::DispatchOutcome::Kind::delivered) ++delivered;
      else if (o.kind == integrations::DispatchOutcome::Kind::retry) ++retried;
      else ++failed;
    };
  }
};

integrations::Dispatcher::Options dispatch_options() {
  return integrations::Dispatcher::Options{};  // the bot's defaults: 6 attempts
}

/// Waits (bounded) until `count()` reaches `n`.
template <class F>
void wait_for(F count, std::size_t n, std::chrono::seconds limit) {
  const auto stop = Steady::now() + limit;
  while (count() < n && Steady::now() < stop) std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

// ---------------------------------------------------------------- 1. latency

void latency(int n, int window_s, double sms_rate) {
  std::printf("fallback_loadavg_start %s\n", loadavg().c_str());
  World w;
  const engine::ContactRule email0{engine::MethodKind::email, engine::Seconds{0}};
  const engine::ContactRule sms0{engine::MethodKind::sms, engine::Seconds{0}};
  w.add_person(person("first", {email0}));
  w.add_person(person("next-mail", {email0}));
  w.add_person(person("next-sms", {sms0}));
  w.add_person(person("chain-mail", {sms0, {engine::MethodKind::email, kLink}}));  // SMS, then email at +120 s
  w.add_person(person("chain-sms", {email0, {engine::MethodKind::sms, kLink}}));   // email, then SMS at +120 s
  w.add_service("step-mail", "first", "next-mail");
  w.add_service("step-sms", "first", "next-sms");
  w.add_service("link-mail", "chain-mail", "next-mail");
  w.add_service("link-sms", "chain-sms", "next-sms");
  w.dir->channels = {engine::MethodKind::email, engine::MethodKind::sms};
  static const char* kKinds[] = {"step-mail", "step-sms", "link-mail", "link-sms"};

  SmtpSink smtp;
  TwilioSink twilio;
  engine::SystemClock clock;
  engine::Engine eng(w.dir);
  Outcomes outcomes;
  auto signer = std::make_shared<integrations::ActionSigner>("bench-action-secret-0123456789abcdef");
  integrations::Dispatcher dispatcher(
      {std::make_shared<integrations::SmtpNotifier>(email_config(smtp), signer, clock),
       std::make_shared<integrations::TwilioNotifier>(twilio_config(twilio, "+15550001000", sms_rate))},
      clock, dispatch_options(), outcomes.callback());

  // Warm-up (not measured): 8 new incidents per service page at once, so every
  // worker has opened its SMTP and HTTP connections before the window.
  std::size_t warm = 0;
  for (int k = 0; k < 4; ++k)
    for (int i = 0; i < 8; ++i) {
      auto fx = eng.ingest(alert_for(kKinds[k], "warm-" + std::to_string(k * 8 + i)), clock.now());
      if (!fx) std::abort();
      for (auto& d : deliveries(eng, *fx)) {
        dispatcher.submit(std::move(d));
        ++warm;
      }
    }

  // The measured deadlines: i-th at start + i * window / n, kinds in turn. The
  // incidents are opened back-dated so that their step deadline (step kinds) or
  // their second contact link (link kinds) falls there; the pages of that
  // back-dated opening are not sent (they belong to the past).
  const auto start = clock.now() + engine::Seconds{3};
  const auto window = engine::Millis{window_s * 1000};
  std::map<std::int64_t, std::pair<engine::TimePoint, int>> deadline;  // incident -> (deadline, kind)
  for (int i = 0; i < n; ++i) {
    const int kind = i % 4;
    const auto due = start + engine::Millis{window.count() * i / n};
    const auto opened = due - (kind < 2 ? engine::Millis{kStep} : engine::Millis{kLink});
    auto fx = eng.ingest(alert_for(kKinds[kind], "fb-" + std::to_string(i)), opened);
    if (!fx) std::abort();
    deadline[fx->touched.at(0)] = {due, kind};
  }
  wait_for([&] { return smtp.mails().size() + twilio.messages().size(); }, warm, std::chrono::seconds(10));

  std::vector<double> submit_ms;
  std::size_t fired = 0, ticks = 0, emails = 0, sms = 0;
  const auto hard_stop = Steady::now() + std::chrono::seconds(window_s + 30);
  while (fired < static_cast<std::size_t>(n) && Steady::now() < hard_stop) {
    auto next = eng.next_wakeup();
    if (!next) break;
    std::this_thread::sleep_until(std::chrono::system_clock::time_point(*next));
    auto fx = eng.tick(clock.now());
    ++ticks;
    for (auto& d : deliveries(eng, fx)) {
      const auto it = deadline.find(d.notification.incident);
      const bool measured = it != deadline.end();
      if (measured) {
        ++fired;
        (d.notification.method == engine::MethodKind::email ? emails : sms)++;
      }
      dispatcher.submit(std::move(d));
      if (measured) submit_ms.push_back(ms_after(now_ns(), it->second.first));
    }
  }
  wait_for([&] { return smtp.mails().size() + twilio.messages().size(); }, warm + fired, std::chrono::seconds(30));

  std::vector<double> all, mail_ms, sms_ms, step_ms, link_ms;
  auto add = [&](std::int64_t incident, long long arrival) {
    const auto it = deadline.find(incident);
    if (it == deadline.end()) return;
    const double late = ms_after(arrival, it->second.first);
    all.push_back(late);
    (it->second.second < 2 ? step_ms : link_ms).push_back(late);
  };
  for (const auto& m : smtp.mails())
    if (deadline.count(m.incident)) {
      add(m.incident, m.mail_from_ns);
      mail_ms.push_back(ms_after(m.mail_from_ns, deadline[m.incident].first));
    }
  for (const auto& m : twilio.messages())
    if (deadline.count(m.incident)) {
      add(m.incident, m.arrival_ns);
      sms_ms.push_back(ms_after(m.arrival_ns, deadline[m.incident].first));
    }
  std::printf("fallback_deadlines %d\n", n);
  std::printf("fallback_window_s %d\n", window_s);
  std::printf("fallback_sms_rate %.0f\n", sms_rate);
  std::printf("fallback_fired %zu\n", fired);
  std::printf("fallback_ticks %zu\n", ticks);
  std::printf("fallback_email_sent %zu\n", emails);
  std::printf("fallback_sms_sent %zu\n", sms);
  std::printf("fallback_arrived %zu\n", all.size());
  std::printf("fallback_delivered %d\n", outcomes.delivered.load());
  std::printf("fallback_retried %d\n", outcomes.retried.load());
  std::printf("fallback_failed %d\n", outcomes.failed.load());
  std::printf("fallback_submit_p99_ms %.3f\n", bench::percentile(submit_ms, 99));
  // Connections the sinks accepted (warm-up included): one per worker and channel when reused.
  std::printf("fallback_smtp_connections %d\n", smtp.connections());
  std::printf("fallback_twilio_connections %d\n", twilio.connections());
  const std::pair<const char*, std::vector<double>*> sets[] = {
      {"all", &all}, {"email", &mail_ms}, {"sms", &sms_ms}, {"step", &step_ms}, {"link", &link_ms}};
  for (const auto& [name, v] : sets) {
    std::printf("fallback_%s_p50_ms %.3f\n", name, bench::percentile(*v, 50));
    std::printf("fallback_%s_p99_ms %.3f\n", name, bench::percentile(*v, 99));
    std::printf("fallback_%s_max_ms %.3f\n", name, bench::percentile(*v, 100));
  }
  std::printf("fallback_loadavg_end %s\n", loadavg().c_str());
  std::fflush(stdout);
}

// ---------------------------------------------------------------- 2. pacing

/// Bench-only: baton configures one Twilio sender; this notifier routes each
/// person to one of two TwilioNotifiers (two long codes), each pacing itself.
class TwoSenders final : public integrations::Notifier {
 public:
  TwoSenders(std::shared_ptr<integrations::Notifier> a, std::shared_ptr<integrations::Notifier> b,
             std::set<std::string> to_b)
      : a_(std::move(a)), b_(std::move(b)), to_b_(std::move(to_b)) {}
  engine::MethodKind method() const override { return engine::MethodKind::sms; }
  std::optional<engine::TimePoint> reserve(const integrations::Delivery& d, engine::TimePoint now) override {
    return pick(d).reserve(d, now);
  }
  Result<void> send(const integrations::Delivery& d) override { return pick(d).send(d); }

 private:
  integrations::Notifier& pick(const integrations::Delivery& d) {
    return to_b_.count(d.notification.person) ? *b_ : *a_;
  }
  std::shared_ptr<integrations::Notifier> a_, b_;
  std::set<std::string> to_b_;
};

struct PacingWorld {
  World w;
  PacingWorld() {
    const engine::ContactRule email0{engine::MethodKind::email, engine::Seconds{0}};
    const engine::ContactRule sms0{engine::MethodKind::sms, engine::Seconds{0}};
    w.add_person(person("first", {email0}));
    w.add_person(person("sms-a", {sms0}));
    w.add_person(person("sms-b", {sms0}));
    w.add_person(person("sms-u", {sms0}));
    w.add_person(person("mail-a", {email0}));
    w.add_service("pace-a", "first", "sms-a");
    w.add_service("pace-b", "first", "sms-b");
    w.add_service("pace-mail", "first", "mail-a");
    w.add_service("upd", "sms-u", "sms-a");
    w.dir->channels = {engine::MethodKind::email, engine::MethodKind::sms};
  }
};

/// Opens counts[service] incidents whose first step ends at `due` (back-dated
/// opening, its pages not sent), sleeps until `due`, ticks, and returns the
/// tick's deliveries and the incidents.
std::vector<integrations::Delivery> due_together(engine::Engine& eng, const std::map<std::string, int>& counts,
                                                 engine::TimePoint due, const std::string& tag) {
  for (const auto& [service, count] : counts)
    for (int i = 0; i < count; ++i)
      if (!eng.ingest(alert_for(service, tag + "-" + service + "-" + std::to_string(i)), due - kStep)) std::abort();
  std::this_thread::sleep_until(std::chrono::system_clock::time_point(due));
  return deliveries(eng, eng.tick(engine::SystemClock{}.now()));
}

struct Spacing {
  double min = 0, median = 0, max = 0, span = 0;
};
Spacing spacing(std::vector<long long> t) {
  std::sort(t.begin(), t.end());
  std::vector<double> gaps;
  for (std::size_t i = 1; i < t.size(); ++i) gaps.push_back(static_cast<double>(t[i] - t[i - 1]) / 1e6);
  Spacing s;
  if (gaps.empty()) return s;
  s.min = bench::percentile(gaps, 0);
  s.median = bench::percentile(gaps, 50);
  s.max = bench::percentile(gaps, 100);
  s.span = static_cast<double>(t.back() - t.front()) / 1e6;
  return s;
}

// `rate`: messages per second of an evenly spaced series, (n - 1) / span.
void print_spacing(const std::string& key, const Spacing& s, std::size_t n, bool rate = true) {
  std::printf("%s_gap_min_ms %.1f\n", key.c_str(), s.min);
  std::printf("%s_gap_median_ms %.1f\n", key.c_str(), s.median);
  std::printf("%s_gap_max_ms %.1f\n", key.c_str(), s.max);
  std::printf("%s_span_s %.3f\n", key.c_str(), s.span / 1000);
  if (rate) std::printf("%s_per_s %.3f\n", key.c_str(), s.span > 0 && n > 1 ? (n - 1) / (s.span / 1000) : 0.0);
}

// `paced` SMS pages due at once to one sender, with `paced` email pages due
// with them; then the same SMS pages over two senders.
void pacing(int paced) {
  std::printf("pace_loadavg_start %s\n", loadavg().c_str());
  for (int senders = 1; senders <= 2; ++senders) {
    PacingWorld pw;
    SmtpSink smtp;
    TwilioSink twilio;
    engine::SystemClock clock;
    engine::Engine eng(pw.w.dir);
    Outcomes outcomes;
    std::shared_ptr<integrations::Notifier> sms =
        std::make_shared<integrations::TwilioNotifier>(twilio_config(twilio, "+15550002001", 1.0));
    if (senders == 2)
      sms = std::make_shared<TwoSenders>(
          sms, std::make_shared<integrations::TwilioNotifier>(twilio_config(twilio, "+15550002002", 1.0)),
          std::set<std::string>{"sms-b"});
    integrations::Dispatcher dispatcher(
        {std::make_shared<integrations::SmtpNotifier>(email_config(smtp), nullptr, clock), sms}, clock,
        dispatch_options(), outcomes.callback());
    const std::string key = senders == 1 ? "pace1" : "pace2";
    const auto due = clock.now() + engine::Seconds{1};
    std::map<std::string, int> counts;
    if (senders == 1) {
      counts = {{"pace-a", paced}, {"pace-mail", paced}};
    } else {
      counts = {{"pace-a", paced / 2}, {"pace-b", paced - paced / 2}};
    }
    auto batch = due_together(eng, counts, due, key);
    std::size_t sms_n = 0;
    for (auto& d : batch) {
      sms_n += d.notification.method == engine::MethodKind::sms;
      dispatcher.submit(std::move(d));
    }
    wait_for([&] { return twilio.messages().size(); }, sms_n,
             std::chrono::seconds(static_cast<int>(sms_n / senders) + 20));
    const auto msgs = twilio.messages();
    std::map<std::string, std::vector<long long>> by_sender;
    std::vector<long long> all;
    std::vector<double> first_ms;
    for (const auto& m : msgs) {
      by_sender[m.from].push_back(m.arrival_ns);
      all.push_back(m.arrival_ns);
    }
    std::printf("%s_sms_due %zu\n", key.c_str(), sms_n);
    std::printf("%s_sms_arrived %zu\n", key.c_str(), msgs.size());
    std::printf("%s_senders %zu\n", key.c_str(), by_sender.size());
    std::printf("%s_first_ms %.1f\n", key.c_str(),
                all.empty() ? 0.0 : ms_after(*std::min_element(all.begin(), all.end()), due));
    print_spacing(key, spacing(all), all.size(), senders == 1);
    if (senders == 2) {
      int s = 0;
      for (const auto& [from, times] : by_sender) {
        const std::string k = key + (s++ == 0 ? "_a" : "_b");
        std::printf("%s_sms %zu\n", k.c_str(), times.size());
        print_spacing(k, spacing(times), times.size());
      }
    } else {
      std::vector<double> mail_ms;
      for (const auto& m : smtp.mails()) mail_ms.push_back(ms_after(m.mail_from_ns, due));
      std::printf("%s_email_due %d\n", key.c_str(), paced);
      std::printf("%s_email_arrived %zu\n", key.c_str(), mail_ms.size());
      std::printf("%s_email_max_ms %.1f\n", key.c_str(), bench::percentile(mail_ms, 100));
    }
    std::printf("%s_failed %d\n", key.c_str(), outcomes.failed.load());
    std::fflush(stdout);
  }

  // Pages and updates due together behind a busy sender: a page is sent (the
  // sender's slot is taken), then in one loop turn `k` incidents paged earlier
  // by SMS are acknowledged (k updates, submitted first) and `k` step deadlines
  // fire (k pages, submitted after). The order at the sink shows which go first.
  {
    const int k = 5;
    PacingWorld pw;
    SmtpSink smtp;
    TwilioSink twilio;
    engine::SystemClock clock;
    engine::Engine eng(pw.w.dir);
    Outcomes outcomes;
    integrations::Dispatcher dispatcher(
        {std::make_shared<integrations::SmtpNotifier>(email_config(smtp), nullptr, clock),
         std::make_shared<integrations::TwilioNotifier>(twilio_config(twilio, "+15550003001", 1.0))},
        clock, dispatch_options(), outcomes.callback());
    // k incidents paged by SMS (to sms-u) a minute ago: their pages are history.
    std::vector<std::int64_t> acked;
    for (int i = 0; i < k; ++i) {
      auto fx = eng.ingest(alert_for("upd", "prio-upd-" + std::to_string(i)), clock.now() - engine::Seconds{60});
      if (!fx) std::abort();
      acked.push_back(fx->touched.at(0));
    }
    // The page that takes the sender's slot now.
    auto busy = eng.ingest(alert_for("upd", "prio-busy"), clock.now());
    if (!busy) std::abort();
    const auto busy_incident = busy->touched.at(0);
    for (auto& d : deliveries(eng, *busy)) dispatcher.submit(std::move(d));
    // 200 ms later: the acknowledgements and the step deadlines, in one turn.
    const auto due = clock.now() + engine::Millis{200};
    for (int i = 0; i < k; ++i)
      if (!eng.ingest(alert_for("pace-a", "prio-page-" + std::to_string(i)), due - kStep)) std::abort();
    std::this_thread::sleep_until(std::chrono::system_clock::time_point(due));
    const auto now = clock.now();
    engine::Effects updates;
    for (auto number : acked) {
      auto fx = eng.acknowledge(number, engine::Actor{"sms-u", engine::Source::api}, now);
      if (!fx) std::abort();
      updates.merge(std::move(*fx));
    }
    auto pages = eng.tick(now);
    std::size_t submitted = 1;
    for (auto* fx : {&updates, &pages})
      for (auto& d : deliveries(eng, *fx)) {
        if (d.notification.method != engine::MethodKind::sms) continue;
        dispatcher.submit(std::move(d));
        ++submitted;
      }
    wait_for([&] { return twilio.messages().size(); }, submitted, std::chrono::seconds(static_cast<int>(submitted) + 20));
    auto msgs = twilio.messages();
    std::sort(msgs.begin(), msgs.end(), [](const auto& a, const auto& b) { return a.arrival_ns < b.arrival_ns; });
    std::string order;
    bool pages_first = true, seen_update = false;
    std::vector<long long> times;
    for (const auto& m : msgs) {
      if (m.incident == busy_incident) {
        order += "B";
        continue;
      }
      order += m.page ? "P" : "U";
      if (!m.page) seen_update = true;
      if (m.page && seen_update) pages_first = false;
      times.push_back(m.arrival_ns);
    }
    std::printf("prio_submitted %zu\n", submitted);
    std::printf("prio_arrived %zu\n", msgs.size());
    std::printf("prio_order %s\n", order.c_str());
    std::printf("prio_pages_first %s\n", pages_first && !order.empty() ? "yes" : "no");
    print_spacing("prio", spacing(times), times.size());
    std::printf("prio_failed %d\n", outcomes.failed.load());
  }
  std::printf("pace_loadavg_end %s\n", loadavg().c_str());
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 2000;
  const int window_s = argc > 2 ? std::atoi(argv[2]) : 20;
  const double sms_rate = argc > 3 ? std::atof(argv[3]) : 100;
  const int paced = argc > 4 ? std::atoi(argv[4]) : 30;
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  latency(n, window_s, sms_rate);
  pacing(paced);
  return 0;
}
