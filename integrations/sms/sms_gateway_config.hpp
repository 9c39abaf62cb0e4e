#pragma once
// The generic HTTP SMS gateway's settings: the `sms_gateway` section of the
// configuration (bot/config.hpp holds this struct as is).
#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace baton::integrations {

struct SmsGatewayConfig {
  bool enabled = false;  ///< true when a url is set
  std::string url;  ///< may hold placeholders too, percent-encoded there
  std::string method = "POST";  ///< POST or PUT
  std::vector<std::pair<std::string, std::string>> headers;  ///< sent as is (auth...), in file order
  std::string content_type = "application/json";
  /// Placeholders {to} {text} {incident}, escaped for the content type: JSON
  /// string escaping (without the quotes) for a JSON type, percent-encoding
  /// for application/x-www-form-urlencoded, as is otherwise. Other braces are
  /// left alone. Required when enabled.
  std::string body_template;
  double messages_per_second = 1.0;  ///< > 0
  std::chrono::milliseconds timeout{10000};
};

}  // namespace baton::integrations
