#pragma once
// The SMS channel's inbound side (Twilio Messaging webhooks,
// twilio.com/docs/messaging/guides/webhook-request): replies to pages and
// delivery status callbacks, called by the router in bot/api.cpp.
#include "bot/http_types.hpp"

namespace baton::bot {

class App;

/// POST /sms/twilio (a reply) and /sms/twilio/status (a status callback).
/// 404 unless the twilio section is on; 415 unless the body is a form; 403
/// (and nothing changes) unless X-Twilio-Signature verifies over
/// server.public_url + the request target with twilio.auth_token.
/// - reply: a replayed MessageSid is answered and changes nothing; the sender
///   is the person with that phone number; the body is a command of the one
///   grammar (ACK/RESOLVE/ESC [n], 1/2/3, STOP/START, HELP...), run by the
///   command layer (bot/commands.hpp) as {person, Source::sms}, with "the
///   sender's one open page" as the default incident. The answer is TwiML.
/// - status: queued/sent/delivered/undelivered/failed go on the timeline;
///   undelivered and failed pages fail (the contact chain moves on). 204.
void twilio_sms(App& app, Request&& req, Responder respond);

}  // namespace baton::bot
