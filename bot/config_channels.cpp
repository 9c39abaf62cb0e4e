// The configuration's server, storage and channel sections (webhook, smtp,
// twilio, sms_gateway, slack, teams), the checks across them, and dispatch.
// See bot/config_loader.hpp.
#include "bot/config_loader.hpp"
#include "bot/config_replies.hpp"

namespace baton::bot::config_internal {

void Loader::load_server(const YAML::Node& n, Config& c) {
  const std::string ctx = "server";
  Fields f(*this, n, {"listen", "public_url", "api_tokens", "max_body_bytes", "request_timeout", "action_secret",
           "console_session"},
           ctx);
  auto& s = c.server;
  if (auto v = string(f["listen"], "'listen' in server")) {
    const auto colon = v->rfind(':');
    std::int64_t port = -1;
    if (colon != std::string::npos && colon > 0) {
      auto [p, ec] = std::from_chars(v->data() + colon + 1, v->data() + v->size(), port);
      if (ec != std::errc{} || p != v->data() + v->size()) port = -1;
    }
    if (port < 0 || port > 65535)
      error(f["listen"].Mark(), "'listen' in server must be \"host:port\", not " + quoted(*v));
    else
      s.listen = *v;
  }
  if (auto v = string(f["public_url"], "'public_url' in server")) {
    if (v->rfind("http://", 0) != 0 && v->rfind("https://", 0) != 0)
      error(f["public_url"].Mark(), "'public_url' in server must start with http:// or https://");
    else
      s.public_url = *v, public_url_at_ = f["public_url"].Mark();
  }
  if (s.public_url.empty()) s.public_url = "http://" + s.listen;
  while (s.public_url.size() > 8 && s.public_url.back() == '/') s.public_url.pop_back();

  const YAML::Node tokens = f["api_tokens"];
  if (is_seq(tokens, "'api_tokens' in server")) {
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      const YAML::Node t = tokens[i];
      const std::string what = "api token " + std::to_string(i + 1);
      Fields tf(*this, t, {"name", "token"}, what);
      if (!t.IsMap()) continue;
      auto name = required_string(tf["name"], "'name' of " + what, t.Mark());
      auto token = required_string(tf["token"], "'token' of " + what, t.Mark());
      if (!name || !token) continue;
      if (std::any_of(s.api_tokens.begin(), s.api_tokens.end(), [&](const auto& p) { return p.first == *name; }))
        error(tf["name"].Mark(), "duplicate api token name " + quoted(*name));
      else
        s.api_tokens.emplace_back(*name, *token);
    }
  }
  if (auto v = integer(f["max_body_bytes"], "'max_body_bytes' in server", 1024, std::int64_t{1} << 30))
    s.max_body_bytes = static_cast<std::size_t>(*v);
  if (auto v = duration(f["request_timeout"], "'request_timeout' in server", true, false))
    s.request_timeout = std::chrono::duration_cast<std::chrono::seconds>(*v);
  if (auto v = string(f["action_secret"], "'action_secret' in server")) s.action_secret = *v;
  if (auto v = duration(f["console_session"], "'console_session' in server", true, false))
    s.console_session = std::chrono::duration_cast<std::chrono::seconds>(*v);
  if (s.action_secret.empty())
    warning(n.IsMap() ? n.Mark() : YAML::Mark::null_mark(),
            "server.action_secret is empty: action links (acknowledge/resolve) will not be signed");
}

void Loader::load_storage(const YAML::Node& n, Config& c) {
  Fields f(*this, n, {"path", "durability"}, "storage");
  if (auto v = string(f["path"], "'path' in storage")) {
    if (v->empty())
      error(f["path"].Mark(), "'path' in storage must not be empty");
    else
      c.storage.path = *v;
  }
  if (auto v = string(f["durability"], "'durability' in storage")) {
    if (*v != "full" && *v != "normal")
      error(f["durability"].Mark(), "'durability' in storage must be full or normal, not " + quoted(*v));
    else
      c.storage.durability = *v;
  }
}

void Loader::load_webhook(const YAML::Node& n, Config& c) {
  Fields f(*this, n, {"url", "headers", "timeout", "signing_secret"}, "webhook");
  auto& w = c.webhook;
  if (auto v = string(f["url"], "'url' in webhook")) {
    if (!v->empty() && v->rfind("http://", 0) != 0 && v->rfind("https://", 0) != 0)
      error(f["url"].Mark(), "'url' in webhook must start with http:// or https://");
    else
      w.url = *v;
  }
  w.enabled = !w.url.empty();
  load_headers(f["headers"], "webhook", w.headers);
  if (auto v = duration(f["timeout"], "'timeout' in webhook", false, false)) w.timeout = *v;
  if (auto v = string(f["signing_secret"], "'signing_secret' in webhook")) w.signing_secret = *v;
}

void Loader::load_headers(const YAML::Node& n, const std::string& section,
                          std::vector<std::pair<std::string, std::string>>& out) {
  if (!is_map(n, "'headers' in " + section)) return;
  for (auto it = n.begin(); it != n.end(); ++it) {
    if (!it->first.IsScalar()) {
      error(it->first.Mark(), "header names in " + section + " must be strings");
      continue;
    }
    const std::string& name = it->first.Scalar();
    if (auto v = string(it->second, "header " + quoted(name) + " in " + section)) out.emplace_back(name, *v);
  }
}

void Loader::load_smtp(const YAML::Node& n, Config& c) {
  Fields f(*this, n,
           {"url", "from", "from_name", "username", "password", "starttls", "ca_file", "verify_peer", "timeout",
            "replies"},
           "smtp");
  auto& s = c.smtp;
  if (auto v = string(f["url"], "'url' in smtp"); v && !v->empty()) {
    if (auto problem = url_problem(*v, {"smtp://", "smtps://"}))
      error(f["url"].Mark(), "'url' in smtp " + *problem);
    else
      s.url = *v;
  }
  s.enabled = !s.url.empty();
  const auto from = string(f["from"], "'from' in smtp");
  if (from && !from->empty() && !valid_mailbox(*from))
    error(f["from"].Mark(), "'from' in smtp is not an email address: " + quoted(*from));
  s.from = from.value_or("");
  if (auto v = string(f["from_name"], "'from_name' in smtp")) {
    if (has_control_char(*v))
      error(f["from_name"].Mark(), "'from_name' in smtp must not contain line breaks or control characters");
    else
      s.from_name = *v;
  }
  s.username = string(f["username"], "'username' in smtp").value_or("");
  s.password = string(f["password"], "'password' in smtp").value_or("");
  if (auto v = string(f["starttls"], "'starttls' in smtp")) {
    if (*v == "required" || *v == "optional")
      s.require_starttls = *v == "required";
    else
      error(f["starttls"].Mark(), "'starttls' in smtp must be required or optional, not " + quoted(*v));
  }
  s.ca_file = string(f["ca_file"], "'ca_file' in smtp").value_or("");
  if (auto v = boolean(f["verify_peer"], "'verify_peer' in smtp")) s.verify_peer = *v;
  if (auto v = duration(f["timeout"], "'timeout' in smtp", false, false)) s.timeout = *v;
  load_smtp_replies(f["replies"], section_reader(*this), s);  // bot/config_replies.cpp

  // Requirements and risks only matter for a channel in use (a section can be
  // switched off by an empty `${SMTP_URL:-}`).
  if (!s.enabled) return;
  require(f["from"], from, "'from' in smtp", n.Mark());
  if (!s.username.empty() && s.password.empty())
    error(f.has("password") ? f["password"].Mark() : n.Mark(), "'password' in smtp is required when 'username' is set");
  if (s.username.empty() && !s.password.empty())
    error(f["password"].Mark(), "'password' in smtp is set but 'username' is not");
  if (!s.require_starttls && s.url.rfind("smtp://", 0) == 0)
    warning(f["starttls"].Mark(),
            "smtp.starttls is optional: when the server does not offer STARTTLS, pages and the SMTP password are "
            "sent in clear text");
  if (!s.verify_peer)
    warning(f["verify_peer"].Mark(),
            "smtp.verify_peer is false: the SMTP server's certificate is NOT checked, so anyone on the network path "
            "can read pages and the SMTP password; never use this in production");
}

void Loader::load_twilio(const YAML::Node& n, Config& c) {
  Fields f(*this, n,
           {"base_url", "account_sid", "auth_token", "api_key_sid", "api_key_secret", "from", "messaging_service_sid",
            "messages_per_second", "status_callbacks", "validity", "voice", "voice_from", "calls_per_second",
            "ring_timeout"},
           "twilio");
  auto& t = c.twilio;
  twilio_at_ = n.Mark();
  if (auto v = string(f["base_url"], "'base_url' in twilio")) {
    if (auto problem = url_problem(*v, {"http://", "https://"})) {
      error(f["base_url"].Mark(), "'base_url' in twilio " + *problem);
    } else {
      t.base_url = *v;
      while (t.base_url.size() > 8 && t.base_url.back() == '/') t.base_url.pop_back();
    }
  }
  // Sids are checked by prefix only (fakes use short ones); values are not echoed,
  // because a secret pasted into the wrong field would end up in the log.
  const auto sid = [&](const char* key, std::string_view prefix, const char* kind) {
    auto v = string(f[key], quoted(key) + " in twilio").value_or("");
    if (!v.empty() && v.rfind(prefix, 0) != 0)
      error(f[key].Mark(), quoted(key) + " in twilio must be " + kind + " (starting with " + std::string(prefix) + ")");
    return v;
  };
  t.account_sid = sid("account_sid", "AC", "an Account SID");
  t.enabled = !t.account_sid.empty();
  t.auth_token = string(f["auth_token"], "'auth_token' in twilio").value_or("");
  t.api_key_sid = sid("api_key_sid", "SK", "an API key SID");
  t.api_key_secret = string(f["api_key_secret"], "'api_key_secret' in twilio").value_or("");
  t.from = string(f["from"], "'from' in twilio").value_or("");
  if (!t.from.empty() && !valid_e164(t.from) && !valid_alphanumeric_sender(t.from))
    error(f["from"].Mark(), "'from' in twilio must be an E.164 number like \"+15551234567\" or an alphanumeric "
                            "sender id of at most 11 letters, digits and spaces, not " + quoted(t.from));
  t.messaging_service_sid = sid("messaging_service_sid", "MG", "a Messaging Service SID");
  if (auto v = positive_number(f["messages_per_second"], "'messages_per_second' in twilio", 1000))
    t.messages_per_second = *v;
  if (auto v = boolean(f["status_callbacks"], "'status_callbacks' in twilio")) t.status_callbacks = *v;
  if (auto v = duration(f["validity"], "'validity' in twilio", true, false)) {
    if (*v > std::chrono::hours{10})
      error(f["validity"].Mark(), "'validity' in twilio must be at most 10h (Twilio's limit)");
    else
      t.validity = std::chrono::duration_cast<std::chrono::seconds>(*v);
  }
  if (auto v = boolean(f["voice"], "'voice' in twilio")) t.voice = *v;
  t.voice_from = string(f["voice_from"], "'voice_from' in twilio").value_or("");
  if (!t.voice_from.empty() && !valid_e164(t.voice_from))
    error(f["voice_from"].Mark(), "'voice_from' in twilio must be an E.164 number like \"+15551234567\", not " +
                                      quoted(t.voice_from));
  if (t.voice_from.empty() && valid_e164(t.from)) t.voice_from = t.from;
  if (auto v = positive_number(f["calls_per_second"], "'calls_per_second' in twilio", 100)) t.calls_per_second = *v;
  if (auto v = duration(f["ring_timeout"], "'ring_timeout' in twilio", true, false)) {
    if (*v < std::chrono::seconds{5} || *v > std::chrono::seconds{600})
      error(f["ring_timeout"].Mark(), "'ring_timeout' in twilio must be between 5s and 600s (Twilio's limits)");
    else
      t.ring_timeout = std::chrono::duration_cast<std::chrono::seconds>(*v);
  }

  if (!t.enabled) {
    t.voice = false;
    return;
  }
  if (t.voice && t.auth_token.empty())
    error(f.has("auth_token") ? f["auth_token"].Mark() : f["voice"].Mark(),
          "twilio.voice needs 'auth_token': Twilio signs every request of a call with it");
  if (t.voice && t.voice_from.empty() && !f.has("voice_from"))
    error(f["voice"].Mark(), "twilio.voice needs 'voice_from' (an E.164 number) when 'from' is not a phone number");
  const bool key_sid = !t.api_key_sid.empty(), key_secret = !t.api_key_secret.empty();
  if (key_sid && !key_secret)
    error(f.has("api_key_secret") ? f["api_key_secret"].Mark() : f["api_key_sid"].Mark(),
          "'api_key_secret' in twilio is required when 'api_key_sid' is set");
  if (!key_sid && key_secret)
    error(f["api_key_secret"].Mark(), "'api_key_sid' in twilio is required when 'api_key_secret' is set");
  if (t.auth_token.empty() && !key_sid && !key_secret)
    error(f.has("auth_token") ? f["auth_token"].Mark() : n.Mark(),
          "twilio needs 'auth_token' (or 'api_key_sid' and 'api_key_secret')");
  else if (t.auth_token.empty() && key_sid && key_secret)
    warning(f["api_key_sid"].Mark(),
            "twilio.auth_token is not set: Twilio signs status callbacks and SMS replies with it, so they cannot be "
            "verified");
  if (t.from.empty() == t.messaging_service_sid.empty())
    error(!t.messaging_service_sid.empty() ? f["messaging_service_sid"].Mark() : n.Mark(),
          "twilio needs exactly one of 'from' or 'messaging_service_sid'");
}

void Loader::load_sms_gateway(const YAML::Node& n, Config& c) {
  Fields f(*this, n, {"url", "method", "headers", "content_type", "body_template", "messages_per_second"},
           "sms_gateway");
  auto& g = c.sms_gateway;
  if (auto v = string(f["url"], "'url' in sms_gateway"); v && !v->empty()) {
    if (auto problem = url_problem(*v, {"http://", "https://"}))
      error(f["url"].Mark(), "'url' in sms_gateway " + *problem);
    else
      g.url = *v, sms_gateway_url_at_ = f["url"].Mark();
  }
  g.enabled = !g.url.empty();
  if (auto v = string(f["method"], "'method' in sms_gateway")) {
    std::string upper(*v);
    std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char ch) { return std::toupper(ch); });
    if (upper == "POST" || upper == "PUT")
      g.method = upper;
    else
      error(f["method"].Mark(), "'method' in sms_gateway must be POST or PUT, not " + quoted(*v));
  }
  load_headers(f["headers"], "sms_gateway", g.headers);
  if (auto v = string(f["content_type"], "'content_type' in sms_gateway")) {
    if (v->empty() || has_control_char(*v))
      error(f["content_type"].Mark(), "'content_type' in sms_gateway must be a media type like \"application/json\"");
    else
      g.content_type = *v;
  }
  const auto body = string(f["body_template"], "'body_template' in sms_gateway");
  g.body_template = body.value_or("");
  if (auto v = positive_number(f["messages_per_second"], "'messages_per_second' in sms_gateway", 1000))
    g.messages_per_second = *v;
  if (g.enabled) require(f["body_template"], body, "'body_template' in sms_gateway", n.Mark());
}

void Loader::load_slack(const YAML::Node& n, Config& c) {
  Fields f(*this, n,
           {"mode", "base_url", "bot_token", "app_token", "signing_secret", "archive_on_resolve",
            "messages_per_second_per_channel", "ca_file"},
           "slack");
  auto& s = c.slack;
  if (auto v = string(f["bot_token"], "'bot_token' in slack")) s.bot_token = *v;
  s.enabled = !s.bot_token.empty();
  if (auto v = string(f["mode"], "'mode' in slack")) {
    if (*v == "socket" || *v == "http")
      s.mode = *v;
    else
      error(f["mode"].Mark(), "'mode' in slack must be socket or http, not " + quoted(*v));
  }
  if (auto v = string(f["base_url"], "'base_url' in slack"); v && !v->empty()) {
    if (auto problem = url_problem(*v, {"http://", "https://"}))
      error(f["base_url"].Mark(), "'base_url' in slack " + *problem);
    else
      s.base_url = v->back() == '/' ? v->substr(0, v->size() - 1) : *v;
  }
  if (auto v = string(f["app_token"], "'app_token' in slack")) s.app_token = *v;
  if (auto v = string(f["signing_secret"], "'signing_secret' in slack")) s.signing_secret = *v;
  if (auto b = boolean(f["archive_on_resolve"], "'archive_on_resolve' in slack")) s.archive_on_resolve = *b;
  if (auto v = positive_number(f["messages_per_second_per_channel"], "'messages_per_second_per_channel' in slack", 100))
    s.messages_per_second_per_channel = *v;
  s.ca_file = string(f["ca_file"], "'ca_file' in slack").value_or("");
  if (!s.enabled) return;
  // Token prefixes only: the values themselves never appear in messages.
  if (!s.bot_token.starts_with("xoxb-"))
    error(f["bot_token"].Mark(), "'bot_token' in slack must be a bot token (xoxb-...)");
  if (s.mode == "socket" && !s.app_token.starts_with("xapp-"))
    error(f.has("app_token") ? f["app_token"].Mark() : f["bot_token"].Mark(),
          "socket mode needs 'app_token' in slack: an app-level token (xapp-...) with connections:write");
  if (s.mode == "http" && s.signing_secret.empty())
    error(f.has("signing_secret") ? f["signing_secret"].Mark() : f["bot_token"].Mark(),
          "http mode needs 'signing_secret' in slack to verify Slack's requests");
}

void Loader::load_teams(const YAML::Node& n, Config& c) {
  Fields f(*this, n,
           {"app_id", "app_password", "tenant_id", "login_base", "openid_metadata_url", "connector_base", "graph_base",
            "allow_unauthenticated"},
           "teams");
  auto& t = c.teams;
  if (auto v = string(f["app_id"], "'app_id' in teams")) t.app_id = *v;
  if (auto v = string(f["app_password"], "'app_password' in teams")) t.app_password = *v;
  if (auto v = string(f["tenant_id"], "'tenant_id' in teams")) t.tenant_id = *v;
  if (auto b = boolean(f["allow_unauthenticated"], "'allow_unauthenticated' in teams")) t.allow_unauthenticated = *b;
  // Microsoft 365 Agents Playground needs no app registration: on without an app_id.
  t.enabled = !t.app_id.empty() || t.allow_unauthenticated;
  for (auto [key, target] : {std::pair{"login_base", &t.login_base}, std::pair{"openid_metadata_url", &t.openid_metadata_url},
                             std::pair{"connector_base", &t.connector_service_url}, std::pair{"graph_base", &t.graph_base}}) {
    if (auto v = string(f[key], std::string("'") + key + "' in teams"); v && !v->empty()) {
      if (auto problem = url_problem(*v, {"http://", "https://"}))
        error(f[key].Mark(), std::string("'") + key + "' in teams " + *problem);
      else
        *target = *v;
    }
  }
  if (!t.enabled) return;
  if (t.app_password.empty() && !t.allow_unauthenticated)
    error(f["app_id"].Mark(), "the teams channel needs 'app_password' (the bot's client secret)");
  if (t.tenant_id.empty() && !t.allow_unauthenticated)
    error(f["app_id"].Mark(), "the teams channel needs 'tenant_id' (single-tenant bots; also used for 1:1 chats)");
  if (t.allow_unauthenticated) {
    auto host = c.server.listen.substr(0, c.server.listen.rfind(':'));
    if (host != "127.0.0.1" && host != "localhost" && host != "[::1]")
      error(f["allow_unauthenticated"].Mark(),
            "'allow_unauthenticated' in teams is only allowed when server.listen is a loopback address");
    else
      warning(f["allow_unauthenticated"].Mark(),
              "teams accepts UNAUTHENTICATED activities (Agents Playground only): never in production");
  }
}

void Loader::check_channels(Config& c, engine::Directory& d) {
  using engine::MethodKind;
  if (c.twilio.enabled && c.sms_gateway.enabled)
    error(sms_gateway_url_at_, "twilio and sms_gateway are both configured: baton sends SMS through one of them");
  if (c.twilio.enabled && is_local_url(c.server.public_url))
    warning(public_url_at_.is_null() ? twilio_at_ : public_url_at_,
            "server.public_url " + quoted(c.server.public_url) +
                " is a local address: Twilio cannot reach it for status callbacks and SMS replies, whose signatures "
                "are checked against it");

  // Links for a method without a channel are skipped by the engine: say so once per
  // method, at its first use, in file order.
  const auto missing = [&](MethodKind m) -> std::optional<std::string> {
    switch (m) {
      case MethodKind::webhook:
        if (!c.webhook.enabled) return "webhook.url is not set";
        break;
      case MethodKind::email:
        if (!c.smtp.enabled) return "smtp.url is not set";
        break;
      case MethodKind::sms:
        if (!c.twilio.enabled && !c.sms_gateway.enabled) return "neither twilio.account_sid nor sms_gateway.url is set";
        break;
      case MethodKind::slack:
        if (!c.slack.enabled) return "slack.bot_token is not set";
        break;
      case MethodKind::teams:
        if (!c.teams.enabled) return "teams.app_id is not set";
        break;
      case MethodKind::voice:
        if (!c.twilio.voice) return "twilio.voice is not on";
        break;
    }
    return std::nullopt;
  };
  std::vector<std::pair<YAML::Mark, MethodKind>> used;
  for (const auto& [m, mark] : method_used_at_) used.emplace_back(mark, m);
  std::sort(used.begin(), used.end(), [](const auto& a, const auto& b) {
    return std::tie(a.first.line, a.first.column) < std::tie(b.first.line, b.first.column);
  });
  for (const auto& [mark, m] : used)
    if (auto why = missing(m))
      warning(mark, "a contact chain uses the " + std::string(engine::to_string(m)) + " method but " + *why);

  if (c.webhook.enabled) d.channels.push_back(MethodKind::webhook);
  if (c.smtp.enabled) d.channels.push_back(MethodKind::email);
  if (c.twilio.enabled || c.sms_gateway.enabled) d.channels.push_back(MethodKind::sms);
  if (c.slack.enabled) d.channels.push_back(MethodKind::slack);
  if (c.teams.enabled) d.channels.push_back(MethodKind::teams);
  if (c.twilio.voice) d.channels.push_back(MethodKind::voice);
  // Nothing configured: the webhook stays the one channel, so pages are at least attempted and recorded.
  if (d.channels.empty()) d.channels.push_back(MethodKind::webhook);
}

void Loader::load_dispatch(const YAML::Node& n, Config& c) {
  Fields f(*this, n, {"workers", "max_attempts", "base_backoff", "max_in_flight_per_channel", "max_connections_per_host"},
           "dispatch");
  if (auto v = integer(f["max_in_flight_per_channel"], "'max_in_flight_per_channel' in dispatch", 1, 100000))
    c.dispatch.max_in_flight_per_channel = static_cast<int>(*v);
  if (auto v = integer(f["max_connections_per_host"], "'max_connections_per_host' in dispatch", 0, 10000))
    c.dispatch.max_connections_per_host = static_cast<int>(*v);
  if (f.has("workers"))
    warning(f["workers"].Mark(),
            "'workers' in dispatch is ignored: every channel sends without blocking a thread, and "
            "'max_in_flight_per_channel' bounds the sends in flight");
  if (auto v = integer(f["max_attempts"], "'max_attempts' in dispatch", 1, 100))
    c.dispatch.max_attempts = static_cast<int>(*v);
  if (auto v = duration(f["base_backoff"], "'base_backoff' in dispatch", false, false)) c.dispatch.base_backoff = *v;
}

}  // namespace baton::bot::config_internal
