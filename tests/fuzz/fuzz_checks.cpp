#include "tests/fuzz/fuzz_checks.hpp"

#include <boost/json.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "integrations/alerts/parse_errors.hpp"

namespace baton::fuzz {
namespace json = boost::json;
namespace {

constexpr std::int64_t kMaxUlps = 2;

// At most `limit` bytes of `s`, printable ASCII as is, the rest as \xNN.
std::string escaped(std::string_view s, std::size_t limit = 400) {
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < limit; ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b >= 0x20 && b < 0x7f && b != '\\') {
      out.push_back(static_cast<char>(b));
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", b);
      out += buf;
    }
  }
  if (s.size() > limit) out += "...(" + std::to_string(s.size()) + " bytes)";
  return out;
}

// Distance in representable doubles; both finite or both the same infinity.
std::int64_t ulps_apart(double a, double b) {
  if (a == b) return 0;  // also +0 == -0
  if (std::isnan(a) || std::isnan(b) || std::isinf(a) || std::isinf(b)) return INT64_MAX;
  std::int64_t x = 0, y = 0;
  std::memcpy(&x, &a, sizeof x);
  std::memcpy(&y, &b, sizeof y);
  // Map the sign-magnitude bit patterns onto one monotonic integer line.
  if (x < 0) x = INT64_MIN - x;
  if (y < 0) y = INT64_MIN - y;
  const auto d = static_cast<std::uint64_t>(x) - static_cast<std::uint64_t>(y);
  const auto mag = x > y ? d : ~d + 1;
  return mag > static_cast<std::uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<std::int64_t>(mag);
}

void non_finite_at(const json::value& v, std::string& path, std::string& found) {
  if (!found.empty()) return;
  if (const double* d = v.if_double()) {
    if (!std::isfinite(*d)) found = path;
  } else if (const json::object* o = v.if_object()) {
    for (const auto& kv : *o) {
      const auto size = path.size();
      path += ".";
      path += kv.key();
      non_finite_at(kv.value(), path, found);
      path.resize(size);
    }
  } else if (const json::array* a = v.if_array()) {
    for (std::size_t i = 0; i < a->size(); ++i) {
      const auto size = path.size();
      path += "[" + std::to_string(i) + "]";
      non_finite_at((*a)[i], path, found);
      path.resize(size);
    }
  }
}

}  // namespace

void violated(std::string_view what, std::string_view detail) {
  std::fprintf(stderr, "\n==fuzz== property violated: %.*s\n", static_cast<int>(what.size()), what.data());
  if (!detail.empty()) std::fprintf(stderr, "==fuzz== %s\n", escaped(detail).c_str());
  std::fflush(stderr);
  std::abort();
}

bool is_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    if (b0 < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if ((b0 & 0xE0) == 0xC0) {
      len = 2, cp = b0 & 0x1F;
    } else if ((b0 & 0xF0) == 0xE0) {
      len = 3, cp = b0 & 0x0F;
    } else if ((b0 & 0xF8) == 0xF0) {
      len = 4, cp = b0 & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3F);
    }
    static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

std::size_t code_points(std::string_view utf8) {
  std::size_t n = 0;
  for (char c : utf8) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

void check_utf8(std::string_view field, std::string_view text) {
  if (!is_utf8(text)) violated(std::string(field) + " is not valid UTF-8", text);
}

std::string first_non_finite(const json::value& v) {
  std::string path = "$", found;
  non_finite_at(v, path, found);
  return found;
}

bool same_json(const json::value& a, const json::value& b) {
  if (a.is_double() && b.is_double()) return ulps_apart(a.get_double(), b.get_double()) <= kMaxUlps;
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case json::kind::null: return true;
    case json::kind::bool_: return a.get_bool() == b.get_bool();
    case json::kind::int64: return a.get_int64() == b.get_int64();
    case json::kind::uint64: return a.get_uint64() == b.get_uint64();
    case json::kind::double_: return true;  // handled above
    case json::kind::string: return a.get_string() == b.get_string();
    case json::kind::array: {
      const auto& x = a.get_array();
      const auto& y = b.get_array();
      if (x.size() != y.size()) return false;
      for (std::size_t i = 0; i < x.size(); ++i)
        if (!same_json(x[i], y[i])) return false;
      return true;
    }
    case json::kind::object: {
      const auto& x = a.get_object();
      const auto& y = b.get_object();
      if (x.size() != y.size()) return false;
      for (auto i = x.begin(), j = y.begin(); i != x.end(); ++i, ++j)
        if (i->key() != j->key() || !same_json(i->value(), j->value())) return false;
      return true;
    }
  }
  return false;
}

json::value parse_input(std::string_view text) {
  json::parse_options options;
  options.max_depth = 1024;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec, {}, options);
  return ec ? json::value() : v;
}

json::value check_json_round_trip(std::string_view field, std::string_view text, bool finite) {
  check_utf8(field, text);
  boost::system::error_code ec;
  json::parse_options readers;  // what the API reads stored details with
  readers.max_depth = alerts::kMaxDetailsDepth;
  json::value first = json::parse(text, ec, {}, readers);
  if (ec) violated(std::string(field) + " does not parse back as JSON (" + ec.message() + ")", text);
  if (finite) {
    if (auto at = first_non_finite(first); !at.empty())
      violated(std::string(field) + " holds a non-finite number at " + at, text);
  }
  const std::string again = json::serialize(first);
  json::value second = json::parse(again, ec, {}, readers);
  if (ec) violated(std::string(field) + " re-serialized does not parse (" + ec.message() + ")", again);
  if (!same_json(first, second))
    violated(std::string(field) + " does not survive serialize/parse", std::string(text) + "  =>  " + again);
  return first;
}

}  // namespace baton::fuzz
