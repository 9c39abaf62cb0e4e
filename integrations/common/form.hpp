#pragma once
// The application/x-www-form-urlencoded encoding (the WHATWG URL standard's
// form serialisation, as Slack, Twilio and Entra take it) and base64
// (RFC 4648): shared by every integration. Pure.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace baton::integrations {

using FormParams = std::vector<std::pair<std::string, std::string>>;

/// Decodes a form body or query string: pairs split on '&', key and value on
/// the first '=', '+' is a space, %XX a byte (a malformed escape stays as is),
/// empty pieces skipped, order and repeated keys kept.
FormParams parse_form(std::string_view text);

/// "k=v&k2=v2" with every byte but A-Z a-z 0-9 - . _ ~ as %XX (space as %20,
/// as Twilio's SDK sends it).
std::string form_encode(const FormParams& params);

/// One value percent-encoded as in form_encode().
std::string percent_encode(std::string_view value);

/// RFC 4648 section 4 base64, with padding (Basic auth, Twilio signatures).
std::string base64_encode(std::string_view bytes);

}  // namespace baton::integrations
