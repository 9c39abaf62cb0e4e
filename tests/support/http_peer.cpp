#include "tests/support/http_peer.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace baton::test {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}
}  // namespace

std::optional<std::string> RecordedRequest::header(std::string_view name) const {
  const auto key = lower(name);
  for (const auto& [k, v] : headers) {
    if (k == key) return v;
  }
  return std::nullopt;
}

struct HttpPeer::Impl {
  // Pointers so that stop() can destroy the loop, and with it every suspended
  // session and its socket, while requests() stays readable.
  std::unique_ptr<asio::io_context> ioc = std::make_unique<asio::io_context>(1);
  std::unique_ptr<tcp::acceptor> acceptor = std::make_unique<tcp::acceptor>(*ioc);
  std::uint16_t port = 0;
  std::thread thread;

  mutable std::mutex mutex;
  mutable std::condition_variable received;
  std::vector<RecordedRequest> requests;
  std::deque<ScriptedResponse> script;
  ScriptedResponse fallback;
  Handler handler;
  std::uint64_t connections = 0;
  bool stopped = false;

  ScriptedResponse record(RecordedRequest request) {
    ScriptedResponse answer;
    {
      std::lock_guard lock(mutex);
      std::optional<ScriptedResponse> chosen;
      if (handler) chosen = handler(request);
      if (!chosen && !script.empty()) {
        chosen = std::move(script.front());
        script.pop_front();
      }
      answer = chosen ? std::move(*chosen) : fallback;
      requests.push_back(std::move(request));
    }
    received.notify_all();
    return answer;
  }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor->async_accept(kTuple);
      if (ec == asio::error::operation_aborted || !acceptor->is_open()) co_return;
      if (ec) continue;
      std::uint64_t id = 0;
      {
        std::lock_guard lock(mutex);
        id = ++connections;
      }
      asio::co_spawn(*ioc, session(std::move(socket), id), asio::detached);
    }
  }

  asio::awaitable<void> session(tcp::socket socket, std::uint64_t id) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    for (;;) {
      http::request<http::string_body> req;
      auto [rec, rn] = co_await http::async_read(stream, buffer, req, kTuple);
      if (rec) break;  // closed by the client, or garbage: either way this connection is done

      RecordedRequest recorded;
      recorded.method = std::string(req.method_string());
      recorded.target = std::string(req.target());
      for (const auto& field : req) {
        recorded.headers.emplace_back(lower(field.name_string()), std::string(field.value()));
      }
      recorded.body = req.body();
      recorded.connection = id;
      ScriptedResponse answer = record(std::move(recorded));

      if (answer.delay.count() > 0) {
        asio::steady_timer timer(stream.get_executor(), answer.delay);
        auto [tec] = co_await timer.async_wait(kTuple);
        if (tec) break;
      }

      http::response<http::string_body> res;
      res.version(req.version());
      res.result(static_cast<unsigned>(answer.status));
      bool has_type = false;
      for (const auto& [name, value] : answer.headers) {
        if (lower(name) == "content-type") has_type = true;
        res.insert(name, value);
      }
      if (!has_type) res.set(http::field::content_type, "application/json");
      res.body() = answer.body;
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      auto [wec, wn] = co_await http::async_write(stream, res, kTuple);
      if (wec || !res.keep_alive()) break;
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  }
};

HttpPeer::HttpPeer() : impl_(std::make_unique<Impl>()) {
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

HttpPeer::~HttpPeer() { stop(); }

std::uint16_t HttpPeer::port() const { return impl_->port; }

std::string HttpPeer::url() const { return "http://127.0.0.1:" + std::to_string(impl_->port); }

std::vector<RecordedRequest> HttpPeer::requests() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->requests;
}

bool HttpPeer::wait_for_requests(std::size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->mutex);
  return impl_->received.wait_for(lock, timeout, [&] { return impl_->requests.size() >= n; });
}

void HttpPeer::push_response(ScriptedResponse response) {
  std::lock_guard lock(impl_->mutex);
  impl_->script.push_back(std::move(response));
}

void HttpPeer::set_default_response(ScriptedResponse response) {
  std::lock_guard lock(impl_->mutex);
  impl_->fallback = std::move(response);
}

void HttpPeer::set_handler(Handler handler) {
  std::lock_guard lock(impl_->mutex);
  impl_->handler = std::move(handler);
}

void HttpPeer::stop() {
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->stopped) return;
    impl_->stopped = true;
  }
  impl_->ioc->stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  // Destroying the loop destroys the suspended sessions, closing their sockets.
  impl_->acceptor.reset();
  impl_->ioc.reset();
}

}  // namespace baton::test
