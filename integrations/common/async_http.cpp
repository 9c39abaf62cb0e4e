#include "integrations/common/async_http.hpp"

#include "integrations/common/curl_callbacks.hpp"
#include <curl/curl.h>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string_view>
#include <unordered_map>
#include <utility>

// The multi "socket" API: curl tells which sockets to watch
// (https://curl.se/libcurl/c/CURLMOPT_SOCKETFUNCTION.html) and when to call it
// back with no event (https://curl.se/libcurl/c/CURLMOPT_TIMERFUNCTION.html);
// each readiness or expiry is reported with curl_multi_socket_action and finished
// transfers are collected with curl_multi_info_read
// (https://curl.se/libcurl/c/libcurl-multi.html). Every curl call, and so every
// callback of curl, runs on the strand.

namespace baton::integrations {
namespace asio = boost::asio;

namespace {

constexpr std::string_view kCancelled = "cancelled: the HTTP client is shutting down";

using curl_callbacks::global_init;
using curl_callbacks::on_body;
using curl_callbacks::on_header;
using curl_callbacks::trim;

bool is_https(std::string_view url) {
  constexpr std::string_view kScheme = "https://";
  return url.size() >= kScheme.size() &&
         std::equal(kScheme.begin(), kScheme.end(), url.begin(),
                    [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); });
}

tl::unexpected<Error> cancelled() { return fail(ErrorKind::transient, std::string(kCancelled)); }

}  // namespace

struct AsyncHttpClient::Impl : std::enable_shared_from_this<Impl> {
  struct Pending {
    std::string key;
    HttpRequest request;
    Done done;
  };

  struct Key {
    std::size_t limit = 0;  // 0: the default
    std::size_t in_flight = 0;
    std::deque<Pending> queue;
  };

  struct Transfer {
    std::string key;
    HttpRequest request;  // owns the URL and body curl points into
    HttpResponse response;
    Done done;
    curl_slist* headers = nullptr;
    char error[CURL_ERROR_SIZE] = {};
  };

  // A socket curl asked us to watch. curl owns the descriptor: it is released,
  // never closed, on CURL_POLL_REMOVE (which curl sends before it closes one).
  struct Socket {
    Socket(asio::io_context& io, curl_socket_t s) : descriptor(io), fd(s) {}
    ~Socket() { close(); }
    void close() {
      closed = true;
      if (descriptor.is_open()) descriptor.release();  // cancels pending waits
    }
    asio::posix::stream_descriptor descriptor;
    curl_socket_t fd;
    int wanted = 0;  // CURL_POLL_IN | CURL_POLL_OUT
    bool reading = false;
    bool writing = false;
    bool closed = false;
  };

  Impl(asio::io_context& io, AsyncHttpOptions opts)
      : io(io), strand(asio::make_strand(io)), timer(io), options(opts) {
    global_init();
    multi = curl_multi_init();
    share = curl_share_init();
    if (multi == nullptr || share == nullptr) {
      if (multi != nullptr) curl_multi_cleanup(multi);
      if (share != nullptr) curl_share_cleanup(share);
      throw std::runtime_error("libcurl: cannot create a multi or share handle");
    }
    // New connections to a host resume its TLS session (https://curl.se/libcurl/c/CURLSHOPT_SHARE.html).
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, &Impl::on_curl_socket);
    curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, &Impl::on_curl_timer);
    curl_multi_setopt(multi, CURLMOPT_TIMERDATA, this);
    curl_multi_setopt(multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, options.max_host_connections);
    curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, options.max_total_connections);
    // A fixed size rather than curl's default of four per transfer added
    // (https://curl.se/libcurl/c/CURLMOPT_MAXCONNECTS.html).
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, options.max_idle_connections);
  }

  ~Impl() {
    if (multi != nullptr) curl_multi_cleanup(multi);
    if (share != nullptr) curl_share_cleanup(share);
  }

  // ---- any thread, under `mutex` ----

  std::size_t limit_of(const Key& key) const { return key.limit != 0 ? key.limit : options.default_key_limit; }

  void post_pump_locked() {
    if (pump_posted) return;
    pump_posted = true;
    asio::post(strand, [weak = weak_from_this()] {
      if (auto self = weak.lock()) self->pump();
    });
  }

  void enqueue(Pending pending) {
    std::lock_guard lock(mutex);
    auto& key = keys[pending.key];
    key.queue.push_back(std::move(pending));
    ++queued_total;
    post_pump_locked();
  }

  // Drops a key's entry once it has nothing to remember.
  void forget_if_idle(std::map<std::string, Key>::iterator it) {
    if (it->second.limit == 0 && it->second.in_flight == 0 && it->second.queue.empty()) keys.erase(it);
  }

  std::vector<Pending> take_queued_locked() {
    std::vector<Pending> taken;
    for (auto it = keys.begin(); it != keys.end();) {
      auto next = std::next(it);
      for (auto& p : it->second.queue) taken.push_back(std::move(p));
      it->second.queue.clear();
      forget_if_idle(it);
      it = next;
    }
    queued_total = 0;
    return taken;
  }

  // ---- the strand ----

  // Starts what the key limits allow; after shutdown, refuses what was queued.
  void pump() {
    std::vector<Pending> start_now;
    std::vector<Pending> refused;
    {
      std::lock_guard lock(mutex);
      pump_posted = false;
      if (shut_down) {
        refused = take_queued_locked();
      } else {
        for (auto it = keys.begin(); it != keys.end();) {
          auto next = std::next(it);
          Key& key = it->second;
          while (!key.queue.empty() && key.in_flight < limit_of(key)) {
            start_now.push_back(std::move(key.queue.front()));
            key.queue.pop_front();
            ++key.in_flight;
            --queued_total;
            ++in_flight_total;
          }
          forget_if_idle(it);
          it = next;
        }
      }
    }
    for (auto& p : start_now) start(std::move(p));
    for (auto& p : refused) p.done(cancelled());
  }

  // Frees the key's slot, then reports. The slot goes to the next waiting request
  // through a posted pump, so `done` never runs inside curl or inside request().
  template <class Report>
  void complete(const std::string& key_name, Report&& report) {
    {
      std::lock_guard lock(mutex);
      auto it = keys.find(key_name);
      if (it != keys.end()) {
        --it->second.in_flight;
        if (!it->second.queue.empty()) post_pump_locked();
        forget_if_idle(it);
      }
      --in_flight_total;
    }
    report();
  }

  void complete_error(Transfer& t, tl::unexpected<Error> error) {
    complete(t.key, [&] { t.done(std::move(error)); });
  }

  void start(Pending p) {
    auto t = std::make_unique<Transfer>();
    t->key = std::move(p.key);
    t->request = std::move(p.request);
    t->done = std::move(p.done);
    CURL* easy = curl_easy_init();
    if (easy == nullptr) {
      complete_error(*t, fail(ErrorKind::transient, "curl_easy_init failed"));
      return;
    }
    configure_http(easy, *t);

    Transfer& ref = *t;
    transfers.emplace(easy, std::move(t));
    if (CURLMcode mc = curl_multi_add_handle(multi, easy); mc != CURLM_OK) {
      auto owned = std::move(transfers[easy]);
      transfers.erase(easy);
      curl_easy_cleanup(easy);
      curl_slist_free_all(ref.headers);
      ref.headers = nullptr;
      complete_error(*owned, fail(ErrorKind::transient, std::string("curl_multi_add_handle: ") + curl_multi_strerror(mc)));
    }
  }

  void configure_http(CURL* easy, Transfer& t) {
    const HttpRequest& req = t.request;
    curl_easy_setopt(easy, CURLOPT_URL, req.url.c_str());
    curl_easy_setopt(easy, CURLOPT_SHARE, share);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
    // Provider answers are small JSON documents: a 1 KB receive buffer instead
    // of curl's 16 KB default keeps 10,000 sends in flight under 200 MB
    // (https://curl.se/libcurl/c/CURLOPT_BUFFERSIZE.html; docs/benchmarks.md, O3).
    curl_easy_setopt(easy, CURLOPT_BUFFERSIZE, 1024L);
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    // HTTP/2 when TLS ALPN offers it, HTTP/1.1 otherwise; an https transfer waits
    // for a connection being set up rather than opening a second one, in case it
    // can multiplex (https://curl.se/libcurl/c/CURLOPT_PIPEWAIT.html).
    curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
    if (is_https(req.url)) curl_easy_setopt(easy, CURLOPT_PIPEWAIT, 1L);
    const long timeout_ms = std::max<long>(1, static_cast<long>(req.timeout.count()));
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, t.error);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &t.response.body);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, &t.response);
    if (req.method == "GET") {
      curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
    } else if (req.method == "HEAD") {
      curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
    } else {
      if (req.method != "POST") curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, req.method.c_str());
      curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
      curl_easy_setopt(easy, CURLOPT_POSTFIELDS, req.body.data());
    }
    // No "Expect: 100-continue" round trip: it only adds latency to small bodies.
    t.headers = curl_slist_append(nullptr, "Expect:");
    for (const auto& [name, value] : req.headers) {
      std::string line = value.empty() ? name + ";" : name + ": " + value;
      t.headers = curl_slist_append(t.headers, line.c_str());
    }
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, t.headers);
  }

  // Takes one transfer out of curl; its done is the caller's to call.
  std::unique_ptr<Transfer> detach(CURL* easy) {
    auto it = transfers.find(easy);
    if (it == transfers.end()) return nullptr;
    auto t = std::move(it->second);
    transfers.erase(it);
    curl_multi_remove_handle(multi, easy);
    curl_easy_cleanup(easy);
    curl_slist_free_all(t->headers);
    t->headers = nullptr;
    return t;
  }

  void collect_finished() {
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL* easy = msg->easy_handle;
      const CURLcode rc = msg->data.result;  // msg dies with curl_multi_remove_handle
      long status = 0;
      curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
      auto t = detach(easy);
      if (!t) continue;
      if (rc == CURLE_OK) {
        t->response.status = static_cast<int>(status);
        complete(t->key, [&] { t->done(std::move(t->response)); });
        continue;
      }
      std::string message = curl_easy_strerror(rc);
      if (t->error[0] != '\0') message += std::string(": ") + t->error;
      const ErrorKind kind = (rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL)
                                 ? ErrorKind::invalid_request
                                 : ErrorKind::transient;
      complete_error(*t, fail(kind, std::move(message)));
    }
  }

  void do_shutdown() {
    std::vector<Pending> queued;
    {
      std::lock_guard lock(mutex);
      shut_down = true;
      queued = take_queued_locked();
    }
    std::vector<CURL*> active;
    for (const auto& [easy, t] : transfers) active.push_back(easy);
    for (CURL* easy : active) {
      if (auto t = detach(easy)) complete_error(*t, cancelled());
    }
    for (auto& p : queued) p.done(cancelled());
  }

  // The destructor's part: what do_shutdown does, then curl's sockets handed back.
  void close() {
    do_shutdown();
    // A done may have made a request meanwhile: it is refused here too.
    for (;;) {
      std::vector<Pending> queued;
      {
        std::lock_guard lock(mutex);
        queued = take_queued_locked();
      }
      if (queued.empty()) break;
      for (auto& p : queued) p.done(cancelled());
    }
    curl_multi_cleanup(multi);
    multi = nullptr;
    for (auto& [fd, socket] : sockets) socket->close();
    sockets.clear();
    timer.cancel();
  }

  void watch(const std::shared_ptr<Socket>& socket) {
    if ((socket->wanted & CURL_POLL_IN) && !socket->reading) {
      socket->reading = true;
      socket->descriptor.async_wait(asio::posix::stream_descriptor::wait_read,
                                    asio::bind_executor(strand, [weak = weak_from_this(), socket](auto ec) {
                                      socket->reading = false;
                                      if (auto self = weak.lock()) self->on_ready(socket, ec, CURL_POLL_IN);
                                    }));
    }
    if ((socket->wanted & CURL_POLL_OUT) && !socket->writing) {
      socket->writing = true;
      socket->descriptor.async_wait(asio::posix::stream_descriptor::wait_write,
                                    asio::bind_executor(strand, [weak = weak_from_this(), socket](auto ec) {
                                      socket->writing = false;
                                      if (auto self = weak.lock()) self->on_ready(socket, ec, CURL_POLL_OUT);
                                    }));
    }
  }

  void on_ready(const std::shared_ptr<Socket>& socket, boost::system::error_code ec, int direction) {
    // A wait cancelled by release(), or for a direction curl no longer wants.
    if (socket->closed || ec == asio::error::operation_aborted || !(socket->wanted & direction)) return;
    int flags = direction == CURL_POLL_IN ? CURL_CSELECT_IN : CURL_CSELECT_OUT;
    if (ec) flags = CURL_CSELECT_ERR;
    int running = 0;
    curl_multi_socket_action(multi, socket->fd, flags, &running);
    collect_finished();
    // Re-arm: asio's reactor re-reports a socket that is still ready when a new
    // wait starts, so data curl left unread is not lost. Not after an error:
    // curl then closes the socket, or the transfer's timeout ends it.
    if (!ec && !socket->closed) watch(socket);
  }

  void on_timeout() {
    int running = 0;
    curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
    collect_finished();
  }

  static int on_curl_socket(CURL*, curl_socket_t s, int what, void* user, void*) {
    auto* self = static_cast<Impl*>(user);
    auto it = self->sockets.find(s);
    if (what == CURL_POLL_REMOVE) {
      if (it != self->sockets.end()) {
        it->second->close();
        self->sockets.erase(it);
      }
      return 0;
    }
    if (it == self->sockets.end()) {
      auto socket = std::make_shared<Socket>(self->io, s);
      boost::system::error_code ec;
      socket->descriptor.assign(s, ec);
      if (ec) {
        socket->closed = true;
        return -1;  // curl fails the transfers on this socket
      }
      it = self->sockets.emplace(s, std::move(socket)).first;
    }
    it->second->wanted = what & (CURL_POLL_IN | CURL_POLL_OUT);
    self->watch(it->second);
    return 0;
  }

  // curl must not be called back from inside this callback, so even a 0 ms
  // timeout goes through the timer.
  static int on_curl_timer(CURLM*, long timeout_ms, void* user) {
    auto* self = static_cast<Impl*>(user);
    if (timeout_ms < 0) {
      self->timer.cancel();
      return 0;
    }
    self->timer.expires_after(std::chrono::milliseconds(timeout_ms));
    self->timer.async_wait(asio::bind_executor(self->strand, [weak = self->weak_from_this()](auto ec) {
      if (ec) return;
      if (auto self = weak.lock()) self->on_timeout();
    }));
    return 0;
  }

  asio::io_context& io;
  asio::strand<asio::io_context::executor_type> strand;
  asio::steady_timer timer;
  const AsyncHttpOptions options;
  CURLM* multi = nullptr;
  CURLSH* share = nullptr;
  // The strand's.
  std::unordered_map<CURL*, std::unique_ptr<Transfer>> transfers;
  std::unordered_map<curl_socket_t, std::shared_ptr<Socket>> sockets;
  // Shared with request(), set_key_limit() and stats().
  mutable std::mutex mutex;
  std::map<std::string, Key> keys;
  std::size_t queued_total = 0;
  std::size_t in_flight_total = 0;
  bool shut_down = false;
  bool pump_posted = false;
};

AsyncHttpClient::AsyncHttpClient(boost::asio::io_context& io, AsyncHttpOptions options)
    : impl_(std::make_shared<Impl>(io, options)) {
  if (options.default_key_limit == 0) throw std::invalid_argument("default_key_limit must be at least 1");
}

AsyncHttpClient::~AsyncHttpClient() {
  if (impl_) impl_->close();
}

void AsyncHttpClient::request(std::string key, HttpRequest request, Done done) {
  impl_->enqueue(Impl::Pending{std::move(key), std::move(request), std::move(done)});
}

void AsyncHttpClient::set_key_limit(std::string key, std::size_t limit) {
  if (limit == 0) throw std::invalid_argument("the in-flight limit of key '" + key + "' must be at least 1");
  std::lock_guard lock(impl_->mutex);
  auto& entry = impl_->keys[std::move(key)];
  entry.limit = limit;
  if (!entry.queue.empty()) impl_->post_pump_locked();
}

void AsyncHttpClient::shutdown() {
  asio::post(impl_->strand, [weak = impl_->weak_from_this()] {
    if (auto self = weak.lock()) self->do_shutdown();
  });
}

AsyncHttpStats AsyncHttpClient::stats() const {
  AsyncHttpStats out;
  std::lock_guard lock(impl_->mutex);
  out.in_flight = impl_->in_flight_total;
  out.queued = impl_->queued_total;
  for (const auto& [name, key] : impl_->keys) {
    out.keys.push_back({name, impl_->limit_of(key), key.in_flight, key.queue.size()});
  }
  return out;
}

}  // namespace baton::integrations
