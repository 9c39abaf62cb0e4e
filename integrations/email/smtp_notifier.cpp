#include "integrations/email/smtp_notifier.hpp"

#include <boost/asio/io_context.hpp>

#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

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

SmtpMail mail_of(EmailMessage message) {
  return SmtpMail{std::move(message.from), std::move(message.to), std::move(message.data)};
}

}  // namespace

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
    : config_(std::make_shared<const EmailConfig>(std::move(config))), signer_(std::move(signer)), clock_(clock) {
  if (!is_valid_email_address(config_->from)) {
    throw std::invalid_argument("smtp from is not an email address: '" + config_->from + "'");
  }
  boost::asio::io_context io;
  SmtpClient check_url(io, *config_);  // std::invalid_argument for a bad URL, now rather than at a send
}

SmtpNotifier::SmtpNotifier(EmailConfig config, std::shared_ptr<const ActionSigner> signer,
                           const engine::Clock& clock, boost::asio::io_context& io)
    : SmtpNotifier(std::move(config), std::move(signer), clock) {
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
  client.send(mail_of(build_email(delivery, *config_, signer_.get(), clock_.now())),
              [&outcome](SmtpOutcome o) { outcome = std::move(o); });
  io.run();  // until the session closed (QUIT included)
  return classify_smtp(outcome.value_or(SmtpOutcome{SmtpOutcome::Failure::cancelled, 0, "cancelled"}));
}

void SmtpNotifier::send_async(const Delivery& delivery, std::function<void(Result<void>)> done) {
  if (!client_) return done(send(delivery));
  if (auto problem = address_problem(delivery)) return done(tl::unexpected(std::move(*problem)));
  client_->send(mail_of(build_email(delivery, *config_, signer_.get(), clock_.now())),
               [done = std::move(done)](SmtpOutcome outcome) { done(classify_smtp(outcome)); });
}

}  // namespace baton::integrations
