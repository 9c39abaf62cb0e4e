// The Bot Framework JWT in `Authorization: Bearer` (JwtValidator), without
// network: the OpenID metadata URL has a scheme the HTTP client refuses, so a
// token that gets as far as needing keys fails there, before any connection.
// This reaches the header, base64url and claim parsing up to the key lookup;
// the signature and claim checks after it need keys supplied without a fetch.
//
// Each input is tried twice: as the whole header value, and as
// "<header JSON>\n<payload JSON>\n<signature bytes>" encoded into a token, so
// that mutations reach the JSON inside. Also the base64url round trip.
#include "engine/time.hpp"
#include "integrations/crypto.hpp"
#include "integrations/http_client.hpp"
#include "integrations/teams/jwt.hpp"
#include "tests/fuzz/fuzz_checks.hpp"

using namespace baton;

namespace {

class FixedClock final : public engine::Clock {
 public:
  engine::TimePoint now() const override { return engine::from_ms(1'700'000'000'000); }
};

teams::JwtValidator& validator() {
  // OpenSSL registers its atexit cleanup when first initialised. Doing that
  // here, before the validator exists, makes the cleanup run after
  // ~JwtValidator (atexit order is LIFO), so its keys are freed first.
  static const bool openssl_ready = [] {
    integrations::HttpClient warm_up;
    return true;
  }();
  (void)openssl_ready;
  static const FixedClock clock;
  static teams::JwtValidator v = [] {
    teams::TeamsConfig config;
    config.app_id = "9a8b7c6d-0000-4000-8000-00000000b07a";
    config.openid_metadata_url = "baton-fuzz://no-network/openidconfiguration";
    config.timeout = std::chrono::milliseconds(100);
    return teams::JwtValidator(std::move(config), clock, nullptr);  // no client: nothing is fetched
  }();
  return v;
}

// No key can be had, so nothing may pass; every refusal is `unauthorized`.
void check_refused(std::string_view header) {
  auto r = validator().validate(header, "https://smba.trafficmanager.net/teams/", "msteams");
  fuzz::require(!r.has_value(), "a token passed without any signing key", header);
  fuzz::require(r.error().kind == ErrorKind::unauthorized, "a refused token is unauthorized", r.error().message);
  fuzz::require(r.error().message.starts_with("teams jwt: "), "a refusal names the JWT check", r.error().message);
}

void check_base64url(std::string_view text) {
  const auto bytes = integrations::base64url_decode(text);
  if (!bytes) return;
  fuzz::require(integrations::base64url_encode(*bytes) == text, "base64url has one encoding per byte string", text);
  fuzz::require(integrations::base64url_decode(integrations::base64url_encode(text)) == std::string(text),
                "base64url round trip");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  validator();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input = fuzz::as_text(data, size);
  check_refused(input);
  check_base64url(input);

  const auto nl1 = input.find('\n');
  const auto nl2 = nl1 == std::string_view::npos ? nl1 : input.find('\n', nl1 + 1);
  if (nl2 != std::string_view::npos) {
    using integrations::base64url_encode;
    const std::string token = base64url_encode(input.substr(0, nl1)) + "." +
                              base64url_encode(input.substr(nl1 + 1, nl2 - nl1 - 1)) + "." +
                              base64url_encode(input.substr(nl2 + 1));
    check_refused("Bearer " + token);
  }
  return 0;
}
