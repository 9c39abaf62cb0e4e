#pragma once
// Inbound SMS: the TwiML answers. Pure. What a reply asks for is parsed by
// baton's one command grammar (integrations/common/command_grammar.hpp); the
// handler in bot/sms_routes.cpp verifies the signature and runs it through the
// command layer (bot/commands.hpp).
#include <string>
#include <string_view>

namespace baton::integrations {

/// <?xml version="1.0" encoding="UTF-8"?><Response><Message>text</Message></Response>
/// with & < > " ' escaped and characters that XML 1.0 forbids (controls other
/// than tab, LF, CR) removed.
std::string twiml_message(std::string_view text);

/// <?xml version="1.0" encoding="UTF-8"?><Response/> (no reply).
std::string twiml_empty();

}  // namespace baton::integrations
