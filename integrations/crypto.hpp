#pragma once
// Small cryptographic helpers over OpenSSL (kept out of this header) for
// signing links and webhooks and checking peers' signatures.
#include <optional>
#include <string>
#include <string_view>

namespace baton::integrations {

/// Raw 32-byte HMAC-SHA256 of `data` under `key`.
std::string hmac_sha256(std::string_view key, std::string_view data);
/// Raw 32-byte SHA-256.
std::string sha256(std::string_view data);
/// Constant-time comparison (CRYPTO_memcmp); false when the sizes differ.
bool constant_time_equal(std::string_view a, std::string_view b);
/// `n` bytes from the OpenSSL CSPRNG; throws std::runtime_error if it fails.
std::string random_bytes(std::size_t n);

/// Lowercase hex.
std::string to_hex(std::string_view bytes);
/// RFC 4648 section 5, without padding.
std::string base64url_encode(std::string_view bytes);
/// Strict: nullopt on any character outside the alphabet, on padding, or on a
/// length that no unpadded encoding has.
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace baton::integrations
