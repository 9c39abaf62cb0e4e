#pragma once
// The configuration loader's internals (bot/config.hpp is the interface):
// the validating helpers, Fields (the keys of one mapping, checked) and
// Loader (typed readers, `${ENV}` expansion, errors with their positions, and
// one parser per section). Split by section: bot/config.cpp (the whole file),
// bot/config_channels.cpp (server, storage and the channels),
// bot/config_directory.cpp (people, schedules, policies, services).
// Only these files include it.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <tuple>

#include <yaml-cpp/yaml.h>

#include "bot/config.hpp"
#include "engine/oncall.hpp"

namespace baton::bot::config_internal {

using Millis = std::chrono::milliseconds;

constexpr std::string_view kDurationHint = "(use seconds, or e.g. \"90s\", \"5m\", \"1h30m\")";

inline std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

inline bool valid_id(std::string_view id) {
  return !id.empty() && std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

inline bool valid_env_name(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

inline bool valid_e164(std::string_view phone) {
  if (phone.size() < 3 || phone.size() > 16 || phone[0] != '+' || phone[1] == '0') return false;
  return std::all_of(phone.begin() + 1, phone.end(), [](char c) { return c >= '0' && c <= '9'; });
}

inline std::optional<int> parse_hh_mm(std::string_view s) {
  if (s.size() != 5 || s[2] != ':') return std::nullopt;
  int h = 0, m = 0;
  if (std::from_chars(s.data(), s.data() + 2, h).ptr != s.data() + 2) return std::nullopt;
  if (std::from_chars(s.data() + 3, s.data() + 5, m).ptr != s.data() + 5) return std::nullopt;
  if (h == 24 && m == 0) return 0;  // "to: 24:00" = midnight; end <= start wraps
  if (h < 0 || h > 23 || m < 0 || m > 59) return std::nullopt;
  return h * 60 + m;
}

inline std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

// Everything after "scheme://" up to the path: [userinfo@]host[:port].
inline std::string_view url_authority(std::string_view url) {
  const auto start = url.find("://");
  if (start == std::string_view::npos) return {};
  url.remove_prefix(start + 3);
  return url.substr(0, url.find_first_of("/?#"));
}

// Why `url` is not a usable URL with one of `schemes` ("smtp://"...), or nullopt.
// The reasons read after "'url' in <section> ".
inline std::optional<std::string> url_problem(std::string_view url, std::initializer_list<std::string_view> schemes) {
  if (std::none_of(schemes.begin(), schemes.end(), [&](std::string_view s) { return url.rfind(s, 0) == 0; })) {
    std::string expected;
    for (std::string_view s : schemes) expected += (expected.empty() ? "" : " or ") + std::string(s);
    return "must start with " + expected;
  }
  const std::string_view authority = url_authority(url);
  // Not echoed: the credentials would end up in the log.
  if (authority.find('@') != std::string_view::npos)
    return "must not contain credentials (use the section's own secret fields)";
  std::string_view host = authority, port;
  if (!host.empty() && host.front() == '[') {
    const auto close = host.find(']');
    if (close == std::string_view::npos) return "has a bad host: " + quoted(url);
    port = host.substr(close + 1);
    host = host.substr(0, close + 1);
    if (!port.empty() && port.front() != ':') return "has a bad host: " + quoted(url);
  } else if (const auto colon = host.find(':'); colon != std::string_view::npos) {
    port = host.substr(colon);
    host = host.substr(0, colon);
  }
  if (host.empty() || host == "[]") return "has no host: " + quoted(url);
  if (!port.empty()) {
    port.remove_prefix(1);
    int n = 0;
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
    if (port.empty() || ec != std::errc{} || p != port.data() + port.size() || n < 1 || n > 65535)
      return "has a bad port: " + quoted(url);
  }
  return std::nullopt;
}

// A host Twilio cannot call back: loopback, or the unspecified address.
inline bool is_local_url(std::string_view url) {
  std::string_view host = url_authority(url);
  if (!host.empty() && host.front() == '[')
    host = host.substr(0, host.find(']') + 1);
  else
    host = host.substr(0, host.find(':'));
  std::string lower(host);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  return lower == "localhost" || lower.ends_with(".localhost") || lower.rfind("127.", 0) == 0 || lower == "[::1]" ||
         lower == "0.0.0.0" || lower == "[::]";
}

inline bool has_control_char(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

// A bare address for SMTP "MAIL FROM" and "From:": local@domain, nothing that
// would need quoting or could break a header.
inline bool valid_mailbox(std::string_view a) {
  const auto at = a.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == a.size()) return false;
  return std::none_of(a.begin(), a.end(), [](char c) {
    return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == ',' || c == ';' ||
           c == '"' || c == '(' || c == ')';
  });
}

// Twilio's alphanumeric sender id: 1..11 of letters, digits and spaces, at least one letter.
inline bool valid_alphanumeric_sender(std::string_view s) {
  if (s.empty() || s.size() > 11) return false;
  bool letter = false;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalpha(u) && u < 0x80) letter = true;
    else if (!(std::isdigit(u) || c == ' ')) return false;
  }
  return letter;
}

inline std::optional<int> parse_weekday(std::string_view s) {
  static constexpr std::string_view kDays[] = {"monday", "tuesday", "wednesday", "thursday",
                                               "friday", "saturday", "sunday"};
  std::string lower(s);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  for (int d = 0; d < 7; ++d)
    if (lower == kDays[d] || (lower.size() == 3 && kDays[d].substr(0, 3) == lower)) return d + 1;
  return std::nullopt;
}

class Loader;

/// The keys of one mapping node, checked against the allowed set.
class Fields {
 public:
  Fields(Loader& loader, const YAML::Node& node, std::initializer_list<std::string_view> allowed,
         const std::string& context);
  /// The value for `key`, or a null node when absent.
  YAML::Node operator[](std::string_view key) const {
    auto it = values_.find(key);
    return it == values_.end() ? YAML::Node() : it->second;
  }
  bool has(std::string_view key) const { return values_.count(key) != 0; }

 private:
  std::map<std::string, YAML::Node, std::less<>> values_;
};

class Loader {
 public:
  Loader(std::string file, EnvLookup env) : file_(std::move(file)), env_(std::move(env)) {
    if (!env_) {
      env_ = [](std::string_view name) -> std::optional<std::string> {
        const char* v = std::getenv(std::string(name).c_str());
        return v ? std::optional<std::string>(v) : std::nullopt;
      };
    }
  }

  tl::expected<Config, std::vector<ConfigError>> load(std::string_view text);

  void error(const YAML::Mark& m, std::string message) { errors_.push_back(at(m, std::move(message))); }
  void warning(const YAML::Mark& m, std::string message) { warnings_.push_back(at(m, std::move(message))); }

  // Typed readers. A null or absent node reads as nullopt without an error; a wrong
  // type is reported as "<what> must be ...". `what` reads like "'listen' in server".
  std::optional<std::string> string(const YAML::Node& n, const std::string& what) {
    if (!n.IsDefined() || n.IsNull()) return std::nullopt;
    if (!n.IsScalar()) {
      error(n.Mark(), what + " must be a string");
      return std::nullopt;
    }
    return expand(n.Scalar(), n.Mark());
  }
  std::optional<std::string> required_string(const YAML::Node& n, const std::string& what,
                                             const YAML::Mark& parent) {
    auto v = string(n, what);
    if (!n.IsDefined() || n.IsNull() || (v && v->empty())) {
      error(n.Mark().line >= 0 ? n.Mark() : parent, what + " is required");
      return std::nullopt;
    }
    return v;
  }
  /// For a value already read with string(): "<what> is required" when it is
  /// absent, null or empty (not when it was of the wrong type or failed to expand).
  void require(const YAML::Node& n, const std::optional<std::string>& v, const std::string& what,
               const YAML::Mark& parent) {
    if (n.IsNull() || (v && v->empty())) error(n.Mark().line >= 0 ? n.Mark() : parent, what + " is required");
  }
  std::optional<std::int64_t> integer(const YAML::Node& n, const std::string& what, std::int64_t min,
                                      std::int64_t max) {
    auto s = string(n, what);
    if (!s) return std::nullopt;
    std::int64_t v = 0;
    auto [p, ec] = std::from_chars(s->data(), s->data() + s->size(), v);
    if (ec != std::errc{} || p != s->data() + s->size()) {
      error(n.Mark(), what + " must be an integer, not " + quoted(*s));
      return std::nullopt;
    }
    if (v < min || v > max) {
      error(n.Mark(), what + " must be between " + std::to_string(min) + " and " + std::to_string(max));
      return std::nullopt;
    }
    return v;
  }
  std::optional<bool> boolean(const YAML::Node& n, const std::string& what) {
    auto s = string(n, what);
    if (!s) return std::nullopt;
    std::string lower(*s);
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    if (lower == "true" || lower == "yes" || lower == "on") return true;
    if (lower == "false" || lower == "no" || lower == "off") return false;
    error(n.Mark(), what + " must be true or false, not " + quoted(*s));
    return std::nullopt;
  }
  std::optional<Millis> duration(const YAML::Node& n, const std::string& what, bool whole_seconds,
                                 bool allow_zero) {
    auto s = string(n, what);
    if (!s) return std::nullopt;
    auto d = parse_duration(*s);
    if (!d) {
      error(n.Mark(), "invalid duration " + quoted(*s) + " for " + what + " " + std::string(kDurationHint));
      return std::nullopt;
    }
    if (whole_seconds && d->count() % 1000 != 0) {
      error(n.Mark(), what + " must be a whole number of seconds, not " + quoted(*s));
      return std::nullopt;
    }
    if (!allow_zero && d->count() == 0) {
      error(n.Mark(), what + " must be longer than zero");
      return std::nullopt;
    }
    return d;
  }
  /// A decimal number in (0, max].
  std::optional<double> positive_number(const YAML::Node& n, const std::string& what, double max) {
    auto s = string(n, what);
    if (!s) return std::nullopt;
    double v = 0;
    auto [p, ec] = std::from_chars(s->data(), s->data() + s->size(), v);
    if (ec != std::errc{} || p != s->data() + s->size() || !std::isfinite(v) || v <= 0 || v > max) {
      std::ostringstream limit;
      limit << max;
      error(n.Mark(), what + " must be a number greater than 0 and at most " + limit.str() + ", not " + quoted(*s));
      return std::nullopt;
    }
    return v;
  }
  bool is_map(const YAML::Node& n, const std::string& what) {
    if (n.IsMap()) return true;
    if (!n.IsNull()) error(n.Mark(), what + " must be a mapping");
    return false;
  }
  bool is_seq(const YAML::Node& n, const std::string& what) {
    if (n.IsSequence()) return true;
    if (!n.IsNull()) error(n.Mark(), what + " must be a list");
    return false;
  }
  /// Each (id, value) of a mapping of id -> thing, with ids checked.
  template <typename F>
  void each_entry(const YAML::Node& n, const std::string& what, F fn) {
    if (!is_map(n, what)) return;
    std::set<std::string, std::less<>> seen;
    for (auto it = n.begin(); it != n.end(); ++it) {
      const YAML::Node key = it->first;
      if (!key.IsScalar()) {
        error(key.Mark(), "ids in " + what + " must be strings");
        continue;
      }
      const std::string& id = key.Scalar();
      if (!seen.insert(id).second) {
        error(key.Mark(), "duplicate id " + quoted(id) + " in " + what);
        continue;
      }
      if (!valid_id(id)) {
        error(key.Mark(), "id " + quoted(id) + " in " + what + " may contain only letters, digits, '-', '_' and '.'");
        continue;
      }
      fn(id, it->second, key.Mark());
    }
  }

 private:
  friend class Fields;

  ConfigError at(const YAML::Mark& m, std::string message) const {
    if (m.line < 0) return ConfigError{file_, 0, 0, std::move(message)};
    return ConfigError{file_, m.line + 1, m.column + 1, std::move(message)};
  }

  // ${NAME}, ${NAME:-default}, $${ -> ${ (see the header).
  std::optional<std::string> expand(std::string_view in, const YAML::Mark& m) {
    if (in.find('$') == std::string_view::npos) return std::string(in);
    std::string out;
    bool ok = true;
    for (std::size_t i = 0; i < in.size();) {
      if (in.compare(i, 3, "$${") == 0) {
        out += "${";
        i += 3;
        continue;
      }
      if (in.compare(i, 2, "${") != 0) {
        out += in[i++];
        continue;
      }
      const std::size_t close = in.find('}', i + 2);
      if (close == std::string_view::npos) {
        error(m, "unterminated '${' (write '$${' for a literal '${')");
        return std::nullopt;
      }
      std::string_view inner = in.substr(i + 2, close - i - 2);
      std::optional<std::string_view> fallback;
      if (auto sep = inner.find(":-"); sep != std::string_view::npos) {
        fallback = inner.substr(sep + 2);
        inner = inner.substr(0, sep);
      }
      i = close + 1;
      if (!valid_env_name(inner)) {
        error(m, "invalid environment variable name " + quoted(inner) + " in '${...}'");
        ok = false;
        continue;
      }
      auto value = env_(inner);
      if (value && (!value->empty() || !fallback)) {
        out += *value;
      } else if (fallback) {
        out += *fallback;
      } else {
        error(m, "environment variable " + std::string(inner) + " is not set (write ${" + std::string(inner) +
                     ":-default} to give a default)");
        ok = false;
      }
    }
    if (!ok) return std::nullopt;
    return out;
  }

  void load_server(const YAML::Node& n, Config& c);
  void load_storage(const YAML::Node& n, Config& c);
  void load_webhook(const YAML::Node& n, Config& c);
  void load_dispatch(const YAML::Node& n, Config& c);
  void load_smtp(const YAML::Node& n, Config& c);
  void load_twilio(const YAML::Node& n, Config& c);
  void load_sms_gateway(const YAML::Node& n, Config& c);
  void load_slack(const YAML::Node& n, Config& c);
  void load_teams(const YAML::Node& n, Config& c);
  void load_headers(const YAML::Node& n, const std::string& section,
                    std::vector<std::pair<std::string, std::string>>& out);
  void check_channels(Config& c, engine::Directory& d);
  std::vector<engine::ContactRule> load_chain(const YAML::Node& n, const std::string& owner);
  void load_people(const YAML::Node& n, engine::Directory& d);
  /// people.<id>.working_hours into working_hours_ (bot/config_working_hours.cpp).
  void load_working_hours(const YAML::Node& n, const std::string& person, const std::string& ctx);
  std::map<std::string, storage::WorkingHours, std::less<>> working_hours_;
  void load_schedules(const YAML::Node& n, engine::Directory& d);
  void load_policies(const YAML::Node& n, engine::Directory& d);
  void load_services(const YAML::Node& n, engine::Directory& d);
  void check_person(const engine::Directory& d, const YAML::Node& n, const std::string& id,
                    const std::string& where);
  void check_time_zone(const YAML::Node& n, const std::string& tz, const std::string& what);

  std::string file_;
  EnvLookup env_;
  std::vector<ConfigError> errors_;
  std::vector<ConfigError> warnings_;
  /// Where each contact method is first used in a contact chain.
  std::map<engine::MethodKind, YAML::Mark> method_used_at_;
  YAML::Mark public_url_at_ = YAML::Mark::null_mark();  ///< null when defaulted
  YAML::Mark twilio_at_ = YAML::Mark::null_mark();
  YAML::Mark sms_gateway_url_at_ = YAML::Mark::null_mark();
};

}  // namespace baton::bot::config_internal
