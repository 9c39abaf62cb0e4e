// Beast HTTP server, after the boost-1.81.0 async server example: a session
// per connection on its own strand, one request in flight per connection,
// errors as values, and the non-errors (end of stream, aborts) ignored.
#include "bot/http_server.hpp"

#include <pthread.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include <spdlog/spdlog.h>

#include "integrations/common/text.hpp"

namespace baton::bot {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

std::optional<std::string_view> Request::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (k == name) return std::string_view(v);
  return std::nullopt;
}

std::optional<std::string_view> Request::query_param(std::string_view name) const {
  for (const auto& [k, v] : query)
    if (k == name) return std::string_view(v);
  return std::nullopt;
}

namespace {
using integrations::json_escape;
}  // namespace

Response json_error(int status, std::string_view message) {
  Response r;
  r.status = status;
  r.body = "{\"status\":\"error\",\"message\":\"" + json_escape(message) + "\"}";
  return r;
}

Result<std::pair<std::string, std::uint16_t>> parse_listen(std::string_view listen) {
  std::string host;
  std::string_view port_text;
  if (!listen.empty() && listen.front() == '[') {
    auto close = listen.find(']');
    if (close == std::string_view::npos || close + 1 >= listen.size() || listen[close + 1] != ':')
      return fail(ErrorKind::invalid_request, "listen address must look like [::1]:8080");
    host = std::string(listen.substr(1, close - 1));
    port_text = listen.substr(close + 2);
  } else {
    auto colon = listen.rfind(':');
    if (colon == std::string_view::npos) return fail(ErrorKind::invalid_request, "listen address must be host:port");
    host = std::string(listen.substr(0, colon));
    port_text = listen.substr(colon + 1);
  }
  if (host.empty() || port_text.empty() || port_text.size() > 5)
    return fail(ErrorKind::invalid_request, "listen address must be host:port");
  unsigned port = 0;
  for (char c : port_text) {
    if (c < '0' || c > '9') return fail(ErrorKind::invalid_request, "listen port must be a number");
    port = port * 10 + static_cast<unsigned>(c - '0');
  }
  if (port > 65535) return fail(ErrorKind::invalid_request, "listen port must be at most 65535");
  return std::make_pair(host, static_cast<std::uint16_t>(port));
}

namespace {

class Session;

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// After a response with `Connection: close`, keep reading (and discarding) for
// a while before closing, so that request bytes we never read do not make the
// kernel answer with a reset that destroys the response (RFC 9112 §9.6).
constexpr std::chrono::seconds kLingerTimeout{2};
// Accept back-off after a failed accept(): grows from the first to the last.
constexpr milliseconds kAcceptBackoffFirst{50};
constexpr milliseconds kAcceptBackoffMax{1000};
// At most one accept warning per interval; the rest are counted into it.
constexpr std::chrono::seconds kAcceptLogInterval{10};
// Connections reset per round while out of descriptors (bounds one handler).
constexpr int kMaxShedPerRound = 256;
constexpr std::uint32_t kHeaderLimit = 16 * 1024;

bool is_resource_exhaustion(const beast::error_code& ec) {
  return ec == net::error::no_descriptors ||                                 // EMFILE
         ec == boost::system::errc::too_many_files_open_in_system ||         // ENFILE
         ec == net::error::no_buffer_space || ec == net::error::no_memory;  // ENOBUFS, ENOMEM
}

}  // namespace

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  HttpServerOptions options;
  Handler handler;
  // Declared before the I/O objects bound to it, so destroyed after them.
  net::io_context ioc;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::optional<tcp::acceptor> acceptor;       // on its own strand
  std::optional<net::steady_timer> accept_timer;  // on the acceptor's strand
  std::vector<std::thread> threads;
  std::uint16_t bound_port = 0;
  bool started = false;
  std::atomic<bool> stopping{false};

  // Guarded by mu. cv is notified when a session ends or a thread leaves run().
  std::mutex mu;
  std::condition_variable cv;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions;
  int threads_running = 0;
  // Set by stop() once it stops waiting: from then on answers are dropped
  // rather than posted to a loop that may no longer run.
  bool halted = false;

  // Touched only on the acceptor's strand (or by stop() after the join).
  int spare_fd = -1;
  milliseconds backoff{0};
  Clock::time_point last_accept_warning{};
  std::uint64_t accept_warnings_suppressed = 0;

  std::atomic<std::uint64_t> accept_errors_total{0};
  std::atomic<std::uint64_t> fd_exhausted_total{0};
  std::atomic<std::uint64_t> connections_reset_total{0};
  std::atomic<std::uint64_t> connections_rejected_total{0};
  std::atomic<std::uint64_t> bad_requests_total{0};
  std::atomic<std::size_t> connections_open{0};
  std::atomic<std::size_t> in_flight{0};
  std::atomic<bool> backing_off{false};

  Impl(HttpServerOptions o, Handler h) : options(std::move(o)), handler(std::move(h)), ioc(std::max(1, options.threads)) {}

  milliseconds header_timeout() const {
    const milliseconds request = options.request_timeout;
    if (options.header_timeout <= milliseconds::zero()) return request;
    return std::min(options.header_timeout, request);
  }

  void do_accept();
  void on_accept(beast::error_code ec, tcp::socket socket);
  void on_accept_error(const beast::error_code& ec);
  void shed_backlog();
  void open_spare();
  void close_spare();
  /// Registers a new session; true when it is beyond max_connections.
  bool add_session(const std::shared_ptr<Session>& session);
  void remove_session(Session* session);
  std::vector<std::shared_ptr<Session>> live_sessions();
};

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, std::shared_ptr<HttpServer::Impl> server)
      : server_(std::move(server)), stream_(std::move(socket)) {}
  ~Session() { server_->remove_session(this); }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void run() {
    net::dispatch(stream_.get_executor(), beast::bind_front_handler(&Session::do_read, shared_from_this()));
  }

  /// Beyond max_connections: answer 503 at once, without reading, and close.
  void reject() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      self->keep_alive_ = false;
      auto res = json_error(503, "too many connections");
      res.headers.emplace_back("Retry-After", "1");
      self->write(std::move(res));
    });
  }

  /// Shutdown has begun: a connection waiting for a request closes now; one
  /// with a request in progress closes after writing its answer.
  void on_server_stop() {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      if (self->state_ != State::reading_header) return;
      // Cancel rather than close: the read may already hold part of a request
      // (or its completion may be queued); on_header decides.
      self->stop_requested_ = true;
      beast::error_code ignored;
      self->stream_.socket().cancel(ignored);
    });
  }

  /// The grace period is over: close whatever the connection is doing.
  void force_close() {
    net::post(stream_.get_executor(), [self = shared_from_this()] { self->do_close(); });
  }

 private:
  enum class State { starting, reading_header, reading_body, handling, writing, lingering, closed };
  static constexpr auto kStopReadTimeout = std::chrono::seconds(2);
  bool stop_requested_ = false;  // on_server_stop cancelled the header read

  void do_read() {
    if (state_ == State::closed) return;
    if (server_->stopping) return do_close();
    state_ = State::reading_header;
    request_complete_ = false;
    head_ = false;
    parser_.emplace();
    parser_->body_limit(server_->options.max_body_bytes);
    parser_->header_limit(kHeaderLimit);
    // Bounds the idle keep-alive wait and a client trickling its headers.
    stream_.expires_after(server_->header_timeout());
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&Session::on_header, shared_from_this()));
  }

  void on_header(beast::error_code ec, std::size_t) {
    if (state_ == State::closed) return;  // closed by shutdown while the read completed
    if (ec == net::error::operation_aborted && stop_requested_) {
      // Shutdown cancelled the wait for a request. Idle: close. A request on
      // its way (bytes read or waiting in the socket): read it, briefly
      // bounded, and answer it with Connection: close.
      stop_requested_ = false;
      beast::error_code ignored;
      const bool started = buffer_.size() > 0 || parser_->got_some() || stream_.socket().available(ignored) > 0;
      if (!started) return do_close();
      stream_.expires_after(kStopReadTimeout);
      return http::async_read_header(stream_, buffer_, *parser_,
                                     beast::bind_front_handler(&Session::on_header, shared_from_this()));
    }
    head_ = parser_->get().method() == http::verb::head;
    if (ec) return on_read_error(ec);
    // RFC 9112 §6.3: a request whose Transfer-Encoding does not end in chunked
    // has no reliable length: answer 400 and close. (Beast itself rejects
    // Transfer-Encoding with Content-Length as bad_transfer_encoding or
    // bad_content_length, and a repeated chunked.)
    if (parser_->get().count(http::field::transfer_encoding) > 0 && !parser_->chunked())
      return bad_request(400, "Transfer-Encoding must end with chunked");
    state_ = State::reading_body;
    if (parser_->is_done()) return on_body({}, 0);
    stream_.expires_after(server_->options.request_timeout);
    http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&Session::on_body, shared_from_this()));
  }

  void on_body(beast::error_code ec, std::size_t) {
    if (state_ == State::closed) return;
    if (ec) return on_read_error(ec);
    request_complete_ = true;
    handle(parser_->release());
  }

  void on_read_error(const beast::error_code& ec) {
    // Socket errors, timeouts, and a client that left (cleanly or mid-request):
    // nobody to answer. Everything else the parser reports is a bad request.
    static const auto& parser_category = http::make_error_code(http::error::bad_method).category();
    if (ec.category() != parser_category || ec == http::error::end_of_stream || ec == http::error::partial_message) {
      if (ec.category() != parser_category && ec != beast::error::timeout && ec != net::error::operation_aborted &&
          ec != net::error::connection_reset && ec != net::error::eof)
        spdlog::debug("http read: {}", ec.message());
      return do_close();
    }
    if (ec == http::error::body_limit)
      return bad_request(413, "request body larger than " + std::to_string(server_->options.max_body_bytes) + " bytes");
    if (ec == http::error::header_limit) return bad_request(431, "request headers too large");
    return bad_request(400, parse_error_reason(ec));
  }

  static std::string parse_error_reason(const beast::error_code& ec) {
    switch (static_cast<http::error>(ec.value())) {
      case http::error::bad_method: return "malformed request line: bad method";
      case http::error::bad_target: return "malformed request line: bad target";
      case http::error::bad_version: return "malformed request line: bad HTTP version";
      case http::error::bad_line_ending: return "malformed line ending";
      case http::error::bad_field: return "malformed header field name";
      case http::error::bad_value: return "malformed header field value";
      case http::error::bad_obs_fold: return "obsolete line folding is not accepted";
      case http::error::bad_content_length: return "invalid Content-Length (or Content-Length with Transfer-Encoding)";
      case http::error::multiple_content_length: return "conflicting Content-Length values";
      case http::error::bad_transfer_encoding:
        return "invalid Transfer-Encoding (repeated, or with Content-Length)";
      case http::error::bad_chunk: return "malformed chunked body";
      case http::error::bad_chunk_extension: return "malformed chunk extension";
      default: return "malformed request: " + ec.message();
    }
  }

  // The framing cannot be trusted: answer and close (RFC 9112 §6.3, §9.6).
  void bad_request(int status, std::string reason) {
    ++server_->bad_requests_total;
    keep_alive_ = false;
    write(json_error(status, reason));
  }

  void handle(http::request<http::string_body> msg) {
    keep_alive_ = msg.keep_alive();
    version_ = msg.version();

    Request req;
    req.received = std::chrono::steady_clock::now();
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    auto parsed = boost::urls::parse_origin_form(msg.target());
    if (!parsed) {
      ++server_->bad_requests_total;
      return write(json_error(400, "malformed request target"));
    }
    req.path = std::string(parsed->path());
    for (auto param : parsed->params()) req.query.emplace_back(param.key, param.value);
    for (const auto& field : msg) {
      std::string name(field.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      req.headers.emplace_back(std::move(name), std::string(field.value()));
    }
    req.body = std::move(msg.body());
    beast::error_code ignored;
    auto ep = stream_.socket().remote_endpoint(ignored);
    if (!ignored) req.remote = ep.address().to_string();

    state_ = State::handling;
    ++server_->in_flight;
    stream_.expires_never();  // the handler may wait for a disk commit
    auto answered = std::make_shared<std::atomic<bool>>(false);
    auto self = shared_from_this();
    Responder respond = [self, answered](Response res) {
      if (answered->exchange(true)) {
        spdlog::warn("http: a second answer to one request was dropped");
        return;
      }
      self->answer(std::move(res));
    };
    const std::string path = req.path;
    try {
      server_->handler(std::move(req), std::move(respond));
    } catch (const std::exception& e) {
      // A bug in a route: fail this request only, unless it was answered.
      spdlog::error("http handler threw on {}: {}", path, e.what());
      if (!answered->exchange(true)) answer(json_error(500, "internal error"));
    } catch (...) {
      spdlog::error("http handler threw on {}", path);
      if (!answered->exchange(true)) answer(json_error(500, "internal error"));
    }
  }

  // Any thread: hands the answer to the session's strand.
  void answer(Response res) {
    --server_->in_flight;
    std::lock_guard lock(server_->mu);
    if (server_->halted) return;  // stop() gave up on this connection
    net::post(stream_.get_executor(), [self = shared_from_this(), res = std::move(res)]() mutable {
      self->write(std::move(res));
    });
  }

  void write(Response res) {
    if (state_ == State::closed) return;
    state_ = State::writing;
    auto out = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(res.status), version_);
    out->set(http::field::server, "baton");
    out->set(http::field::content_type, res.content_type);
    for (auto& [k, v] : res.headers) out->set(k, v);
    out->body() = std::move(res.body);
    // During shutdown every answer says it is the last (RFC 9112 §9.6).
    out->keep_alive(keep_alive_ && !server_->stopping);
    out->prepare_payload();
    // RFC 9110 §9.3.2: the answer to HEAD has the headers GET would have
    // (Content-Length included) and no body; a client reads none, so bytes
    // sent would be taken for the next response on the connection.
    if (head_) out->body().clear();
    stream_.expires_after(server_->options.request_timeout);
    http::async_write(stream_, *out, [self = shared_from_this(), out](beast::error_code ec, std::size_t) {
      if (self->state_ == State::closed) return;
      if (ec) return self->do_close();
      if (!out->keep_alive() || self->server_->stopping) return self->linger();
      self->do_read();
    });
  }

  // Closing with unread bytes from the client makes the kernel send a reset,
  // which can destroy our last response before the client reads it. When the
  // request was not read in full (an error answer) or more bytes are waiting,
  // half-close, then drain what the client still sends until it closes too or
  // kLingerTimeout passes (RFC 9112 §9.6).
  void linger() {
    beast::error_code ec;
    const auto waiting = stream_.socket().available(ec);
    if (request_complete_ && buffer_.size() == 0 && !ec && waiting == 0) return do_close();
    state_ = State::lingering;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return do_close();
    stream_.expires_after(kLingerTimeout);
    drain();
  }

  void drain() {
    buffer_.clear();
    stream_.async_read_some(buffer_.prepare(4096), [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (self->state_ == State::closed) return;
      if (ec) return self->do_close();
      self->drain();
    });
  }

  void do_close() {
    if (state_ == State::closed) return;
    state_ = State::closed;
    stream_.close();  // cancels the pending operation and the timer
  }

  // First: the server (and its io_context) must outlive the socket.
  std::shared_ptr<HttpServer::Impl> server_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  State state_ = State::starting;
  bool request_complete_ = false;  // the current request was read to its end
  bool keep_alive_ = true;
  bool head_ = false;  // the request being answered is a HEAD
  unsigned version_ = 11;
};

}  // namespace

bool HttpServer::Impl::add_session(const std::shared_ptr<Session>& session) {
  std::lock_guard lock(mu);
  sessions.emplace(session.get(), session);
  connections_open = sessions.size();
  return sessions.size() > options.max_connections;
}

void HttpServer::Impl::remove_session(Session* session) {
  {
    std::lock_guard lock(mu);
    sessions.erase(session);
    connections_open = sessions.size();
  }
  cv.notify_all();
}

std::vector<std::shared_ptr<Session>> HttpServer::Impl::live_sessions() {
  std::vector<std::shared_ptr<Session>> out;
  std::lock_guard lock(mu);
  out.reserve(sessions.size());
  for (auto& [raw, weak] : sessions)
    if (auto s = weak.lock()) out.push_back(std::move(s));
  return out;
}

void HttpServer::Impl::do_accept() {
  if (stopping) return;
  acceptor->async_accept(net::make_strand(ioc), [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
    self->on_accept(ec, std::move(socket));
  });
}

void HttpServer::Impl::on_accept(beast::error_code ec, tcp::socket socket) {
  if (stopping || ec == net::error::operation_aborted) return;
  if (ec) return on_accept_error(ec);
  backoff = milliseconds::zero();
  socket.set_option(tcp::no_delay(true), ec);
  auto session = std::make_shared<Session>(std::move(socket), shared_from_this());
  if (add_session(session)) {
    ++connections_rejected_total;
    session->reject();
  } else {
    session->run();
  }
  do_accept();
}

// Re-arming accept() at once after EMFILE spins: the pending connection stays
// in the backlog and fails again immediately. Shed the backlog, log once per
// interval, and wait before accepting again.
void HttpServer::Impl::on_accept_error(const beast::error_code& ec) {
  ++accept_errors_total;
  const bool exhausted = is_resource_exhaustion(ec);
  if (exhausted) {
    ++fd_exhausted_total;
    shed_backlog();
  }
  backoff = backoff == milliseconds::zero() ? kAcceptBackoffFirst : std::min(backoff * 2, kAcceptBackoffMax);
  const auto now = Clock::now();
  if (last_accept_warning == Clock::time_point{} || now - last_accept_warning >= kAcceptLogInterval) {
    if (accept_warnings_suppressed > 0)
      spdlog::warn("accept: {}; pausing accept for {} ms ({} more accept errors since the last warning)",
                   ec.message(), backoff.count(), accept_warnings_suppressed);
    else
      spdlog::warn("accept: {}; pausing accept for {} ms", ec.message(), backoff.count());
    last_accept_warning = now;
    accept_warnings_suppressed = 0;
  } else {
    ++accept_warnings_suppressed;
  }
  backing_off = true;
  accept_timer->expires_after(backoff);
  accept_timer->async_wait([self = shared_from_this()](beast::error_code wait_ec) {
    self->backing_off = false;
    if (wait_ec || self->stopping) return;
    self->do_accept();
  });
}

// Out of descriptors, the backlog's clients would hang until we recover. Give
// back the reserved descriptor, accept each waiting connection and reset it at
// once (SO_LINGER 0), then reserve the descriptor again.
void HttpServer::Impl::shed_backlog() {
  close_spare();
  const int listen_fd = acceptor->native_handle();
  for (int i = 0; i < kMaxShedPerRound; ++i) {
    const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      break;  // EAGAIN: the backlog is empty; EMFILE: someone took the descriptor
    }
    ::linger reset{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    ::close(fd);
    ++connections_reset_total;
  }
  open_spare();
}

void HttpServer::Impl::open_spare() {
  if (spare_fd < 0) spare_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
}

void HttpServer::Impl::close_spare() {
  if (spare_fd >= 0) ::close(spare_fd);
  spare_fd = -1;
}

HttpServer::HttpServer(HttpServerOptions options, Handler handler)
    : impl_(std::make_shared<Impl>(std::move(options), std::move(handler))) {}

HttpServer::~HttpServer() { stop(std::chrono::milliseconds(0)); }

Result<std::uint16_t> HttpServer::start() {
  auto& s = *impl_;
  if (s.started) return s.bound_port;
  beast::error_code ec;
  auto address = net::ip::make_address(s.options.host, ec);
  if (ec) {
    // A host name such as "localhost": resolve it once.
    tcp::resolver resolver(s.ioc);
    auto results = resolver.resolve(s.options.host, std::to_string(s.options.port), ec);
    if (ec || results.empty()) return fail(ErrorKind::invalid_request, "cannot resolve listen host '" + s.options.host + "'");
    address = results.begin()->endpoint().address();
  }
  tcp::endpoint endpoint(address, s.options.port);
  s.acceptor.emplace(net::make_strand(s.ioc));
  auto& acc = *s.acceptor;
  acc.open(endpoint.protocol(), ec);
  if (!ec) acc.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acc.bind(endpoint, ec);
  if (!ec) acc.listen(net::socket_base::max_listen_connections, ec);
  // shed_backlog() calls accept4() on it directly and must never block.
  if (!ec) acc.non_blocking(true, ec);
  if (ec) return fail(ErrorKind::permanent, "cannot listen on " + s.options.host + ":" +
                                                std::to_string(s.options.port) + ": " + ec.message());
  s.bound_port = acc.local_endpoint().port();
  s.accept_timer.emplace(acc.get_executor());
  s.open_spare();
  // Keeps the threads in run() while a session waits on the handler with no
  // I/O pending; released by stop() once every answer is written.
  s.work.emplace(net::make_work_guard(s.ioc));
  s.do_accept();
  const int n = std::max(1, s.options.threads);
  {
    std::lock_guard lock(s.mu);
    s.threads_running = n;
  }
  for (int i = 0; i < n; ++i)
    s.threads.emplace_back([impl = impl_] {
      pthread_setname_np(pthread_self(), "baton-http");
      impl->ioc.run();
      {
        std::lock_guard lock(impl->mu);
        --impl->threads_running;
      }
      impl->cv.notify_all();
    });
  s.started = true;
  return s.bound_port;
}

void HttpServer::stop(std::chrono::milliseconds grace) {
  if (!impl_ || impl_->stopping.exchange(true)) return;
  auto& s = *impl_;
  if (!s.started) {
    s.close_spare();
    return;
  }
  const auto deadline = Clock::now() + grace;
  // No new connections; a pending back-off ends.
  net::post(s.acceptor->get_executor(), [impl = impl_] {
    beast::error_code ec;
    impl->acceptor->close(ec);
    impl->accept_timer->cancel();
  });
  // Idle keep-alive connections close now; the rest after their answer.
  for (auto& session : s.live_sessions()) session->on_server_stop();
  {
    std::unique_lock lock(s.mu);
    s.cv.wait_until(lock, deadline, [&] { return s.sessions.empty(); });
    s.halted = true;
  }
  // Past the grace period: close what is left; late answers are dropped.
  for (auto& session : s.live_sessions()) session->force_close();
  s.work.reset();
  {
    // With every socket closed the threads leave run() by themselves; stop
    // the loop only if something unforeseen is still pending.
    std::unique_lock lock(s.mu);
    if (!s.cv.wait_for(lock, std::chrono::seconds(5), [&] { return s.threads_running == 0; })) {
      spdlog::warn("http: I/O still pending at shutdown; stopping the loop");
      s.ioc.stop();
    }
  }
  for (auto& t : s.threads)
    if (t.joinable()) t.join();
  s.threads.clear();
  s.close_spare();
}

std::uint16_t HttpServer::port() const { return impl_->bound_port; }

HttpServerStats HttpServer::stats() const {
  const auto& s = *impl_;
  HttpServerStats out;
  out.accept_errors_total = s.accept_errors_total.load();
  out.fd_exhausted_total = s.fd_exhausted_total.load();
  out.connections_reset_total = s.connections_reset_total.load();
  out.connections_rejected_total = s.connections_rejected_total.load();
  out.bad_requests_total = s.bad_requests_total.load();
  out.connections_open = s.connections_open.load();
  out.requests_in_flight = s.in_flight.load();
  out.currently_backing_off = s.backing_off.load();
  return out;
}

}  // namespace baton::bot
