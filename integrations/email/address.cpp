#include "integrations/email/address.hpp"

#include <cctype>

namespace baton::integrations {

bool is_valid_mail_domain(std::string_view d) {
  if (d.empty() || d.front() == '.' || d.back() == '.') return false;
  for (char c : d) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-') return false;
  }
  return true;
}

bool is_valid_email_address(std::string_view address) {
  const auto at = address.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == address.size() || address.size() > 254) return false;
  for (char c : address) {
    if (c <= 0x20 || c >= 0x7F) return false;
    if (std::string_view("<>()[]\\,;:\"").find(c) != std::string_view::npos) return false;
  }
  return is_valid_mail_domain(address.substr(at + 1));
}

}  // namespace baton::integrations
