#include "bot/config_replies.hpp"

#include <algorithm>
#include <array>
#include <string_view>

#include "integrations/email/message.hpp"

namespace baton::bot {
namespace {

constexpr std::array<std::string_view, 9> kKeys{"url",     "username", "password",    "poll",   "starttls",
                                                "ca_file", "address",  "verify_peer", "timeout"};

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

// Why `url` is not imap(s)://host[:port][/mailbox], or "".
std::string url_problem(std::string_view url) {
  std::string_view rest;
  if (url.rfind("imaps://", 0) == 0) rest = url.substr(8);
  else if (url.rfind("imap://", 0) == 0) rest = url.substr(7);
  else return "must start with imap:// or imaps://";
  const auto authority = rest.substr(0, rest.find_first_of("/?#"));
  // Not echoed: the credentials would end up in the log.
  if (authority.find('@') != std::string_view::npos) return "must not contain credentials (use username and password)";
  if (authority.empty()) return "has no host: " + quoted(url);
  const auto host = authority.substr(0, authority.front() == '[' ? authority.find(']') + 1 : authority.find(':'));
  if (host.empty()) return "has no host: " + quoted(url);
  if (rest.find_first_of("?#") != std::string_view::npos) return "must not have a query or fragment: " + quoted(url);
  return {};
}

}  // namespace

void load_smtp_replies(const YAML::Node& n, const SectionReader& r, SmtpChannelConfig& smtp) {
  auto& c = smtp.replies;
  if (!n.IsDefined() || n.IsNull()) return;
  if (!n.IsMap()) return r.error(n.Mark(), "smtp.replies must be a mapping");
  for (auto it = n.begin(); it != n.end(); ++it) {
    const auto name = it->first.IsScalar() ? it->first.Scalar() : std::string();
    if (std::find(kKeys.begin(), kKeys.end(), name) == kKeys.end())
      r.error(it->first.Mark(), "unknown key " + quoted(name) + " in smtp.replies");
  }
  if (auto v = r.string(n["url"], "'url' in smtp.replies"); v && !v->empty()) {
    if (auto problem = url_problem(*v); !problem.empty())
      r.error(n["url"].Mark(), "'url' in smtp.replies " + problem);
    else
      c.url = *v;
  }
  c.enabled = !c.url.empty();
  c.username = r.string(n["username"], "'username' in smtp.replies").value_or("");
  c.password = r.string(n["password"], "'password' in smtp.replies").value_or("");
  if (auto v = r.duration(n["poll"], "'poll' in smtp.replies")) {
    if (*v < std::chrono::seconds(1)) r.error(n["poll"].Mark(), "'poll' in smtp.replies must be at least 1s");
    else c.poll = *v;
  }
  if (auto v = r.duration(n["timeout"], "'timeout' in smtp.replies")) c.timeout = *v;
  if (auto v = r.string(n["starttls"], "'starttls' in smtp.replies")) {
    if (*v == "required" || *v == "optional")
      c.require_starttls = *v == "required";
    else
      r.error(n["starttls"].Mark(), "'starttls' in smtp.replies must be required or optional, not " + quoted(*v));
  }
  c.ca_file = r.string(n["ca_file"], "'ca_file' in smtp.replies").value_or("");
  if (c.ca_file.empty()) c.ca_file = smtp.ca_file;
  if (auto v = r.boolean(n["verify_peer"], "'verify_peer' in smtp.replies")) c.verify_peer = *v;
  if (auto v = r.string(n["address"], "'address' in smtp.replies"); v && !v->empty()) {
    if (!integrations::is_valid_email_address(*v))
      r.error(n["address"].Mark(), "'address' in smtp.replies is not an email address: " + quoted(*v));
    else
      c.address = *v;
  }

  if (!c.enabled) return;
  if (!smtp.enabled) r.error(n.Mark(), "smtp.replies needs smtp.url: replies answer page emails");
  if (c.username.empty() || c.password.empty())
    r.error(n.Mark(), "'username' and 'password' in smtp.replies are required when 'url' is set");
  if (!c.require_starttls && c.url.rfind("imap://", 0) == 0)
    r.warning(n["starttls"].Mark(),
              "smtp.replies.starttls is optional: when the IMAP server does not offer STARTTLS, the mailbox "
              "password and replies travel in clear text");
  if (!c.verify_peer)
    r.warning(n["verify_peer"].Mark(),
              "smtp.replies.verify_peer is false: the IMAP server's certificate is NOT checked; never use this in "
              "production");
}

}  // namespace baton::bot
