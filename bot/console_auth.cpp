#include "bot/console_auth.hpp"

#include <boost/json.hpp>

#include "bot/app.hpp"
#include "bot/config.hpp"
#include "bot/http_types.hpp"
#include "integrations/crypto.hpp"

namespace baton::bot {
namespace {

namespace json = boost::json;
using integrations::base64url_decode;
using integrations::base64url_encode;
using integrations::hmac_sha256;

// One key per purpose, derived from the action secret (HMAC as a KDF with a
// label), so a session cookie never verifies as a link and neither as an
// action link (integrations/action_links.hpp signs with the secret itself).
std::string link_key(const Config& c) { return hmac_sha256(c.server.action_secret, "baton console: sign-in links"); }
std::string session_key(const Config& c) { return hmac_sha256(c.server.action_secret, "baton console: sessions"); }

struct Claim {
  std::string person;
  engine::TimePoint expires{};
  std::string nonce;
};

// base64url(JSON {"p","e","n"}) "." base64url(HMAC-SHA256(key, first part)).
std::string sign(const std::string& key, const Claim& c) {
  json::object payload{{"p", c.person}, {"e", engine::to_ms(c.expires)}, {"n", c.nonce}};
  std::string head = base64url_encode(json::serialize(payload));
  return head + "." + base64url_encode(hmac_sha256(key, head));
}

Result<Claim> verify(const std::string& key, std::string_view token, engine::TimePoint now) {
  // Bounded: a token is a few hundred bytes; refuse anything far larger unread.
  if (token.size() > 1024) return fail(ErrorKind::invalid_request, "malformed token");
  const auto dot = token.find('.');
  if (dot == std::string_view::npos || token.find('.', dot + 1) != std::string_view::npos)
    return fail(ErrorKind::invalid_request, "malformed token");
  const auto head = token.substr(0, dot);
  const auto payload = base64url_decode(head);
  const auto mac = base64url_decode(token.substr(dot + 1));
  if (head.empty() || !payload || !mac) return fail(ErrorKind::invalid_request, "malformed token");
  if (!integrations::constant_time_equal(*mac, hmac_sha256(key, head)))
    return fail(ErrorKind::unauthorized, "bad token signature");
  boost::system::error_code ec;
  json::value v = json::parse(*payload, ec);
  const json::object* o = ec ? nullptr : v.if_object();
  const json::value* p = o ? o->if_contains("p") : nullptr;
  const json::value* e = o ? o->if_contains("e") : nullptr;
  const json::value* n = o ? o->if_contains("n") : nullptr;
  if (!p || !p->is_string() || !e || !e->is_int64() || !n || !n->is_string())
    return fail(ErrorKind::invalid_request, "malformed token payload");
  Claim c{std::string(p->get_string()), engine::from_ms(e->get_int64()), std::string(n->get_string())};
  if (now >= c.expires) return fail(ErrorKind::permanent, "expired");
  return c;
}

std::string csrf_for(const Config& c, const std::string& nonce) {
  return base64url_encode(hmac_sha256(session_key(c), "csrf:" + nonce));
}

bool secure(const Config& c) { return c.server.public_url.starts_with("https://"); }

// The value of cookie `name` in a Cookie header (RFC 6265 section 5.4: "a=b; c=d").
std::optional<std::string_view> cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    auto semi = header.find(';');
    auto pair = header.substr(0, semi);
    header = semi == std::string_view::npos ? std::string_view{} : header.substr(semi + 1);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    auto eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == name) return pair.substr(eq + 1);
  }
  return std::nullopt;
}

}  // namespace

Result<std::string> console_link(const Config& config, const std::string& person, engine::TimePoint now) {
  if (config.server.action_secret.empty())
    return fail(ErrorKind::permanent, "console sign-in is off: server.action_secret is not set");
  if (!config.directory || !config.directory->person(person))
    return fail(ErrorKind::not_found, "unknown person '" + person + "'");
  const Claim c{person, now + kConsoleLinkTtl, base64url_encode(integrations::random_bytes(16))};
  return config.server.public_url + "/console/login/" + sign(link_key(config), c);
}

Result<std::string> console_link(App& app, const std::string& person) {
  return console_link(*app.config(), person, app.clock().now());
}

Result<ConsoleLinkClaim> verify_console_link(const Config& config, std::string_view token, engine::TimePoint now) {
  if (config.server.action_secret.empty())
    return fail(ErrorKind::permanent, "console sign-in is off: server.action_secret is not set");
  auto c = verify(link_key(config), token, now);
  if (!c) return tl::unexpected(c.error());
  if (!config.directory || !config.directory->person(c->person))
    return fail(ErrorKind::not_found, "unknown person '" + c->person + "'");
  return ConsoleLinkClaim{c->person, c->expires, integrations::to_hex(integrations::sha256(token))};
}

NewConsoleSession start_console_session(const Config& config, const std::string& person, engine::TimePoint now) {
  const Claim c{person, now + config.server.console_session, base64url_encode(integrations::random_bytes(16))};
  NewConsoleSession s;
  s.session = ConsoleSession{person, c.expires, csrf_for(config, c.nonce)};
  s.set_cookie = std::string(kConsoleCookie) + "=" + sign(session_key(config), c) +
                 "; Path=/; Max-Age=" + std::to_string(config.server.console_session.count()) +
                 "; HttpOnly; SameSite=Strict" + (secure(config) ? "; Secure" : "");
  return s;
}

std::string end_console_session_cookie(const Config& config) {
  return std::string(kConsoleCookie) + "=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict" +
         (secure(config) ? "; Secure" : "");
}

std::optional<ConsoleSession> console_session(const Config& config, const Request& req, engine::TimePoint now) {
  if (config.server.action_secret.empty()) return std::nullopt;
  std::optional<std::string_view> token;
  // Several Cookie headers (HTTP/2 splits them) or one: the first baton_session wins.
  for (const auto& [k, v] : req.headers)
    if (k == "cookie" && !token) token = cookie_value(v, kConsoleCookie);
  if (!token || token->empty()) return std::nullopt;
  auto c = verify(session_key(config), *token, now);
  if (!c) return std::nullopt;
  // A person removed from the configuration is signed out at once.
  if (!config.directory || !config.directory->person(c->person)) return std::nullopt;
  return ConsoleSession{c->person, c->expires, csrf_for(config, c->nonce)};
}

bool console_needs_csrf(std::string_view method) {
  return method != "GET" && method != "HEAD" && method != "OPTIONS";
}

bool console_csrf_ok(const ConsoleSession& session, const Request& req) {
  if (!console_needs_csrf(req.method)) return true;
  auto h = req.header("x-csrf-token");
  return h && !h->empty() && integrations::constant_time_equal(*h, session.csrf);
}

}  // namespace baton::bot
