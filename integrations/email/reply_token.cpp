#include "integrations/email/reply_token.hpp"

#include <cctype>
#include <charconv>
#include <stdexcept>

#include "integrations/crypto.hpp"

namespace baton::integrations {
namespace {

constexpr std::size_t kTagHexDigits = 32;

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::optional<std::int64_t> number(std::string_view s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size() || v <= 0) return std::nullopt;
  return v;
}

bool is_tag(std::string_view s) {
  if (s.size() != kTagHexDigits) return false;
  for (char c : s)
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

// "<incident>.<notification>.<tag>" exactly.
std::optional<ReplyRef> parse_token(std::string_view token) {
  const auto first = token.find('.');
  if (first == std::string_view::npos) return std::nullopt;
  const auto second = token.find('.', first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  auto incident = number(token.substr(0, first));
  auto notification = number(token.substr(first + 1, second - first - 1));
  const auto tag = token.substr(second + 1);
  if (!incident || !notification || !is_tag(tag)) return std::nullopt;
  return ReplyRef{*incident, *notification, lower(tag)};
}

}  // namespace

std::string email_reply_secret(std::string_view action_secret, std::string_view imap_password) {
  if (!action_secret.empty()) return hmac_sha256(action_secret, "baton email reply tokens");
  return hmac_sha256(imap_password, "baton email reply tokens (imap)");
}

ReplyTokenSigner::ReplyTokenSigner(std::string secret) : secret_(std::move(secret)) {
  if (secret_.empty()) throw std::invalid_argument("email reply tokens need a secret");
}

std::string ReplyTokenSigner::tag(std::int64_t incident, std::int64_t notification, std::string_view person) const {
  const std::string mac = hmac_sha256(secret_, "baton-email-reply-v1|" + std::to_string(incident) + "|" +
                                                   std::to_string(notification) + "|" + std::string(person));
  return to_hex(mac.substr(0, kTagHexDigits / 2));
}

std::string ReplyTokenSigner::token(std::int64_t incident, std::int64_t notification, std::string_view person) const {
  return std::to_string(incident) + "." + std::to_string(notification) + "." + tag(incident, notification, person);
}

bool ReplyTokenSigner::verify(const ReplyRef& ref, std::string_view person) const {
  if (!is_tag(ref.tag)) return false;
  return constant_time_equal(tag(ref.incident, ref.notification, person), lower(ref.tag));
}

std::string reply_plus_address(std::string_view address, std::string_view token) {
  const auto at = address.rfind('@');
  if (at == std::string_view::npos) return std::string(address);
  auto local = address.substr(0, at);
  // An address that already has a subaddress keeps its base: one '+' only.
  if (const auto plus = local.find('+'); plus != std::string_view::npos) local = local.substr(0, plus);
  return std::string(local) + "+" + std::string(token) + std::string(address.substr(at));
}

std::optional<ReplyRef> ref_from_address(std::string_view address) {
  const auto at = address.rfind('@');
  if (at == std::string_view::npos) return std::nullopt;
  const auto local = address.substr(0, at);
  const auto plus = local.find('+');
  if (plus == std::string_view::npos) return std::nullopt;
  return parse_token(local.substr(plus + 1));
}

std::optional<ReplyRef> ref_from_message_id(std::string_view id) {
  if (!id.empty() && id.front() == '<') id.remove_prefix(1);
  if (!id.empty() && id.back() == '>') id.remove_suffix(1);
  const auto at = id.rfind('@');
  if (at == std::string_view::npos) return std::nullopt;
  auto left = id.substr(0, at);  // incident-N.notification-M.S.TAG
  constexpr std::string_view kIncident = "incident-";
  if (left.substr(0, kIncident.size()) != kIncident) return std::nullopt;
  left.remove_prefix(kIncident.size());
  const auto dot = left.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  const auto incident = number(left.substr(0, dot));
  left.remove_prefix(dot + 1);
  constexpr std::string_view kNotification = "notification-";
  if (left.substr(0, kNotification.size()) != kNotification) return std::nullopt;
  left.remove_prefix(kNotification.size());
  const auto dot2 = left.find('.');
  if (dot2 == std::string_view::npos) return std::nullopt;
  const auto notification = number(left.substr(0, dot2));
  const auto last = left.rfind('.');
  if (last == dot2) return std::nullopt;  // no sender id and tag: a mail sent without replies
  const auto tag = left.substr(last + 1);
  if (!incident || !notification || !is_tag(tag)) return std::nullopt;
  return ReplyRef{*incident, *notification, lower(tag)};
}

}  // namespace baton::integrations
