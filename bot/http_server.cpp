// Beast HTTP server, after the boost-1.81.0 async server example: a session
// per connection on its own strand, one request in flight per connection,
// errors as values, and the non-errors (end of stream, aborts) ignored.
#include "bot/http_server.hpp"

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <spdlog/spdlog.h>

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
std::string json_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out;
}
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

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  HttpServerOptions options;
  Handler handler;
  net::io_context ioc;
  std::optional<tcp::acceptor> acceptor;
  std::vector<std::thread> threads;
  std::atomic<int> in_flight{0};
  std::atomic<bool> stopping{false};
  std::uint16_t bound_port = 0;

  Impl(HttpServerOptions o, Handler h) : options(std::move(o)), handler(std::move(h)), ioc(options.threads) {}

  void do_accept();
};

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, std::shared_ptr<HttpServer::Impl> server)
      : stream_(std::move(socket)), server_(std::move(server)) {}

  void run() {
    net::dispatch(stream_.get_executor(), beast::bind_front_handler(&Session::do_read, shared_from_this()));
  }

 private:
  void do_read() {
    if (server_->stopping) return do_close();
    parser_.emplace();
    parser_->body_limit(server_->options.max_body_bytes);
    parser_->header_limit(16 * 1024);
    stream_.expires_after(server_->options.request_timeout);
    http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&Session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec == http::error::end_of_stream || ec == net::error::operation_aborted || ec == beast::error::timeout)
      return do_close();
    if (ec == http::error::body_limit) {
      keep_alive_ = false;
      return write(json_error(413, "request body larger than " + std::to_string(server_->options.max_body_bytes) +
                                       " bytes"));
    }
    if (ec == http::error::header_limit) {
      keep_alive_ = false;
      return write(json_error(431, "request headers too large"));
    }
    if (ec) {
      if (ec != net::error::connection_reset && ec != net::error::eof)
        spdlog::debug("http read: {}", ec.message());
      return do_close();
    }
    auto msg = parser_->release();
    keep_alive_ = msg.keep_alive();
    version_ = msg.version();

    Request req;
    req.received = std::chrono::steady_clock::now();
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    auto parsed = boost::urls::parse_origin_form(msg.target());
    if (!parsed) {
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

    ++server_->in_flight;
    stream_.expires_never();  // the handler may wait for a disk commit
    auto self = shared_from_this();
    server_->handler(std::move(req), [self](Response res) {
      net::post(self->stream_.get_executor(), [self, res = std::move(res)]() mutable {
        --self->server_->in_flight;
        self->write(std::move(res));
      });
    });
  }

  void write(Response res) {
    auto out = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(res.status), version_);
    out->set(http::field::server, "baton");
    out->set(http::field::content_type, res.content_type);
    for (auto& [k, v] : res.headers) out->set(k, v);
    out->body() = std::move(res.body);
    out->keep_alive(keep_alive_ && !server_->stopping);
    out->prepare_payload();
    stream_.expires_after(server_->options.request_timeout);
    http::async_write(stream_, *out,
                      [self = shared_from_this(), out](beast::error_code ec, std::size_t) {
                        if (ec) return self->do_close();
                        if (!out->keep_alive()) return self->do_close();
                        self->buffer_.consume(0);
                        self->do_read();
                      });
  }

  void do_close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<HttpServer::Impl> server_;
  bool keep_alive_ = true;
  unsigned version_ = 11;
};

}  // namespace

void HttpServer::Impl::do_accept() {
  acceptor->async_accept(net::make_strand(ioc), [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (ec == net::error::operation_aborted || self->stopping) return;
      spdlog::warn("accept: {}", ec.message());
    } else {
      socket.set_option(tcp::no_delay(true), ec);
      std::make_shared<Session>(std::move(socket), self)->run();
    }
    if (!self->stopping) self->do_accept();
  });
}

HttpServer::HttpServer(HttpServerOptions options, Handler handler)
    : impl_(std::make_shared<Impl>(std::move(options), std::move(handler))) {}

HttpServer::~HttpServer() { stop(std::chrono::milliseconds(0)); }

Result<std::uint16_t> HttpServer::start() {
  beast::error_code ec;
  auto address = net::ip::make_address(impl_->options.host, ec);
  if (ec) {
    // A host name such as "localhost": resolve it once.
    tcp::resolver resolver(impl_->ioc);
    auto results = resolver.resolve(impl_->options.host, std::to_string(impl_->options.port), ec);
    if (ec || results.empty()) return fail(ErrorKind::invalid_request, "cannot resolve listen host '" + impl_->options.host + "'");
    address = results.begin()->endpoint().address();
  }
  tcp::endpoint endpoint(address, impl_->options.port);
  impl_->acceptor.emplace(net::make_strand(impl_->ioc));
  auto& acc = *impl_->acceptor;
  acc.open(endpoint.protocol(), ec);
  if (!ec) acc.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acc.bind(endpoint, ec);
  if (!ec) acc.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return fail(ErrorKind::permanent, "cannot listen on " + impl_->options.host + ":" +
                                                std::to_string(impl_->options.port) + ": " + ec.message());
  impl_->bound_port = acc.local_endpoint().port();
  impl_->do_accept();
  for (int i = 0; i < std::max(1, impl_->options.threads); ++i)
    impl_->threads.emplace_back([impl = impl_] { impl->ioc.run(); });
  return impl_->bound_port;
}

void HttpServer::stop(std::chrono::milliseconds grace) {
  if (!impl_ || impl_->stopping.exchange(true)) return;
  if (impl_->acceptor) {
    net::post(impl_->acceptor->get_executor(), [impl = impl_] {
      beast::error_code ec;
      impl->acceptor->close(ec);
    });
  }
  // Let requests already accepted get their answers (e.g. waiting on a commit).
  const auto until = std::chrono::steady_clock::now() + grace;
  while (impl_->in_flight > 0 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::this_thread::sleep_for(std::chrono::milliseconds(grace.count() > 0 ? 20 : 0));  // let the last writes flush
  impl_->ioc.stop();
  for (auto& t : impl_->threads)
    if (t.joinable()) t.join();
  impl_->threads.clear();
}

std::uint16_t HttpServer::port() const { return impl_->bound_port; }

}  // namespace baton::bot
