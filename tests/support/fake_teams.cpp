#include "tests/support/fake_teams.hpp"

#include "integrations/common/async_http.hpp"

#include <array>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <pthread.h>

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

namespace baton::test {
namespace json = boost::json;
namespace {

const engine::SystemClock kSystemClock;

constexpr std::string_view kBotScope = "https://api.botframework.com/.default";
constexpr std::string_view kGraphScope = "https://graph.microsoft.com/.default";
constexpr std::string_view kForbiddenNameChars = "~#%&*{}+/\\:<>?|'\",.";

std::string b64url(std::string_view bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t v = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                            static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (bytes.size() - i == 1) {
    const std::uint32_t v = static_cast<unsigned char>(bytes[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
  } else if (bytes.size() - i == 2) {
    const std::uint32_t v = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

std::string decode_percent(std::string_view s, bool plus_is_space) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (plus_is_space && s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() &&
               std::isxdigit(static_cast<unsigned char>(s[i + 1])) && std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::map<std::string, std::string> parse_form(std::string_view text) {
  std::map<std::string, std::string> out;
  while (!text.empty()) {
    const auto amp = text.find('&');
    const auto piece = text.substr(0, amp);
    text = amp == std::string_view::npos ? std::string_view() : text.substr(amp + 1);
    if (piece.empty()) continue;
    const auto eq = piece.find('=');
    out[decode_percent(piece.substr(0, eq), true)] =
        decode_percent(eq == std::string_view::npos ? std::string_view() : piece.substr(eq + 1), true);
  }
  return out;
}

std::string str(const json::object& obj, std::string_view key) {
  const auto* v = obj.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

const json::object* sub(const json::object& obj, std::string_view key) {
  const auto* v = obj.if_contains(key);
  return v && v->is_object() ? &v->as_object() : nullptr;
}

std::optional<json::object> parse_object(std::string_view text) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.as_object());
}

ScriptedResponse json_response(int status, const json::object& body) {
  return {status, {{"Content-Type", "application/json; charset=utf-8"}}, json::serialize(body)};
}

ScriptedResponse teams_error(int status, std::string_view code, std::string_view message) {
  return json_response(status, {{"error", json::object{{"code", code}, {"message", message}}}});
}

ScriptedResponse aad_error(int status, std::string_view code, std::string_view description) {
  return json_response(status, {{"error", code}, {"error_description", description}, {"error_codes", json::array{7000215}}});
}

// Teams' error code for a scripted status (A3/A7; "Throttled" is the fake's choice).
std::string_view code_for(int status) {
  switch (status) {
    case 400: return "BadArgument";
    case 401: return "Unauthorized";
    case 403: return "BotNotInConversationRoster";
    case 404: return "ConversationNotFound";
    case 409: return "Conflict";
    case 412: return "PreconditionFailed";
    case 429: return "Throttled";
    case 500: return "InternalServerError";
    case 502: return "BadGateway";
    case 503: return "ServiceUnavailable";
    case 504: return "GatewayTimeout";
    default: return "ServiceError";
  }
}

std::size_t code_points(std::string_view s) {
  return static_cast<std::size_t>(std::count_if(s.begin(), s.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xc0) != 0x80;
  }));
}

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    const auto slash = path.find('/');
    out.push_back(decode_percent(path.substr(0, slash), false));
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash);
  }
  return out;
}

struct RsaKey {
  std::shared_ptr<EVP_PKEY> pkey;
  std::string kid;
  std::string n;  // base64url
  std::string e;
};

std::string bn_param(EVP_PKEY* pkey, const char* name) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(pkey, name, &bn) != 1) throw std::runtime_error("fake teams: cannot read RSA key");
  std::string bytes(static_cast<std::size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(bytes.data()));
  BN_free(bn);
  return b64url(bytes);
}

RsaKey generate_key(std::string kid) {
  EVP_PKEY* pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048));
  if (!pkey) throw std::runtime_error("fake teams: RSA key generation failed");
  RsaKey key;
  key.pkey.reset(pkey, EVP_PKEY_free);
  key.kid = std::move(kid);
  key.n = bn_param(pkey, OSSL_PKEY_PARAM_RSA_N);
  key.e = bn_param(pkey, OSSL_PKEY_PARAM_RSA_E);
  return key;
}

std::string rsa_sign(EVP_PKEY* pkey, const EVP_MD* md, std::string_view data) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::size_t len = 0;
  std::string sig;
  if (ctx && EVP_DigestSignInit(ctx, nullptr, md, nullptr, pkey) == 1 &&
      EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1) {
    sig.resize(len);
    if (EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                       reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1) {
      sig.clear();
    }
    sig.resize(len);
  }
  EVP_MD_CTX_free(ctx);
  if (sig.empty()) throw std::runtime_error("fake teams: RSA signing failed");
  return sig;
}

struct ScriptedFailure {
  std::string prefix;
  int status;
  int retry_after_s;
};

struct TeamInfo {
  std::string team_id;
  std::string group_id;
  std::string name;
};

}  // namespace

struct FakeTeams::State {
  const engine::Clock* clock = &kSystemClock;
  std::string base_url;  // set once the peer listens
  mutable std::mutex mutex;

  RsaKey current;
  RsaKey foreign;
  int generation = 1;
  std::vector<std::string> endorsements{"msteams", "webchat"};
  std::size_t metadata_count = 0;
  std::size_t jwks_count = 0;
  bool holding_keys = false;  // the keys listener answers nothing while set
  std::condition_variable keys_released;

  std::int64_t token_lifetime_s = 3600;
  std::map<std::string, std::string> issued;  // token -> scope
  std::set<std::string> revoked;
  int next_token = 1;
  std::vector<TokenRequestRecord> token_records;

  std::deque<ScriptedFailure> failures;
  std::vector<ConnectorCall> calls;
  std::vector<FakeTeamsActivity> activities;
  std::vector<FakeTeamsConversation> conversations;
  std::set<std::string> channels;
  std::vector<TeamInfo> teams;
  std::vector<std::array<std::string, 4>> members;  // user id, aad id, email, name
  std::vector<FakeGraphChannel> graph_channels;
  std::vector<RecordedRequest> graph_requests;
  std::map<std::string, std::chrono::milliseconds> delays;  // raw target prefix -> delay
  std::int64_t next_activity = 1795480300000;
  int next_channel = 1;
  bool require_auth = true;
  bool split_text_and_cards = false;

  // `keys_base` is the listener that received `r`: its metadata names its own JWKS.
  std::optional<ScriptedResponse> answer(const RecordedRequest& r, const std::string& keys_base);
  ScriptedResponse token(const std::string& tenant, const RecordedRequest& r);
  ScriptedResponse connector(const RecordedRequest& r, const std::string& rel);
  ScriptedResponse graph(const RecordedRequest& r, const std::string& rel);

  // `rel` is matched as sent (percent-encoded) and decoded, `raw` as sent.
  std::optional<ScriptedResponse> scripted(std::string_view rel, std::string_view raw, bool aad) {
    const std::string decoded = decode_percent(rel, false);
    for (auto it = failures.begin(); it != failures.end(); ++it) {
      if (!rel.starts_with(it->prefix) && !raw.starts_with(it->prefix) && !decoded.starts_with(it->prefix)) continue;
      const auto f = *it;
      failures.erase(it);
      ScriptedResponse out = aad && (f.status == 400 || f.status == 401)
                                 ? aad_error(f.status, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
                                 : teams_error(f.status, code_for(f.status), "Scripted failure");
      if (f.status == 429 && f.retry_after_s >= 0) out.headers.emplace_back("Retry-After", std::to_string(f.retry_after_s));
      return out;
    }
    return std::nullopt;
  }

  bool token_ok(const RecordedRequest& r, std::string_view scope, std::string* token_out) {
    auto auth = r.header("authorization");
    if (!auth || !auth->starts_with("Bearer ")) return false;
    *token_out = auth->substr(7);
    auto it = issued.find(*token_out);
    return it != issued.end() && it->second == scope && !revoked.contains(*token_out);
  }

  bool conversation_known(std::string_view id) const {
    for (const auto& c : conversations) {
      if (c.id == id) return true;
    }
    std::string_view channel = id.substr(0, id.find(';'));
    return channels.contains(std::string(channel));
  }

  std::string new_activity_id() { return std::to_string(next_activity++); }

  FakeTeamsActivity& record_activity(const std::string& conversation, const json::object& body, std::string reply_to) {
    FakeTeamsActivity a{conversation, new_activity_id(), std::move(reply_to), json::serialize(body), 0};
    activities.push_back(std::move(a));
    return activities.back();
  }
};

std::optional<ScriptedResponse> FakeTeams::State::answer(const RecordedRequest& r, const std::string& keys_base) {
  std::string path = r.target.substr(0, r.target.find('?'));
  std::lock_guard lock(mutex);

  if (path == "/v1/.well-known/openidconfiguration") {
    ++metadata_count;
    if (r.method != "GET") return ScriptedResponse{405, {}, "Method Not Allowed"};
    if (auto s = scripted(path, r.target, false)) return s;
    return json_response(200, {{"issuer", kIssuer},
                               {"authorization_endpoint", "https://invalid.botframework.com"},
                               {"jwks_uri", keys_base + "/keys"},
                               {"id_token_signing_alg_values_supported", json::array{"RS256"}},
                               {"token_endpoint_auth_methods_supported", json::array{"private_key_jwt"}}});
  }
  if (path == "/keys") {
    ++jwks_count;
    if (r.method != "GET") return ScriptedResponse{405, {}, "Method Not Allowed"};
    if (auto s = scripted(path, r.target, false)) return s;
    json::array endorse;
    for (const auto& e : endorsements) endorse.emplace_back(e);
    json::object key{{"kty", "RSA"}, {"use", "sig"}, {"kid", current.kid}, {"x5t", current.kid},
                     {"n", current.n}, {"e", current.e}, {"endorsements", endorse}};
    return json_response(200, {{"keys", json::array{key}}});
  }

  const auto parts = split_path(path);
  if (parts.size() == 4 && parts[1] == "oauth2" && parts[2] == "v2.0" && parts[3] == "token") {
    if (auto s = scripted(path, r.target, true)) return s;
    return token(parts[0], r);
  }
  if (path.starts_with("/teams/")) return connector(r, path.substr(6));
  if (path.starts_with("/v1.0/")) return graph(r, path.substr(5));
  return teams_error(404, "NotFound", "No route for " + path);
}

ScriptedResponse FakeTeams::State::token(const std::string& tenant, const RecordedRequest& r) {
  TokenRequestRecord rec;
  rec.tenant = tenant;
  const auto form = parse_form(r.body);
  const auto get = [&](const char* k) {
    auto it = form.find(k);
    return it == form.end() ? std::string() : it->second;
  };
  rec.grant_type = get("grant_type");
  rec.client_id = get("client_id");
  rec.scope = get("scope");
  const auto finish = [&](ScriptedResponse resp) {
    token_records.push_back(rec);
    return resp;
  };
  if (r.method != "POST") return finish(ScriptedResponse{405, {}, "Method Not Allowed"});
  if (!r.header("content-type").value_or("").starts_with("application/x-www-form-urlencoded")) {
    return finish(aad_error(400, "invalid_request", "AADSTS900144: The request body must contain the following parameter: 'grant_type'."));
  }
  if (tenant != kTenantId && tenant != "botframework.com") {
    return finish(aad_error(400, "invalid_request", "AADSTS90002: Tenant '" + tenant + "' not found."));
  }
  if (rec.grant_type != "client_credentials") {
    return finish(aad_error(400, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type."));
  }
  if (rec.client_id != kAppId) {
    return finish(aad_error(400, "unauthorized_client",
                            "AADSTS700016: Application with identifier '" + rec.client_id + "' was not found in the directory."));
  }
  if (get("client_secret") != kAppPassword) {
    return finish(aad_error(401, "invalid_client", "AADSTS7000215: Invalid client secret provided."));
  }
  if (rec.scope != kBotScope && rec.scope != kGraphScope) {
    return finish(aad_error(400, "invalid_scope", "AADSTS1002012: The provided value for scope is not valid."));
  }
  rec.granted = true;
  rec.access_token = std::string(rec.scope == kBotScope ? "fake-bot-token-" : "fake-graph-token-") + std::to_string(next_token++);
  issued[rec.access_token] = rec.scope;
  return finish(json_response(200, {{"token_type", "Bearer"},
                                    {"expires_in", token_lifetime_s},
                                    {"ext_expires_in", token_lifetime_s},
                                    {"access_token", rec.access_token}}));
}

ScriptedResponse FakeTeams::State::connector(const RecordedRequest& r, const std::string& rel) {
  ConnectorCall call;
  call.method = r.method;
  call.raw_target = r.target;
  call.body = r.body;
  const auto parts = split_path(rel);
  for (const auto& p : parts) call.path += "/" + p;
  std::string token;
  const bool authed = token_ok(r, kBotScope, &token);
  call.token = token;
  const auto done = [&](ScriptedResponse resp) {
    call.status = resp.status;
    calls.push_back(call);
    return resp;
  };
  if (auto s = scripted(rel, r.target, false)) return done(*s);
  if (!authed && require_auth) {
    return done(teams_error(401, "Unauthorized", "Authorization has been denied for this request."));
  }

  if (parts.size() == 3 && parts[0] == "v3" && parts[1] == "teams" && r.method == "GET") {
    for (const auto& t : teams) {
      if (t.team_id == parts[2]) return done(json_response(200, {{"id", t.team_id}, {"name", t.name}, {"aadGroupId", t.group_id}}));
    }
    return done(teams_error(404, "NotFound", "Team not found."));
  }
  if (parts.size() == 5 && parts[0] == "v3" && parts[1] == "conversations" && parts[3] == "members" &&
      r.method == "GET") {
    for (const auto& m : members)
      if (m[0] == parts[4])
        return done(json_response(200, {{"id", m[0]}, {"aadObjectId", m[1]}, {"email", m[2]},
                                        {"userPrincipalName", m[2]}, {"name", m[3]}}));
    return done(teams_error(404, "MemberNotFoundInConversation", "The member was not found."));
  }
  if (parts.size() < 2 || parts[0] != "v3" || parts[1] != "conversations") {
    return done(teams_error(404, "NotFound", "No such operation."));
  }

  std::optional<json::object> body;
  if (r.method == "POST" || r.method == "PUT") {
    body = parse_object(r.body);
    if (!body) return done(teams_error(400, "BadSyntax", "Request body is not a JSON object."));
  }

  if (parts.size() == 2) {
    if (r.method != "POST") return done(teams_error(405, "MethodNotAllowed", "Method not allowed."));
    const auto* is_group = body->if_contains("isGroup");
    const bool group = is_group && is_group->is_bool() && is_group->as_bool();
    const auto* channel_data = sub(*body, "channelData");
    std::string tenant = str(*body, "tenantId");
    if (tenant.empty() && channel_data) {
      if (const auto* t = sub(*channel_data, "tenant")) tenant = str(*t, "id");
    }
    const auto* activity = sub(*body, "activity");
    if (activity && str(*activity, "type").empty()) return done(teams_error(400, "BadArgument", "Activity type is required."));
    if (group) {
      const json::object* channel = channel_data ? sub(*channel_data, "channel") : nullptr;
      const std::string channel_id = channel ? str(*channel, "id") : std::string();
      if (channel_id.empty() || !activity) {
        return done(teams_error(400, "BadSyntax", "Incorrect conversation creation parameters"));
      }
      if (!channels.contains(channel_id)) return done(teams_error(404, "ConversationNotFound", "Conversation not found."));
      const std::string aid = new_activity_id();
      const std::string id = channel_id + ";messageid=" + aid;
      conversations.push_back({id, true, channel_id, "", tenant});
      activities.push_back({id, aid, "", json::serialize(*activity), 0});
      return done(json_response(201, {{"id", id}, {"activityId", aid}}));
    }
    const auto* members = body->if_contains("members");
    if (!members || !members->is_array() || members->as_array().size() != 1 || !members->as_array()[0].is_object()) {
      return done(teams_error(400, "BadSyntax", "Incorrect conversation creation parameters"));
    }
    const std::string member = str(members->as_array()[0].as_object(), "id");
    if (!member.starts_with("29:")) return done(teams_error(400, "BadArgument", "Invalid user identity in provided tenant"));
    if (tenant != kTenantId) return done(teams_error(400, "BadSyntax", "Incorrect conversation creation parameters"));
    if (const auto* bot = sub(*body, "bot"); bot && str(*bot, "id") != std::string("28:") + kAppId) {
      return done(teams_error(400, "BadArgument", "Bot id does not match the token."));
    }
    const std::string id = "a:1" + member.substr(3) + "-personal";  // stable: the same member, the same chat
    if (!conversation_known(id)) conversations.push_back({id, false, "", member, tenant});
    json::object out{{"id", id}};
    if (activity) out["activityId"] = record_activity(id, *activity, "").id;
    return done(json_response(201, out));
  }

  const std::string& conversation = parts[2];
  if (parts.size() < 4 || parts[3] != "activities" || parts.size() > 5) {
    return done(teams_error(404, "NotFound", "No such operation."));
  }
  if (!conversation_known(conversation)) return done(teams_error(404, "ConversationNotFound", "Conversation not found."));
  if (body && str(*body, "type").empty()) return done(teams_error(400, "BadArgument", "Activity type is required."));

  // The Agents Playground's way with a text and a card in one activity.
  const auto* attachments = body ? body->if_contains("attachments") : nullptr;
  const bool mixed = split_text_and_cards && !str(*body, "text").empty() && attachments && attachments->is_array() &&
                     !attachments->as_array().empty();
  if (mixed && r.method == "PUT") {
    return done(teams_error(400, "BadSyntax", "Activity resulted into multiple skype activities"));
  }
  if (mixed && r.method == "POST") {
    json::object text{{"type", "message"}, {"text", str(*body, "text")}};
    json::object card = *body;
    card.erase("text");
    record_activity(conversation, text, parts.size() == 5 ? parts[4] : "");
    record_activity(conversation, card, parts.size() == 5 ? parts[4] : "");
    return done(ScriptedResponse{202, {}, ""});
  }
  if (parts.size() == 4) {
    if (r.method != "POST") return done(teams_error(405, "MethodNotAllowed", "Method not allowed."));
    return done(json_response(201, {{"id", record_activity(conversation, *body, "").id}}));
  }
  const std::string& aid = parts[4];
  if (r.method == "POST") {
    return done(json_response(201, {{"id", record_activity(conversation, *body, aid).id}}));
  }
  auto it = std::find_if(activities.begin(), activities.end(),
                         [&](const auto& a) { return a.conversation_id == conversation && a.id == aid; });
  if (it == activities.end()) return done(teams_error(404, "ActivityNotFound", "Activity not found."));
  if (r.method == "PUT") {
    it->json = json::serialize(*body);
    ++it->edits;
    return done(json_response(200, {{"id", aid}}));
  }
  if (r.method == "DELETE") {
    activities.erase(it);
    return done(ScriptedResponse{200, {}, ""});
  }
  return done(teams_error(405, "MethodNotAllowed", "Method not allowed."));
}

ScriptedResponse FakeTeams::State::graph(const RecordedRequest& r, const std::string& rel) {
  graph_requests.push_back(r);
  if (auto s = scripted(rel, r.target, false)) return *s;
  std::string token;
  if (!token_ok(r, kGraphScope, &token)) {
    return teams_error(401, "InvalidAuthenticationToken", "Access token validation failure.");
  }
  const auto parts = split_path(rel);
  if (parts.size() != 3 || parts[0] != "teams" || parts[2] != "channels") {
    return teams_error(400, "BadRequest", "Resource not found for the segment.");
  }
  if (r.method != "POST") return teams_error(405, "MethodNotAllowed", "Method not allowed.");
  const std::string& group = parts[1];
  if (std::none_of(teams.begin(), teams.end(), [&](const auto& t) { return t.group_id == group; })) {
    return teams_error(404, "NotFound", "No team found with Group Id " + group);
  }
  auto body = parse_object(r.body);
  if (!body) return teams_error(400, "BadRequest", "Unable to read JSON request payload.");
  const std::string name = str(*body, "displayName");
  std::string membership = str(*body, "membershipType");
  if (membership.empty()) membership = "standard";
  const bool bad_char = std::any_of(name.begin(), name.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f || kForbiddenNameChars.find(c) != std::string_view::npos;
  });
  if (name.empty() || code_points(name) > 50 || bad_char || name.front() == '_' || name.front() == '.' ||
      name.back() == '.' || name.back() == ' ') {
    return teams_error(400, "BadRequest", "Channel name '" + name + "' is not valid.");
  }
  if (membership != "standard") return teams_error(400, "BadRequest", "The fake creates standard channels only.");
  const auto lower = [](std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  for (const auto& c : graph_channels) {
    if (c.team_id == group && lower(c.display_name) == lower(name)) {
      return teams_error(409, "NameAlreadyExists", "Channel name already existed, please use other name.");
    }
  }
  char hex[40];
  std::snprintf(hex, sizeof hex, "%032x", next_channel++);
  FakeGraphChannel channel{group, std::string("19:") + hex + "@thread.tacv2", name, str(*body, "description"), membership};
  graph_channels.push_back(channel);
  channels.insert(channel.id);
  return json_response(201, {{"@odata.context", "https://graph.microsoft.com/v1.0/$metadata#teams('" + group + "')/channels/$entity"},
                             {"id", channel.id},
                             {"displayName", channel.display_name},
                             {"description", channel.description},
                             {"membershipType", channel.membership_type},
                             {"email", ""},
                             {"webUrl", "https://teams.microsoft.com/l/channel/" + channel.id + "?groupId=" + group}});
}

FakeTeams::FakeTeams() : FakeTeams(kSystemClock) {}

FakeTeams::FakeTeams(const engine::Clock& clock) : state_(std::make_shared<State>()) {
  state_->clock = &clock;
  state_->current = generate_key("fake-key-1");
  state_->foreign = generate_key("foreign-key");
  state_->base_url = peer_.url();
  peer_.set_handler([state = state_](const RecordedRequest& r) {
    auto out = state->answer(r, state->base_url);
    std::lock_guard lock(state->mutex);
    const auto decoded = decode_percent(r.target, false);
    for (const auto& [prefix, delay] : state->delays)
      if (out && (r.target.starts_with(prefix) || decoded.starts_with(prefix))) out->delay = delay;
    return out;
  });
  // The keys listener serves nothing else, so holding its one thread holds only the key fetches.
  keys_peer_.set_handler([state = state_, base = keys_peer_.url()](const RecordedRequest& r) {
    auto out = state->answer(r, base);  // counted on arrival
    std::unique_lock lock(state->mutex);
    state->keys_released.wait(lock, [&] { return !state->holding_keys; });
    return out;
  });
}

FakeTeams::~FakeTeams() {
  release_keys();
  peer_.stop();
  keys_peer_.stop();
}

std::string FakeTeams::held_metadata_url() const { return keys_peer_.url() + "/v1/.well-known/openidconfiguration"; }

void FakeTeams::hold_keys() {
  std::lock_guard lock(state_->mutex);
  state_->holding_keys = true;
}

void FakeTeams::release_keys() {
  {
    std::lock_guard lock(state_->mutex);
    state_->holding_keys = false;
  }
  state_->keys_released.notify_all();
}

teams::TeamsConfig FakeTeams::config() const {
  teams::TeamsConfig c;
  c.app_id = kAppId;
  c.app_password = kAppPassword;
  c.tenant_id = kTenantId;
  c.login_base = url();
  c.openid_metadata_url = url() + "/v1/.well-known/openidconfiguration";
  c.connector_service_url = service_url();
  c.graph_base = url() + "/v1.0";
  c.timeout = std::chrono::milliseconds(5000);
  return c;
}

std::string FakeTeams::url() const { return peer_.url(); }
std::string FakeTeams::service_url() const { return peer_.url() + "/teams/"; }

std::string FakeTeams::mint_token(const JwtOverrides& o) const {
  std::lock_guard lock(state_->mutex);
  const RsaKey& key = o.foreign_key ? state_->foreign : state_->current;
  const std::string alg = o.alg.value_or("RS256");
  const json::object header{{"alg", alg}, {"typ", "JWT"}, {"kid", o.kid.value_or(key.kid)}, {"x5t", o.kid.value_or(key.kid)}};
  std::string payload;
  if (o.payload) {
    payload = *o.payload;
  } else {
    const std::int64_t now_s = engine::to_ms(state_->clock->now()) / 1000;
    json::object claims{{"iss", o.iss.value_or(kIssuer)}, {"aud", o.aud.value_or(kAppId)}};
    if (!o.omit_service_url) claims["serviceurl"] = o.service_url.value_or(state_->base_url + "/teams/");
    claims["nbf"] = o.nbf.value_or(now_s);
    claims["exp"] = o.exp.value_or(now_s + 3600);
    claims["iat"] = o.nbf.value_or(now_s);
    payload = json::serialize(claims);
  }
  const std::string signed_part = b64url(json::serialize(header)) + "." + b64url(payload);
  std::string signature;
  if (alg == "none") {
    signature.clear();
  } else if (alg.starts_with("HS")) {
    // The classic key-confusion forgery: HMAC keyed with the public key's modulus.
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.n.data(), static_cast<int>(key.n.size()),
         reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size(), out, &len);
    signature.assign(reinterpret_cast<const char*>(out), len);
  } else {
    const EVP_MD* md = alg == "RS384" ? EVP_sha384() : alg == "RS512" ? EVP_sha512() : EVP_sha256();
    signature = rsa_sign(key.pkey.get(), md, signed_part);
  }
  if (o.bad_signature && !signature.empty()) signature[signature.size() / 2] ^= 0x01;
  return signed_part + "." + b64url(signature);
}

std::string FakeTeams::current_kid() const {
  std::lock_guard lock(state_->mutex);
  return state_->current.kid;
}

void FakeTeams::rotate_key() {
  std::string kid;
  {
    std::lock_guard lock(state_->mutex);
    kid = "fake-key-" + std::to_string(++state_->generation);
  }
  auto key = generate_key(kid);  // slow: outside the lock
  std::lock_guard lock(state_->mutex);
  state_->current = std::move(key);
}

void FakeTeams::set_endorsements(std::vector<std::string> endorsements) {
  std::lock_guard lock(state_->mutex);
  state_->endorsements = std::move(endorsements);
}

std::size_t FakeTeams::metadata_requests() const {
  std::lock_guard lock(state_->mutex);
  return state_->metadata_count;
}

std::size_t FakeTeams::jwks_requests() const {
  std::lock_guard lock(state_->mutex);
  return state_->jwks_count;
}

void FakeTeams::set_token_lifetime(std::chrono::seconds expires_in) {
  std::lock_guard lock(state_->mutex);
  state_->token_lifetime_s = expires_in.count();
}

void FakeTeams::revoke_tokens() {
  std::lock_guard lock(state_->mutex);
  for (const auto& [token, scope] : state_->issued) state_->revoked.insert(token);
}

std::vector<TokenRequestRecord> FakeTeams::token_requests() const {
  std::lock_guard lock(state_->mutex);
  return state_->token_records;
}

void FakeTeams::set_delay(std::string target_prefix, std::chrono::milliseconds delay) {
  std::lock_guard lock(state_->mutex);
  if (delay.count() <= 0) {
    state_->delays.erase(target_prefix);
  } else {
    state_->delays[std::move(target_prefix)] = delay;
  }
}

struct AsyncNet::Impl {
  boost::asio::io_context io{1};
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work{io.get_executor()};
  std::shared_ptr<integrations::AsyncHttpClient> client = std::make_shared<integrations::AsyncHttpClient>(io);
  std::thread thread{[this] {
    pthread_setname_np(pthread_self(), "test-net");
    io.run();
  }};
};

AsyncNet::AsyncNet() : impl_(std::make_unique<Impl>()) {}

AsyncNet::~AsyncNet() {
  impl_->client->shutdown();
  impl_->work.reset();
  impl_->io.stop();
  impl_->thread.join();
  impl_->client.reset();  // the last reference, unless a test kept one
}

std::shared_ptr<integrations::AsyncHttpClient> AsyncNet::client() const { return impl_->client; }

void FakeTeams::fail_next(std::string path_prefix, int status, int retry_after_s) {
  std::lock_guard lock(state_->mutex);
  state_->failures.push_back({std::move(path_prefix), status, retry_after_s});
}

void FakeTeams::set_require_auth(bool on) {
  std::lock_guard lock(state_->mutex);
  state_->require_auth = on;
}

void FakeTeams::set_split_text_and_cards(bool on) {
  std::lock_guard lock(state_->mutex);
  state_->split_text_and_cards = on;
}

void FakeTeams::add_channel(std::string channel_id) {
  std::lock_guard lock(state_->mutex);
  state_->channels.insert(std::move(channel_id));
}

void FakeTeams::add_team(std::string team_id, std::string group_id, std::string name) {
  std::lock_guard lock(state_->mutex);
  state_->channels.insert(team_id);  // the team id is its General channel's thread id
  state_->teams.push_back({std::move(team_id), std::move(group_id), std::move(name)});
}

void FakeTeams::add_member(std::string user_id, std::string aad_object_id, std::string email, std::string name) {
  std::lock_guard lock(state_->mutex);
  state_->members.push_back({std::move(user_id), std::move(aad_object_id), std::move(email), std::move(name)});
}

std::vector<ConnectorCall> FakeTeams::connector_calls() const {
  std::lock_guard lock(state_->mutex);
  return state_->calls;
}

std::vector<FakeTeamsActivity> FakeTeams::activities(std::string_view conversation_id) const {
  std::lock_guard lock(state_->mutex);
  std::vector<FakeTeamsActivity> out;
  for (const auto& a : state_->activities) {
    if (conversation_id.empty() || a.conversation_id == conversation_id) out.push_back(a);
  }
  return out;
}

std::optional<FakeTeamsActivity> FakeTeams::activity(std::string_view conversation_id, std::string_view id) const {
  std::lock_guard lock(state_->mutex);
  for (const auto& a : state_->activities) {
    if (a.conversation_id == conversation_id && a.id == id) return a;
  }
  return std::nullopt;
}

std::vector<FakeTeamsConversation> FakeTeams::conversations() const {
  std::lock_guard lock(state_->mutex);
  return state_->conversations;
}

std::vector<FakeGraphChannel> FakeTeams::graph_channels() const {
  std::lock_guard lock(state_->mutex);
  return state_->graph_channels;
}

std::vector<RecordedRequest> FakeTeams::graph_requests() const {
  std::lock_guard lock(state_->mutex);
  return state_->graph_requests;
}

}  // namespace baton::test
