// SIGHUP's reload (see config_reload.hpp).
#include "bot/config_reload.hpp"

#include <spdlog/spdlog.h>

#include "bot/app.hpp"

namespace baton::bot {

Result<void> reload_config_file(App& app, const std::string& path, EnvLookup env) {
  spdlog::info("reloading {}", path);
  auto next = load_config_file(path, std::move(env));
  if (!next) {
    std::string all;
    for (const auto& e : next.error()) {
      spdlog::error("reload refused: {}", e.to_string());
      all += (all.empty() ? "" : "\n") + e.to_string();
    }
    spdlog::error("reload refused: the running configuration stays");
    return tl::unexpected(Error{ErrorKind::invalid_request, std::move(all), {}});
  }
  for (const auto& w : next->warnings) spdlog::warn("{}", w);
  return app.reload(std::move(*next));
}

}  // namespace baton::bot
