#include "integrations/teams/jwt.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <boost/json.hpp>

#include <algorithm>
#include <cctype>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "integrations/crypto.hpp"
#include "integrations/http_client.hpp"

namespace baton::teams {
namespace json = boost::json;
namespace {

using integrations::HttpClient;
using integrations::HttpRequest;

constexpr std::string_view kIssuer = "https://api.botframework.com";
constexpr std::int64_t kSkewMs = 5 * 60 * 1000;
constexpr engine::Millis kRefreshInterval = std::chrono::minutes(5);
constexpr engine::Millis kKeysMaxAge = std::chrono::hours(24);

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using Pkey = std::shared_ptr<EVP_PKEY>;

struct Jwk {
  Pkey key;
  std::vector<std::string> endorsements;
};
using KeySet = std::map<std::string, Jwk, std::less<>>;

tl::unexpected<Error> deny(std::string reason) { return fail(ErrorKind::unauthorized, "teams jwt: " + reason); }

HttpClient& thread_client() {
  thread_local HttpClient client;
  return client;
}

std::string str(const json::object& obj, std::string_view key) {
  const auto* v = obj.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::optional<std::int64_t> seconds(const json::object& obj, std::string_view key) {
  const auto* v = obj.if_contains(key);
  if (!v) return std::nullopt;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64() && v->as_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) return static_cast<std::int64_t>(v->as_uint64());
  if (v->is_double()) return static_cast<std::int64_t>(v->as_double());
  return std::nullopt;
}

std::optional<json::object> parse_object(std::string_view text) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.as_object());
}

std::string normalise_url(std::string_view url) {
  while (!url.empty() && url.back() == '/') url.remove_suffix(1);
  std::string out(url);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// An RSA public key from a JWK's base64url n and e (OpenSSL 3 provider API).
Pkey rsa_from_jwk(std::string_view n_b64, std::string_view e_b64) {
  auto n = integrations::base64url_decode(n_b64);
  auto e = integrations::base64url_decode(e_b64);
  if (!n || !e || n->empty() || e->empty()) return nullptr;
  BIGNUM* bn_n = BN_bin2bn(reinterpret_cast<const unsigned char*>(n->data()), static_cast<int>(n->size()), nullptr);
  BIGNUM* bn_e = BN_bin2bn(reinterpret_cast<const unsigned char*>(e->data()), static_cast<int>(e->size()), nullptr);
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM* params = nullptr;
  EVP_PKEY_CTX* ctx = nullptr;
  EVP_PKEY* pkey = nullptr;
  if (bn_n && bn_e && bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) == 1 &&
      OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) == 1 && (params = OSSL_PARAM_BLD_to_param(bld)) &&
      (ctx = EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr)) && EVP_PKEY_fromdata_init(ctx) == 1) {
    if (EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) pkey = nullptr;
  }
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  BN_free(bn_n);
  BN_free(bn_e);
  return Pkey(pkey, PkeyFree{});
}

bool verify_rs256(EVP_PKEY* key, std::string_view signed_part, std::string_view signature) {
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  if (!md) return false;
  const bool ok = EVP_DigestVerifyInit(md, nullptr, EVP_sha256(), nullptr, key) == 1 &&
                  EVP_DigestVerify(md, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                                   reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size()) == 1;
  EVP_MD_CTX_free(md);
  return ok;
}

// A JWK set; keys that are not usable RSA signing keys are skipped.
KeySet parse_jwks(const json::object& doc) {
  KeySet out;
  const auto* keys = doc.if_contains("keys");
  if (!keys || !keys->is_array()) return out;
  for (const auto& k : keys->as_array()) {
    if (!k.is_object()) continue;
    const auto& obj = k.as_object();
    const auto kid = str(obj, "kid");
    const auto use = str(obj, "use");
    if (kid.empty() || str(obj, "kty") != "RSA" || (!use.empty() && use != "sig")) continue;
    Jwk jwk;
    jwk.key = rsa_from_jwk(str(obj, "n"), str(obj, "e"));
    if (!jwk.key) continue;
    if (const auto* e = obj.if_contains("endorsements"); e && e->is_array()) {
      for (const auto& v : e->as_array()) {
        if (v.is_string()) jwk.endorsements.emplace_back(v.as_string());
      }
    }
    out.emplace(kid, std::move(jwk));
  }
  return out;
}

}  // namespace

struct JwtValidator::Impl {
  TeamsConfig config;
  const engine::Clock& clock;

  std::mutex fetch_mutex;  // one fetch at a time; held across network calls
  std::mutex mutex;        // guards the fields below; never held across a network call
  std::string jwks_uri;    // from the metadata; empty until fetched
  std::shared_ptr<const KeySet> keys;
  std::optional<engine::TimePoint> loaded_at;     // last successful JWKS fetch
  std::optional<engine::TimePoint> refreshed_at;  // last unknown-kid refresh attempt

  Impl(TeamsConfig c, const engine::Clock& k) : config(std::move(c)), clock(k) {}

  Result<json::object> get_json(const std::string& url) {
    HttpRequest request;
    request.method = "GET";
    request.url = url;
    request.timeout = config.timeout;
    request.headers = {{"Accept", "application/json"}, {"User-Agent", "baton/0.1"}};
    auto response = thread_client().request(request);
    if (!response) return deny("signing keys unavailable: " + response.error().message);
    if (response->status != 200) return deny("signing keys unavailable: HTTP " + std::to_string(response->status) + " from " + url);
    auto doc = parse_object(response->body);
    if (!doc) return deny("signing keys unavailable: unreadable document from " + url);
    return std::move(*doc);
  }

  // Fetches the metadata (once) and the JWKS; caller holds fetch_mutex.
  Result<void> load_keys() {
    std::string uri;
    {
      std::lock_guard lock(mutex);
      uri = jwks_uri;
    }
    if (uri.empty()) {
      auto meta = get_json(config.openid_metadata_url);
      if (!meta) return tl::unexpected(meta.error());
      uri = str(*meta, "jwks_uri");
      if (uri.empty()) return deny("signing keys unavailable: metadata without jwks_uri");
      std::lock_guard lock(mutex);
      jwks_uri = uri;
    }
    auto doc = get_json(uri);
    if (!doc) return tl::unexpected(doc.error());
    auto set = std::make_shared<const KeySet>(parse_jwks(*doc));
    std::lock_guard lock(mutex);
    keys = std::move(set);
    loaded_at = clock.now();
    return {};
  }

  std::optional<Jwk> cached(std::string_view kid, bool* stale) {
    std::lock_guard lock(mutex);
    *stale = !keys || !loaded_at || clock.now() - *loaded_at >= kKeysMaxAge;
    if (!keys) return std::nullopt;
    auto it = keys->find(kid);
    if (it == keys->end()) return std::nullopt;
    return it->second;
  }

  Result<Jwk> key_for(std::string_view kid) {
    bool stale = false;
    if (auto k = cached(kid, &stale); k && !stale) return *k;
    std::lock_guard fetch(fetch_mutex);
    auto k = cached(kid, &stale);  // another thread may have fetched meanwhile
    if (k && !stale) return *k;
    bool have_keys = false;
    {
      std::lock_guard lock(mutex);
      have_keys = keys != nullptr;
    }
    if (!have_keys || stale) {
      auto loaded = load_keys();
      if (loaded) {
        if (auto fresh = cached(kid, &stale)) return *fresh;
        return deny("unknown signing key");
      }
      if (k) {
        // Keep the keys we have through an outage, and try again in 5 minutes rather than per request.
        std::lock_guard lock(mutex);
        loaded_at = clock.now() - kKeysMaxAge + kRefreshInterval;
        return *k;
      }
      return tl::unexpected(loaded.error());
    }
    {
      std::lock_guard lock(mutex);
      const auto now = clock.now();
      if (refreshed_at && now - *refreshed_at < kRefreshInterval) return deny("unknown signing key");
      refreshed_at = now;
    }
    if (auto loaded = load_keys(); !loaded) return deny("unknown signing key (" + loaded.error().message + ")");
    if (auto again = cached(kid, &stale)) return *again;
    return deny("unknown signing key");
  }
};

JwtValidator::JwtValidator(TeamsConfig config, const engine::Clock& clock)
    : impl_(std::make_unique<Impl>(std::move(config), clock)) {}

JwtValidator::~JwtValidator() = default;

Result<void> JwtValidator::validate(std::string_view authorization_header, std::string_view activity_service_url,
                                    std::string_view activity_channel_id) {
  constexpr std::string_view kScheme = "bearer ";
  if (authorization_header.empty()) return deny("missing authorization header");
  if (authorization_header.size() < kScheme.size() || !iequals(authorization_header.substr(0, kScheme.size()), kScheme)) {
    return deny("not a bearer token");
  }
  std::string_view token = authorization_header.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);

  const auto dot1 = token.find('.');
  const auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return deny("malformed token");
  }
  const auto header_b64 = token.substr(0, dot1);
  const auto payload_b64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
  const auto signature_b64 = token.substr(dot2 + 1);
  auto header_text = integrations::base64url_decode(header_b64);
  auto payload_text = integrations::base64url_decode(payload_b64);
  auto signature = integrations::base64url_decode(signature_b64);
  if (!header_text || !payload_text || !signature) return deny("malformed token");
  auto header = parse_object(*header_text);
  auto payload = parse_object(*payload_text);
  if (!header || !payload) return deny("malformed token");

  const auto alg = str(*header, "alg");
  if (alg.empty() || iequals(alg, "none")) return deny("alg none refused");
  if (alg != "RS256") return deny("alg " + alg + " refused");
  if (signature->empty()) return deny("bad signature");

  // The issuer is checked before any key is fetched, so forged tokens cost no network call.
  if (str(*payload, "iss") != kIssuer) return deny("wrong issuer");

  const auto kid = str(*header, "kid");
  if (kid.empty()) return deny("token without kid");
  auto key = impl_->key_for(kid);
  if (!key) return tl::unexpected(key.error());
  if (!verify_rs256(key->key.get(), token.substr(0, dot2), *signature)) return deny("bad signature");

  bool audience_ok = false;
  if (const auto* aud = payload->if_contains("aud")) {
    const auto matches = [&](const json::value& v) {
      return v.is_string() && !impl_->config.app_id.empty() &&
             integrations::constant_time_equal(v.as_string(), impl_->config.app_id);
    };
    if (aud->is_array()) {
      audience_ok = std::any_of(aud->as_array().begin(), aud->as_array().end(), matches);
    } else {
      audience_ok = matches(*aud);
    }
  }
  if (!audience_ok) return deny("wrong audience");

  const std::int64_t now_ms = engine::to_ms(impl_->clock.now());
  const auto exp = seconds(*payload, "exp");
  if (!exp) return deny("token without exp");
  if (now_ms >= *exp * 1000 + kSkewMs) return deny("token expired");
  if (const auto nbf = seconds(*payload, "nbf"); nbf && now_ms < *nbf * 1000 - kSkewMs) return deny("token not yet valid");
  if (payload->contains("nbf") && !seconds(*payload, "nbf")) return deny("malformed nbf");

  if (const auto* claim = payload->if_contains("serviceurl")) {
    if (!claim->is_string() || normalise_url(claim->as_string()) != normalise_url(activity_service_url)) {
      return deny("serviceUrl does not match the token");
    }
  }

  if (!key->endorsements.empty() && !activity_channel_id.empty() &&
      std::find(key->endorsements.begin(), key->endorsements.end(), activity_channel_id) == key->endorsements.end()) {
    return deny("signing key not endorsed for channel '" + std::string(activity_channel_id) + "'");
  }
  return {};
}

}  // namespace baton::teams
