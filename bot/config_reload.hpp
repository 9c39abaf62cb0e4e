#pragma once
// SIGHUP: reload the configuration file into a running App. Validation comes
// first: a file with any error changes nothing, and every problem is logged.
#include <string>

#include "bot/config.hpp"
#include "engine/result.hpp"

namespace baton::bot {

class App;

/// Loads and validates `path` (load_config_file); on errors logs each one as
/// "reload refused: file:line:col: message" and returns them (invalid_request),
/// the running configuration untouched. Else App::reload().
Result<void> reload_config_file(App& app, const std::string& path, EnvLookup env = {});

}  // namespace baton::bot
