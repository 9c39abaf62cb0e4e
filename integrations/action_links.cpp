#include "integrations/action_links.hpp"

#include <boost/json.hpp>

#include <stdexcept>

#include "integrations/crypto.hpp"

namespace baton::integrations {
namespace json = boost::json;

const char* to_string(Action action) {
  switch (action) {
    case Action::acknowledge: return "acknowledge";
    case Action::resolve: return "resolve";
    case Action::escalate: return "escalate";
  }
  return "unknown";
}

std::optional<Action> parse_action(std::string_view text) {
  if (text == "acknowledge") return Action::acknowledge;
  if (text == "resolve") return Action::resolve;
  if (text == "escalate") return Action::escalate;
  return std::nullopt;
}

ActionSigner::ActionSigner(std::string secret) : secret_(std::move(secret)) {
  if (secret_.empty()) throw std::invalid_argument("action link secret must not be empty");
}

std::string ActionSigner::sign(const ActionClaim& claim) const {
  json::object payload;
  payload["i"] = claim.incident;
  payload["a"] = to_string(claim.action);
  payload["p"] = claim.person;
  payload["e"] = engine::to_ms(claim.expires);
  payload["n"] = claim.nonce.empty() ? base64url_encode(random_bytes(12)) : claim.nonce;
  std::string head = base64url_encode(json::serialize(payload));
  std::string mac = base64url_encode(hmac_sha256(secret_, head));
  return head + "." + mac;
}

Result<ActionClaim> ActionSigner::verify(std::string_view token, engine::TimePoint now) const {
  const auto dot = token.find('.');
  if (dot == std::string_view::npos || token.find('.', dot + 1) != std::string_view::npos) {
    return fail(ErrorKind::invalid_request, "malformed action token");
  }
  const auto head = token.substr(0, dot);
  const auto payload_bytes = base64url_decode(head);
  const auto mac = base64url_decode(token.substr(dot + 1));
  if (head.empty() || !payload_bytes || !mac) return fail(ErrorKind::invalid_request, "malformed action token");
  if (!constant_time_equal(*mac, hmac_sha256(secret_, head))) {
    return fail(ErrorKind::unauthorized, "bad action token signature");
  }

  boost::system::error_code ec;
  json::value parsed = json::parse(*payload_bytes, ec);
  const json::object* obj = ec ? nullptr : parsed.if_object();
  if (obj == nullptr) return fail(ErrorKind::invalid_request, "malformed action token payload");
  const auto* incident = obj->if_contains("i");
  const auto* action = obj->if_contains("a");
  const auto* person = obj->if_contains("p");
  const auto* expires = obj->if_contains("e");
  const auto* nonce = obj->if_contains("n");
  if (!incident || !incident->is_int64() || !action || !action->is_string() || !person ||
      !person->is_string() || !expires || !expires->is_int64() || !nonce || !nonce->is_string()) {
    return fail(ErrorKind::invalid_request, "malformed action token payload");
  }
  auto parsed_action = parse_action(action->get_string());
  if (!parsed_action) return fail(ErrorKind::invalid_request, "unknown action in token");

  ActionClaim claim;
  claim.incident = incident->get_int64();
  claim.action = *parsed_action;
  claim.person = std::string(person->get_string());
  claim.expires = engine::from_ms(expires->get_int64());
  claim.nonce = std::string(nonce->get_string());
  if (now >= claim.expires) return fail(ErrorKind::permanent, "link expired");
  return claim;
}

std::string ActionSigner::token_id(std::string_view token) { return to_hex(sha256(token)); }

}  // namespace baton::integrations
