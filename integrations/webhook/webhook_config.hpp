#pragma once
// The webhook channel's settings: the `webhook` section of the configuration
// (bot/config.hpp holds this struct as is) plus the service's public URL.
#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace baton::integrations {

struct WebhookConfig {
  bool enabled = false;  ///< true when a url is set
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;  ///< sent with every request, in file order
  std::chrono::milliseconds timeout{5000};
  std::string signing_secret;  ///< optional: adds X-Baton-Signature
  /// Base of links, e.g. http://127.0.0.1:8080: server.public_url, set by the bot.
  std::string public_url;
};

}  // namespace baton::integrations
