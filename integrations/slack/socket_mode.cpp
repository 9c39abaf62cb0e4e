// Slack Socket Mode over Beast WebSockets, after the boost-1.81.0 websocket
// client examples: each connection is a session on the client's strand, reads
// in a coroutine with errors as values, writes through a queue with one write
// in flight. The stream types (plain for ws:// in tests, TLS for wss://) are
// instantiated here and nowhere else.
#include "integrations/slack/socket_mode.hpp"

#include <pthread.h>

#include <openssl/ssl.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_set>

#include <spdlog/spdlog.h>

#include "integrations/slack/interactions.hpp"

namespace baton::slack {

namespace net = boost::asio;
namespace ssl = net::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace json = boost::json;
using tcp = net::ip::tcp;
using Strand = net::strand<net::io_context::executor_type>;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr auto kTuple = net::as_tuple(net::use_awaitable);
constexpr std::chrono::minutes kDedupWindow{10};
constexpr std::size_t kDedupMax = 20000;
constexpr std::chrono::seconds kConnectTimeout{10};
// Slack may not close the TCP connection after the close handshake.
constexpr std::chrono::seconds kCloseTimeout{1};
constexpr std::chrono::seconds kStopGrace{2};
constexpr std::size_t kMaxMessage = 4 << 20;

struct WsUrl {
  bool tls = false;
  std::string host;
  std::string port;
  std::string target;
};

Result<WsUrl> parse_ws_url(std::string_view text) {
  auto parsed = boost::urls::parse_uri(text);
  if (!parsed) return fail(ErrorKind::invalid_request, "Socket Mode URL is not a URL");
  WsUrl url;
  std::string scheme(parsed->scheme());
  std::transform(scheme.begin(), scheme.end(), scheme.begin(), [](unsigned char c) { return std::tolower(c); });
  if (scheme == "wss") {
    url.tls = true;
  } else if (scheme != "ws") {
    return fail(ErrorKind::invalid_request, "Socket Mode URL must be wss:// (or ws://), not " + scheme);
  }
  url.host = std::string(parsed->encoded_host_address());
  if (url.host.empty()) return fail(ErrorKind::invalid_request, "Socket Mode URL has no host");
  url.port = parsed->has_port() ? std::string(parsed->port()) : (url.tls ? "443" : "80");
  url.target = std::string(parsed->encoded_target());
  if (url.target.empty()) url.target = "/";
  return url;
}

// The errors that only mean "this connection is over", not that something broke.
bool is_quiet(beast::error_code ec) {
  return ec == net::error::operation_aborted || ec == websocket::error::closed || ec == ssl::error::stream_truncated ||
         ec == net::error::eof;
}

std::string str_field(const json::object& obj, std::string_view key) {
  const auto* v = obj.if_contains(key);
  return (v != nullptr && v->is_string()) ? std::string(v->get_string()) : std::string();
}

using PlainWs = websocket::stream<beast::tcp_stream>;
using TlsWs = websocket::stream<beast::ssl_stream<beast::tcp_stream>>;

// One WebSocket connection. Every member function runs on the client's strand.
class SocketModeSession {
 public:
  virtual ~SocketModeSession() = default;
  /// False once the close handshake started or the link failed.
  virtual bool writable() const = 0;
  /// Queues one text frame; false when the session no longer takes writes.
  virtual bool send(std::string text) = 0;
  /// Graceful close after the queued writes (bounded); aborts a connect in progress.
  virtual void close() = 0;

  std::uint64_t id = 0;
  bool ready = false;    // said hello
  bool closing = false;  // close() was called
};

}  // namespace

struct SlackSocketMode::Impl : std::enable_shared_from_this<SlackSocketMode::Impl> {
  SocketModeOptions options;
  EnvelopeHandler handler;

  std::unique_ptr<net::io_context> ioc = std::make_unique<net::io_context>(1);
  std::optional<Strand> strand;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::unique_ptr<net::steady_timer> reconnect_timer;
  std::unique_ptr<net::thread_pool> opener;  // a blocking open_url, off the I/O thread; none with open_url_async
  ssl::context ssl_ctx{ssl::context::tlsv12_client};
  std::thread thread;

  // Strand only.
  std::map<std::uint64_t, std::shared_ptr<SocketModeSession>> sessions;
  std::uint64_t next_session = 0;
  int pending_opens = 0;
  bool reconnect_armed = false;
  unsigned attempt = 0;  // consecutive failures since the last hello
  std::optional<std::chrono::milliseconds> next_delay;
  bool stopping = false;
  bool disabled = false;
  std::unordered_set<std::string> seen;
  std::deque<std::pair<SteadyClock::time_point, std::string>> seen_order;
  std::mt19937_64 rng{std::random_device{}()};

  // Any thread.
  mutable std::mutex mutex;
  std::condition_variable drained;
  SocketModeStats stats;
  bool started = false;
  bool stop_called = false;
  bool torn_down = false;
  bool no_sessions = true;
  bool stop_seen = false;  // the strand has handled stop()
  std::atomic<bool> connected{false};

  Impl(SocketModeOptions o, EnvelopeHandler h) : options(std::move(o)), handler(std::move(h)) {
    strand.emplace(net::make_strand(*ioc));
    reconnect_timer = std::make_unique<net::steady_timer>(*strand);
    ssl_ctx.set_verify_mode(ssl::verify_peer);
    beast::error_code ec;
    if (options.ca_file.empty()) {
      ssl_ctx.set_default_verify_paths(ec);
    } else {
      ssl_ctx.load_verify_file(options.ca_file, ec);
    }
    if (ec) throw std::runtime_error("slack socket mode: cannot load CA certificates: " + ec.message());
  }

  template <typename F>
  void update(F&& f) {
    std::lock_guard lock(mutex);
    f(stats);
  }

  void set_state(SocketModeState s) {
    update([&](SocketModeStats& st) {
      if (st.state != SocketModeState::stopped && st.state != SocketModeState::disabled) st.state = s;
    });
  }

  void refresh_connected() {
    bool any = false;
    for (const auto& [id, s] : sessions) any = any || (s->ready && !s->closing);
    connected = any;
    set_state(any ? SocketModeState::connected : SocketModeState::connecting);
    std::lock_guard lock(mutex);
    no_sessions = sessions.empty();
    if (no_sessions) drained.notify_all();
  }

  // --- connecting ------------------------------------------------------------

  void begin_connect() {
    if (stopping || disabled) return;
    ++pending_opens;
    if (options.open_url_async) {
      // The answer comes on the HTTP client's thread; it is handed to the strand
      // unless stop() tore the client down meanwhile.
      auto done = [weak = weak_from_this()](Result<std::string> url) {
        auto self = weak.lock();
        if (!self) return;
        std::lock_guard lock(self->mutex);
        if (self->torn_down) return;
        net::post(*self->strand, [raw = self.get(), url = std::move(url)]() mutable { raw->on_url(std::move(url)); });
      };
      try {
        options.open_url_async(std::move(done));
      } catch (const std::exception& e) {
        net::post(*strand, [this, what = std::string(e.what())] {
          on_url(fail(ErrorKind::transient, "open_url threw: " + what));
        });
      }
      return;
    }
    net::post(*opener, [this] {
      Result<std::string> url = fail(ErrorKind::permanent, "no open_url configured");
      try {
        if (options.open_url) url = options.open_url();
      } catch (const std::exception& e) {
        url = fail(ErrorKind::transient, std::string("open_url threw: ") + e.what());
      }
      net::post(*strand, [this, url = std::move(url)]() mutable { on_url(std::move(url)); });
    });
  }

  void on_url(Result<std::string> url) {
    --pending_opens;
    if (stopping || disabled) return;
    Result<WsUrl> parsed = tl::unexpected(Error{});
    if (url) {
      parsed = parse_ws_url(*url);
    } else {
      parsed = tl::unexpected(url.error());
    }
    if (!parsed) {
      const Error& e = parsed.error();
      spdlog::error("slack socket mode: cannot get a connection URL: {}", e.message);
      update([&](SocketModeStats& st) {
        ++st.connect_failures;
        st.last_error = e.message;
      });
      ++attempt;
      if (e.kind == ErrorKind::rate_limited) {
        next_delay = std::max(e.retry_after, backoff());
      } else if (!e.retryable()) {
        next_delay = options.max_backoff;
      }
      maybe_reconnect();
      return;
    }
    open_session(std::move(*parsed));
  }

  void open_session(WsUrl url);  // below the session class

  std::chrono::milliseconds backoff() {
    const auto max = std::max<std::int64_t>(1, options.max_backoff.count());
    std::int64_t d = std::max<std::int64_t>(1, options.initial_backoff.count());
    for (unsigned i = 0; i < attempt && d < max; ++i) d *= 2;
    d = std::min(d, max);
    std::uniform_int_distribution<std::int64_t> jitter(d / 2, d);
    return std::chrono::milliseconds(jitter(rng));
  }

  // Reconnects when nothing is connected or connecting.
  void maybe_reconnect() {
    if (stopping || disabled || reconnect_armed || pending_opens > 0 || !sessions.empty()) return;
    const auto delay = next_delay.value_or(backoff());
    next_delay.reset();
    spdlog::info("slack socket mode: reconnecting in {} ms", delay.count());
    reconnect_armed = true;
    reconnect_timer->expires_after(delay);
    reconnect_timer->async_wait([this](beast::error_code ec) {
      reconnect_armed = false;
      if (ec || stopping || disabled) return;
      begin_connect();
    });
  }

  // --- session callbacks -------------------------------------------------------

  void on_session_end(SocketModeSession& s, const std::string& why) {
    const bool was_ready = s.ready;
    auto keep = sessions[s.id];  // the map may hold the last reference
    sessions.erase(s.id);
    if (!stopping && !disabled) {
      if (!was_ready) ++attempt;
      // A connection we closed on purpose (refresh, too_many_websockets, no
      // hello) was already accounted for when we decided to close it.
      if (!s.closing) note_error(was_ready ? "connection lost: " + why : "connection failed: " + why, !was_ready);
    }
    refresh_connected();
    maybe_reconnect();
  }

  void note_error(const std::string& what, bool connect_failure) {
    spdlog::warn("slack socket mode: {}", what);
    update([&](SocketModeStats& st) {
      if (connect_failure) ++st.connect_failures;
      st.last_error = what;
    });
  }

  void on_message(SocketModeSession& s, std::string_view text) {
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec || !v.is_object()) {
      spdlog::warn("slack socket mode: ignoring a frame that is not a JSON object");
      return;
    }
    const json::object& msg = v.get_object();
    const std::string type = str_field(msg, "type");
    if (msg.contains("envelope_id")) return on_envelope(s, msg);
    if (type == "hello") return on_hello(s);
    if (type == "disconnect") return on_disconnect(s, str_field(msg, "reason"));
    spdlog::debug("slack socket mode: ignoring message type '{}'", type);
  }

  void on_hello(SocketModeSession& s) {
    if (s.ready || s.closing) return;
    s.ready = true;
    attempt = 0;
    next_delay.reset();
    update([](SocketModeStats& st) { ++st.hellos; });
    spdlog::info("slack socket mode: connected");
    // The replacement is live: now the old connections may go.
    for (auto& [id, other] : sessions)
      if (id != s.id) other->close();
    refresh_connected();
  }

  void on_disconnect(SocketModeSession& s, const std::string& reason) {
    if (reason == "link_disabled") {
      spdlog::error("slack socket mode: Slack disabled Socket Mode for this app (link_disabled); not reconnecting");
      disabled = true;
      update([](SocketModeStats& st) {
        st.state = SocketModeState::disabled;
        st.last_error = "link_disabled";
      });
      reconnect_timer->cancel();
      for (auto& [id, other] : sessions) other->close();
      connected = false;
      return;
    }
    if (reason == "too_many_websockets") {
      spdlog::warn("slack socket mode: too many connections for this app; backing off {} ms",
                   options.max_backoff.count());
      update([](SocketModeStats& st) { st.last_error = "too_many_websockets"; });
      next_delay = options.max_backoff;
      s.close();
      return;
    }
    // refresh_requested, warning (a refresh is near) or anything new: replace
    // this connection, keeping it until the new one says hello.
    if (s.closing) return;
    if (pending_opens > 0) return;
    for (const auto& [id, other] : sessions)
      if (id != s.id && !other->closing) return;  // a replacement is already on its way
    spdlog::info("slack socket mode: {}: opening a replacement connection", reason.empty() ? "disconnect" : reason);
    update([](SocketModeStats& st) { ++st.refreshes; });
    begin_connect();
  }

  void on_envelope(SocketModeSession& s, const json::object& msg) {
    Envelope env;
    env.envelope_id = str_field(msg, "envelope_id");
    env.type = str_field(msg, "type");
    if (const auto* p = msg.if_contains("payload"); p != nullptr && !p->is_null()) {
      env.payload_json = json::serialize(*p);
    } else {
      env.payload_json = "{}";
    }
    if (const auto* a = msg.if_contains("accepts_response_payload"); a != nullptr && a->is_bool())
      env.accepts_response_payload = a->get_bool();
    if (const auto* r = msg.if_contains("retry_attempt"); r != nullptr && r->is_int64())
      env.retry_attempt = static_cast<int>(r->get_int64());
    if (env.envelope_id.empty()) {
      spdlog::warn("slack socket mode: envelope without an id ignored");
      return;
    }

    env.content_key = content_key(env.type, env.payload_json);
    // Slack may deliver an envelope again under a new id (retry_attempt > 0):
    // its content says it is the same action.
    const bool fresh = remember(env.envelope_id) && (env.content_key.empty() || remember(env.content_key));
    if (!fresh) {
      spdlog::info("slack socket mode: envelope {} ({}) delivered again (retry {}); acked, not handled twice",
                   env.envelope_id, env.content_key, env.retry_attempt);
      update([](SocketModeStats& st) { ++st.duplicates; });
      write_ack(s.id, env.envelope_id, std::nullopt);
      return;
    }
    update([](SocketModeStats& st) { ++st.envelopes; });
    auto state = std::make_shared<AckState>(weak_from_this(), s.id, env.envelope_id, env.accepts_response_payload);
    AckFn ack = [state](std::optional<std::string> payload) { state->send(std::move(payload)); };
    try {
      handler(env, std::move(ack));
    } catch (const std::exception& e) {
      spdlog::error("slack socket mode: envelope handler threw: {}", e.what());
    }
  }

  // False when the id was seen within the dedup window.
  bool remember(const std::string& id) {
    const auto now = SteadyClock::now();
    while (!seen_order.empty() && (now - seen_order.front().first > kDedupWindow || seen_order.size() > kDedupMax)) {
      seen.erase(seen_order.front().second);
      seen_order.pop_front();
    }
    if (!seen.insert(id).second) return false;
    seen_order.emplace_back(now, id);
    return true;
  }

  // --- acks --------------------------------------------------------------------

  struct AckState {
    std::weak_ptr<Impl> impl;
    std::uint64_t session;
    std::string envelope_id;
    bool accepts;
    std::atomic<bool> done{false};

    AckState(std::weak_ptr<Impl> i, std::uint64_t s, std::string id, bool a)
        : impl(std::move(i)), session(s), envelope_id(std::move(id)), accepts(a) {}
    ~AckState() { send(std::nullopt); }

    void send(std::optional<std::string> payload) {
      if (done.exchange(true)) return;
      if (payload && !accepts) {
        spdlog::warn("slack socket mode: envelope {} accepts no response payload; acking without it", envelope_id);
        payload.reset();
      }
      if (auto p = impl.lock()) p->post_ack(session, envelope_id, std::move(payload));
    }
  };

  void post_ack(std::uint64_t session, std::string envelope_id, std::optional<std::string> payload) {
    std::lock_guard lock(mutex);
    if (torn_down) return;
    net::post(*strand, [this, session, id = std::move(envelope_id), payload = std::move(payload)]() mutable {
      write_ack(session, id, std::move(payload));
    });
  }

  // On the connection the envelope came on, else any live one.
  void write_ack(std::uint64_t session, const std::string& envelope_id, std::optional<std::string> payload) {
    json::object ack;
    ack["envelope_id"] = envelope_id;
    if (payload) {
      boost::system::error_code ec;
      json::value body = json::parse(*payload, ec);
      if (ec) {
        spdlog::error("slack socket mode: response payload for {} is not JSON; acking without it", envelope_id);
      } else {
        ack["payload"] = std::move(body);
      }
    }
    SocketModeSession* target = nullptr;
    if (auto it = sessions.find(session); it != sessions.end() && it->second->writable()) target = it->second.get();
    for (auto it = sessions.begin(); target == nullptr && it != sessions.end(); ++it)
      if (it->second->ready && it->second->writable()) target = it->second.get();
    if (target == nullptr) {
      spdlog::warn("slack socket mode: no connection to ack envelope {}; Slack will retry it", envelope_id);
      return;
    }
    // Counted first: the write may reach the peer before send() returns.
    update([](SocketModeStats& st) { ++st.acks_sent; });
    target->send(json::serialize(ack));
  }
};

namespace {

template <typename Ws>
class WsSession final : public SocketModeSession, public std::enable_shared_from_this<WsSession<Ws>> {
 public:
  static constexpr bool kTls = std::is_same_v<Ws, TlsWs>;

  WsSession(SlackSocketMode::Impl& client, std::uint64_t session_id, WsUrl url)
      : client_(client), url_(std::move(url)), ws_(make_stream(client)), hello_timer_(*client.strand) {
    id = session_id;
  }

  net::awaitable<void> run() {
    auto self = this->shared_from_this();  // the frame keeps the session alive
    std::string why = co_await open();
    if (why.empty()) {
      opened_ = true;
      if (!queue_.empty()) do_write();
      hello_timer_.expires_after(client_.options.hello_timeout);
      hello_timer_.async_wait([weak = this->weak_from_this()](beast::error_code ec) {
        auto s = weak.lock();
        if (ec || !s || s->ready || s->closing) return;
        s->client_.note_error("no hello from Slack; dropping the connection", true);
        s->close();
      });
      why = co_await read_loop();
    }
    hello_timer_.cancel();
    client_.on_session_end(*this, why);
  }

  bool writable() const override { return !close_started_ && !failed_; }

  bool send(std::string text) override {
    if (!writable()) return false;
    queue_.push_back(std::move(text));
    if (opened_ && !writing_) do_write();
    return true;
  }

  void close() override {
    if (closing) return;
    closing = true;
    if (!opened_) {
      // Still connecting: abort it; run() ends with operation_aborted.
      beast::get_lowest_layer(ws_).cancel();
      return;
    }
    if (!writing_) start_close();
  }

 private:
  static Ws make_stream(SlackSocketMode::Impl& client) {
    if constexpr (kTls) {
      return Ws(*client.strand, client.ssl_ctx);
    } else {
      return Ws(*client.strand);
    }
  }

  // "" on success, else what failed.
  net::awaitable<std::string> open() {
    tcp::resolver resolver(*client_.strand);
    auto [rec, results] = co_await resolver.async_resolve(url_.host, url_.port, kTuple);
    if (rec) co_return "resolve " + url_.host + ": " + rec.message();
    if (closing) co_return "closed while connecting";

    auto& tcp_layer = beast::get_lowest_layer(ws_);
    tcp_layer.expires_after(kConnectTimeout);
    auto [cec, ep] = co_await tcp_layer.async_connect(results, kTuple);
    if (cec) co_return "connect " + url_.host + ": " + cec.message();
    if (closing) co_return "closed while connecting";
    beast::error_code ignored;
    tcp_layer.socket().set_option(tcp::no_delay(true), ignored);

    if constexpr (kTls) {
      // SNI, and verification of the chain and of the host name.
      if (!SSL_set_tlsext_host_name(ws_.next_layer().native_handle(), url_.host.c_str()))
        co_return "TLS: cannot set SNI for " + url_.host;
      ws_.next_layer().set_verify_mode(ssl::verify_peer);
      ws_.next_layer().set_verify_callback(ssl::host_name_verification(url_.host));
      auto [hec] = co_await ws_.next_layer().async_handshake(ssl::stream_base::client, kTuple);
      if (hec) co_return "TLS handshake with " + url_.host + ": " + hec.message();
      if (closing) co_return "closed while connecting";
    }

    tcp_layer.expires_never();  // the websocket stream has its own timeouts
    websocket::stream_base::timeout t = websocket::stream_base::timeout::suggested(beast::role_type::client);
    t.handshake_timeout = kConnectTimeout;
    ws_.set_option(t);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::request_type& req) { req.set(http::field::user_agent, "baton"); }));
    ws_.read_message_max(kMaxMessage);
    const std::string host = url_.host + ":" + url_.port;
    auto [wec] = co_await ws_.async_handshake(host, url_.target, kTuple);
    if (wec) co_return "websocket handshake with " + url_.host + ": " + wec.message();

    // From now on: a bounded close handshake, and pings on an idle link.
    t.handshake_timeout = kCloseTimeout;
    if (client_.options.ping_interval.count() > 0) {
      t.idle_timeout = 2 * client_.options.ping_interval;
      t.keep_alive_pings = true;
    }
    ws_.set_option(t);
    ws_.text(true);
    co_return std::string();
  }

  net::awaitable<std::string> read_loop() {
    beast::flat_buffer buffer;
    for (;;) {
      auto [ec, n] = co_await ws_.async_read(buffer, kTuple);
      if (ec) {
        failed_ = true;
        if (closing && is_quiet(ec)) co_return "closed";
        co_return ec == websocket::error::closed ? "closed by Slack" : ec.message();
      }
      const std::string text = beast::buffers_to_string(buffer.data());
      buffer.consume(buffer.size());
      client_.on_message(*this, text);
    }
  }

  void do_write() {
    writing_ = true;
    ws_.async_write(net::buffer(queue_.front()),
                    [self = this->shared_from_this()](beast::error_code ec, std::size_t) { self->on_write(ec); });
  }

  void on_write(beast::error_code ec) {
    writing_ = false;
    queue_.pop_front();
    if (ec) {
      // The read loop sees the same failure and ends the session.
      if (!is_quiet(ec)) spdlog::debug("slack socket mode: write: {}", ec.message());
      failed_ = true;
      queue_.clear();
      return;
    }
    if (!queue_.empty()) return do_write();
    if (closing) start_close();
  }

  void start_close() {
    if (close_started_ || failed_) return;
    close_started_ = true;
    ws_.async_close(websocket::close_code::normal, [self = this->shared_from_this()](beast::error_code ec) {
      if (ec && !is_quiet(ec) && ec != beast::error::timeout)
        spdlog::debug("slack socket mode: close: {}", ec.message());
    });
  }

  SlackSocketMode::Impl& client_;
  WsUrl url_;
  Ws ws_;
  net::steady_timer hello_timer_;
  std::deque<std::string> queue_;
  bool opened_ = false;
  bool writing_ = false;
  bool close_started_ = false;
  bool failed_ = false;
};

}  // namespace

void SlackSocketMode::Impl::open_session(WsUrl url) {
  const std::uint64_t session_id = ++next_session;
  const bool tls = url.tls;
  if (tls) {
    auto s = std::make_shared<WsSession<TlsWs>>(*this, session_id, std::move(url));
    sessions[session_id] = s;
    net::co_spawn(*strand, s->run(), net::detached);
  } else {
    auto s = std::make_shared<WsSession<PlainWs>>(*this, session_id, std::move(url));
    sessions[session_id] = s;
    net::co_spawn(*strand, s->run(), net::detached);
  }
  refresh_connected();
}

SlackSocketMode::SlackSocketMode(SocketModeOptions options, EnvelopeHandler handler)
    : impl_(std::make_shared<Impl>(std::move(options), std::move(handler))) {}

SlackSocketMode::~SlackSocketMode() { stop(); }

void SlackSocketMode::start() {
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->started || impl_->stop_called) return;
    impl_->started = true;
    impl_->stats.state = SocketModeState::connecting;
  }
  if (!impl_->options.open_url_async) impl_->opener = std::make_unique<net::thread_pool>(1);
  impl_->work.emplace(impl_->ioc->get_executor());
  net::post(*impl_->strand, [impl = impl_.get()] { impl->begin_connect(); });
  impl_->thread = std::thread([impl = impl_.get()] {
    pthread_setname_np(pthread_self(), "baton-slack-ws");
    impl->ioc->run();
  });
}

void SlackSocketMode::stop() {
  Impl& impl = *impl_;
  {
    std::lock_guard lock(impl.mutex);
    if (impl.stop_called) return;
    impl.stop_called = true;
  }
  if (impl.thread.joinable()) {
    net::post(*impl.strand, [&impl] {
      impl.stopping = true;
      {
        std::lock_guard lock(impl.mutex);
        impl.stop_seen = true;
      }
      impl.reconnect_timer->cancel();
      for (auto& [id, s] : impl.sessions) s->close();
      impl.connected = false;
      impl.refresh_connected();
    });
    // Let the close handshakes finish (each bounded by kCloseTimeout).
    {
      std::unique_lock lock(impl.mutex);
      impl.drained.wait_for(lock, kStopGrace, [&] { return impl.no_sessions && impl.stop_seen; });
    }
  }
  if (impl.opener) impl.opener->join();  // a blocking open_url in progress finishes; its result is dropped (stopping)
  impl.work.reset();
  impl.ioc->stop();
  if (impl.thread.joinable()) impl.thread.join();
  {
    std::lock_guard lock(impl.mutex);
    impl.torn_down = true;
    impl.stats.state = impl.stats.state == SocketModeState::disabled ? SocketModeState::disabled
                                                                      : SocketModeState::stopped;
  }
  impl.connected = false;
  // Destroy what refers to the io_context before it: the loop's destruction
  // frees the suspended sessions.
  impl.sessions.clear();
  impl.reconnect_timer.reset();
  impl.strand.reset();
  impl.ioc.reset();
}

bool SlackSocketMode::connected() const { return impl_->connected; }

SocketModeStats SlackSocketMode::stats() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->stats;
}

}  // namespace baton::slack
