#pragma once
// Email address and domain checks (RFC 5322 section 3.4.1, conservatively).
// Pure; used by the message builder and by the config loader.
#include <string_view>

namespace baton::integrations {

/// A conservative check of an addr-spec: local@domain, printable ASCII, no
/// spaces, quotes, angle brackets, commas or control characters.
bool is_valid_email_address(std::string_view address);

/// A host name as a Message-ID's or an address's domain: letters, digits, '.'
/// and '-', neither starting nor ending with '.'.
bool is_valid_mail_domain(std::string_view domain);

}  // namespace baton::integrations
