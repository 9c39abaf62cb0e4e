// The SMS channel's webhooks (see sms_routes.hpp): thin handlers that
// authenticate, turn a reply into one command of the command layer, and
// render its answer as TwiML.
#include "bot/sms_routes.hpp"

#include <charconv>
#include <set>

#include <spdlog/spdlog.h>

#include "bot/app.hpp"
#include "bot/commands.hpp"
#include "bot/queries.hpp"
#include "integrations/common/utf8.hpp"
#include "integrations/sms/sms_reply.hpp"
#include "integrations/sms/twilio_signature.hpp"

namespace baton::bot {
namespace {

Response twiml(std::string body) {
  Response r;
  r.content_type = "text/xml; charset=utf-8";
  r.body = std::move(body);
  return r;
}

std::optional<std::int64_t> parse_int(std::string_view s) {
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

/// A command answer as an SMS: short plain text, or no reply at all.
std::string sms_text(const CommandAnswer& a) {
  switch (a.verb) {
    case Verb::help:
      return "baton paging: reply ACK <n>, RESOLVE <n> or ESC <n> (1, 2, 3 for your page). Reply STOP to opt out.";
    case Verb::invalid: return "Not understood. Reply ACK <n>, RESOLVE <n> or ESC <n>, or HELP.";
    default: break;
  }
  if (a.verb == Verb::console && a.ok()) return a.text();
  if (a.status == AnswerStatus::done && a.incident &&
      (a.verb == Verb::ack || a.verb == Verb::resolve || a.verb == Verb::escalate))
    return "Incident #" + std::to_string(a.incident->number) + " " + engine::to_string(a.incident->state) + ".";
  return a.text();
}

void reply(App& app, const std::string& from, const std::string& body, Responder respond) {
  auto cfg = app.config();
  auto person = app.commands().identities().known(ChannelUser{engine::Source::sms, from, {}}, false);
  CommandContext ctx;
  ctx.source = engine::Source::sms;
  if (person && *person) ctx.person = **person;
  ctx.own_page = true;  // no number: the sender's one open page
  ctx.private_reply = true;
  auto command = parse_command(body);
  if (!ctx.person) {
    // Not a command from anyone baton knows: refused (the layer says so), whatever it was.
    spdlog::info("SMS reply from an unknown number ignored");
    command.verb = Verb::ack;
  }
  app.commands().run(command, ctx, [respond = std::move(respond)](CommandAnswer a) {
    const auto text = sms_text(a);
    respond(twiml(text.empty() ? integrations::twiml_empty() : integrations::twiml_message(text)));
  });
}

void status(App& app, const Request& req, const std::string& status, const std::string& error_code,
            Responder respond) {
  auto n = req.query_param("n");
  auto i = req.query_param("i");
  auto nid = n ? parse_int(*n) : std::nullopt;
  auto inc = i ? parse_int(*i) : std::nullopt;
  Response done;
  done.status = 204;
  done.content_type = "text/xml";
  if (!nid || !inc) return respond(done);  // a callback we did not ask for: nothing to record
  const std::int64_t incident = *inc;
  static const std::set<std::string> kRecorded{"queued", "sent", "delivered", "undelivered", "failed"};
  if (!kRecorded.contains(status)) return respond(done);
  auto outbox = app.queries().outbox(incident);
  if (!outbox) return respond(json_error(503, outbox.error().message));
  const storage::OutboxEntry* entry = nullptr;
  for (const auto& e : *outbox)
    if (e.notification.id == *nid) entry = &e;
  if (!entry) return respond(done);
  const auto& note = entry->notification;
  const auto* p = app.config()->directory->person(note.person);
  std::string text = "SMS " + std::string(engine::to_string(note.kind)) + " to " + (p ? p->name : note.person) + ": " + status;
  if (!error_code.empty()) text += " (Twilio error " + error_code + ")";
  app.incidents().note(incident, text, engine::Actor{"twilio", engine::Source::sms});
  if ((status == "undelivered" || status == "failed") && note.kind == engine::NotificationKind::page)
    app.incidents().delivery_failed(note, "SMS " + status + (error_code.empty() ? "" : " (Twilio error " + error_code + ")"));
  respond(done);
}

}  // namespace

void twilio_sms(App& app, Request&& req, Responder respond) {
  auto cfg = app.config();
  if (!cfg->twilio.enabled) return respond(json_error(404, "the twilio channel is not configured"));
  auto ct = req.header("content-type");
  if (!ct || !ct->starts_with("application/x-www-form-urlencoded"))
    return respond(json_error(415, "Content-Type must be application/x-www-form-urlencoded"));
  auto params = integrations::parse_form(req.body);
  auto signature = req.header("x-twilio-signature");
  const std::string url = cfg->server.public_url + req.target;
  if (!signature || !integrations::verify_twilio_signature(cfg->twilio.auth_token, url, params, *signature)) {
    app.count_rejected("twilio");
    return respond(json_error(403, "invalid or missing X-Twilio-Signature"));
  }
  // Verified over the bytes as sent; from here on, text that can reach the
  // timeline must be UTF-8 (a %FF in ErrorCode would break the JSON API).
  auto param = [&params](std::string_view name) -> std::string {
    for (const auto& [k, v] : params)
      if (k == name) return integrations::repair_utf8(v);
    return "";
  };
  if (req.path == "/sms/twilio/status")
    return status(app, req, param("MessageStatus"), param("ErrorCode"), std::move(respond));

  // A replayed request (same MessageSid) is answered and changes nothing.
  if (auto sid = param("MessageSid"); !sid.empty()) {
    auto fresh = app.incidents().consume_token("twilio-sms:" + sid);
    if (!fresh) {
      if (fresh.error().kind == ErrorKind::conflict) return respond(twiml(integrations::twiml_empty()));
      return respond(json_error(503, fresh.error().message));
    }
  }
  reply(app, param("From"), param("Body"), std::move(respond));
}

}  // namespace baton::bot
