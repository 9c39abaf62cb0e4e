#include "bot/email_replies.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <future>

#include "bot/app.hpp"
#include "bot/commands.hpp"
#include "bot/queries.hpp"
#include "bot/channels.hpp"
#include "integrations/crypto.hpp"
#include "integrations/email/imap_poller.hpp"
#include "integrations/email/reply_confirmation.hpp"
#include "integrations/email/reply_parser.hpp"
#include "integrations/email/reply_token.hpp"
#include "integrations/email/smtp_client.hpp"

namespace baton::bot {
namespace ig = integrations;
namespace {

constexpr auto kClaimWait = std::chrono::seconds(10);
constexpr const char* kHelp = "Reply with ack, resolve or escalate (or 1, 2, 3) as the first word.";

Command command_of(ig::Action a) {
  switch (a) {
    case ig::Action::acknowledge: return Command::acknowledge;
    case ig::Action::resolve: return Command::resolve;
    case ig::Action::escalate: return Command::escalate;
  }
  return Command::acknowledge;
}

// The first line of the reply's text, short and on one line, for the timeline.
std::string first_line(const std::string& text) {
  std::string out = text.substr(0, text.find('\n'));
  if (out.size() > 80) out = out.substr(0, 77) + "...";
  for (auto& c : out)
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  return out;
}

std::string domain_of(const std::string& address) {
  const auto at = address.rfind('@');
  return at == std::string::npos ? "baton.local" : address.substr(at + 1);
}

}  // namespace

struct EmailReplies::Impl {
  App& app;
  std::shared_ptr<const Config> cfg;  // as at start-up: channel settings apply at the next restart
  ig::ReplyTokenSigner signer;
  std::unique_ptr<ig::SmtpClient> smtp;
  std::unique_ptr<ig::ImapPoller> poller;

  Impl(App& a, std::shared_ptr<const Config> c, boost::asio::io_context& net)
      : app(a),
        cfg(std::move(c)),
        signer(ig::email_reply_secret(cfg->server.action_secret, cfg->smtp.replies.password)),
        smtp(std::make_unique<ig::SmtpClient>(net, email_config(*cfg))) {}

  // Marks `key` used in the database (once per message across restarts and
  // instances); waits on the writer, never on the network.
  Result<void> claim(const std::string& key) {
    auto promise = std::make_shared<std::promise<Result<void>>>();
    auto future = promise->get_future();
    app.incidents().consume_token_async(key, [promise](Result<void> r) { promise->set_value(std::move(r)); });
    if (future.wait_for(kClaimWait) != std::future_status::ready)
      return fail(ErrorKind::transient, "the claim was not committed in time");
    return future.get();
  }

  void confirm(const ig::InboundMail& mail, std::string line) {
    ig::ReplyConfirmation c;
    c.from = cfg->smtp.from;
    c.from_name = cfg->smtp.from_name;
    c.to = mail.from;
    c.subject = mail.subject;
    c.reply_id = mail.message_id;
    for (auto it = mail.refers_to.rbegin(); it != mail.refers_to.rend(); ++it) c.reply_refs.push_back(*it);
    c.line = std::move(line);
    c.domain = domain_of(cfg->smtp.from);
    ig::SmtpMail m{cfg->smtp.from, {mail.from}, ig::build_reply_confirmation(c, app.clock().now())};
    smtp->send(std::move(m), [to = mail.from](ig::SmtpOutcome o) {
      if (o.failure != ig::SmtpOutcome::Failure::none)
        spdlog::warn("email replies: the confirmation to {} was not sent: {}", to, o.message);
    });
  }

  bool handle(const ig::ImapMessage& message) {
    const auto mail = ig::read_inbound_mail(message.header, message.body, {cfg->smtp.from, cfg->smtp.replies.address});
    const std::string label = "email replies: message " + std::to_string(message.uid) + " from " +
                              (mail.from.empty() ? "(no sender)" : mail.from);
    switch (mail.kind) {
      case ig::MailKind::own:
      case ig::MailKind::auto_reply:
        spdlog::info("{}: ignored ({}: {})", label, ig::to_string(mail.kind), mail.why);
        return true;
      case ig::MailKind::bounce:
        return bounce(mail, label);
      case ig::MailKind::reply:
        return reply(mail, label);
    }
    return true;
  }

  bool reply(const ig::InboundMail& mail, const std::string& label) {
    std::vector<ig::ReplyRef> refs;
    for (const auto& r : mail.recipients)
      if (auto ref = ig::ref_from_address(r)) refs.push_back(*ref);
    for (const auto& id : mail.refers_to)
      if (auto ref = ig::ref_from_message_id(id)) refs.push_back(*ref);
    if (refs.empty()) {
      spdlog::info("{}: ignored (no reply token: not an answer to a baton mail)", label);
      return true;
    }
    // The token must be one made for the person whose address sent the reply.
    const engine::Person* person = nullptr;
    std::optional<ig::ReplyRef> ref;
    const auto current = app.config();  // people as reloaded (SIGHUP)
    for (const auto& [id, p] : current->directory->people) {
      if (p.email.empty() || !ig::same_address(p.email, mail.from)) continue;
      for (const auto& r : refs) {
        if (signer.verify(r, p.id)) {
          person = &p;
          ref = r;
          break;
        }
      }
      if (person) break;
    }
    if (!person) {
      spdlog::warn("{}: ignored (the sender is not the person the mail was sent to, or the reply token is not valid)",
                   label);
      return true;
    }
    if (!mail.command) {
      // An answer to one of our confirmations gets none back: two mailers must never talk in a loop.
      for (const auto& id : mail.refers_to) {
        if (id.rfind("<reply-confirmation.", 0) == 0) {
          spdlog::info("{}: ignored (no command, in answer to a confirmation)", label);
          return true;
        }
      }
      spdlog::info("{}: no command in the reply to incident #{}", label, ref->incident);
      confirm(mail, "baton did not understand your reply to incident #" + std::to_string(ref->incident) + ". " + kHelp);
      return true;
    }
    const std::string key = "email-reply:" +
        ig::to_hex(ig::sha256(mail.message_id.empty() ? mail.from + "|" + mail.subject + "|" + mail.new_text
                                                      : mail.message_id));
    auto claimed = claim(key);
    if (!claimed && claimed.error().kind == ErrorKind::conflict) {
      spdlog::info("{}: already handled", label);
      return true;
    }
    if (!claimed) {
      spdlog::warn("{}: not handled now ({}); tried again at the next poll", label, claimed.error().message);
      return false;
    }
    const auto number = ref->incident;
    const auto action = *mail.command;
    spdlog::info("{}: {} incident #{} as {}", label, ig::to_string(action), number, person->id);
    app.incidents().note(number, "Email reply from " + (person->name.empty() ? person->id : person->name) + ": " +
                                     first_line(mail.new_text),
                         engine::Actor{person->id, engine::Source::email});
    run(number, command_of(action), person->id, mail);
    return true;
  }

  // The one call into the command layer.
  void run(std::int64_t number, Command command, const std::string& person, const ig::InboundMail& mail) {
    app.commands().act(number, command, person, engine::Source::email, [this, mail](CommandAnswer answer) {
      std::string line = answer.headline.empty() ? answer.text() : answer.headline;
      if (line.empty()) line = std::string("Incident: ") + to_string(answer.status);
      confirm(mail, line);
    });
  }

  bool bounce(const ig::InboundMail& mail, const std::string& label) {
    for (const auto& id : mail.bounced_ids) {
      const auto ref = ig::ref_from_message_id(id);
      if (!ref) continue;
      auto outbox = app.queries().outbox(ref->incident);
      if (!outbox) {
        spdlog::warn("{}: bounce not handled now ({}); tried again at the next poll", label, outbox.error().message);
        return false;
      }
      const storage::OutboxEntry* entry = nullptr;
      for (const auto& e : *outbox)
        if (e.notification.id == ref->notification) entry = &e;
      if (!entry || entry->notification.method != engine::MethodKind::email || !signer.verify(*ref, entry->notification.person))
        continue;
      const auto& n = entry->notification;
      auto claimed = claim("email-bounce:" + std::to_string(n.incident) + "." + std::to_string(n.id));
      if (!claimed && claimed.error().kind == ErrorKind::conflict) return true;
      if (!claimed) return false;
      const auto current = app.config();
      const auto* p = current->directory->person(n.person);
      const std::string detail = mail.bounce_detail.empty() ? "no reason given" : mail.bounce_detail;
      spdlog::info("{}: the email to {} about incident #{} bounced: {}", label, n.person, n.incident, detail);
      app.incidents().note(n.incident, "Email to " + (p && !p->name.empty() ? p->name : n.person) + " bounced: " + detail,
                           engine::Actor{"email", engine::Source::email});
      if (n.kind == engine::NotificationKind::page) app.incidents().delivery_failed(n, "email bounced: " + detail);
      return true;
    }
    spdlog::info("{}: ignored (a bounce of no mail baton sent: {})", label, mail.why);
    return true;
  }
};

std::unique_ptr<EmailReplies> EmailReplies::create(App& app, boost::asio::io_context& net_loop) {
  auto cfg = app.config();
  if (!cfg->smtp.enabled || !cfg->smtp.replies.enabled) return nullptr;
  auto impl = std::make_unique<Impl>(app, cfg, net_loop);
  auto* raw = impl.get();
  auto replies = std::unique_ptr<EmailReplies>(new EmailReplies(std::move(impl)));
  raw->poller = std::make_unique<ig::ImapPoller>(
      cfg->smtp.replies, [raw](const ig::ImapMessage& m) { return raw->handle(m); },
      [&app] {
        const auto status = app.incidents().cluster_status();
        return !status.enabled || status.owner;  // in a cluster, only the engine's owner reads the mailbox
      });
  return replies;
}

EmailReplies::EmailReplies(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EmailReplies::~EmailReplies() { stop(); }

void EmailReplies::start() { impl_->poller->start(); }

void EmailReplies::stop() {
  if (impl_->poller) impl_->poller->stop();
  if (impl_->smtp) impl_->smtp->shutdown();
}

void EmailReplies::poll_now() { impl_->poller->poll_now(); }
std::uint64_t EmailReplies::polls() const { return impl_->poller->polls(); }
bool EmailReplies::handle(const integrations::ImapMessage& message) { return impl_->handle(message); }

}  // namespace baton::bot
