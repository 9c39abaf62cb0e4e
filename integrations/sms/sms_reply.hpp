#pragma once
// Inbound SMS: what a reply asks for, and the TwiML answers. Pure; the HTTP
// handler in bot/ verifies the signature and turns a reply into one command.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace baton::integrations {

struct SmsReply {
  enum class Kind { ack, resolve, escalate, stop, start, help, unknown } kind = Kind::unknown;
  std::optional<std::int64_t> incident;  ///< absent: the sender's latest page
};

/// Case-insensitive; ASCII whitespace around and between words is ignored,
/// and so are trailing '.' and '!'.
/// - Commands: ACK / ACKNOWLEDGE / 1 -> ack, RES / RESOLVE / 2 -> resolve,
///   ESC / ESCALATE / 3 -> escalate, optionally followed by an incident number
///   (1..10^18, leading '#' allowed): "ack 42", " Ack #42 ", "ACK42", "2 42",
///   "2#42". A digit code needs a space or '#' before the number ("242" is
///   unknown).
/// - Opt-out words, alone: STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT -> stop;
///   START, YES, UNSTOP -> start; HELP, INFO -> help ("STOP 42" is unknown).
/// - Anything else is unknown: "ACK42x", "ACK -1", "ACK 0", "ACK 42 43",
///   "ACKX", an empty body.
SmsReply parse_sms_reply(std::string_view body);

/// <?xml version="1.0" encoding="UTF-8"?><Response><Message>text</Message></Response>
/// with & < > " ' escaped and characters that XML 1.0 forbids (controls other
/// than tab, LF, CR) removed.
std::string twiml_message(std::string_view text);

/// <?xml version="1.0" encoding="UTF-8"?><Response/> (no reply).
std::string twiml_empty();

}  // namespace baton::integrations
