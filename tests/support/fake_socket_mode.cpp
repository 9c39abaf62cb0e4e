#include "tests/support/fake_socket_mode.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

namespace baton::test {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace json = boost::json;
using tcp = asio::ip::tcp;

namespace {
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// One accepted WebSocket; touched only on the server's thread.
struct Conn : std::enable_shared_from_this<Conn> {
  explicit Conn(beast::tcp_stream stream) : ws(std::move(stream)) {}
  websocket::stream<beast::tcp_stream> ws;
  std::size_t number = 0;
  std::deque<std::string> queue;
  bool writing = false;
  bool open = true;

  void send(std::string text) {
    queue.push_back(std::move(text));
    if (!writing) write_next();
  }
  void write_next() {
    writing = true;
    ws.async_write(asio::buffer(queue.front()), [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->writing = false;
      self->queue.pop_front();
      if (ec) {
        self->queue.clear();
        return;
      }
      if (!self->queue.empty()) self->write_next();
    });
  }
};
}  // namespace

struct FakeSocketMode::Impl {
  std::unique_ptr<asio::io_context> ioc = std::make_unique<asio::io_context>(1);
  std::unique_ptr<tcp::acceptor> acceptor = std::make_unique<tcp::acceptor>(*ioc);
  std::uint16_t port = 0;
  std::thread thread;

  // Server thread only.
  std::map<std::size_t, std::shared_ptr<Conn>> live;

  mutable std::mutex mutex;
  mutable std::condition_variable changed;
  std::vector<SocketModeConnection> log;
  std::vector<SocketModeAck> acks;
  std::set<std::string> issued;
  std::set<std::string> used;
  std::size_t next_ticket = 0;
  std::size_t next_envelope = 0;
  std::size_t refused = 0;
  bool stopped = false;

  // Runs `f` on the server thread and waits for it; rethrows what it throws.
  void run_sync(std::function<void()> f) {
    std::promise<void> done;
    auto result = done.get_future();
    asio::post(*ioc, [&] {
      try {
        f();
        done.set_value();
      } catch (...) {
        done.set_exception(std::current_exception());
      }
    });
    result.get();
  }

  std::shared_ptr<Conn> pick(std::size_t number) {
    if (number == 0) {
      if (live.empty()) throw std::runtime_error("fake socket mode: no open connection");
      return live.rbegin()->second;
    }
    auto it = live.find(number);
    if (it == live.end()) throw std::runtime_error("fake socket mode: connection " + std::to_string(number) + " is not open");
    return it->second;
  }

  void mark_closed(std::size_t number, bool by_client) {
    live.erase(number);
    {
      std::lock_guard lock(mutex);
      auto& entry = log.at(number - 1);
      if (entry.open) {
        entry.open = false;
        entry.closed_by_client = by_client;
      }
    }
    changed.notify_all();
  }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor->async_accept(kTuple);
      if (ec == asio::error::operation_aborted || !acceptor->is_open()) co_return;
      if (ec) continue;
      asio::co_spawn(*ioc, session(std::move(socket)), asio::detached);
    }
  }

  // "/link/?ticket=7" -> "7"
  static std::string ticket_of(std::string_view target) {
    const auto at = target.find("ticket=");
    if (at == std::string_view::npos) return {};
    auto rest = target.substr(at + 7);
    return std::string(rest.substr(0, rest.find('&')));
  }

  asio::awaitable<void> session(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    http::request<http::string_body> req;
    auto [rec, rn] = co_await http::async_read(stream, buffer, req, kTuple);
    if (rec) co_return;

    // Single-use tickets, as Slack's URLs are.
    const std::string ticket = ticket_of(req.target());
    bool ok = websocket::is_upgrade(req);
    {
      std::lock_guard lock(mutex);
      ok = ok && issued.count(ticket) == 1 && used.insert(ticket).second;
      if (!ok) ++refused;
    }
    if (!ok) {
      http::response<http::string_body> res{http::status::unauthorized, req.version()};
      res.set(http::field::content_type, "text/plain");
      res.body() = "invalid or reused ticket";
      res.keep_alive(false);
      res.prepare_payload();
      co_await http::async_write(stream, res, kTuple);
      co_return;
    }

    auto conn = std::make_shared<Conn>(std::move(stream));
    conn->ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    auto [aec] = co_await conn->ws.async_accept(req, kTuple);
    if (aec) co_return;
    conn->ws.text(true);
    {
      std::lock_guard lock(mutex);
      conn->number = log.size() + 1;
      SocketModeConnection entry;
      entry.number = conn->number;
      entry.ticket = ticket;
      entry.others_open = live.size();
      log.push_back(entry);
    }
    live[conn->number] = conn;
    changed.notify_all();

    json::object hello{{"type", "hello"},
                       {"num_connections", static_cast<std::int64_t>(live.size())},
                       {"debug_info", {{"host", "applink-fake"}, {"approximate_connection_time", 18060}}},
                       {"connection_info", {{"app_id", "A0FAKE"}}}};
    conn->send(json::serialize(hello));

    beast::flat_buffer in;
    for (;;) {
      auto [ec, n] = co_await conn->ws.async_read(in, kTuple);
      if (ec) {
        if (conn->open) {
          conn->open = false;
          mark_closed(conn->number, ec == websocket::error::closed);
        }
        break;
      }
      record(conn->number, beast::buffers_to_string(in.data()));
      in.consume(in.size());
    }
  }

  void record(std::size_t connection, const std::string& text) {
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec || !v.is_object()) return;
    const auto& obj = v.get_object();
    const auto* id = obj.if_contains("envelope_id");
    if (id == nullptr || !id->is_string()) return;
    SocketModeAck ack;
    ack.envelope_id = std::string(id->get_string());
    if (const auto* p = obj.if_contains("payload")) ack.payload_json = json::serialize(*p);
    ack.connection = connection;
    {
      std::lock_guard lock(mutex);
      acks.push_back(std::move(ack));
    }
    changed.notify_all();
  }

  template <typename Pred>
  bool wait(std::chrono::milliseconds timeout, Pred pred) const {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, timeout, pred);
  }
};

FakeSocketMode::FakeSocketMode() : impl_(std::make_unique<Impl>()) {
  tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
  auto& acceptor = *impl_->acceptor;
  acceptor.open(endpoint.protocol());
  acceptor.set_option(asio::socket_base::reuse_address(true));
  acceptor.bind(endpoint);
  acceptor.listen();
  impl_->port = acceptor.local_endpoint().port();
  asio::co_spawn(*impl_->ioc, impl_->accept_loop(), asio::detached);
  impl_->thread = std::thread([impl = impl_.get()] { impl->ioc->run(); });
}

FakeSocketMode::~FakeSocketMode() { stop(); }

std::string FakeSocketMode::url() {
  std::lock_guard lock(impl_->mutex);
  const std::string ticket = std::to_string(++impl_->next_ticket);
  impl_->issued.insert(ticket);
  return "ws://127.0.0.1:" + std::to_string(impl_->port) + "/link/?ticket=" + ticket;
}

std::uint16_t FakeSocketMode::port() const { return impl_->port; }

std::string FakeSocketMode::push_envelope(const std::string& type, const std::string& payload_json,
                                          bool accepts_response_payload, int retry_attempt,
                                          const std::string& envelope_id, std::size_t connection) {
  std::string id = envelope_id;
  if (id.empty()) {
    std::lock_guard lock(impl_->mutex);
    id = "env-" + std::to_string(++impl_->next_envelope);
  }
  json::object env{{"envelope_id", id},
                   {"type", type},
                   {"payload", json::parse(payload_json)},
                   {"accepts_response_payload", accepts_response_payload},
                   {"retry_attempt", retry_attempt},
                   {"retry_reason", retry_attempt > 0 ? "timeout" : ""}};
  std::string text = json::serialize(env);
  impl_->run_sync([&] { impl_->pick(connection)->send(std::move(text)); });
  return id;
}

void FakeSocketMode::send_disconnect(const std::string& reason, std::size_t connection) {
  json::object msg{{"type", "disconnect"},
                   {"reason", reason},
                   {"debug_info", {{"host", "applink-fake"}}}};
  std::string text = json::serialize(msg);
  impl_->run_sync([&] { impl_->pick(connection)->send(std::move(text)); });
}

void FakeSocketMode::drop_connection(std::size_t connection) {
  impl_->run_sync([&] {
    auto conn = impl_->pick(connection);
    conn->open = false;
    impl_->mark_closed(conn->number, false);
    beast::error_code ignored;
    beast::get_lowest_layer(conn->ws).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(conn->ws).socket().close(ignored);
  });
}

std::size_t FakeSocketMode::connections() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->log.size();
}

std::size_t FakeSocketMode::open_connections() const {
  std::lock_guard lock(impl_->mutex);
  std::size_t n = 0;
  for (const auto& c : impl_->log) n += c.open ? 1 : 0;
  return n;
}

std::vector<SocketModeConnection> FakeSocketMode::connection_log() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->log;
}

std::vector<SocketModeAck> FakeSocketMode::acks() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->acks;
}

std::size_t FakeSocketMode::refused_handshakes() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->refused;
}

bool FakeSocketMode::wait_for_acks(std::size_t n, std::chrono::milliseconds timeout) const {
  return impl_->wait(timeout, [&] { return impl_->acks.size() >= n; });
}

bool FakeSocketMode::wait_for_connections(std::size_t n, std::chrono::milliseconds timeout) const {
  return impl_->wait(timeout, [&] { return impl_->log.size() >= n; });
}

bool FakeSocketMode::wait_for_open_connections(std::size_t n, std::chrono::milliseconds timeout) const {
  return impl_->wait(timeout, [&] {
    std::size_t open = 0;
    for (const auto& c : impl_->log) open += c.open ? 1 : 0;
    return open == n;
  });
}

void FakeSocketMode::stop() {
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->stopped) return;
    impl_->stopped = true;
  }
  impl_->ioc->stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  // Destroying the loop destroys the suspended sessions, closing their sockets.
  impl_->live.clear();
  impl_->acceptor.reset();
  impl_->ioc.reset();
}

}  // namespace baton::test
