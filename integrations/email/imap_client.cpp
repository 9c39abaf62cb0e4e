#include "integrations/email/imap_client.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstring>
#include <stdexcept>

#include "integrations/common/curl_callbacks.hpp"

namespace baton::integrations {
namespace {

struct Sink {
  std::string data;
  std::size_t limit = 0;
  bool full = false;
};

std::size_t on_data(char* data, std::size_t size, std::size_t count, void* user) {
  auto* sink = static_cast<Sink*>(user);
  const std::size_t n = size * count;
  const std::size_t room = sink->limit > sink->data.size() ? sink->limit - sink->data.size() : 0;
  sink->data.append(data, std::min(n, room));
  if (n > room) sink->full = true;
  return n;  // the rest is dropped, not refused: the transfer still ends cleanly
}

struct Upload {
  const std::string* data = nullptr;
  std::size_t offset = 0;
};

std::size_t on_read(char* buffer, std::size_t size, std::size_t count, void* user) {
  auto* up = static_cast<Upload*>(user);
  const std::size_t n = std::min(size * count, up->data->size() - up->offset);
  std::memcpy(buffer, up->data->data() + up->offset, n);
  up->offset += n;
  return n;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<std::atomic<bool>*>(user)->load() ? 1 : 0;
}

// "imaps://host:993/INBOX" -> the same with the mailbox, INBOX when the URL names none.
std::string mailbox_url(const std::string& url) {
  const auto scheme = url.find("://");
  const auto slash = url.find('/', scheme + 3);
  if (slash == std::string::npos) return url + "/INBOX";
  if (slash + 1 == url.size()) return url + "INBOX";
  std::string out = url;
  while (out.size() > slash + 1 && out.back() == '/') out.pop_back();
  return out;
}

}  // namespace

struct ImapClient::Impl {
  EmailRepliesConfig config;
  std::string mailbox;  // the URL of the mailbox
  CURL* curl = nullptr;
  std::atomic<bool> aborted{false};
  char error[CURL_ERROR_SIZE] = {};

  // Resets the handle (its connection stays cached) and sets what every command needs.
  void prepare(const std::string& url, Sink& sink) {
    curl_easy_reset(curl);
    error[0] = 0;
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "imap,imaps");
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
    if (!config.username.empty()) {
      curl_easy_setopt(curl, CURLOPT_USERNAME, config.username.c_str());
      curl_easy_setopt(curl, CURLOPT_PASSWORD, config.password.c_str());
    }
    if (config.url.rfind("imap://", 0) == 0)
      curl_easy_setopt(curl, CURLOPT_USE_SSL, config.require_starttls ? long(CURLUSESSL_ALL) : long(CURLUSESSL_TRY));
    if (!config.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, config.ca_file.c_str());
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, config.verify_peer ? 1L : 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, config.verify_peer ? 2L : 0L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, long(config.timeout.count()));
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, long(config.timeout.count()));
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &aborted);
  }

  Result<void> perform(const char* what) {
    if (aborted) return fail(ErrorKind::transient, std::string("cancelled: IMAP ") + what);
    const CURLcode rc = curl_easy_perform(curl);
    if (rc == CURLE_OK) return {};
    std::string message = std::string("IMAP ") + what + ": " + curl_easy_strerror(rc);
    if (error[0] != 0) message += " (" + std::string(error) + ")";
    if (rc == CURLE_LOGIN_DENIED) return fail(ErrorKind::auth_revoked, std::move(message));
    return fail(ErrorKind::transient, std::move(message));
  }
};

ImapClient::ImapClient(EmailRepliesConfig config) : impl_(std::make_unique<Impl>()) {
  if (config.url.rfind("imap://", 0) != 0 && config.url.rfind("imaps://", 0) != 0)
    throw std::invalid_argument("smtp.replies url must start with imap:// or imaps://");
  curl_callbacks::global_init();
  impl_->mailbox = mailbox_url(config.url);
  impl_->config = std::move(config);
  impl_->curl = curl_easy_init();
  if (impl_->curl == nullptr) throw std::runtime_error("curl_easy_init failed");
}

ImapClient::~ImapClient() {
  if (impl_->curl != nullptr) curl_easy_cleanup(impl_->curl);  // LOGOUT, bounded by the timeout
}

void ImapClient::abort() { impl_->aborted = true; }

Result<std::vector<std::uint64_t>> ImapClient::unprocessed(std::size_t max) {
  Sink sink{{}, 1 << 20};
  impl_->prepare(impl_->mailbox, sink);
  const std::string command = std::string("UID SEARCH UNDELETED UNKEYWORD ") + kImapProcessedKeyword;
  curl_easy_setopt(impl_->curl, CURLOPT_CUSTOMREQUEST, command.c_str());
  if (auto r = impl_->perform("search"); !r) return tl::unexpected(r.error());
  // "* SEARCH 3 4 7" (RFC 3501 section 7.2.5); other untagged lines (FLAGS...) are skipped.
  std::vector<std::uint64_t> uids;
  std::size_t pos = 0;
  const std::string& text = sink.data;
  while (pos < text.size()) {
    auto end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    if (line.rfind("* SEARCH", 0) != 0) continue;
    line.remove_prefix(8);
    while (!line.empty()) {
      while (!line.empty() && (line.front() == ' ' || line.front() == '\r')) line.remove_prefix(1);
      std::uint64_t uid = 0;
      auto [p, ec] = std::from_chars(line.data(), line.data() + line.size(), uid);
      if (ec != std::errc{}) break;
      uids.push_back(uid);
      line.remove_prefix(std::size_t(p - line.data()));
    }
  }
  std::sort(uids.begin(), uids.end());
  if (uids.size() > max) uids.resize(max);
  return uids;
}

Result<ImapMessage> ImapClient::fetch(std::uint64_t uid, std::size_t max_header, std::size_t max_body) {
  ImapMessage m;
  m.uid = uid;
  const std::string base = impl_->mailbox + "/;UID=" + std::to_string(uid);
  // BODY[HEADER]<0.n> and BODY[TEXT]<0.n> (RFC 3501 section 6.4.5; RFC 5092 URLs):
  // the server sends no more than asked.
  Sink header{{}, max_header};
  impl_->prepare(base + ";SECTION=HEADER;PARTIAL=0." + std::to_string(max_header), header);
  if (auto r = impl_->perform("fetch header"); !r) return tl::unexpected(r.error());
  Sink body{{}, max_body};
  impl_->prepare(base + ";SECTION=TEXT;PARTIAL=0." + std::to_string(max_body), body);
  if (auto r = impl_->perform("fetch body"); !r) return tl::unexpected(r.error());
  m.header = std::move(header.data);
  m.body = std::move(body.data);
  return m;
}

Result<void> ImapClient::mark_processed(std::uint64_t uid) {
  Sink sink{{}, 64 * 1024};
  impl_->prepare(impl_->mailbox, sink);
  const std::string command =
      "UID STORE " + std::to_string(uid) + " +FLAGS.SILENT (\\Seen " + kImapProcessedKeyword + ")";
  curl_easy_setopt(impl_->curl, CURLOPT_CUSTOMREQUEST, command.c_str());
  return impl_->perform("store");
}

Result<void> ImapClient::append(const std::string& message) {
  Sink sink{{}, 64 * 1024};
  impl_->prepare(impl_->mailbox, sink);
  Upload up{&message, 0};
  curl_easy_setopt(impl_->curl, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(impl_->curl, CURLOPT_READFUNCTION, on_read);
  curl_easy_setopt(impl_->curl, CURLOPT_READDATA, &up);
  curl_easy_setopt(impl_->curl, CURLOPT_INFILESIZE_LARGE, curl_off_t(message.size()));
  return impl_->perform("append");
}

}  // namespace baton::integrations
