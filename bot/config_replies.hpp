#pragma once
// The `smtp.replies` section (integrations/email/reply_config.hpp), parsed on
// its own so the smtp section parser calls it in one line. Internal to the
// config loader (bot/config.cpp).
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "bot/config.hpp"

namespace baton::bot {

/// The loader's typed readers (`${ENV}` expansion included) and its error and
/// warning lists, as the replies parser needs them.
struct SectionReader {
  std::function<std::optional<std::string>(const YAML::Node&, const std::string&)> string;
  std::function<std::optional<bool>(const YAML::Node&, const std::string&)> boolean;
  std::function<std::optional<std::chrono::milliseconds>(const YAML::Node&, const std::string&)> duration;
  std::function<void(const YAML::Mark&, std::string)> error;
  std::function<void(const YAML::Mark&, std::string)> warning;
};

/// Adapts the loader (any class with string/boolean/duration/error/warning as bot/config.cpp's).
template <typename Loader>
SectionReader section_reader(Loader& l) {
  return SectionReader{
      [&l](const YAML::Node& n, const std::string& what) { return l.string(n, what); },
      [&l](const YAML::Node& n, const std::string& what) { return l.boolean(n, what); },
      [&l](const YAML::Node& n, const std::string& what) -> std::optional<std::chrono::milliseconds> {
        return l.duration(n, what, false, false);
      },
      [&l](const YAML::Mark& m, std::string message) { l.error(m, std::move(message)); },
      [&l](const YAML::Mark& m, std::string message) { l.warning(m, std::move(message)); }};
}

/// Fills `smtp.replies` from node `n` (null = off). Needs the rest of `smtp`
/// read already: its ca_file is the fallback, and replies need the channel on.
void load_smtp_replies(const YAML::Node& n, const SectionReader& r, SmtpChannelConfig& smtp);

}  // namespace baton::bot
