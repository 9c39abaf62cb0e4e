#pragma once
// The voice channel's inbound side: what Twilio asks baton during a call
// placed by integrations/voice (twilio.com/docs/usage/webhooks/voice-webhooks).
#include "bot/http_types.hpp"

namespace baton::bot {

class App;

/// POST /voice/twilio/answer, /voice/twilio/gather and /voice/twilio/status.
/// 404 unless twilio.voice is on; 415 unless the body is a form; 403 (and
/// nothing changes) unless X-Twilio-Signature verifies over server.public_url
/// + the request target with twilio.auth_token AND the call's signed query
/// (integrations/voice/call_token.hpp) is intact and unexpired.
/// - answer: an answering machine or fax (AnsweredBy) gets <Hangup/> and the
///   page fails; otherwise the page's TwiML (<Gather> with 1 acknowledge,
///   2 resolve, 3 escalate, 9 repeat).
/// - gather: 1/2/3 run Incidents::command as {person, Source::voice} and the
///   answer says what happened; 9 and other keys say the page again.
/// - status: every status goes on the timeline; no-answer, busy, failed,
///   canceled, and a completed call answered by a machine or with no key
///   pressed, fail the page (Incidents::delivery_failed): the contact chain
///   moves on at once. Answered 204.
/// Each call settles once (a key press, a machine, or how it ended), kept as
/// the single-use token "twilio-voice-call:<CallSid>", so replays and later
/// callbacks do not act again. Runs on the HTTP threads; reads the incident
/// from committed state; never waits on the network.
void twilio_voice(App& app, Request&& req, Responder respond);

}  // namespace baton::bot
