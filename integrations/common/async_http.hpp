#pragma once
// The one non-blocking HTTP(S) client: libcurl's multi interface driven by the
// service's io_context (docs/async_http.md). curl and Asio stay in the .cpp.
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "integrations/http_client.hpp"

namespace boost::asio {
class io_context;
}

namespace baton::integrations {

struct AsyncHttpOptions {
  long max_host_connections = 0;    ///< CURLMOPT_MAX_HOST_CONNECTIONS; 0 = no limit
  long max_total_connections = 0;   ///< CURLMOPT_MAX_TOTAL_CONNECTIONS; 0 = no limit
  long max_idle_connections = 256;  ///< CURLMOPT_MAXCONNECTS: kept open for reuse
  std::size_t default_key_limit = 256;  ///< in-flight cap of a key without set_key_limit()
};

struct AsyncHttpStats {
  struct Key {
    std::string key;
    std::size_t limit = 0;
    std::size_t in_flight = 0;  ///< handed to curl (connecting, waiting for a connection, or sending)
    std::size_t queued = 0;     ///< waiting for a slot of this key: no socket, no thread
  };
  std::size_t in_flight = 0;
  std::size_t queued = 0;
  std::vector<Key> keys;  ///< keys with a set limit or with requests, by name
};

/// Transfers run on an internal strand of `io` (any number of threads may run it).
/// Same results as HttpClient: any HTTP status is a success; transport errors
/// (refused, timeout, DNS, TLS) are `transient`, a malformed URL `invalid_request`.
/// TLS verifies the peer and host name; HTTP/2 is used where TLS ALPN offers it;
/// connections are reused per host. `timeout` runs from when the transfer leaves
/// its key's queue, time waiting for a connection under max_host_connections included.
class AsyncHttpClient {
 public:
  using Done = std::function<void(Result<HttpResponse>)>;

  AsyncHttpClient(boost::asio::io_context& io, AsyncHttpOptions options = {});
  /// Calls the done of every request not yet finished (transient, "cancelled") on
  /// the calling thread. Destroy it where no handler of `io` runs concurrently:
  /// after `io` stopped, or on the thread of a one-thread `io`, not from a done;
  /// and before `io` itself.
  ~AsyncHttpClient();
  AsyncHttpClient(const AsyncHttpClient&) = delete;
  AsyncHttpClient& operator=(const AsyncHttpClient&) = delete;

  /// Thread-safe, never blocks. Queued under `key` (a channel, say) until fewer than
  /// its limit are in flight. `done` (which must not throw) is called exactly once,
  /// on the client's strand, never inside request().
  void request(std::string key, HttpRequest request, Done done);
  void request(HttpRequest request, Done done) { this->request({}, std::move(request), std::move(done)); }

  /// Thread-safe. `limit` >= 1 (std::invalid_argument otherwise); raising it starts waiting ones.
  void set_key_limit(std::string key, std::size_t limit);

  /// Thread-safe, idempotent: every queued and in-flight request, and every later
  /// one, completes with ErrorKind::transient "cancelled: ...". Idle connections are
  /// closed by the destructor.
  void shutdown();

  AsyncHttpStats stats() const;  ///< thread-safe snapshot

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace baton::integrations
