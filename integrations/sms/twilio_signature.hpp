#pragma once
// Twilio's X-Twilio-Signature (twilio.com/docs/usage/webhooks/webhooks-security).
// The form encoding helpers it uses are in integrations/common/form.hpp. Pure.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "integrations/common/form.hpp"

namespace baton::integrations {

/// base64(HMAC-SHA1(auth_token, url + key1 + value1 + key2 + value2 ...)) with
/// the params sorted byte-wise by key, then value; a repeated identical
/// (key, value) pair counts once (as Twilio's SDK does). No encoding is applied:
/// `url` is the full URL Twilio called (query included), params are decoded.
std::string twilio_signature(std::string_view auth_token, std::string_view url, FormParams params);

/// True when `signature` matches for `url` as given, or for `url` with its
/// default port (:443 for https, :80 for http) removed or added. Constant-time
/// comparison; false for an empty token or signature.
bool verify_twilio_signature(std::string_view auth_token, std::string_view url, const FormParams& params,
                             std::string_view signature);

/// Non-form bodies (JSON): the signature covers the URL only (no params), and
/// the URL's `bodySHA256` query parameter must be the lowercase hex SHA-256 of
/// the raw `body`. False when the parameter is missing.
bool verify_twilio_body_signature(std::string_view auth_token, std::string_view url_with_query,
                                  std::string_view body, std::string_view signature);

}  // namespace baton::integrations
