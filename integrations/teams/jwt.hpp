#pragma once
// Inbound auth for Bot Framework activities: the channel's JWT (RFC 7519) in
// `Authorization: Bearer`, checked against the JWK set (RFC 7517) named by the
// Bot Framework OpenID metadata, as the Bot Connector authentication docs describe:
// https://learn.microsoft.com/azure/bot-service/rest-api/bot-framework-rest-connector-authentication
// OpenSSL and JSON stay in jwt.cpp.
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "engine/result.hpp"
#include "engine/time.hpp"
#include "integrations/common/async_http.hpp"
#include "integrations/http_client.hpp"
#include "integrations/teams/teams_config.hpp"

namespace baton::teams {

/// What the token is checked against, taken from the activity's body.
struct ActivityClaims {
  std::string service_url;  ///< activity.serviceUrl
  std::string channel_id;   ///< activity.channelId: "msteams"
};

struct JwtValidatorOptions {
  /// After a failed key fetch no new fetch starts for this long; each further
  /// consecutive failure doubles the pause, up to max_backoff.
  std::chrono::milliseconds first_backoff{std::chrono::seconds(5)};
  std::chrono::milliseconds max_backoff{std::chrono::seconds(60)};
  /// Requests waiting for the one key fetch; more are refused at once.
  std::size_t max_waiters = 256;
};

/// Validates channel-to-bot tokens. A token passes only if all of these hold:
/// the header is `Bearer <jwt>` with three base64url parts; `alg` is RS256
/// (none, HS*, RS384... are refused); `iss` is https://api.botframework.com;
/// `kid` names an RSA key of the JWKS at the OpenID metadata's `jwks_uri`; the
/// RS256 signature verifies; `aud` is app_id; `exp` (required) and `nbf`
/// (optional) hold with 5 minutes of skew against the clock (expired once
/// now >= exp + 5 min; early while now < nbf - 5 min); the `serviceurl` claim,
/// when present, equals the activity's serviceUrl (case and a trailing '/'
/// ignored); and when the key carries `endorsements`, a non-empty activity
/// channel id is one of them. Format, alg, iss and kid are checked before any
/// key is needed, so a malformed or foreign-issuer token never causes a fetch.
///
/// Keys: fetched through the non-blocking client (two GETs as callbacks on its
/// loop, key "teams-jwks"), one fetch at a time; no thread waits for it. The metadata is fetched once (and again
/// only while no fetch has succeeded); the JWKS on first use, again when older
/// than 24 h (the cached keys keep serving while that refresh runs), and on an
/// unknown `kid` at most once per 5 minutes (the first load does not count).
/// After a failed fetch none starts for the back-off (options); meanwhile a
/// token whose key is not cached is refused at once.
///
/// Every refusal is ErrorKind::unauthorized with a short reason ("token
/// expired", "wrong audience", "unknown signing key", "alg none refused",
/// "signing keys unavailable: ..."). Keys that cannot be fetched are a 401 too:
/// without them a genuine token cannot be told from a forged one, the refusal
/// tells a forger nothing, and the Bot Framework channel sends again. Thread-safe.
class JwtValidator {
 public:
  /// Called exactly once with the verdict; it must return quickly (post slow
  /// work elsewhere) and must not call validate().
  using Done = std::function<void(Result<void>)>;

  /// Sends one GET and calls back with the answer, later, never inside the
  /// call (the AsyncHttpClient contract; see http_get_via()).
  using HttpGet =
      std::function<void(integrations::HttpRequest, std::function<void(Result<integrations::HttpResponse>)>)>;

  /// Keys are fetched through `get`; without one (fuzzing, tools) no key can
  /// be fetched and a token needing one is refused. `clock` (cache ages,
  /// back-off, exp/nbf) must outlive the validator.
  JwtValidator(TeamsConfig config, const engine::Clock& clock, HttpGet get, JwtValidatorOptions options = {});
  /// Refuses every waiting request ("shutting down"); a fetch still in flight
  /// ends without effect.
  ~JwtValidator();
  JwtValidator(const JwtValidator&) = delete;
  JwtValidator& operator=(const JwtValidator&) = delete;

  /// Never blocks. `done` runs before this returns, on the caller's thread,
  /// when the verdict needs no fetch (refused early, key cached, or refused
  /// at once during a back-off or with max_waiters already waiting); else
  /// later on the HTTP client's loop when the shared fetch ends, or in
  /// ~JwtValidator. The arguments are copied as needed.
  void validate_async(std::string_view authorization_header, std::string_view activity_service_url,
                      std::string_view activity_channel_id, Done done);

  /// validate_async, waiting for the verdict: blocks while a key fetch runs,
  /// so for tests and tools only, never on a network thread or inside `done`.
  Result<void> validate(std::string_view authorization_header, std::string_view activity_service_url,
                        std::string_view activity_channel_id);
  Result<void> validate(std::string_view authorization_header, const ActivityClaims& activity) {
    return validate(authorization_header, activity.service_url, activity.channel_id);
  }

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

/// Key fetches through the service's non-blocking client, queued under "teams-jwks".
inline JwtValidator::HttpGet http_get_via(std::shared_ptr<integrations::AsyncHttpClient> client) {
  return [client = std::move(client)](integrations::HttpRequest request,
                                      std::function<void(Result<integrations::HttpResponse>)> done) {
    client->request("teams-jwks", std::move(request), std::move(done));
  };
}

}  // namespace baton::teams
