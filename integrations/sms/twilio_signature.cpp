#include "integrations/sms/twilio_signature.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <stdexcept>

#include "integrations/common/form.hpp"
#include "integrations/crypto.hpp"

namespace baton::integrations {
namespace {

std::string hmac_sha1(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
           data.size(), out, &len) == nullptr) {
    throw std::runtime_error("HMAC-SHA1 failed");
  }
  return std::string(reinterpret_cast<const char*>(out), len);
}

// The URL with its default port removed or added; nullopt when that changes
// nothing (a non-default port, or no recognisable scheme and authority).
struct PortVariants {
  std::optional<std::string> without;
  std::optional<std::string> with;
};

PortVariants port_variants(std::string_view url) {
  PortVariants v;
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return v;
  std::string scheme(url.substr(0, scheme_end));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(), [](unsigned char c) { return std::tolower(c); });
  std::string_view port;
  if (scheme == "https") {
    port = "443";
  } else if (scheme == "http") {
    port = "80";
  } else {
    return v;
  }
  const std::size_t host_begin = scheme_end + 3;
  std::size_t host_end = url.find_first_of("/?#", host_begin);
  if (host_end == std::string_view::npos) host_end = url.size();
  const std::string_view authority = url.substr(host_begin, host_end - host_begin);
  // The port is after the last ':' that follows any IPv6 literal's ']'.
  const auto bracket = authority.rfind(']');
  const auto colon = authority.rfind(':');
  const auto at = authority.rfind('@');
  const bool has_port = colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket) &&
                        (at == std::string_view::npos || colon > at);
  if (has_port) {
    if (authority.substr(colon + 1) == port) {
      v.without = std::string(url.substr(0, host_begin + colon)) + std::string(url.substr(host_end));
    }
  } else if (!authority.empty()) {
    v.with = std::string(url.substr(0, host_end)) + ":" + std::string(port) + std::string(url.substr(host_end));
  }
  return v;
}

bool matches(std::string_view auth_token, std::string_view url, const FormParams& params,
             std::string_view signature) {
  if (constant_time_equal(twilio_signature(auth_token, url, params), signature)) return true;
  const auto variants = port_variants(url);
  if (variants.without && constant_time_equal(twilio_signature(auth_token, *variants.without, params), signature)) {
    return true;
  }
  return variants.with && constant_time_equal(twilio_signature(auth_token, *variants.with, params), signature);
}

}  // namespace

std::string twilio_signature(std::string_view auth_token, std::string_view url, FormParams params) {
  std::sort(params.begin(), params.end());
  params.erase(std::unique(params.begin(), params.end()), params.end());
  std::string data(url);
  for (const auto& [key, value] : params) {
    data += key;
    data += value;
  }
  return base64_encode(hmac_sha1(auth_token, data));
}

bool verify_twilio_signature(std::string_view auth_token, std::string_view url, const FormParams& params,
                             std::string_view signature) {
  if (auth_token.empty() || signature.empty()) return false;
  return matches(auth_token, url, params, signature);
}

bool verify_twilio_body_signature(std::string_view auth_token, std::string_view url_with_query,
                                  std::string_view body, std::string_view signature) {
  if (auth_token.empty() || signature.empty()) return false;
  const auto q = url_with_query.find('?');
  if (q == std::string_view::npos) return false;
  auto query = url_with_query.substr(q + 1);
  if (const auto hash = query.find('#'); hash != std::string_view::npos) query = query.substr(0, hash);
  std::optional<std::string> expected;
  for (auto& [key, value] : parse_form(query)) {
    if (key == "bodySHA256") expected = std::move(value);
  }
  if (!expected) return false;
  std::transform(expected->begin(), expected->end(), expected->begin(),
                 [](unsigned char c) { return std::tolower(c); });
  // Evaluate both checks so the time taken does not tell which one failed.
  const bool signature_ok = matches(auth_token, url_with_query, {}, signature);
  const bool body_ok = constant_time_equal(to_hex(sha256(body)), *expected);
  return signature_ok && body_ok;
}

}  // namespace baton::integrations
