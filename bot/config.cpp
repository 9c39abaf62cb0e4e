// Loads a configuration file (see config.hpp): the whole file, section by
// section in a fixed order; the sections' parsers are in config_channels.cpp
// and config_directory.cpp, the loader's internals in config_loader.hpp.
#include "bot/config.hpp"

#include <fstream>
#include <sstream>

#include "bot/config_loader.hpp"

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

namespace config_internal {

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
  c.working_hours = std::move(working_hours_);
  return c;
}

}  // namespace config_internal

tl::expected<Config, std::vector<ConfigError>> load_config_string(std::string_view yaml, std::string file_label,
                                                                  EnvLookup env) {
  return config_internal::Loader(std::move(file_label), std::move(env)).load(yaml);
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
