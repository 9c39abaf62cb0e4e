#include "integrations/slack/channel_name.hpp"

#include <algorithm>

namespace baton::slack {
namespace {
constexpr std::size_t kMaxName = 80;  // Slack's limit on channel names
}

std::string incident_channel_name(std::int64_t number, std::string_view summary, int attempt) {
  std::string slug;
  for (char raw : summary) {
    char c = raw;
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    const bool keep = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    if (keep) {
      slug += c;
    } else if (!slug.empty() && slug.back() != '-') {
      slug += '-';
    }
  }
  const std::string prefix = "inc-" + std::to_string(number);
  const std::string suffix = attempt > 0 ? "-" + std::to_string(attempt + 1) : std::string();
  const std::size_t fixed = prefix.size() + suffix.size() + 1;  // + the '-' before the slug
  slug.resize(fixed >= kMaxName ? 0 : std::min(slug.size(), kMaxName - fixed));
  while (!slug.empty() && slug.back() == '-') slug.pop_back();
  return slug.empty() ? prefix + suffix : prefix + "-" + slug + suffix;
}

}  // namespace baton::slack
