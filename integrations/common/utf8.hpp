#pragma once
// UTF-8 validation and repair for text that arrives from outside (form fields,
// headers, anything not already checked by a JSON parser). Everything baton
// stores and serves as JSON must be valid UTF-8 (RFC 8259 §8.1), so inbound
// boundaries repair what they take in before it reaches the engine or storage.
#include <string>
#include <string_view>

namespace baton::integrations {

/// True when `text` is well-formed UTF-8 (RFC 3629): no overlong forms, no
/// surrogates (U+D800..U+DFFF), nothing above U+10FFFF, no truncated sequence.
bool valid_utf8(std::string_view text);

/// `text` with every ill-formed subsequence replaced by U+FFFD, one per
/// maximal subpart (Unicode §3.9, "substitution of maximal subparts"). Valid
/// input comes back unchanged.
std::string repair_utf8(std::string_view text);

/// Repairs `text` in place; returns whether anything had to change.
bool repair_utf8_in_place(std::string& text);

}  // namespace baton::integrations
