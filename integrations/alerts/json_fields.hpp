#pragma once
// Internal to the alert parsers (included only by their .cpp files): typed field
// access on a parsed JSON object that records sender-facing errors, and UTF-8 helpers.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>
#include <cmath>

#include "integrations/alerts/parse_errors.hpp"

namespace baton::alerts::detail {

namespace json = boost::json;

/// Collects errors with the field path of the current object as a prefix.
class Fields {
 public:
  Fields(const json::object& obj, std::string prefix, ParseErrors& errors)
      : obj_(obj), prefix_(std::move(prefix)), errors_(errors) {}

  /// The field, or nullptr when absent or null.
  const json::value* get(std::string_view key) const {
    const json::value* v = obj_.if_contains(key);
    return (v == nullptr || v->is_null()) ? nullptr : v;
  }
  std::string path(std::string_view key) const { return prefix_ + std::string(key); }
  void error(std::string_view key, std::string_view what) {
    errors_.add("'" + path(key) + "' " + std::string(what));
  }

  /// A string field. Records "is missing or blank" when required and absent or blank,
  /// "must be a string" for any other type.
  std::optional<std::string_view> string(std::string_view key, bool required = false) {
    const json::value* v = get(key);
    if (v == nullptr) {
      if (required) error(key, "is missing or blank");
      return std::nullopt;
    }
    const json::string* s = v->if_string();
    if (s == nullptr) {
      error(key, "must be a string");
      return std::nullopt;
    }
    if (required && std::string_view(*s).find_first_not_of(" \t\r\n") == std::string_view::npos) {
      error(key, "is missing or blank");
      return std::nullopt;
    }
    return std::string_view(*s);
  }

  /// An object field; records "is missing" / "must be an object".
  const json::object* object(std::string_view key, bool required = false) {
    const json::value* v = get(key);
    if (v == nullptr) {
      if (required) error(key, "is missing");
      return nullptr;
    }
    if (!v->is_object()) {
      error(key, "must be an object");
      return nullptr;
    }
    return &v->get_object();
  }

  /// An array field; records "is missing" / "must be an array".
  const json::array* array(std::string_view key, bool required = false) {
    const json::value* v = get(key);
    if (v == nullptr) {
      if (required) error(key, "is missing");
      return nullptr;
    }
    if (!v->is_array()) {
      error(key, "must be an array");
      return nullptr;
    }
    return &v->get_array();
  }

  ParseErrors& errors() { return errors_; }

  /// A value copied into the stored details: records an error naming the
  /// first number inside it that is not finite (1e999 parses as infinity,
  /// which JSON cannot represent, RFC 8259 §6). Returns whether it is clean.
  bool storable(std::string_view key, const json::value& v) {
    std::string where = path(key);
    if (auto bad = first_non_finite(v, where)) {
      errors_.add("'" + *bad + "' must be a finite number");
      return false;
    }
    return true;
  }

  static std::optional<std::string> first_non_finite(const json::value& v, const std::string& at) {
    if (const double* d = v.if_double()) return std::isfinite(*d) ? std::nullopt : std::optional(at);
    if (const json::object* o = v.if_object()) {
      for (const auto& kv : *o)
        if (auto bad = first_non_finite(kv.value(), at + "." + std::string(kv.key()))) return bad;
    } else if (const json::array* a = v.if_array()) {
      for (std::size_t i = 0; i < a->size(); ++i)
        if (auto bad = first_non_finite((*a)[i], at + "[" + std::to_string(i) + "]")) return bad;
    }
    return std::nullopt;
  }

 private:
  const json::object& obj_;
  std::string prefix_;
  ParseErrors& errors_;
};

inline bool is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

/// Number of code points (continuation bytes are not counted).
inline std::size_t utf8_length(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += is_continuation(c) ? 0 : 1;
  return n;
}

/// The longest prefix of `s` holding at most `max_chars` code points.
inline std::string_view utf8_prefix(std::string_view s, std::size_t max_chars) {
  std::size_t chars = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (is_continuation(static_cast<unsigned char>(s[i]))) continue;
    if (chars == max_chars) return s.substr(0, i);
    ++chars;
  }
  return s;
}

/// 64-bit FNV-1a, as 16 lowercase hex digits.
inline std::string fnv1a_hex(std::string_view s) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, h >>= 4) out[static_cast<std::size_t>(i)] = kHex[h & 0xF];
  return out;
}

/// Stack arena size for one request: typical bodies parse without touching the heap.
inline constexpr std::size_t kArenaBytes = 16 * 1024;

inline json::parse_options parse_options() {
  json::parse_options opt;
  opt.max_depth = 64;
  return opt;
}

}  // namespace baton::alerts::detail
