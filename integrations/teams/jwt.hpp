#pragma once
// Inbound auth for Bot Framework activities (protocols/teams.md A1): the
// channel's JWT in `Authorization: Bearer`, checked against the OpenID
// metadata's signing keys. OpenSSL and JSON stay in jwt.cpp.
#include <memory>
#include <string>
#include <string_view>

#include "engine/result.hpp"
#include "engine/time.hpp"
#include "integrations/teams/teams_config.hpp"

namespace baton::teams {

/// What the token is checked against, taken from the activity's body.
struct ActivityClaims {
  std::string service_url;  ///< activity.serviceUrl
  std::string channel_id;   ///< activity.channelId: "msteams"
};

/// Validates channel-to-bot tokens. A token passes only if all of these hold:
/// the header is `Bearer <jwt>` with three base64url parts; `alg` is RS256
/// (none, HS*, RS384... are refused); `iss` is https://api.botframework.com
/// (checked before any key is fetched); `kid` names an RSA key of the JWKS at
/// the OpenID metadata's `jwks_uri`; the RS256 signature verifies; `aud` is
/// app_id; `exp` (required) and `nbf` (optional) hold with 5 minutes of skew
/// against the clock (expired once now >= exp + 5 min; early while
/// now < nbf - 5 min); the `serviceurl` claim, when present, equals the
/// activity's serviceUrl (case and a trailing '/' ignored); and when the key
/// carries `endorsements`, a non-empty activity channel id is one of them.
///
/// Keys: the metadata is fetched once (and again only while no fetch has
/// succeeded); the JWKS is fetched on first use, again when older than 24 h,
/// and on an unknown `kid` at most once per 5 minutes (the first load does not
/// count). Fetches are blocking HttpClient calls (config.timeout), one at a
/// time. Every failure, a key fetch failure included, is
/// ErrorKind::unauthorized with a short reason ("token expired", "wrong
/// audience", "unknown signing key", "alg none refused"...). Thread-safe.
class JwtValidator {
 public:
  JwtValidator(TeamsConfig config, const engine::Clock& clock);
  ~JwtValidator();
  JwtValidator(const JwtValidator&) = delete;
  JwtValidator& operator=(const JwtValidator&) = delete;

  Result<void> validate(std::string_view authorization_header, std::string_view activity_service_url,
                        std::string_view activity_channel_id);
  Result<void> validate(std::string_view authorization_header, const ActivityClaims& activity) {
    return validate(authorization_header, activity.service_url, activity.channel_id);
  }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace baton::teams
