// The voice channel's webhooks (see voice_routes.hpp): thin handlers that
// authenticate, read the incident, and turn a key press or a call's end into
// one command or one delivery failure. TwiML and the signed call links are
// pure code in integrations/voice.
#include "bot/voice_routes.hpp"

#include <memory>

#include <spdlog/spdlog.h>

#include "bot/app.hpp"
#include "bot/commands.hpp"
#include "bot/queries.hpp"
#include "integrations/common/utf8.hpp"
#include "integrations/sms/twilio_signature.hpp"
#include "integrations/voice/call_token.hpp"
#include "integrations/voice/twiml.hpp"

namespace baton::bot {
namespace {

namespace ig = integrations;

constexpr std::size_t kParamBytes = 64;  // enough for any value Twilio documents; the rest is noise

Response twiml(std::string body) {
  Response r;
  r.content_type = "text/xml; charset=utf-8";
  r.body = std::move(body);
  return r;
}

Response no_content() {
  Response r;
  r.status = 204;
  r.content_type = "text/xml";
  return r;
}

std::string outcome_token(const std::string& call_sid) { return "twilio-voice-call:" + call_sid; }

/// One authenticated request of a call.
struct Call {
  App& app;
  std::shared_ptr<const Config> cfg;
  ig::CallRef ref;
  ig::FormParams params;
  std::string sid;
  std::string who;  // the person's name, for the timeline

  // Verified over the bytes as sent; from here on text that can reach the
  // timeline is UTF-8, and short.
  std::string param(std::string_view name) const {
    for (const auto& [k, v] : params)
      if (k == name) return ig::repair_utf8(std::string_view(v).substr(0, kParamBytes));
    return "";
  }

  std::string line(std::string_view what) const { return "Voice call to " + who + ": " + std::string(what); }

  void note(std::string text) const {
    app.incidents().note(ref.incident, std::move(text), engine::Actor{"twilio", engine::Source::voice});
  }

  // Only pages place calls, so the call's link names the page itself.
  engine::Notification page() const {
    engine::Notification n;
    n.id = ref.notification;
    n.incident = ref.incident;
    n.person = ref.person;
    n.method = engine::MethodKind::voice;
    n.kind = engine::NotificationKind::page;
    return n;
  }
};
using CallPtr = std::shared_ptr<const Call>;

/// The call's outcome is "nobody took the page": unless the call already
/// settled (a key press, or a machine seen at the answer), the timeline gets
/// `line` and the page fails with `detail`. `then` runs afterwards (writer thread).
void settle_as_failure(CallPtr call, std::string line, std::string detail, std::function<void()> then) {
  call->app.incidents().consume_token_async(
      outcome_token(call->sid),
      [call, line = std::move(line), detail = std::move(detail), then = std::move(then)](Result<void> r) {
        if (!r && r.error().kind == ErrorKind::conflict) {
          call->note(line);  // settled before: a key was pressed, or a machine answered
          return then();
        }
        // A database that cannot record the outcome must not swallow the
        // failure: paging the next method twice is better than not at all.
        if (!r)
          spdlog::warn("voice call {}: outcome not recorded ({}); failing the page", call->sid, r.error().message);
        call->note(line + ": not acknowledged");
        call->app.incidents().delivery_failed(call->page(), "voice call " + detail);
        then();
      });
}

using StoredIncident = Result<std::optional<engine::Incident>>;

/// The page's TwiML for the incident as committed (`inc`), or a goodbye when it
/// cannot be read (the call then ends without a key press: the page fails).
Response page_twiml(const Call& call, std::string preface, const StoredIncident& inc) {
  if (!inc) {
    spdlog::warn("voice call {}: incident #{} unreadable: {}", call.sid, call.ref.incident, inc.error().message);
    return twiml(ig::twiml_say_hangup("baton cannot read this incident right now. Please open baton. Goodbye."));
  }
  if (!*inc) return twiml(ig::twiml_say_hangup("This incident is not known to baton. Goodbye."));
  const auto& incident = **inc;
  const auto* service = call.cfg->directory->service(incident.service_id);
  if (incident.state == engine::IncidentState::acknowledged)
    preface += (preface.empty() ? "" : " ") + std::string("It is already acknowledged.");
  const ig::CallSigner signer(ig::call_token_secret(call.cfg->server.action_secret, call.cfg->twilio.auth_token));
  const std::string gather_url =
      call.cfg->server.public_url + std::string(ig::kVoiceGatherPath) + "?" + signer.query(call.ref);
  return twiml(ig::twiml_page(ig::spoken_page(incident, service ? service->name : ""), gather_url, preface));
}

void answer(CallPtr call, Responder respond) {
  const auto answered_by = call->param("AnsweredBy");
  if (ig::answered_by_machine(answered_by)) {
    respond(twiml(ig::twiml_hangup()));  // nothing said: nobody is there to act on it
    return settle_as_failure(call, call->line("answered by " + answered_by), "answered by " + answered_by, [] {});
  }
  auto inc = call->app.queries().get_incident(call->ref.incident);
  if (inc && *inc && (**inc).state == engine::IncidentState::resolved) {
    // Nothing left to do; the call is settled, not a failed page.
    const auto number = std::to_string(call->ref.incident);
    call->app.incidents().consume_token_async(outcome_token(call->sid), [call, respond, number](Result<void> r) {
      if (r) call->note(call->line("answered; the incident was already resolved"));
      respond(twiml(ig::twiml_say_hangup("Incident " + number + " is already resolved. Goodbye.")));
    });
    return;
  }
  respond(page_twiml(*call, "This is baton.", inc));
}

const char* key_name(ig::VoiceKey key) {
  switch (key) {
    case ig::VoiceKey::acknowledge: return "acknowledge";
    case ig::VoiceKey::resolve: return "resolve";
    case ig::VoiceKey::escalate: return "escalate";
    case ig::VoiceKey::repeat: return "repeat";
    case ig::VoiceKey::none:
    case ig::VoiceKey::other: break;
  }
  return "not an option";
}

void gather(CallPtr call, Responder respond) {
  const auto digits = call->param("Digits");
  const auto key = ig::parse_voice_key(digits);
  if (key == ig::VoiceKey::none)
    return respond(twiml(ig::twiml_say_hangup("No key was pressed. The page is not acknowledged. Goodbye.")));
  const std::string pressed = call->line("pressed " + digits + " (" + key_name(key) + ")");
  if (key == ig::VoiceKey::repeat || key == ig::VoiceKey::other) {
    call->note(pressed);
    return respond(page_twiml(*call, key == ig::VoiceKey::other ? "Key " + digits + " is not an option." : "",
                              call->app.queries().get_incident(call->ref.incident)));
  }
  const Command command = key == ig::VoiceKey::acknowledge ? Command::acknowledge
                          : key == ig::VoiceKey::resolve   ? Command::resolve
                                                           : Command::escalate;
  // The first key press settles the call; a replayed request does nothing.
  call->app.incidents().consume_token_async(outcome_token(call->sid), [call, respond, command, key,
                                                                       pressed](Result<void> r) {
    const std::string number = std::to_string(call->ref.incident);
    if (!r) {
      if (r.error().kind == ErrorKind::conflict)
        return respond(twiml(ig::twiml_say_hangup("This call already recorded an answer. Goodbye.")));
      return respond(twiml(ig::twiml_say_hangup("baton could not record your answer. Please try again in baton.")));
    }
    call->note(pressed);
    // The same command layer as chat and SMS: the person the call was placed to acts.
    call->app.commands().act(
        call->ref.incident, command, call->ref.person, engine::Source::voice,
        [respond, number, key](CommandAnswer done) {
          if (done.status == AnswerStatus::accepted)
            return respond(
                twiml(ig::twiml_say_hangup("Your answer for incident " + number + " was accepted. Goodbye.")));
          if (done.status != AnswerStatus::done) {
            // "Incident #N: <why>": spoken without the prefix.
            auto why = done.headline;
            if (auto colon = why.find(": "); colon != std::string::npos) why = why.substr(colon + 2);
            return respond(twiml(ig::twiml_say_hangup("Incident " + number + " was not changed: " + why + ". Goodbye.")));
          }
          const char* what = key == ig::VoiceKey::acknowledge ? "acknowledged. Thank you"
                             : key == ig::VoiceKey::resolve   ? "resolved"
                                                              : "escalated to the next step";
          respond(twiml(ig::twiml_say_hangup("Incident " + number + " " + what + ". Goodbye.")));
        });
  });
}

void status(CallPtr call, Responder respond) {
  const auto status = call->param("CallStatus");
  if (status.empty()) return respond(no_content());
  const auto answered_by = call->param("AnsweredBy");
  std::string text = status;
  if (!answered_by.empty() && (status == "in-progress" || status == "completed"))
    text += ", answered by " + answered_by;
  if (const auto duration = call->param("CallDuration"); !duration.empty() && status == "completed")
    text += ", " + duration + " s";
  std::string failure;
  if (ig::call_not_connected(status))
    failure = status;
  else if (status == "completed")
    failure = ig::answered_by_machine(answered_by) ? "answered by " + answered_by : "ended without a key press";
  if (failure.empty()) {
    call->note(call->line(text));
    return respond(no_content());
  }
  settle_as_failure(call, call->line(text), failure, [respond] { respond(no_content()); });
}

}  // namespace

void twilio_voice(App& app, Request&& req, Responder respond) {
  auto cfg = app.config();
  if (!cfg->twilio.voice) return respond(json_error(404, "twilio voice calls are not configured"));
  const std::string_view path = req.path;
  if (path != ig::kVoiceAnswerPath && path != ig::kVoiceGatherPath && path != ig::kVoiceStatusPath)
    return respond(json_error(404, "no route for " + std::string(path)));
  auto ct = req.header("content-type");
  if (!ct || !ct->starts_with("application/x-www-form-urlencoded"))
    return respond(json_error(415, "Content-Type must be application/x-www-form-urlencoded"));
  auto params = ig::parse_form(req.body);
  auto signature = req.header("x-twilio-signature");
  const std::string url = cfg->server.public_url + req.target;
  if (!signature || !ig::verify_twilio_signature(cfg->twilio.auth_token, url, params, *signature)) {
    app.count_rejected("twilio");
    return respond(json_error(403, "invalid or missing X-Twilio-Signature"));
  }
  const ig::CallSigner signer(ig::call_token_secret(cfg->server.action_secret, cfg->twilio.auth_token));
  auto ref = signer.verify(req.query, app.clock().now());
  if (!ref) {
    app.count_rejected("twilio");
    return respond(json_error(403, ref.error().message));
  }
  const auto* person = cfg->directory->person(ref->person);
  std::string who = person && !person->name.empty() ? person->name : ref->person;
  auto call = std::make_shared<Call>(Call{app, cfg, std::move(*ref), std::move(params), {}, std::move(who)});
  call->sid = call->param("CallSid");
  if (call->sid.empty()) return respond(json_error(400, "CallSid is missing"));
  if (path == ig::kVoiceAnswerPath) return answer(std::move(call), std::move(respond));
  if (path == ig::kVoiceGatherPath) return gather(std::move(call), std::move(respond));
  status(std::move(call), std::move(respond));
}

}  // namespace baton::bot
