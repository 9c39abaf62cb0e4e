#include "integrations/http_client.hpp"

#include "integrations/common/curl_callbacks.hpp"
#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <mutex>

namespace baton::integrations {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

using curl_callbacks::global_init;
using curl_callbacks::on_body;
using curl_callbacks::on_header;
using curl_callbacks::trim;

std::string snippet(std::string_view body) {
  constexpr std::size_t kMax = 200;
  return std::string(body.substr(0, kMax));
}

}  // namespace

std::optional<std::string> HttpResponse::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (iequals(key, name)) return value;
  }
  return std::nullopt;
}

struct HttpClient::Impl {
  CURL* curl = nullptr;
  char error[CURL_ERROR_SIZE] = {};
};

HttpClient::HttpClient() : impl_(std::make_unique<Impl>()) {
  global_init();
  impl_->curl = curl_easy_init();
  if (impl_->curl == nullptr) throw std::runtime_error("curl_easy_init failed");
}

HttpClient::~HttpClient() {
  if (impl_ && impl_->curl) curl_easy_cleanup(impl_->curl);
}

Result<HttpResponse> HttpClient::request(const HttpRequest& req) {
  CURL* curl = impl_->curl;
  // reset() keeps the connection cache, so keep-alive survives between requests.
  curl_easy_reset(curl);
  HttpResponse response;
  impl_->error[0] = '\0';

  curl_easy_setopt(curl, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  const long timeout_ms = std::max<long>(1, static_cast<long>(req.timeout.count()));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, impl_->error);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &response);

  if (req.method == "GET") {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  } else if (req.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else {
    if (req.method != "POST") curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req.body.data());
  }

  curl_slist* headers = nullptr;
  // No "Expect: 100-continue" round trip: it only adds latency to small bodies.
  headers = curl_slist_append(headers, "Expect:");
  for (const auto& [name, value] : req.headers) {
    std::string line = value.empty() ? name + ";" : name + ": " + value;
    headers = curl_slist_append(headers, line.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);

  CURLcode rc = curl_easy_perform(curl);
  curl_slist_free_all(headers);

  if (rc != CURLE_OK) {
    std::string message = std::string(curl_easy_strerror(rc));
    if (impl_->error[0] != '\0') message += std::string(": ") + impl_->error;
    if (rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL) {
      return fail(ErrorKind::invalid_request, std::move(message));
    }
    return fail(ErrorKind::transient, std::move(message));
  }
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  response.status = static_cast<int>(status);
  return response;
}

std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           std::chrono::system_clock::time_point now) {
  value = trim(value);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    long long seconds = 0;
    auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (ec != std::errc() || ptr != value.data() + value.size()) return std::nullopt;
    return std::chrono::seconds(seconds);
  }
  std::string text(value);
  time_t at = curl_getdate(text.c_str(), nullptr);
  if (at < 0) return std::nullopt;
  auto when = std::chrono::system_clock::from_time_t(at);
  if (when <= now) return std::chrono::milliseconds(0);
  return std::chrono::duration_cast<std::chrono::milliseconds>(when - now);
}

Result<void> classify(const HttpResponse& response) {
  return classify(response, std::chrono::system_clock::now());
}

Result<void> classify(const HttpResponse& response, std::chrono::system_clock::time_point now) {
  const int s = response.status;
  if (s >= 200 && s < 300) return {};
  std::string message = "HTTP " + std::to_string(s);
  if (!response.body.empty()) message += ": " + snippet(response.body);
  ErrorKind kind = ErrorKind::permanent;
  if (s == 429) {
    Error error{ErrorKind::rate_limited, std::move(message), {}};
    if (auto value = response.header("Retry-After")) {
      if (auto delay = parse_retry_after(*value, now)) error.retry_after = *delay;
    }
    return tl::unexpected<Error>(std::move(error));
  }
  if (s == 408 || (s >= 500 && s < 600)) {
    kind = ErrorKind::transient;
  } else if (s == 401 || s == 403) {
    kind = ErrorKind::auth_revoked;
  } else if (s == 404) {
    kind = ErrorKind::not_found;
  }
  return fail(kind, std::move(message));
}

}  // namespace baton::integrations
