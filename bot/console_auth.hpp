#pragma once
// Sign-in for people to the web console (docs/console.md): a one-time signed
// link, consumed once across instances, that sets a stateless signed session
// cookie; state-changing requests with a session carry X-CSRF-Token. Keys are
// derived from server.action_secret (HMAC with a purpose label), so there is
// no new secret to configure; without an action secret the console sign-in is
// off. Thread-safe: pure functions of (config, now) except console_link, which
// only reads the config and the clock.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "engine/result.hpp"
#include "engine/time.hpp"

namespace baton::bot {

class App;
struct Config;
struct Request;

/// How long a sign-in link is valid (single use on top of that).
inline constexpr std::chrono::minutes kConsoleLinkTtl{10};
/// The session cookie's name.
inline constexpr std::string_view kConsoleCookie = "baton_session";

/// A one-time sign-in link for `person` (a person id of the directory):
/// "<public_url>/console/login/<token>", valid for kConsoleLinkTtl. not_found
/// for an unknown person; permanent when server.action_secret is empty (sign-in
/// disabled). Answer it only privately (a DM, not a channel).
Result<std::string> console_link(App& app, const std::string& person);

/// The same from a config and a time, for tests and the CLI.
Result<std::string> console_link(const Config& config, const std::string& person, engine::TimePoint now);

/// What a link carries once verified.
struct ConsoleLinkClaim {
  std::string person;
  engine::TimePoint expires{};
  std::string token_id;  ///< for single use: Incidents::consume_token("console-link:" + token_id)
};

/// Checks a link's token (not its single use): invalid_request when garbled,
/// unauthorized when not signed by this baton, permanent "expired" when now >= expiry.
Result<ConsoleLinkClaim> verify_console_link(const Config& config, std::string_view token, engine::TimePoint now);

/// A signed-in person.
struct ConsoleSession {
  std::string person;
  engine::TimePoint expires{};
  std::string csrf;  ///< the X-CSRF-Token value this session's state-changing requests must carry
};

/// A new session for `person`, and the Set-Cookie header value that carries it
/// (HttpOnly, SameSite=Strict, Path=/, Max-Age from server.console_session;
/// Secure when public_url is https).
struct NewConsoleSession {
  ConsoleSession session;
  std::string set_cookie;
};
NewConsoleSession start_console_session(const Config& config, const std::string& person, engine::TimePoint now);

/// A Set-Cookie value that ends the session in the browser.
std::string end_console_session_cookie(const Config& config);

/// The session of `req`'s cookie when it is intact, unexpired and its person
/// still exists; nullopt otherwise (no cookie, tampered, expired, unknown).
std::optional<ConsoleSession> console_session(const Config& config, const Request& req, engine::TimePoint now);

/// True when `method` changes state (everything but GET, HEAD, OPTIONS): such
/// requests with a session need X-CSRF-Token equal to session.csrf.
bool console_needs_csrf(std::string_view method);
/// The CSRF rule: true when `req` may go on with `session`.
bool console_csrf_ok(const ConsoleSession& session, const Request& req);

}  // namespace baton::bot
