#include "integrations/email/smtp_notifier.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <stdexcept>

namespace baton::integrations {
namespace {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// One easy handle per thread: it keeps its connection cache between sends.
struct SmtpHandle {
  CURL* curl = nullptr;
  char error[CURL_ERROR_SIZE] = {};

  SmtpHandle() {
    global_init();
    curl = curl_easy_init();
    if (curl == nullptr) throw std::runtime_error("curl_easy_init failed");
  }
  ~SmtpHandle() { curl_easy_cleanup(curl); }
  SmtpHandle(const SmtpHandle&) = delete;
  SmtpHandle& operator=(const SmtpHandle&) = delete;
};

SmtpHandle& thread_handle() {
  thread_local SmtpHandle handle;
  return handle;
}

struct Upload {
  std::string_view data;
  std::size_t offset = 0;
};

size_t on_read(char* buffer, size_t size, size_t count, void* user) {
  auto* upload = static_cast<Upload*>(user);
  const std::size_t n = std::min(size * count, upload->data.size() - upload->offset);
  std::memcpy(buffer, upload->data.data() + upload->offset, n);
  upload->offset += n;
  return n;
}

std::string describe(int curl_code, int smtp_reply, std::string_view detail) {
  std::string message = "SMTP: ";
  message += curl_easy_strerror(static_cast<CURLcode>(curl_code));
  if (!detail.empty()) message += std::string(": ") + std::string(detail);
  if (smtp_reply > 0) message += " (last reply " + std::to_string(smtp_reply) + ")";
  return message;
}

}  // namespace

Result<void> classify_smtp(int curl_code, int smtp_reply, std::string_view detail) {
  const auto code = static_cast<CURLcode>(curl_code);
  if (code == CURLE_OK) return {};
  std::string message = describe(curl_code, smtp_reply, detail);
  switch (code) {
    case CURLE_LOGIN_DENIED:
      return fail(ErrorKind::auth_revoked, std::move(message));
    case CURLE_USE_SSL_FAILED:
      return fail(ErrorKind::permanent,
                  "the SMTP server does not offer STARTTLS, which require_starttls demands; nothing was sent (" +
                      message + ")");
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return fail(ErrorKind::invalid_request, std::move(message));
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
      return fail(ErrorKind::transient, std::move(message));
    default:
      break;
  }
  // The relay answered: its reply code decides (RFC 5321 section 4.2.1).
  if (smtp_reply == 530 || smtp_reply == 535) return fail(ErrorKind::auth_revoked, std::move(message));
  if (smtp_reply >= 500 && smtp_reply < 600) return fail(ErrorKind::permanent, std::move(message));
  return fail(ErrorKind::transient, std::move(message));
}

SmtpNotifier::SmtpNotifier(EmailConfig config, std::shared_ptr<const ActionSigner> signer,
                           const engine::Clock& clock)
    : config_(std::move(config)), signer_(std::move(signer)), clock_(clock) {
  if (!config_.url.starts_with("smtp://") && !config_.url.starts_with("smtps://")) {
    throw std::invalid_argument("smtp url must start with smtp:// or smtps://, got '" + config_.url + "'");
  }
  if (!is_valid_email_address(config_.from)) {
    throw std::invalid_argument("smtp from is not an email address: '" + config_.from + "'");
  }
}

Result<void> SmtpNotifier::send(const Delivery& delivery) {
  if (!delivery.person) {
    return fail(ErrorKind::permanent,
                "email notification " + std::to_string(delivery.notification.id) + " has no person");
  }
  const auto& person = *delivery.person;
  if (person.email.empty()) return fail(ErrorKind::permanent, "person " + person.id + " has no email address");
  if (!is_valid_email_address(person.email)) {
    return fail(ErrorKind::permanent, "person " + person.id + " has an invalid email address");
  }

  const EmailMessage message = build_email(delivery, config_, signer_.get(), clock_.now());
  SmtpHandle& handle = thread_handle();
  CURL* curl = handle.curl;
  // reset() keeps the connection cache, so a relay connection can be reused.
  curl_easy_reset(curl);
  handle.error[0] = '\0';

  const std::string mail_from = "<" + message.from + ">";
  curl_slist* rcpts = nullptr;
  for (const auto& to : message.to) rcpts = curl_slist_append(rcpts, ("<" + to + ">").c_str());
  Upload upload{message.data, 0};
  const long timeout_ms = std::max<long>(1, static_cast<long>(config_.timeout.count()));

  curl_easy_setopt(curl, CURLOPT_URL, config_.url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, handle.error);
  curl_easy_setopt(curl, CURLOPT_USE_SSL,
                   config_.require_starttls ? static_cast<long>(CURLUSESSL_ALL) : static_cast<long>(CURLUSESSL_TRY));
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, config_.verify_peer ? 1L : 0L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, config_.verify_peer ? 2L : 0L);
  if (!config_.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, config_.ca_file.c_str());
  if (!config_.username.empty()) {
    curl_easy_setopt(curl, CURLOPT_USERNAME, config_.username.c_str());
    curl_easy_setopt(curl, CURLOPT_PASSWORD, config_.password.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_MAIL_FROM, mail_from.c_str());
  curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpts);
  curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(message.data.size()));
  curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_read);
  curl_easy_setopt(curl, CURLOPT_READDATA, &upload);

  const CURLcode rc = curl_easy_perform(curl);
  long reply = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply);
  // The list must outlive the transfer; drop it from the handle before freeing.
  curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, nullptr);
  curl_slist_free_all(rcpts);
  return classify_smtp(static_cast<int>(rc), static_cast<int>(reply), handle.error);
}

}  // namespace baton::integrations
