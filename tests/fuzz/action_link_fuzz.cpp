// Signed one-click action links (the token in an "Acknowledge" link of an
// email or webhook page). A random token never passes the MAC, so each input
// is also signed as a payload with the test secret, which reaches the claim
// parsing behind the MAC; and a claim naming the input as its person must
// survive sign/verify unchanged.
#include "integrations/action_links.hpp"
#include "integrations/crypto.hpp"
#include "tests/fuzz/fuzz_checks.hpp"

using namespace baton;
using integrations::ActionSigner;

namespace {

constexpr std::string_view kSecret = "fuzz-action-secret";
const engine::TimePoint kNow = engine::from_ms(1'700'000'000'000);

const ActionSigner& signer() {
  static const ActionSigner s{std::string(kSecret)};
  return s;
}

void check_verified(const Result<integrations::ActionClaim>& claim, std::string_view token) {
  if (!claim) {
    const auto kind = claim.error().kind;
    fuzz::require(kind == ErrorKind::invalid_request || kind == ErrorKind::unauthorized || kind == ErrorKind::permanent,
                  "a refused link is invalid_request, unauthorized or expired", claim.error().message);
    return;
  }
  fuzz::require(claim->expires > kNow, "an accepted link has not expired", token);
  fuzz::check_utf8("ActionClaim.person", claim->person);
  fuzz::check_utf8("ActionClaim.nonce", claim->nonce);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input = fuzz::as_text(data, size);

  // As received in the link.
  const auto raw = signer().verify(input, kNow);
  check_verified(raw, input);
  if (raw) fuzz::require(input.find('.') != std::string_view::npos, "a token has a MAC part", input);

  // As a payload under our own MAC.
  const std::string head = integrations::base64url_encode(input);
  const std::string token = head + "." + integrations::base64url_encode(integrations::hmac_sha256(kSecret, head));
  check_verified(signer().verify(token, kNow), input);

  // Round trip: what sign() made, verify() gives back.
  if (fuzz::is_utf8(input)) {
    integrations::ActionClaim claim;
    claim.incident = static_cast<std::int64_t>(size) + 1;
    claim.action = static_cast<integrations::Action>(size % 3);
    claim.person = std::string(input);
    claim.expires = kNow + std::chrono::minutes(30);
    claim.nonce = "n0nce";
    const auto back = signer().verify(signer().sign(claim), kNow);
    fuzz::require(back.has_value() && back->incident == claim.incident && back->action == claim.action &&
                      back->person == claim.person && back->expires == claim.expires && back->nonce == claim.nonce,
                  "sign/verify round trip", input);
  }
  return 0;
}
