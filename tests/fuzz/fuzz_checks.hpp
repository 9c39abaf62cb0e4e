#pragma once
// Properties the fuzz targets assert on what a parser accepted. A violation
// prints what and where, then aborts, which libFuzzer reports as a crash and
// saves the input. These checks are independent oracles: they do not reuse
// the helpers of the code under test.
#include <boost/json/fwd.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace baton::fuzz {

/// Prints "fuzz property violated: <what>" and `detail` (escaped), then aborts.
[[noreturn]] void violated(std::string_view what, std::string_view detail = {});

/// `condition` or violated(what).
inline void require(bool condition, std::string_view what, std::string_view detail = {}) {
  if (!condition) violated(what, detail);
}

/// The fuzz input as text.
inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

/// Well-formed UTF-8 (RFC 3629 §4): no overlong forms, no surrogates, nothing
/// above U+10FFFF, no truncated sequence.
bool is_utf8(std::string_view text);
/// Number of code points in valid UTF-8.
std::size_t code_points(std::string_view utf8);

/// Aborts unless `text` is valid UTF-8; `field` names it in the report.
void check_utf8(std::string_view field, std::string_view text);

/// The round trip for JSON text that baton stores or passes on: `text` is valid
/// UTF-8, parses with Boost.JSON's default options (as its readers do, e.g. the
/// incident API: so at most 32 levels deep), holds only finite numbers
/// (RFC 8259 §6 has no Infinity) when `finite` is set, and serializing the
/// parsed value gives text that parses to the same value. Returns the value.
///
/// "The same" is exact for every kind but doubles, which may differ by at most
/// 2 ULP: Boost 1.81's parser (Debian 12) rounds some 16- and 17-digit decimals
/// off by one or two ULP, and has no precise mode (parse_options::numbers
/// arrived in Boost 1.83), so even its own shortest output does not always
/// read back bit-exactly.
boost::json::value check_json_round_trip(std::string_view field, std::string_view text, bool finite);

/// Structural equality: the same kinds, strings, keys in the same order; doubles
/// within 2 ULP (see above); int64 and uint64 holding the same number are equal.
bool same_json(const boost::json::value& a, const boost::json::value& b);

/// The first non-finite double inside `v` as a path ("$.a[2]"), or "" when none.
std::string first_non_finite(const boost::json::value& v);

/// Parses a fuzz input for comparison with what a parser kept, allowing deeper
/// nesting than any parser under test; null when it is not JSON.
boost::json::value parse_input(std::string_view text);

}  // namespace baton::fuzz
