// bench_curl_memory: what libcurl's multi interface alone costs per transfer in flight, to
// read baton's peak RSS in the outage stage against (docs/benchmarks.md, Outage scale).
// Starts `n` POSTs (about the size of a baton webhook page) at once to a loopback bench_sink that
// answers slowly, drives them with curl_multi_perform/curl_multi_poll for at most `seconds`, and
// prints the peak VmRSS of this process over the idle one, per transfer.
// Usage: bench_curl_memory <port> <n> [buffer_bytes (CURLOPT_BUFFERSIZE, 0 = curl's default)]
//                          [max_host_connections (0 = no limit)] [seconds (default 5)]
// e.g. with `bench_sink 18090 /tmp/sink.log 10000` running: bench_curl_memory 18090 10000
// Loopback only, bounded in count and time; prints figures, asserts nothing.
#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

long rss_kib() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return 0;
  char line[256];
  long v = 0;
  while (std::fgets(line, sizeof line, f) != nullptr)
    if (std::strncmp(line, "VmRSS:", 6) == 0) v = std::atol(line + 6);
  std::fclose(f);
  return v;
}

size_t discard(char*, size_t size, size_t n, void*) { return size * n; }

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: bench_curl_memory <port> <n> [buffer_bytes] [max_host_connections] [seconds]\n");
    return 2;
  }
  const std::string url = "http://127.0.0.1:" + std::string(argv[1]) + "/hook";
  const int n = std::atoi(argv[2]);
  const long buffer = argc > 3 ? std::atol(argv[3]) : 0;
  const long max_host = argc > 4 ? std::atol(argv[4]) : 0;
  const double seconds = argc > 5 ? std::atof(argv[5]) : 5;
  // About the size of a webhook page: a JSON body of ~1 KB.
  const std::string body = R"({"event":"incident.triggered","incident":{"summary":"ttfp-1 )" + std::string(900, 'x') + "\"}}";

  curl_global_init(CURL_GLOBAL_ALL);
  CURLM* multi = curl_multi_init();
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, 256L);  // as baton's AsyncHttpClient
  curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, max_host);
  const long base = rss_kib();
  for (int i = 0; i < n; ++i) {
    CURL* easy = curl_easy_init();
    curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 60000L);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
    if (buffer > 0) curl_easy_setopt(easy, CURLOPT_BUFFERSIZE, buffer);
    curl_multi_add_handle(multi, easy);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  long peak = base;
  int running = 1;
  while (running > 0 && std::chrono::steady_clock::now() < deadline) {
    curl_multi_perform(multi, &running);
    peak = std::max(peak, rss_kib());
    curl_multi_poll(multi, nullptr, 0, 50, nullptr);
  }
  std::printf("curlmem_transfers %d\ncurlmem_buffer_bytes %ld\ncurlmem_max_host_connections %ld\n", n, buffer, max_host);
  std::printf("curlmem_base_rss_kib %ld\ncurlmem_peak_rss_kib %ld\ncurlmem_bytes_per_transfer %.0f\n", base, peak,
              (peak - base) * 1024.0 / n);
  return 0;  // exits with the transfers still open: the sink sees the connections close
}
