#pragma once
// Small text helpers every integration uses (one copy each): ASCII case,
// white space, URL bases, JSON and HTML escaping. No dependencies beyond the standard library.
#include <string>
#include <string_view>

namespace baton::integrations {

/// ASCII upper case; other bytes (UTF-8 included) unchanged.
std::string upper(std::string_view s);
/// ASCII lower case; other bytes unchanged.
std::string lower(std::string_view s);

/// A base URL without its trailing slashes ("https://x/api/" -> "https://x/api"),
/// so that "<base>/<path>" has exactly one.
std::string trim_slashes(std::string_view url);

/// The inside of a JSON string (RFC 8259 section 7): quotes, backslashes and
/// control characters escaped; other bytes, UTF-8 included, pass through.
std::string json_escape(std::string_view s);

/// Without ASCII white space (space, tab, CR, LF, VT, FF) at either end.
std::string_view trim_space(std::string_view s);

/// Text for HTML element content and attribute values: & < > " ' escaped.
std::string html_escape(std::string_view s);

/// A URL for messages and logs: the user information ("user:password@") left
/// out, so that credentials written into a URL never reach a log.
std::string url_without_userinfo(std::string_view url);

}  // namespace baton::integrations
