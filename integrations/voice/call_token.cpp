#include "integrations/voice/call_token.hpp"

#include <charconv>
#include <optional>
#include <stdexcept>

#include "integrations/crypto.hpp"

namespace baton::integrations {
namespace {

std::optional<std::int64_t> parse_int(std::string_view s) {
  std::int64_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

std::string call_token_secret(std::string_view action_secret, std::string_view auth_token) {
  if (!action_secret.empty()) return hmac_sha256(action_secret, "baton voice call links");
  if (!auth_token.empty()) return hmac_sha256(auth_token, "baton voice call links (twilio)");
  return {};
}

CallSigner::CallSigner(std::string secret) : secret_(std::move(secret)) {
  if (secret_.empty()) throw std::invalid_argument("voice call links need a secret");
}

std::string CallSigner::mac(const CallRef& call) const {
  // The person id goes last: the numbers before it cannot contain '|'.
  const std::string data = "baton-voice-call-v1|" + std::to_string(call.notification) + "|" +
                           std::to_string(call.incident) + "|" + std::to_string(engine::to_ms(call.expires)) + "|" +
                           call.person;
  return base64url_encode(hmac_sha256(secret_, data));
}

std::string CallSigner::query(const CallRef& call) const {
  return "n=" + std::to_string(call.notification) + "&i=" + std::to_string(call.incident) +
         "&p=" + percent_encode(call.person) + "&e=" + std::to_string(engine::to_ms(call.expires)) +
         "&t=" + mac(call);
}

Result<CallRef> CallSigner::verify(const FormParams& query, engine::TimePoint now) const {
  std::optional<std::string> n, i, p, e, t;
  for (const auto& [key, value] : query) {
    std::optional<std::string>* slot = key == "n" ? &n : key == "i" ? &i : key == "p" ? &p : key == "e" ? &e
                                     : key == "t" ? &t : nullptr;
    if (!slot) continue;
    if (*slot) return fail(ErrorKind::invalid_request, "call link parameter '" + key + "' repeated");
    *slot = value;
  }
  if (!n || !i || !p || !e || !t) return fail(ErrorKind::invalid_request, "call link incomplete");
  const auto notification = parse_int(*n);
  const auto incident = parse_int(*i);
  const auto expires = parse_int(*e);
  if (!notification || !incident || !expires) return fail(ErrorKind::invalid_request, "call link malformed");
  CallRef call{*notification, *incident, *p, engine::from_ms(*expires)};
  if (!constant_time_equal(mac(call), *t)) return fail(ErrorKind::unauthorized, "call link signature mismatch");
  if (now >= call.expires) return fail(ErrorKind::permanent, "call link expired");
  return call;
}

}  // namespace baton::integrations
