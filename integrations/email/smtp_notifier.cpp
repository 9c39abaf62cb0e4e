#include "integrations/email/smtp_notifier.hpp"

#include <boost/asio/io_context.hpp>

#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include "integrations/crypto.hpp"

// One SMTP transaction (RFC 5321 section 3: MAIL, RCPT, DATA) per send, run by
// SmtpClient on the network io_context: no thread waits for the relay.

namespace baton::integrations {
namespace {

// Why `delivery` cannot be emailed (permanent, nothing sent), or nullopt.
std::optional<Error> address_problem(const Delivery& delivery) {
  if (!delivery.person) {
    return Error{ErrorKind::permanent,
                 "email notification " + std::to_string(delivery.notification.id) + " has no person", {}};
  }
  const auto& person = *delivery.person;
  if (person.email.empty()) return Error{ErrorKind::permanent, "person " + person.id + " has no email address", {}};
  if (!is_valid_email_address(person.email)) {
    return Error{ErrorKind::permanent, "person " + person.id + " has an invalid email address", {}};
  }
  return std::nullopt;
}

constexpr const char* kThreadRef = "email-thread";

}  // namespace

// The root of each (incident, person) thread: the Message-ID of the first
// mail the relay took. Shared with the sends in flight.
struct SmtpNotifier::Threads {
  std::string sender_id = to_hex(random_bytes(8));
  std::shared_ptr<ChatRefs> refs;
  std::mutex mutex;
  std::map<std::pair<std::int64_t, std::string>, std::string> roots;

  std::string root(std::int64_t incident, const std::string& person) {
    {
      std::lock_guard lock(mutex);
      if (auto it = roots.find({incident, person}); it != roots.end()) return it->second;
    }
    if (!refs) return {};
    for (const auto& ref : latest_refs(refs->find(incident), kThreadRef)) {
      if (ref.person != person) continue;
      std::lock_guard lock(mutex);
      return roots.try_emplace({incident, person}, ref.message_id).first->second;
    }
    return {};
  }

  // The first mail that went out is the root; a concurrent one sent meanwhile stays a reply-less mail.
  void sent_first(std::int64_t incident, const std::string& person, const std::string& address, const std::string& id) {
    {
      std::lock_guard lock(mutex);
      if (!roots.try_emplace({incident, person}, id).second) return;
    }
    if (refs) refs->save(ChatRef{incident, kThreadRef, address, id, person});
  }
};

SmtpMail SmtpNotifier::prepare(const Delivery& delivery, std::function<void()>& sent) {
  const auto number = delivery.incident.number;
  const auto& person = *delivery.person;
  MailThread thread{threads_->sender_id, threads_->root(number, person.id)};
  auto message = build_email(delivery, *config_, signer_.get(), clock_.now(), thread);
  if (thread.root.empty()) {
    sent = [threads = threads_, number, person = person.id, address = person.email, id = message.message_id] {
      threads->sent_first(number, person, address, id);
    };
  }
  return SmtpMail{std::move(message.from), std::move(message.to), std::move(message.data)};
}

Result<void> classify_smtp(const SmtpOutcome& outcome) {
  using Failure = SmtpOutcome::Failure;
  std::string message = outcome.message;
  switch (outcome.failure) {
    case Failure::none:
      return {};
    case Failure::auth:
      return fail(ErrorKind::auth_revoked, std::move(message));
    case Failure::starttls_unavailable:
      return fail(ErrorKind::permanent,
                  "the SMTP server does not offer STARTTLS, which require_starttls demands; nothing was sent (" +
                      message + ")");
    case Failure::invalid_request:
      return fail(ErrorKind::invalid_request, std::move(message));
    case Failure::network:
    case Failure::timeout:
    case Failure::tls:
    case Failure::protocol:
    case Failure::cancelled:
      return fail(ErrorKind::transient, std::move(message));
    case Failure::reply:
      break;
  }
  // The relay answered: its reply code decides (RFC 5321 section 4.2.1).
  const int reply = outcome.reply;
  if (reply == 530 || reply == 535) return fail(ErrorKind::auth_revoked, std::move(message));
  if (reply >= 500 && reply < 600) return fail(ErrorKind::permanent, std::move(message));
  return fail(ErrorKind::transient, std::move(message));
}

SmtpNotifier::SmtpNotifier(EmailConfig config, std::shared_ptr<const ActionSigner> signer,
                           const engine::Clock& clock)
    : config_(std::make_shared<const EmailConfig>(std::move(config))),
      signer_(std::move(signer)),
      clock_(clock),
      threads_(std::make_shared<Threads>()) {
  if (!is_valid_email_address(config_->from)) {
    throw std::invalid_argument("smtp from is not an email address: '" + config_->from + "'");
  }
  boost::asio::io_context io;
  SmtpClient check_url(io, *config_);  // std::invalid_argument for a bad URL, now rather than at a send
}

SmtpNotifier::SmtpNotifier(EmailConfig config, std::shared_ptr<const ActionSigner> signer,
                           const engine::Clock& clock, boost::asio::io_context& io, std::shared_ptr<ChatRefs> refs)
    : SmtpNotifier(std::move(config), std::move(signer), clock) {
  threads_->refs = std::move(refs);
  client_ = std::make_unique<SmtpClient>(io, *config_);
}

SmtpNotifier::~SmtpNotifier() = default;

void SmtpNotifier::shutdown() {
  if (client_) client_->shutdown();
}

Result<void> SmtpNotifier::send(const Delivery& delivery) {
  if (auto problem = address_problem(delivery)) return tl::unexpected(std::move(*problem));
  boost::asio::io_context io{1};
  SmtpClient client(io, *config_);
  std::optional<SmtpOutcome> outcome;
  std::function<void()> sent;
  client.send(prepare(delivery, sent), [&outcome](SmtpOutcome o) { outcome = std::move(o); });
  io.run();  // until the session closed (QUIT included)
  auto result = classify_smtp(outcome.value_or(SmtpOutcome{SmtpOutcome::Failure::cancelled, 0, "cancelled"}));
  if (result && sent) sent();
  return result;
}

void SmtpNotifier::send_async(const Delivery& delivery, std::function<void(Result<void>)> done) {
  if (!client_) return done(send(delivery));
  if (auto problem = address_problem(delivery)) return done(tl::unexpected(std::move(*problem)));
  std::function<void()> sent;
  auto mail = prepare(delivery, sent);
  client_->send(std::move(mail), [done = std::move(done), sent = std::move(sent)](SmtpOutcome outcome) {
    auto result = classify_smtp(outcome);
    if (result && sent) sent();
    done(std::move(result));
  });
}

}  // namespace baton::integrations
