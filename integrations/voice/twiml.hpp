#pragma once
// What a voice page says and how key presses and call outcomes read: the
// TwiML baton answers Twilio with during a call
// (twilio.com/docs/voice/twiml/say, twilio.com/docs/voice/twiml/gather,
// twilio.com/docs/voice/twiml/hangup). Pure.
#include <string>
#include <string_view>

#include "engine/incident.hpp"

namespace baton::integrations {

/// "Incident 42, service Payments, severity critical: <summary>." Whitespace
/// runs become one space; text that is not UTF-8 is repaired; a summary over
/// 200 bytes is cut at a character boundary and ends with "..."; the service
/// is `service_name`, else the incident's service id, at most 60 bytes.
std::string spoken_page(const engine::Incident& incident, std::string_view service_name);

/// The menu said after the page.
inline constexpr std::string_view kVoiceMenu =
    "Press 1 to acknowledge, 2 to resolve, 3 to escalate, or 9 to hear this again.";

/// The call's script: <Gather input="dtmf" numDigits="1" timeout="10"
/// action="<gather_url>" method="POST"> holding `preface` (when not empty),
/// then the page and the menu, said twice; after it (no key pressed in time)
/// "No key was pressed. The page is not acknowledged. Goodbye." and <Hangup/>.
/// Every text and the URL are escaped for XML. Answered by the answer URL,
/// and by the <Gather> action for 9 (repeat) and for keys not on the menu.
std::string twiml_page(std::string_view spoken, std::string_view gather_url, std::string_view preface = {});

/// <Response><Say>text</Say><Hangup/></Response>.
std::string twiml_say_hangup(std::string_view text);

/// <Response><Hangup/></Response>.
std::string twiml_hangup();

/// Text or an attribute value for the TwiML above: `&` `<` `>` `"` `'`
/// become entities; characters XML 1.0 forbids (controls other than tab, LF,
/// CR) are removed; bytes that are not UTF-8 become U+FFFD.
std::string xml_escape(std::string_view text);

/// The key a <Gather> action reports in `Digits`.
enum class VoiceKey { none, acknowledge, resolve, escalate, repeat, other };
/// "" none; "1" acknowledge; "2" resolve; "3" escalate; "9" repeat; anything
/// else (another key, several digits) other.
VoiceKey parse_voice_key(std::string_view digits);

/// Answering-machine detection's verdicts that mean nobody is listening
/// (twilio.com/docs/voice/answering-machine-detection): machine_start,
/// machine_end_beep, machine_end_silence, machine_end_other (any "machine_"
/// prefix) and fax. "human" and "unknown" are not.
bool answered_by_machine(std::string_view answered_by);

/// Final CallStatus values of a call that never connected
/// (twilio.com/docs/voice/api/call-resource#call-status-values): no-answer,
/// busy, failed, canceled.
bool call_not_connected(std::string_view call_status);

}  // namespace baton::integrations
