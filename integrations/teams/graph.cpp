#include "integrations/teams/graph.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <string_view>
#include <utility>
#include <vector>

#include "integrations/common/async_http.hpp"
#include "integrations/http_client.hpp"
#include "integrations/teams/async_wait.hpp"
#include "integrations/common/form.hpp"

namespace baton::teams {
namespace json = boost::json;
namespace {

using detail::trim_slashes;
using integrations::HttpRequest;

constexpr std::size_t kMaxNameChars = 50;
constexpr std::string_view kForbidden = "~#%&*{}+/\\:<>?|'\",.";

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// Splits UTF-8 into code points (as their byte sequences), dropping invalid bytes
// and replacing forbidden and control characters with a space.
std::vector<std::string> sanitized_code_points(std::string_view text) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      const bool bad = c < 0x20 || c == 0x7f || kForbidden.find(static_cast<char>(c)) != std::string_view::npos;
      out.emplace_back(bad ? std::string(" ") : std::string(1, static_cast<char>(c)));
      ++i;
      continue;
    }
    std::size_t len = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
    if (len == 0 || i + len > text.size()) {
      ++i;
      continue;
    }
    std::uint32_t cp = c & (len == 2 ? 0x1f : len == 3 ? 0x0f : 0x07);
    bool valid = true;
    for (std::size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(text[i + k]);
      if ((cc & 0xc0) != 0x80) {
        valid = false;
        break;
      }
      cp = (cp << 6) | (cc & 0x3f);
    }
    const std::uint32_t min = len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
    if (!valid || cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      ++i;
      continue;
    }
    out.emplace_back(cp <= 0x9f ? std::string(" ") : std::string(text.substr(i, len)));
    i += len;
  }
  return out;
}

}  // namespace

std::string teams_channel_name(std::int64_t number, std::string_view summary, int attempt) {
  const std::string prefix = "INC-" + std::to_string(number);
  const std::string suffix = attempt > 0 ? " (" + std::to_string(attempt + 1) + ")" : std::string();

  // Collapse whitespace runs and trim.
  std::vector<std::string> words;
  for (auto& cp : sanitized_code_points(summary)) {
    const bool space = cp.size() == 1 && std::isspace(static_cast<unsigned char>(cp[0]));
    if (space) {
      if (!words.empty() && words.back() != " ") words.emplace_back(" ");
    } else {
      words.push_back(std::move(cp));
    }
  }
  while (!words.empty() && words.back() == " ") words.pop_back();

  const std::size_t fixed = prefix.size() + suffix.size();  // ASCII: bytes == code points
  std::size_t room = kMaxNameChars > fixed + 1 ? kMaxNameChars - fixed - 1 : 0;  // 1 for the separating space
  if (words.size() > room) words.resize(room);
  while (!words.empty() && words.back() == " ") words.pop_back();

  std::string name = prefix;
  if (!words.empty()) {
    name += " ";
    for (const auto& w : words) name += w;
  }
  name += suffix;
  return name;
}

struct GraphClient::Shared {
  TeamsConfig config;
  std::shared_ptr<TokenProvider> tokens;
  std::shared_ptr<integrations::AsyncHttpClient> http;
};

namespace {

using Graph = std::shared_ptr<const GraphClient::Shared>;

// The answer to POST .../channels: the channel id, or the error (a taken name is a conflict).
Result<std::string> channel_answer(const integrations::HttpResponse& response) {
  if (auto ok = classify_teams("create_channel", response); !ok) {
    Error error = ok.error();
    boost::system::error_code ec;
    auto parsed = json::parse(response.body, ec);
    std::string code;
    if (!ec && parsed.is_object()) {
      if (const auto* e = parsed.as_object().if_contains("error"); e && e->is_object()) {
        if (const auto* c = e->as_object().if_contains("code"); c && c->is_string()) code = c->as_string();
      }
    }
    if (response.status == 409 || iequals(code, "nameAlreadyExists")) error.kind = ErrorKind::conflict;
    return tl::unexpected(std::move(error));
  }
  boost::system::error_code ec;
  auto parsed = json::parse(response.body, ec);
  if (!ec && parsed.is_object()) {
    if (const auto* id = parsed.as_object().if_contains("id"); id && id->is_string() && !id->as_string().empty()) {
      return std::string(id->as_string());
    }
  }
  return fail(ErrorKind::transient, "teams create_channel: answer without 'id'");
}

// POST with the Graph token; on a first 401 a new token and one more try.
void create(const Graph& g, std::string url, std::string body, GraphClient::Done done) {
  HttpRequest request{.method = "POST",
                      .url = std::move(url),
                      .headers = {{"Content-Type", "application/json"},
                                  {"Accept", "application/json"},
                                  {"User-Agent", "baton/0.1"}},
                      .body = std::move(body),
                      .timeout = g->config.timeout};
  detail::send_authorized(g->tokens, detail::TokenScope::graph, g->http, "teams-graph", std::move(request),
                          [done = std::move(done)](Result<integrations::HttpResponse> response) {
                            if (!response) return done(tl::unexpected(response.error()));
                            done(channel_answer(*response));
                          });
}

}  // namespace

GraphClient::GraphClient(TeamsConfig config, std::shared_ptr<TokenProvider> tokens,
                         std::shared_ptr<integrations::AsyncHttpClient> http) {
  if (!tokens) throw std::invalid_argument("teams: the Graph client needs a token provider");
  if (!http) throw std::invalid_argument("teams: the Graph client needs an AsyncHttpClient");
  shared_ = std::make_shared<const Shared>(Shared{std::move(config), std::move(tokens), std::move(http)});
}

void GraphClient::create_channel_async(std::string_view team_id, std::string_view display_name,
                                       std::string_view description, Done done) {
  const json::object body{{"displayName", display_name}, {"description", description}, {"membershipType", "standard"}};
  create(shared_, trim_slashes(shared_->config.graph_base) + "/teams/" + integrations::percent_encode(team_id) + "/channels",
         json::serialize(body), std::move(done));
}

Result<std::string> GraphClient::create_channel(std::string_view team_id, std::string_view display_name,
                                                std::string_view description) {
  return detail::wait_for<std::string>(
      [&](Done done) { create_channel_async(team_id, display_name, description, std::move(done)); });
}

}  // namespace baton::teams
