#include "bot/config.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include <yaml-cpp/yaml.h>

#include "engine/oncall.hpp"

namespace baton::bot {

std::string ConfigError::to_string() const {
  if (line <= 0) return file + ": " + message;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::int64_t total = 0;
  std::size_t i = 0;
  const bool digits_only = text.find_first_not_of("0123456789") == std::string_view::npos;
  while (i < text.size()) {
    std::int64_t n = 0;
    auto [p, ec] = std::from_chars(text.data() + i, text.data() + text.size(), n);
    if (ec != std::errc{} || n < 0) return std::nullopt;
    i = static_cast<std::size_t>(p - text.data());
    std::int64_t unit_ms = 0;
    if (digits_only) {
      unit_ms = 1000;
    } else if (text.substr(i, 2) == "ms") {
      unit_ms = 1, i += 2;
    } else if (i < text.size()) {
      switch (text[i]) {
        case 's': unit_ms = 1000; break;
        case 'm': unit_ms = 60'000; break;
        case 'h': unit_ms = 3'600'000; break;
        case 'd': unit_ms = 86'400'000; break;
        default: return std::nullopt;
      }
      ++i;
    } else {
      return std::nullopt;  // "1h30": a number without a unit after another part
    }
    // A week of milliseconds times a thousand is far below overflow; refuse anything bigger.
    if (n > 1'000'000'000 || total > 1'000'000'000'000'000) return std::nullopt;
    total += n * unit_ms;
  }
  return std::chrono::milliseconds{total};
}

namespace {

using Millis = std::chrono::milliseconds;

constexpr std::string_view kDurationHint = "(use seconds, or e.g. \"90s\", \"5m\", \"1h30m\")";

std::size_t edit_distance(std::string_view a, std::string_view b) {
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

bool valid_id(std::string_view id) {
  return !id.empty() && std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

bool valid_env_name(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

bool valid_e164(std::string_view phone) {
  if (phone.size() < 3 || phone.size() > 16 || phone[0] != '+' || phone[1] == '0') return false;
  return std::all_of(phone.begin() + 1, phone.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<int> parse_hh_mm(std::string_view s) {
  if (s.size() != 5 || s[2] != ':') return std::nullopt;
  int h = 0, m = 0;
  if (std::from_chars(s.data(), s.data() + 2, h).ptr != s.data() + 2) return std::nullopt;
  if (std::from_chars(s.data() + 3, s.data() + 5, m).ptr != s.data() + 5) return std::nullopt;
  if (h == 24 && m == 0) return 0;  // "to: 24:00" = midnight; end <= start wraps
  if (h < 0 || h > 23 || m < 0 || m > 59) return std::nullopt;
  return h * 60 + m;
}

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

// Everything after "scheme://" up to the path: [userinfo@]host[:port].
std::string_view url_authority(std::string_view url) {
  const auto start = url.find("://");
  if (start == std::string_view::npos) return {};
  url.remove_prefix(start + 3);
  return url.substr(0, url.find_first_of("/?#"));
}

// Why `url` is not a usable URL with one of `schemes` ("smtp://"...), or nullopt.
// The reasons read after "'url' in <section> ".
std::optional<std::string> url_problem(std::string_view url, std::initializer_list<std::string_view> schemes) {
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
bool is_local_url(std::string_view url) {
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

bool has_control_char(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

// A bare address for SMTP "MAIL FROM" and "From:": local@domain, nothing that
// would need quoting or could break a header.
bool valid_mailbox(std::string_view a) {
  const auto at = a.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == a.size()) return false;
  return std::none_of(a.begin(), a.end(), [](char c) {
    return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == ',' || c == ';' ||
           c == '"' || c == '(' || c == ')';
  });
}

// Twilio's alphanumeric sender id: 1..11 of letters, digits and spaces, at least one letter.
bool valid_alphanumeric_sender(std::string_view s) {
  if (s.empty() || s.size() > 11) return false;
  bool letter = false;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalpha(u) && u < 0x80) letter = true;
    else if (!(std::isdigit(u) || c == ' ')) return false;
  }
  return letter;
}

std::optional<int> parse_weekday(std::string_view s) {
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

Fields::Fields(Loader& loader, const YAML::Node& node, std::initializer_list<std::string_view> allowed,
               const std::string& context) {
  if (!node.IsMap()) {
    if (!node.IsNull()) loader.error(node.Mark(), context + " must be a mapping");
    return;
  }
  for (auto it = node.begin(); it != node.end(); ++it) {
    const YAML::Node key = it->first;
    if (!key.IsScalar()) {
      loader.error(key.Mark(), "keys in " + context + " must be strings");
      continue;
    }
    const std::string& name = key.Scalar();
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      std::string message = "unknown key " + quoted(name) + " in " + context;
      std::string_view best;
      std::size_t best_distance = 3;
      for (std::string_view a : allowed)
        if (auto d = edit_distance(name, a); d < best_distance) best = a, best_distance = d;
      if (!best.empty()) message += " (did you mean " + quoted(best) + "?)";
      loader.error(key.Mark(), std::move(message));
      continue;
    }
    if (!values_.emplace(name, it->second).second)
      loader.error(key.Mark(), "duplicate key " + quoted(name) + " in " + context);
  }
}

void Loader::check_time_zone(const YAML::Node& n, const std::string& tz, const std::string& what) {
  if (!engine::is_valid_time_zone(tz)) error(n.Mark(), "unknown time zone " + quoted(tz) + " for " + what);
}

void Loader::check_person(const engine::Directory& d, const YAML::Node& n, const std::string& id,
                          const std::string& where) {
  if (!d.person(id)) error(n.Mark(), "unknown person " + quoted(id) + " in " + where);
}

void Loader::load_server(const YAML::Node& n, Config& c) {
  const std::string ctx = "server";
  Fields f(*this, n, {"listen", "public_url", "api_tokens", "max_body_bytes", "request_timeout", "action_secret"},
           ctx);
  auto& s = c.server;
  if (auto v = string(f["listen"], "'listen' in server")) {
    const auto colon = v->rfind(':');
    std::int64_t port = -1;
    if (colon != std::string::npos && colon > 0) {
      auto [p, ec] = std::from_chars(v->data() + colon + 1, v->data() + v->size(), port);
      if (ec != std::errc{} || p != v->data() + v->size()) port = -1;
    }
    if (port < 0 || port > 65535)
      error(f["listen"].Mark(), "'listen' in server must be \"host:port\", not " + quoted(*v));
    else
      s.listen = *v;
  }
  if (auto v = string(f["public_url"], "'public_url' in server")) {
    if (v->rfind("http://", 0) != 0 && v->rfind("https://", 0) != 0)
      error(f["public_url"].Mark(), "'public_url' in server must start with http:// or https://");
    else
      s.public_url = *v, public_url_at_ = f["public_url"].Mark();
  }
  if (s.public_url.empty()) s.public_url = "http://" + s.listen;
  while (s.public_url.size() > 8 && s.public_url.back() == '/') s.public_url.pop_back();

  const YAML::Node tokens = f["api_tokens"];
  if (is_seq(tokens, "'api_tokens' in server")) {
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      const YAML::Node t = tokens[i];
      const std::string what = "api token " + std::to_string(i + 1);
      Fields tf(*this, t, {"name", "token"}, what);
      if (!t.IsMap()) continue;
      auto name = required_string(tf["name"], "'name' of " + what, t.Mark());
      auto token = required_string(tf["token"], "'token' of " + what, t.Mark());
      if (!name || !token) continue;
      if (std::any_of(s.api_tokens.begin(), s.api_tokens.end(), [&](const auto& p) { return p.first == *name; }))
        error(tf["name"].Mark(), "duplicate api token name " + quoted(*name));
      else
        s.api_tokens.emplace_back(*name, *token);
    }
  }
  if (auto v = integer(f["max_body_bytes"], "'max_body_bytes' in server", 1024, std::int64_t{1} << 30))
    s.max_body_bytes = static_cast<std::size_t>(*v);
  if (auto v = duration(f["request_timeout"], "'request_timeout' in server", true, false))
    s.request_timeout = std::chrono::duration_cast<std::chrono::seconds>(*v);
  if (auto v = string(f["action_secret"], "'action_secret' in server")) s.action_secret = *v;
  if (s.action_secret.empty())
    warning(n.IsMap() ? n.Mark() : YAML::Mark::null_mark(),
            "server.action_secret is empty: action links (acknowledge/resolve) will not be signed");
}

void Loader::load_storage(const YAML::Node& n, Config& c) {
  Fields f(*this, n, {"path", "durability"}, "storage");
  if (auto v = string(f["path"], "'path' in storage")) {
    if (v->empty())
      error(f["path"].Mark(), "'path' in storage must not be empty");
    else
      c.storage.path = *v;
  }
  if (auto v = string(f["durability"], "'durability' in storage")) {
    if (*v != "full" && *v != "normal")
      error(f["durability"].Mark(), "'durability' in storage must be full or normal, not " + quoted(*v));
    else
      c.storage.durability = *v;
  }
}

void Loader::load_webhook(const YAML::Node& n, Config& c) {
  Fields f(*this, n, {"url", "headers", "timeout", "signing_secret"}, "webhook");
  auto& w = c.webhook;
  if (auto v = string(f["url"], "'url' in webhook")) {
    if (!v->empty() && v->rfind("http://", 0) != 0 && v->rfind("https://", 0) != 0)
      error(f["url"].Mark(), "'url' in webhook must start with http:// or https://");
    else
      w.url = *v;
  }
  w.enabled = !w.url.empty();
  load_headers(f["headers"], "webhook", w.headers);
  if (auto v = duration(f["timeout"], "'timeout' in webhook", false, false)) w.timeout = *v;
  if (auto v = string(f["signing_secret"], "'signing_secret' in webhook")) w.signing_secret = *v;
}

void Loader::load_headers(const YAML::Node& n, const std::string& section,
                          std::vector<std::pair<std::string, std::string>>& out) {
  if (!is_map(n, "'headers' in " + section)) return;
  for (auto it = n.begin(); it != n.end(); ++it) {
    if (!it->first.IsScalar()) {
      error(it->first.Mark(), "header names in " + section + " must be strings");
      continue;
    }
    const std::string& name = it->first.Scalar();
    if (auto v = string(it->second, "header " + quoted(name) + " in " + section)) out.emplace_back(name, *v);
  }
}

void Loader::load_smtp(const YAML::Node& n, Config& c) {
  Fields f(*this, n,
           {"url", "from", "from_name", "username", "password", "starttls", "ca_file", "verify_peer", "timeout"},
           "smtp");
  auto& s = c.smtp;
  if (auto v = string(f["url"], "'url' in smtp"); v && !v->empty()) {
    if (auto problem = url_problem(*v, {"smtp://", "smtps://"}))
      error(f["url"].Mark(), "'url' in smtp " + *problem);
    else
      s.url = *v;
  }
  s.enabled = !s.url.empty();
  const auto from = string(f["from"], "'from' in smtp");
  if (from && !from->empty() && !valid_mailbox(*from))
    error(f["from"].Mark(), "'from' in smtp is not an email address: " + quoted(*from));
  s.from = from.value_or("");
  if (auto v = string(f["from_name"], "'from_name' in smtp")) {
    if (has_control_char(*v))
      error(f["from_name"].Mark(), "'from_name' in smtp must not contain line breaks or control characters");
    else
      s.from_name = *v;
  }
  s.username = string(f["username"], "'username' in smtp").value_or("");
  s.password = string(f["password"], "'password' in smtp").value_or("");
  if (auto v = string(f["starttls"], "'starttls' in smtp")) {
    if (*v == "required" || *v == "optional")
      s.require_starttls = *v == "required";
    else
      error(f["starttls"].Mark(), "'starttls' in smtp must be required or optional, not " + quoted(*v));
  }
  s.ca_file = string(f["ca_file"], "'ca_file' in smtp").value_or("");
  if (auto v = boolean(f["verify_peer"], "'verify_peer' in smtp")) s.verify_peer = *v;
  if (auto v = duration(f["timeout"], "'timeout' in smtp", false, false)) s.timeout = *v;

  // Requirements and risks only matter for a channel in use (a section can be
  // switched off by an empty `${SMTP_URL:-}`).
  if (!s.enabled) return;
  require(f["from"], from, "'from' in smtp", n.Mark());
  if (!s.username.empty() && s.password.empty())
    error(f.has("password") ? f["password"].Mark() : n.Mark(), "'password' in smtp is required when 'username' is set");
  if (s.username.empty() && !s.password.empty())
    error(f["password"].Mark(), "'password' in smtp is set but 'username' is not");
  if (!s.require_starttls && s.url.rfind("smtp://", 0) == 0)
    warning(f["starttls"].Mark(),
            "smtp.starttls is optional: when the server does not offer STARTTLS, pages and the SMTP password are "
            "sent in clear text");
  if (!s.verify_peer)
    warning(f["verify_peer"].Mark(),
            "smtp.verify_peer is false: the SMTP server's certificate is NOT checked, so anyone on the network path "
            "can read pages and the SMTP password; never use this in production");
}

void Loader::load_twilio(const YAML::Node& n, Config& c) {
  Fields f(*this, n,
           {"base_url", "account_sid", "auth_token", "api_key_sid", "api_key_secret", "from", "messaging_service_sid",
            "messages_per_second", "status_callbacks", "validity", "voice", "voice_from", "calls_per_second",
            "ring_timeout"},
           "twilio");
  auto& t = c.twilio;
  twilio_at_ = n.Mark();
  if (auto v = string(f["base_url"], "'base_url' in twilio")) {
    if (auto problem = url_problem(*v, {"http://", "https://"})) {
      error(f["base_url"].Mark(), "'base_url' in twilio " + *problem);
    } else {
      t.base_url = *v;
      while (t.base_url.size() > 8 && t.base_url.back() == '/') t.base_url.pop_back();
    }
  }
  // Sids are checked by prefix only (fakes use short ones); values are not echoed,
  // because a secret pasted into the wrong field would end up in the log.
  const auto sid = [&](const char* key, std::string_view prefix, const char* kind) {
    auto v = string(f[key], quoted(key) + " in twilio").value_or("");
    if (!v.empty() && v.rfind(prefix, 0) != 0)
      error(f[key].Mark(), quoted(key) + " in twilio must be " + kind + " (starting with " + std::string(prefix) + ")");
    return v;
  };
  t.account_sid = sid("account_sid", "AC", "an Account SID");
  t.enabled = !t.account_sid.empty();
  t.auth_token = string(f["auth_token"], "'auth_token' in twilio").value_or("");
  t.api_key_sid = sid("api_key_sid", "SK", "an API key SID");
  t.api_key_secret = string(f["api_key_secret"], "'api_key_secret' in twilio").value_or("");
  t.from = string(f["from"], "'from' in twilio").value_or("");
  if (!t.from.empty() && !valid_e164(t.from) && !valid_alphanumeric_sender(t.from))
    error(f["from"].Mark(), "'from' in twilio must be an E.164 number like \"+15551234567\" or an alphanumeric "
                            "sender id of at most 11 letters, digits and spaces, not " + quoted(t.from));
  t.messaging_service_sid = sid("messaging_service_sid", "MG", "a Messaging Service SID");
  if (auto v = positive_number(f["messages_per_second"], "'messages_per_second' in twilio", 1000))
    t.messages_per_second = *v;
  if (auto v = boolean(f["status_callbacks"], "'status_callbacks' in twilio")) t.status_callbacks = *v;
  if (auto v = duration(f["validity"], "'validity' in twilio", true, false)) {
    if (*v > std::chrono::hours{10})
      error(f["validity"].Mark(), "'validity' in twilio must be at most 10h (Twilio's limit)");
    else
      t.validity = std::chrono::duration_cast<std::chrono::seconds>(*v);
  }
  if (auto v = boolean(f["voice"], "'voice' in twilio")) t.voice = *v;
  t.voice_from = string(f["voice_from"], "'voice_from' in twilio").value_or("");
  if (!t.voice_from.empty() && !valid_e164(t.voice_from))
    error(f["voice_from"].Mark(), "'voice_from' in twilio must be an E.164 number like \"+15551234567\", not " +
                                      quoted(t.voice_from));
  if (t.voice_from.empty() && valid_e164(t.from)) t.voice_from = t.from;
  if (auto v = positive_number(f["calls_per_second"], "'calls_per_second' in twilio", 100)) t.calls_per_second = *v;
  if (auto v = duration(f["ring_timeout"], "'ring_timeout' in twilio", true, false)) {
    if (*v < std::chrono::seconds{5} || *v > std::chrono::seconds{600})
      error(f["ring_timeout"].Mark(), "'ring_timeout' in twilio must be between 5s and 600s (Twilio's limits)");
    else
      t.ring_timeout = std::chrono::duration_cast<std::chrono::seconds>(*v);
  }

  if (!t.enabled) {
    t.voice = false;
    return;
  }
  if (t.voice && t.auth_token.empty())
    error(f.has("auth_token") ? f["auth_token"].Mark() : f["voice"].Mark(),
          "twilio.voice needs 'auth_token': Twilio signs every request of a call with it");
  if (t.voice && t.voice_from.empty() && !f.has("voice_from"))
    error(f["voice"].Mark(), "twilio.voice needs 'voice_from' (an E.164 number) when 'from' is not a phone number");
  const bool key_sid = !t.api_key_sid.empty(), key_secret = !t.api_key_secret.empty();
  if (key_sid && !key_secret)
    error(f.has("api_key_secret") ? f["api_key_secret"].Mark() : f["api_key_sid"].Mark(),
          "'api_key_secret' in twilio is required when 'api_key_sid' is set");
  if (!key_sid && key_secret)
    error(f["api_key_secret"].Mark(), "'api_key_sid' in twilio is required when 'api_key_secret' is set");
  if (t.auth_token.empty() && !key_sid && !key_secret)
    error(f.has("auth_token") ? f["auth_token"].Mark() : n.Mark(),
          "twilio needs 'auth_token' (or 'api_key_sid' and 'api_key_secret')");
  else if (t.auth_token.empty() && key_sid && key_secret)
    warning(f["api_key_sid"].Mark(),
            "twilio.auth_token is not set: Twilio signs status callbacks and SMS replies with it, so they cannot be "
            "verified");
  if (t.from.empty() == t.messaging_service_sid.empty())
    error(!t.messaging_service_sid.empty() ? f["messaging_service_sid"].Mark() : n.Mark(),
          "twilio needs exactly one of 'from' or 'messaging_service_sid'");
}

void Loader::load_sms_gateway(const YAML::Node& n, Config& c) {
  Fields f(*this, n, {"url", "method", "headers", "content_type", "body_template", "messages_per_second"},
           "sms_gateway");
  auto& g = c.sms_gateway;
  if (auto v = string(f["url"], "'url' in sms_gateway"); v && !v->empty()) {
    if (auto problem = url_problem(*v, {"http://", "https://"}))
      error(f["url"].Mark(), "'url' in sms_gateway " + *problem);
    else
      g.url = *v, sms_gateway_url_at_ = f["url"].Mark();
  }
  g.enabled = !g.url.empty();
  if (auto v = string(f["method"], "'method' in sms_gateway")) {
    std::string upper(*v);
    std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char ch) { return std::toupper(ch); });
    if (upper == "POST" || upper == "PUT")
      g.method = upper;
    else
      error(f["method"].Mark(), "'method' in sms_gateway must be POST or PUT, not " + quoted(*v));
  }
  load_headers(f["headers"], "sms_gateway", g.headers);
  if (auto v = string(f["content_type"], "'content_type' in sms_gateway")) {
    if (v->empty() || has_control_char(*v))
      error(f["content_type"].Mark(), "'content_type' in sms_gateway must be a media type like \"application/json\"");
    else
      g.content_type = *v;
  }
  const auto body = string(f["body_template"], "'body_template' in sms_gateway");
  g.body_template = body.value_or("");
  if (auto v = positive_number(f["messages_per_second"], "'messages_per_second' in sms_gateway", 1000))
    g.messages_per_second = *v;
  if (g.enabled) require(f["body_template"], body, "'body_template' in sms_gateway", n.Mark());
}

void Loader::load_slack(const YAML::Node& n, Config& c) {
  Fields f(*this, n,
           {"mode", "base_url", "bot_token", "app_token", "signing_secret", "archive_on_resolve",
            "messages_per_second_per_channel", "ca_file"},
           "slack");
  auto& s = c.slack;
  if (auto v = string(f["bot_token"], "'bot_token' in slack")) s.bot_token = *v;
  s.enabled = !s.bot_token.empty();
  if (auto v = string(f["mode"], "'mode' in slack")) {
    if (*v == "socket" || *v == "http")
      s.mode = *v;
    else
      error(f["mode"].Mark(), "'mode' in slack must be socket or http, not " + quoted(*v));
  }
  if (auto v = string(f["base_url"], "'base_url' in slack"); v && !v->empty()) {
    if (auto problem = url_problem(*v, {"http://", "https://"}))
      error(f["base_url"].Mark(), "'base_url' in slack " + *problem);
    else
      s.base_url = v->back() == '/' ? v->substr(0, v->size() - 1) : *v;
  }
  if (auto v = string(f["app_token"], "'app_token' in slack")) s.app_token = *v;
  if (auto v = string(f["signing_secret"], "'signing_secret' in slack")) s.signing_secret = *v;
  if (auto b = boolean(f["archive_on_resolve"], "'archive_on_resolve' in slack")) s.archive_on_resolve = *b;
  if (auto v = positive_number(f["messages_per_second_per_channel"], "'messages_per_second_per_channel' in slack", 100))
    s.messages_per_second_per_channel = *v;
  s.ca_file = string(f["ca_file"], "'ca_file' in slack").value_or("");
  if (!s.enabled) return;
  // Token prefixes only: the values themselves never appear in messages.
  if (!s.bot_token.starts_with("xoxb-"))
    error(f["bot_token"].Mark(), "'bot_token' in slack must be a bot token (xoxb-...)");
  if (s.mode == "socket" && !s.app_token.starts_with("xapp-"))
    error(f.has("app_token") ? f["app_token"].Mark() : f["bot_token"].Mark(),
          "socket mode needs 'app_token' in slack: an app-level token (xapp-...) with connections:write");
  if (s.mode == "http" && s.signing_secret.empty())
    error(f.has("signing_secret") ? f["signing_secret"].Mark() : f["bot_token"].Mark(),
          "http mode needs 'signing_secret' in slack to verify Slack's requests");
}

void Loader::load_teams(const YAML::Node& n, Config& c) {
  Fields f(*this, n,
           {"app_id", "app_password", "tenant_id", "login_base", "openid_metadata_url", "connector_base", "graph_base",
            "allow_unauthenticated"},
           "teams");
  auto& t = c.teams;
  if (auto v = string(f["app_id"], "'app_id' in teams")) t.app_id = *v;
  if (auto v = string(f["app_password"], "'app_password' in teams")) t.app_password = *v;
  if (auto v = string(f["tenant_id"], "'tenant_id' in teams")) t.tenant_id = *v;
  if (auto b = boolean(f["allow_unauthenticated"], "'allow_unauthenticated' in teams")) t.allow_unauthenticated = *b;
  // Microsoft 365 Agents Playground needs no app registration: on without an app_id.
  t.enabled = !t.app_id.empty() || t.allow_unauthenticated;
  for (auto [key, target] : {std::pair{"login_base", &t.login_base}, std::pair{"openid_metadata_url", &t.openid_metadata_url},
                             std::pair{"connector_base", &t.connector_base}, std::pair{"graph_base", &t.graph_base}}) {
    if (auto v = string(f[key], std::string("'") + key + "' in teams"); v && !v->empty()) {
      if (auto problem = url_problem(*v, {"http://", "https://"}))
        error(f[key].Mark(), std::string("'") + key + "' in teams " + *problem);
      else
        *target = *v;
    }
  }
  if (!t.enabled) return;
  if (t.app_password.empty() && !t.allow_unauthenticated)
    error(f["app_id"].Mark(), "the teams channel needs 'app_password' (the bot's client secret)");
  if (t.tenant_id.empty() && !t.allow_unauthenticated)
    error(f["app_id"].Mark(), "the teams channel needs 'tenant_id' (single-tenant bots; also used for 1:1 chats)");
  if (t.allow_unauthenticated) {
    auto host = c.server.listen.substr(0, c.server.listen.rfind(':'));
    if (host != "127.0.0.1" && host != "localhost" && host != "[::1]")
      error(f["allow_unauthenticated"].Mark(),
            "'allow_unauthenticated' in teams is only allowed when server.listen is a loopback address");
    else
      warning(f["allow_unauthenticated"].Mark(),
              "teams accepts UNAUTHENTICATED activities (Agents Playground only): never in production");
  }
}

void Loader::check_channels(Config& c, engine::Directory& d) {
  using engine::MethodKind;
  if (c.twilio.enabled && c.sms_gateway.enabled)
    error(sms_gateway_url_at_, "twilio and sms_gateway are both configured: baton sends SMS through one of them");
  if (c.twilio.enabled && is_local_url(c.server.public_url))
    warning(public_url_at_.is_null() ? twilio_at_ : public_url_at_,
            "server.public_url " + quoted(c.server.public_url) +
                " is a local address: Twilio cannot reach it for status callbacks and SMS replies, whose signatures "
                "are checked against it");

  // Links for a method without a channel are skipped by the engine: say so once per
  // method, at its first use, in file order.
  const auto missing = [&](MethodKind m) -> std::optional<std::string> {
    switch (m) {
      case MethodKind::webhook:
        if (!c.webhook.enabled) return "webhook.url is not set";
        break;
      case MethodKind::email:
        if (!c.smtp.enabled) return "smtp.url is not set";
        break;
      case MethodKind::sms:
        if (!c.twilio.enabled && !c.sms_gateway.enabled) return "neither twilio.account_sid nor sms_gateway.url is set";
        break;
      case MethodKind::slack:
        if (!c.slack.enabled) return "slack.bot_token is not set";
        break;
      case MethodKind::teams:
        if (!c.teams.enabled) return "teams.app_id is not set";
        break;
      case MethodKind::voice:
        if (!c.twilio.voice) return "twilio.voice is not on";
        break;
    }
    return std::nullopt;
  };
  std::vector<std::pair<YAML::Mark, MethodKind>> used;
  for (const auto& [m, mark] : method_used_at_) used.emplace_back(mark, m);
  std::sort(used.begin(), used.end(), [](const auto& a, const auto& b) {
    return std::tie(a.first.line, a.first.column) < std::tie(b.first.line, b.first.column);
  });
  for (const auto& [mark, m] : used)
    if (auto why = missing(m))
      warning(mark, "a contact chain uses the " + std::string(engine::to_string(m)) + " method but " + *why);

  if (c.webhook.enabled) d.channels.push_back(MethodKind::webhook);
  if (c.smtp.enabled) d.channels.push_back(MethodKind::email);
  if (c.twilio.enabled || c.sms_gateway.enabled) d.channels.push_back(MethodKind::sms);
  if (c.slack.enabled) d.channels.push_back(MethodKind::slack);
  if (c.teams.enabled) d.channels.push_back(MethodKind::teams);
  if (c.twilio.voice) d.channels.push_back(MethodKind::voice);
  // Nothing configured: the webhook stays the one channel, so pages are at least attempted and recorded.
  if (d.channels.empty()) d.channels.push_back(MethodKind::webhook);
}

void Loader::load_dispatch(const YAML::Node& n, Config& c) {
  Fields f(*this, n, {"workers", "max_attempts", "base_backoff", "max_in_flight_per_channel", "max_connections_per_host"},
           "dispatch");
  if (auto v = integer(f["max_in_flight_per_channel"], "'max_in_flight_per_channel' in dispatch", 1, 100000))
    c.dispatch.max_in_flight_per_channel = static_cast<int>(*v);
  if (auto v = integer(f["max_connections_per_host"], "'max_connections_per_host' in dispatch", 0, 10000))
    c.dispatch.max_connections_per_host = static_cast<int>(*v);
  if (f.has("workers"))
    warning(f["workers"].Mark(),
            "'workers' in dispatch is ignored: every channel sends without blocking a thread, and "
            "'max_in_flight_per_channel' bounds the sends in flight");
  if (auto v = integer(f["max_attempts"], "'max_attempts' in dispatch", 1, 100))
    c.dispatch.max_attempts = static_cast<int>(*v);
  if (auto v = duration(f["base_backoff"], "'base_backoff' in dispatch", false, false)) c.dispatch.base_backoff = *v;
}

std::vector<engine::ContactRule> Loader::load_chain(const YAML::Node& n, const std::string& owner) {
  std::vector<engine::ContactRule> chain;
  if (!is_seq(n, "'contact_chain' of " + owner)) return chain;
  for (std::size_t i = 0; i < n.size(); ++i) {
    const YAML::Node e = n[i];
    const std::string what = "contact_chain entry " + std::to_string(i + 1) + " of " + owner;
    Fields f(*this, e, {"method", "after"}, what);
    if (!e.IsMap()) {
      if (e.IsNull()) error(e.Mark(), what + " must be a mapping");
      continue;
    }
    engine::ContactRule rule;
    auto method = required_string(f["method"], "'method' in " + what, e.Mark());
    if (method) {
      if (auto m = engine::parse_method(*method)) {
        rule.method = *m;
        method_used_at_.emplace(*m, f["method"].Mark());  // keeps the first
      } else {
        error(f["method"].Mark(), "unknown contact method " + quoted(*method) + " in " + what +
                                      " (expected webhook, slack, teams, email, sms or voice)");
        method.reset();
      }
    }
    auto after = duration(f["after"], "'after' in " + what, true, true);
    if (after) rule.delay = std::chrono::duration_cast<engine::Seconds>(*after);
    if (method) chain.push_back(rule);
  }
  std::stable_sort(chain.begin(), chain.end(), [](const auto& a, const auto& b) { return a.delay < b.delay; });
  return chain;
}

void Loader::load_people(const YAML::Node& n, engine::Directory& d) {
  each_entry(n, "people", [&](const std::string& id, const YAML::Node& v, const YAML::Mark&) {
    const std::string ctx = "person " + quoted(id);
    Fields f(*this, v,
             {"name", "email", "phone", "time_zone", "slack_user_id", "teams_user_id", "contact_chain", "quiet_hours"},
             ctx);
    engine::Person p;
    p.id = id;
    p.name = string(f["name"], "'name' of " + ctx).value_or(id);
    p.email = string(f["email"], "'email' of " + ctx).value_or("");
    if (!p.email.empty() && p.email.find('@') == std::string::npos)
      error(f["email"].Mark(), "'email' of " + ctx + " is not an email address: " + quoted(p.email));
    p.phone = string(f["phone"], "'phone' of " + ctx).value_or("");
    if (!p.phone.empty() && !valid_e164(p.phone))
      error(f["phone"].Mark(), "'phone' of " + ctx + " must be in E.164 form like \"+15551234567\", not " +
                                   quoted(p.phone));
    if (auto tz = string(f["time_zone"], "'time_zone' of " + ctx)) {
      check_time_zone(f["time_zone"], *tz, ctx);
      p.time_zone = *tz;
    }
    p.slack_user_id = string(f["slack_user_id"], "'slack_user_id' of " + ctx).value_or("");
    p.teams_user_id = string(f["teams_user_id"], "'teams_user_id' of " + ctx).value_or("");
    p.contact_chain = load_chain(f["contact_chain"], ctx);
    if (const YAML::Node qh = f["quiet_hours"]; !qh.IsNull()) {
      const std::string qctx = "quiet_hours of " + ctx;
      Fields qf(*this, qh, {"from", "to"}, "'quiet_hours' of " + ctx);
      if (qh.IsMap()) {
        std::optional<int> minutes[2];
        const char* keys[2] = {"from", "to"};
        for (int i = 0; i < 2; ++i) {
          const std::string what = quoted(keys[i]) + " of " + qctx;
          auto t = required_string(qf[keys[i]], what, qh.Mark());
          if (!t) continue;
          // "24:00" ends a day; it cannot start one.
          if (auto m = parse_hh_mm(*t); m && !(i == 0 && *t == "24:00"))
            minutes[i] = *m;
          else
            error(qf[keys[i]].Mark(), what + " must be a time like \"22:00\", not " + quoted(*t));
        }
        if (minutes[0] && minutes[1]) {
          if (*minutes[0] == *minutes[1])
            error(qf["to"].Mark(), qctx + " must not start and end at the same time");
          else
            p.quiet_hours = engine::Person::QuietHours{*minutes[0], *minutes[1]};
        }
      }
    }
    d.people.emplace(id, std::move(p));
  });
}

void Loader::load_schedules(const YAML::Node& n, engine::Directory& d) {
  each_entry(n, "schedules", [&](const std::string& id, const YAML::Node& v, const YAML::Mark& key_mark) {
    const std::size_t errors_before = errors_.size();
    const std::string ctx = "schedule " + quoted(id);
    Fields f(*this, v, {"name", "time_zone", "layers", "overrides"}, ctx);
    engine::Schedule s;
    s.id = id;
    s.name = string(f["name"], "'name' of " + ctx).value_or(id);
    if (auto tz = string(f["time_zone"], "'time_zone' of " + ctx)) {
      check_time_zone(f["time_zone"], *tz, ctx);
      s.time_zone = *tz;
    }
    const YAML::Node layers = f["layers"];
    if (is_seq(layers, "'layers' of " + ctx) && layers.size() > 0) {
      for (std::size_t i = 0; i < layers.size(); ++i) {
        const YAML::Node ln = layers[i];
        engine::Layer layer;
        layer.name = "layer-" + std::to_string(i + 1);
        if (ln.IsMap()) {
          const YAML::Node name = ln["name"];  // may be a zombie node: check IsDefined first
          if (name.IsDefined() && name.IsScalar()) layer.name = string(name, "'name'").value_or(layer.name);
        }
        const std::string lctx = "layer " + quoted(layer.name) + " of " + ctx;
        Fields lf(*this, ln, {"name", "rotation", "participants", "restrictions"}, lctx);
        if (!ln.IsMap()) {
          if (ln.IsNull()) error(ln.Mark(), lctx + " must be a mapping");
          continue;
        }
        if (!lf["name"].IsScalar() && !lf["name"].IsNull()) string(lf["name"], "'name' of " + lctx);

        const YAML::Node rot = lf["rotation"];
        const std::string rctx = "rotation of " + lctx;
        layer.time_zone = s.time_zone;
        if (rot.IsNull()) {
          error(ln.Mark(), "'rotation' of " + lctx + " is required");
        } else {
          Fields rf(*this, rot, {"unit", "length", "start", "time_zone"}, rctx);
          if (rot.IsMap()) {
            if (auto unit = string(rf["unit"], "'unit' of " + rctx)) {
              if (*unit == "hours" || *unit == "hour") layer.unit = engine::ShiftUnit::hours;
              else if (*unit == "days" || *unit == "day") layer.unit = engine::ShiftUnit::days;
              else if (*unit == "weeks" || *unit == "week") layer.unit = engine::ShiftUnit::weeks;
              else error(rf["unit"].Mark(), "'unit' of " + rctx + " must be hours, days or weeks, not " + quoted(*unit));
            }
            if (auto len = integer(rf["length"], "'length' of " + rctx, 1, 1000))
              layer.shift_length = static_cast<int>(*len);
            if (auto tz = string(rf["time_zone"], "'time_zone' of " + rctx)) {
              check_time_zone(rf["time_zone"], *tz, rctx);
              layer.time_zone = *tz;
            }
            if (auto start = required_string(rf["start"], "'start' of " + rctx, rot.Mark())) {
              layer.start_local = *start;
              if (engine::is_valid_time_zone(layer.time_zone)) {
                if (auto t = engine::parse_local_time(*start, layer.time_zone); !t)
                  error(rf["start"].Mark(), "'start' of " + rctx + " must be a local date-time like \"2026-01-05T09:00\", not " +
                                                quoted(*start));
              }
            }
          }
        }

        const YAML::Node parts = lf["participants"];
        if (is_seq(parts, "'participants' of " + lctx)) {
          for (std::size_t j = 0; j < parts.size(); ++j)
            if (auto pid = string(parts[j], "participant " + std::to_string(j + 1) + " of " + lctx)) {
              check_person(d, parts[j], *pid, lctx);
              layer.participants.push_back(*pid);
            }
        }
        if (layer.participants.empty()) error(parts.IsNull() ? ln.Mark() : parts.Mark(), lctx + " has no participants");

        const YAML::Node restr = lf["restrictions"];
        if (is_seq(restr, "'restrictions' of " + lctx)) {
          for (std::size_t j = 0; j < restr.size(); ++j) {
            const YAML::Node rn = restr[j];
            const std::string wctx = "restriction " + std::to_string(j + 1) + " of " + lctx;
            Fields wf(*this, rn, {"days", "from", "to"}, wctx);
            if (!rn.IsMap()) continue;
            engine::Restriction r;
            const YAML::Node days = wf["days"];
            if (days.IsNull()) {
              r.days = {1, 2, 3, 4, 5, 6, 7};
            } else if (is_seq(days, "'days' of " + wctx)) {
              for (std::size_t k = 0; k < days.size(); ++k)
                if (auto day = string(days[k], "day " + std::to_string(k + 1) + " of " + wctx)) {
                  if (auto dn = parse_weekday(*day))
                    r.days.push_back(*dn);
                  else
                    error(days[k].Mark(), "unknown day " + quoted(*day) + " in " + wctx + " (use mon, tue, ... sun)");
                }
              if (days.size() == 0) error(days.Mark(), "'days' of " + wctx + " is empty");
            }
            for (auto [key, out] : {std::pair{"from", &r.start_minute}, std::pair{"to", &r.end_minute}}) {
              if (auto t = required_string(wf[key], quoted(key) + " of " + wctx, rn.Mark())) {
                if (auto m = parse_hh_mm(*t))
                  *out = *m;
                else
                  error(wf[key].Mark(), quoted(key) + " of " + wctx + " must be a time like \"09:00\", not " + quoted(*t));
              }
            }
            layer.restrictions.push_back(std::move(r));
          }
        }
        s.layers.push_back(std::move(layer));
      }
    } else if (!layers.IsDefined() || layers.IsNull() || layers.IsSequence()) {
      error(layers.IsSequence() ? layers.Mark() : key_mark, ctx + " has no layers");
    }

    const YAML::Node overrides = f["overrides"];
    if (is_seq(overrides, "'overrides' of " + ctx)) {
      for (std::size_t i = 0; i < overrides.size(); ++i) {
        const YAML::Node on = overrides[i];
        const std::string octx = "override " + std::to_string(i + 1) + " of " + ctx;
        Fields of(*this, on, {"person", "start", "end"}, octx);
        if (!on.IsMap()) continue;
        engine::Override o;
        o.schedule_id = id;
        auto person = required_string(of["person"], "'person' of " + octx, on.Mark());
        if (person) {
          check_person(d, of["person"], *person, octx);
          o.person = *person;
        }
        int times_ok = 0;
        for (auto [key, out] : {std::pair{"start", &o.start}, std::pair{"end", &o.end}}) {
          if (auto t = required_string(of[key], quoted(key) + " of " + octx, on.Mark())) {
            if (auto tp = engine::parse_iso8601(*t)) {
              *out = *tp;
              ++times_ok;
            } else {
              error(of[key].Mark(), quoted(key) + " of " + octx + " must be an ISO 8601 instant like \"2026-12-24T00:00:00Z\", not " +
                                        quoted(*t));
            }
          }
        }
        if (times_ok == 2 && o.end <= o.start) error(of["end"].Mark(), "'end' of " + octx + " must be after its start");
        s.overrides.push_back(std::move(o));
      }
    }

    // The engine's own check, for whatever the loader does not already cover.
    if (errors_.size() == errors_before) {
      if (auto ok = engine::validate_schedule(s); !ok) error(key_mark, ok.error().message);
    }
    d.schedules.emplace(id, std::move(s));
  });
}

void Loader::load_policies(const YAML::Node& n, engine::Directory& d) {
  each_entry(n, "escalation_policies", [&](const std::string& id, const YAML::Node& v, const YAML::Mark& key_mark) {
    const std::string ctx = "escalation policy " + quoted(id);
    Fields f(*this, v, {"name", "repeat", "steps"}, ctx);
    engine::EscalationPolicy p;
    p.id = id;
    p.name = string(f["name"], "'name' of " + ctx).value_or(id);
    if (auto r = integer(f["repeat"], "'repeat' of " + ctx, 0, 100)) p.repeat = static_cast<int>(*r);
    const YAML::Node steps = f["steps"];
    if (is_seq(steps, "'steps' of " + ctx)) {
      for (std::size_t i = 0; i < steps.size(); ++i) {
        const YAML::Node sn = steps[i];
        const std::string sctx = "step " + std::to_string(i + 1) + " of " + ctx;
        Fields sf(*this, sn, {"targets", "timeout"}, sctx);
        if (!sn.IsMap()) {
          if (sn.IsNull()) error(sn.Mark(), sctx + " must be a mapping");
          continue;
        }
        engine::EscalationStep step;
        if (auto t = duration(sf["timeout"], "'timeout' of " + sctx, true, false))
          step.timeout = std::chrono::duration_cast<engine::Seconds>(*t);
        const YAML::Node targets = sf["targets"];
        if (is_seq(targets, "'targets' of " + sctx)) {
          for (std::size_t j = 0; j < targets.size(); ++j) {
            const YAML::Node tn = targets[j];
            const std::string tctx = "target " + std::to_string(j + 1) + " of " + sctx;
            Fields tf(*this, tn, {"person", "schedule"}, tctx);
            if (!tn.IsMap()) continue;
            if (tf.has("person") == tf.has("schedule")) {
              error(tn.Mark(), tctx + " must name exactly one of 'person' or 'schedule'");
              continue;
            }
            engine::Target target;
            const bool is_person = tf.has("person");
            const YAML::Node idn = tf[is_person ? "person" : "schedule"];
            auto tid = required_string(idn, quoted(is_person ? "person" : "schedule") + " of " + tctx, tn.Mark());
            if (!tid) continue;
            target.kind = is_person ? engine::Target::Kind::person : engine::Target::Kind::schedule;
            target.id = *tid;
            if (is_person)
              check_person(d, idn, *tid, tctx);
            else if (!d.schedule(*tid))
              error(idn.Mark(), "unknown schedule " + quoted(*tid) + " in " + tctx);
            step.targets.push_back(std::move(target));
          }
        }
        if (step.targets.empty() && (targets.IsNull() || targets.IsSequence()))
          error(targets.IsNull() ? sn.Mark() : targets.Mark(), sctx + " has no targets");
        p.steps.push_back(std::move(step));
      }
    }
    if (p.steps.empty() && (steps.IsNull() || steps.IsSequence()))
      error(steps.IsSequence() ? steps.Mark() : key_mark, ctx + " has no steps");
    d.policies.emplace(id, std::move(p));
  });
}

void Loader::load_services(const YAML::Node& n, engine::Directory& d) {
  std::map<std::string, YAML::Mark, std::less<>> key_marks;
  each_entry(n, "services", [&](const std::string& id, const YAML::Node& v, const YAML::Mark& key_mark) {
    const std::string ctx = "service " + quoted(id);
    Fields f(*this, v,
             {"name", "escalation_policy", "integration_keys", "contact_chain", "incident_channel", "slack_channel",
              "teams_channel", "teams_team", "heartbeats", "maintenance"},
             ctx);
    engine::Service s;
    s.id = id;
    s.name = string(f["name"], "'name' of " + ctx).value_or(id);
    if (auto pol = required_string(f["escalation_policy"], "'escalation_policy' of " + ctx, key_mark)) {
      if (!d.policy(*pol)) error(f["escalation_policy"].Mark(), "unknown escalation policy " + quoted(*pol) + " in " + ctx);
      s.escalation_policy = *pol;
    }
    const YAML::Node keys = f["integration_keys"];
    if (is_seq(keys, "'integration_keys' of " + ctx)) {
      for (std::size_t i = 0; i < keys.size(); ++i) {
        auto k = string(keys[i], "integration key " + std::to_string(i + 1) + " of " + ctx);
        if (!k) continue;
        if (k->empty()) {
          error(keys[i].Mark(), "integration key " + std::to_string(i + 1) + " of " + ctx + " is empty");
          continue;
        }
        if (auto [it, inserted] = d.integration_keys.emplace(*k, id); !inserted) {
          const YAML::Mark& first = key_marks[*k];
          error(keys[i].Mark(), "integration key " + quoted(*k) + " of " + ctx + " is already used by service " +
                                    quoted(it->second) + " (line " + std::to_string(first.line + 1) + ")");
          continue;
        }
        key_marks[*k] = keys[i].Mark();
        s.integration_keys.push_back(*k);
      }
    }
    if (s.integration_keys.empty())
      warning(key_mark, ctx + " has no integration keys: it can only get incidents from the API");
    if (f.has("contact_chain")) {
      s.default_contact_chain = load_chain(f["contact_chain"], ctx);
    } else {
      // Webhook is the one channel every deployment has; people without a chain get it at once.
      s.default_contact_chain = {engine::ContactRule{engine::MethodKind::webhook, engine::Seconds{0}}};
    }
    if (auto b = boolean(f["incident_channel"], "'incident_channel' of " + ctx)) s.open_incident_channel = *b;
    if (auto ch = string(f["slack_channel"], "'slack_channel' of " + ctx)) s.slack_channel = *ch;
    if (auto ch = string(f["teams_channel"], "'teams_channel' of " + ctx)) s.teams_channel = *ch;
    if (auto team = string(f["teams_team"], "'teams_team' of " + ctx)) s.teams_team = *team;

    // heartbeats: [{name, interval, grace, key, alertname}] (engine/heartbeats.hpp)
    const YAML::Node beats = f["heartbeats"];
    if (is_seq(beats, "'heartbeats' of " + ctx)) {
      for (std::size_t i = 0; i < beats.size(); ++i) {
        const YAML::Node hn = beats[i];
        const std::string hctx = "heartbeat " + std::to_string(i + 1) + " of " + ctx;
        Fields hf(*this, hn, {"name", "interval", "grace", "key", "alertname"}, hctx);
        if (!hn.IsMap()) {
          if (hn.IsNull()) error(hn.Mark(), hctx + " must be a mapping");
          continue;
        }
        engine::Heartbeat hb;
        bool ok = true;
        if (auto name = required_string(hf["name"], "'name' of " + hctx, hn.Mark())) {
          if (!valid_id(*name)) {
            error(hf["name"].Mark(), "'name' of " + hctx + " may contain only letters, digits, '-', '_' and '.'");
            ok = false;
          } else if (s.heartbeat(*name)) {
            error(hf["name"].Mark(), "duplicate heartbeat " + quoted(*name) + " in " + ctx);
            ok = false;
          }
          hb.name = *name;
        } else {
          ok = false;
        }
        if (!hf.has("interval")) error(hn.Mark(), "'interval' of " + hctx + " is required"), ok = false;
        if (auto v = duration(hf["interval"], "'interval' of " + hctx, false, false)) hb.interval = *v;
        else ok = false;
        if (auto v = duration(hf["grace"], "'grace' of " + hctx, false, true)) hb.grace = *v;
        else if (hf.has("grace")) ok = false;
        if (auto key = required_string(hf["key"], "'key' of " + hctx, hn.Mark())) {
          if (d.integration_keys.contains(*key) || d.heartbeat_keys.contains(*key)) {
            error(hf["key"].Mark(), "'key' of " + hctx + " is already used by another heartbeat or integration key");
            ok = false;
          } else {
            key_marks[*key] = hf["key"].Mark();
          }
          hb.key = *key;
        } else {
          ok = false;
        }
        if (auto an = string(hf["alertname"], "'alertname' of " + hctx); an && !an->empty()) {
          for (const auto& other : s.heartbeats)
            if (other.alertname == *an) {
              error(hf["alertname"].Mark(), "alertname " + quoted(*an) + " already feeds heartbeat " +
                                                quoted(other.name) + " of " + ctx);
              ok = false;
            }
          hb.alertname = *an;
        }
        if (!ok) continue;
        d.heartbeat_keys.emplace(hb.key, std::make_pair(id, hb.name));
        s.heartbeats.push_back(std::move(hb));
      }
    }

    // maintenance: [{days, start, duration, time_zone, reason}] (engine/maintenance.hpp)
    const YAML::Node windows = f["maintenance"];
    if (is_seq(windows, "'maintenance' of " + ctx)) {
      for (std::size_t i = 0; i < windows.size(); ++i) {
        const YAML::Node wn = windows[i];
        const std::string wctx = "maintenance window " + std::to_string(i + 1) + " of " + ctx;
        Fields wf(*this, wn, {"days", "start", "duration", "time_zone", "reason"}, wctx);
        if (!wn.IsMap()) {
          if (wn.IsNull()) error(wn.Mark(), wctx + " must be a mapping");
          continue;
        }
        engine::MaintenanceRule rule;
        bool ok = true;
        const YAML::Node days = wf["days"];
        if (days.IsNull()) {
          rule.days = {1, 2, 3, 4, 5, 6, 7};
        } else if (is_seq(days, "'days' of " + wctx)) {
          for (std::size_t k = 0; k < days.size(); ++k)
            if (auto day = string(days[k], "day " + std::to_string(k + 1) + " of " + wctx)) {
              if (auto dn = parse_weekday(*day)) {
                rule.days.push_back(*dn);
              } else {
                error(days[k].Mark(), "unknown day " + quoted(*day) + " in " + wctx + " (use mon, tue, ... sun)");
                ok = false;
              }
            }
          if (days.size() == 0) error(days.Mark(), "'days' of " + wctx + " is empty"), ok = false;
        } else {
          ok = false;
        }
        if (auto t = required_string(wf["start"], "'start' of " + wctx, wn.Mark())) {
          if (auto m = parse_hh_mm(*t); m && *t != "24:00") {
            rule.start_minute = *m;
          } else {
            error(wf["start"].Mark(), "'start' of " + wctx + " must be a time like \"02:00\", not " + quoted(*t));
            ok = false;
          }
        } else {
          ok = false;
        }
        if (!wf.has("duration")) error(wn.Mark(), "'duration' of " + wctx + " is required"), ok = false;
        if (auto v = duration(wf["duration"], "'duration' of " + wctx, false, false)) {
          if (*v > std::chrono::hours{24 * 7}) {
            error(wf["duration"].Mark(), "'duration' of " + wctx + " must be at most 7 days");
            ok = false;
          }
          rule.duration = *v;
        } else {
          ok = false;
        }
        if (auto tz = string(wf["time_zone"], "'time_zone' of " + wctx)) {
          check_time_zone(wf["time_zone"], *tz, wctx);
          if (!engine::is_valid_time_zone(*tz)) ok = false;
          rule.time_zone = *tz;
        }
        rule.reason = string(wf["reason"], "'reason' of " + wctx).value_or("");
        if (ok) s.maintenance.push_back(std::move(rule));
      }
    }
    d.services.emplace(id, std::move(s));
  });
  // Integration keys of services loaded after a heartbeat's key.
  for (const auto& [key, owner] : d.heartbeat_keys)
    if (auto it = d.integration_keys.find(key); it != d.integration_keys.end())
      error(key_marks[key], "heartbeat key of " + quoted(owner.second) + " in service " + quoted(owner.first) +
                                " is also an integration key of service " + quoted(it->second));
}

tl::expected<Config, std::vector<ConfigError>> Loader::load(std::string_view text) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::ParserException& e) {
    error(e.mark, "YAML syntax error: " + e.msg);
    return tl::unexpected(std::move(errors_));
  } catch (const YAML::Exception& e) {
    error(e.mark, "YAML error: " + e.msg);
    return tl::unexpected(std::move(errors_));
  }

  Config c;
  c.file = file_;
  auto dir = std::make_shared<engine::Directory>();
  if (!root.IsMap() && !root.IsNull()) {
    error(root.Mark(), "the configuration must be a mapping with server, people, schedules, escalation_policies, services...");
    return tl::unexpected(std::move(errors_));
  }
  Fields f(*this, root,
           {"server", "storage", "webhook", "smtp", "twilio", "sms_gateway", "slack", "teams", "dispatch", "people", "schedules",
            "escalation_policies", "services"},
           "the configuration");
  // Fixed order, whatever the file's order: references point at sections loaded before.
  load_server(f["server"], c);
  load_storage(f["storage"], c);
  load_webhook(f["webhook"], c);
  load_smtp(f["smtp"], c);
  load_twilio(f["twilio"], c);
  load_sms_gateway(f["sms_gateway"], c);
  load_slack(f["slack"], c);
  load_teams(f["teams"], c);
  load_dispatch(f["dispatch"], c);
  load_people(f["people"], *dir);
  load_schedules(f["schedules"], *dir);
  load_policies(f["escalation_policies"], *dir);
  load_services(f["services"], *dir);

  if (auto token = env_("BATON_API_TOKEN"); token && !token->empty()) c.server.api_tokens.emplace_back("env", *token);
  check_channels(c, *dir);
  if (dir->services.empty()) warning(root.Mark(), "no services are configured: every alert will be rejected");

  if (!errors_.empty()) {
    std::stable_sort(errors_.begin(), errors_.end(), [](const ConfigError& a, const ConfigError& b) {
      return std::tie(a.line, a.column) < std::tie(b.line, b.column);
    });
    return tl::unexpected(std::move(errors_));
  }
  for (const auto& w : warnings_) c.warnings.push_back(w.to_string());
  c.directory = std::move(dir);
  return c;
}

}  // namespace

tl::expected<Config, std::vector<ConfigError>> load_config_string(std::string_view yaml, std::string file_label,
                                                                  EnvLookup env) {
  return Loader(std::move(file_label), std::move(env)).load(yaml);
}

tl::expected<Config, std::vector<ConfigError>> load_config_file(const std::string& path, EnvLookup env) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return tl::unexpected(std::vector<ConfigError>{ConfigError{path, 0, 0, "cannot open the file"}});
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return tl::unexpected(std::vector<ConfigError>{ConfigError{path, 0, 0, "cannot read the file"}});
  return load_config_string(ss.str(), path, std::move(env));
}

}  // namespace baton::bot
