#pragma once
// Reading an inbound mail (a reply to a page, an auto-reply, a bounce): header
// fields (RFC 5322), encoded-words (RFC 2047), MIME structure and transfer
// encodings (RFC 2045, 2046), charsets utf-8 and iso-8859-1 / windows-1252,
// and HTML reduced to text. Pure; every input may be cut short (baton fetches
// at most a bounded prefix of a message's body) or hostile.
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace baton::integrations {

/// Header fields in order; names lower-cased, values unfolded (CRLF SP -> SP),
/// not decoded.
struct MailHeaders {
  std::vector<std::pair<std::string, std::string>> fields;
  /// The first field named `name` (lower case), or nullopt.
  std::optional<std::string> get(std::string_view name) const;
  std::vector<std::string> all(std::string_view name) const;
  bool has(std::string_view name) const { return get(name).has_value(); }
};

/// The fields of `block` up to its first empty line (or its end). At most 500 fields.
MailHeaders parse_headers(std::string_view block);

/// `value` with RFC 2047 encoded-words ("=?utf-8?B?...?=", "?Q?") decoded to UTF-8.
std::string decode_words(std::string_view value);

/// The addr-specs of an address list ("A <a@x>, \"B, C\" <b@y>, c@z (comment)").
std::vector<std::string> parse_addresses(std::string_view value);

/// Every "<...>" msg-id of a field (In-Reply-To, References), brackets kept.
std::vector<std::string> parse_message_ids(std::string_view value);

/// "text/plain; charset=utf-8" -> type "text/plain" (lower case) and parameters
/// (names lower case, quotes removed).
struct ContentType {
  std::string type = "text/plain";
  std::vector<std::pair<std::string, std::string>> params;
  std::string param(std::string_view name) const;  ///< "" when absent
};
ContentType parse_content_type(std::string_view value);

std::string decode_base64(std::string_view text);          ///< non-alphabet characters skipped
std::string decode_quoted_printable(std::string_view text);  ///< soft breaks joined
/// Bytes in `charset` as UTF-8: utf-8 and us-ascii as they are, iso-8859-1 and
/// windows-1252 converted, anything else as it is.
std::string to_utf8(std::string_view bytes, std::string_view charset);
/// HTML as text: tags dropped (head, style and script with their content),
/// block elements as line breaks, entities decoded, each line inside a
/// <blockquote> prefixed with "> " (so quote stripping sees it as quoted).
std::string html_to_text(std::string_view html);

/// What a message carries, read from its MIME tree (multipart depth <= 8).
struct MailBody {
  std::string text;  ///< the readable text (text/plain preferred, else HTML as text), UTF-8
  bool from_html = false;
  std::string report_type;  ///< multipart/report's report-type ("delivery-status"), lower case
  std::string delivery_status;  ///< a message/delivery-status part (RFC 3464), as is
  std::string returned_headers;  ///< the header block of a returned message (message/rfc822, text/rfc822-headers)
};
/// `body` is the message's body after its header (possibly cut short).
MailBody read_body(const MailHeaders& headers, std::string_view body);

}  // namespace baton::integrations
