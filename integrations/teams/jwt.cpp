#include "integrations/teams/jwt.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <boost/json.hpp>

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <future>
#include <map>
#include <cmath>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "integrations/crypto.hpp"
#include "integrations/http_client.hpp"

namespace baton::teams {
namespace json = boost::json;
namespace {

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

tl::unexpected<Error> deny(std::string_view reason) {
  return fail(ErrorKind::unauthorized, "teams jwt: " + std::string(reason));
}

std::string str(const json::object& obj, std::string_view key) {
  const auto* v = obj.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

// A NumericDate (RFC 7519 §2) within years 1970..9999, so that converting it
// to milliseconds cannot overflow; anything else counts as absent (malformed).
constexpr std::int64_t kMaxNumericDate = 253'402'300'799;  // 9999-12-31T23:59:59Z

std::optional<std::int64_t> seconds(const json::object& obj, std::string_view key) {
  const auto* v = obj.if_contains(key);
  if (!v) return std::nullopt;
  std::optional<std::int64_t> out;
  if (v->is_int64()) out = v->as_int64();
  if (v->is_uint64() && v->as_uint64() <= static_cast<std::uint64_t>(kMaxNumericDate))
    out = static_cast<std::int64_t>(v->as_uint64());
  if (v->is_double() && std::isfinite(v->as_double()) && v->as_double() >= 0 &&
      v->as_double() <= static_cast<double>(kMaxNumericDate))
    out = static_cast<std::int64_t>(v->as_double());
  if (out && (*out < 0 || *out > kMaxNumericDate)) return std::nullopt;
  return out;
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

// A token that passed the checks needing no key (format, alg, iss, kid).
struct Token {
  std::string signed_part;  // "header.payload", as sent
  std::string signature;
  json::object payload;
  std::string kid;
};

Result<Token> parse_token(std::string_view authorization_header) {
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
  auto header_text = integrations::base64url_decode(token.substr(0, dot1));
  auto payload_text = integrations::base64url_decode(token.substr(dot1 + 1, dot2 - dot1 - 1));
  auto signature = integrations::base64url_decode(token.substr(dot2 + 1));
  if (!header_text || !payload_text || !signature) return deny("malformed token");
  auto header = parse_object(*header_text);
  auto payload = parse_object(*payload_text);
  if (!header || !payload) return deny("malformed token");

  const auto alg = str(*header, "alg");
  if (alg.empty() || iequals(alg, "none")) return deny("alg none refused");
  if (alg != "RS256") return deny("alg " + alg + " refused");
  if (signature->empty()) return deny("bad signature");

  // The issuer is checked before any key is needed, as botbuilder does, so a
  // token from another issuer costs no fetch.
  if (str(*payload, "iss") != kIssuer) return deny("wrong issuer");

  Token out;
  out.kid = str(*header, "kid");
  if (out.kid.empty()) return deny("token without kid");
  out.signed_part = std::string(token.substr(0, dot2));
  out.signature = std::move(*signature);
  out.payload = std::move(*payload);
  return out;
}

// A request waiting for the key fetch in flight.
struct Waiter {
  Token token;
  std::string service_url;
  std::string channel_id;
  JwtValidator::Done done;
};

}  // namespace

struct JwtValidator::Impl : std::enable_shared_from_this<Impl> {
  TeamsConfig config;
  const engine::Clock& clock;
  JwtValidatorOptions options;
  JwtValidator::HttpGet http;

  std::mutex mutex;  // guards the fields below; never held across a request or a callback
  std::string jwks_uri;  // from the metadata; empty until fetched
  std::shared_ptr<const KeySet> keys;
  std::optional<engine::TimePoint> loaded_at;     // last successful JWKS fetch
  std::optional<engine::TimePoint> refreshed_at;  // last unknown-kid refresh started
  bool fetch_pending = false;                     // a fetch is running
  std::vector<Waiter> waiters;                    // answered when that fetch ends
  std::optional<engine::TimePoint> retry_at;      // after a failure: no fetch before this
  engine::Millis backoff{0};                      // the last pause; 0 after a success
  std::string last_failure;
  bool stopping = false;

  Impl(TeamsConfig c, const engine::Clock& k, JwtValidatorOptions o, JwtValidator::HttpGet h)
      : config(std::move(c)), clock(k), options(o), http(std::move(h)) {}

  // Caller holds `mutex`. The fetch starts once the lock is released (posted
  // through the client, whose callbacks never run inside request()).
  void request_fetch() {
    if (fetch_pending) return;
    fetch_pending = true;
    if (!http) {
      // No client: fail the fetch at once (after the caller's lock is gone).
      fail_later_ = true;
      return;
    }
    const bool need_meta = jwks_uri.empty();
    get_json(need_meta ? config.openid_metadata_url : jwks_uri,
             [weak = weak_from_this(), need_meta](tl::expected<json::object, std::string> doc) {
               auto self = weak.lock();
               if (!self) return;
               if (!doc) return self->fetched(tl::unexpected(doc.error()));
               if (!need_meta) return self->fetched(parse_jwks(*doc));
               std::string uri = str(*doc, "jwks_uri");
               if (uri.empty())
                 return self->fetched(tl::unexpected(std::string("signing keys unavailable: metadata without jwks_uri")));
               {
                 std::lock_guard lock(self->mutex);
                 self->jwks_uri = uri;
               }
               self->get_json(uri, [weak](tl::expected<json::object, std::string> keys_doc) {
                 auto self = weak.lock();
                 if (!self) return;
                 if (!keys_doc) return self->fetched(tl::unexpected(keys_doc.error()));
                 self->fetched(parse_jwks(*keys_doc));
               });
             });
  }
  bool fail_later_ = false;  // request_fetch() without a client: settle after the lock

  /// Called by validate_async after it released the lock.
  void after_unlock() {
    bool fail;
    {
      std::lock_guard lock(mutex);
      fail = std::exchange(fail_later_, false);
    }
    if (fail) fetched(tl::unexpected(std::string("signing keys unavailable: no HTTP client")));
  }

  void get_json(const std::string& url, std::function<void(tl::expected<json::object, std::string>)> done) const {
    HttpRequest request;
    request.method = "GET";
    request.url = url;
    request.timeout = config.timeout;
    request.headers = {{"Accept", "application/json"}, {"User-Agent", "baton/0.1"}};
    http(std::move(request), [url, done = std::move(done)](Result<integrations::HttpResponse> response) {
      if (!response) return done(tl::unexpected("signing keys unavailable: " + response.error().message));
      if (response->status != 200)
        return done(tl::unexpected("signing keys unavailable: HTTP " + std::to_string(response->status) + " from " + url));
      auto doc = parse_object(response->body);
      if (!doc) return done(tl::unexpected("signing keys unavailable: unreadable document from " + url));
      done(std::move(*doc));
    });
  }

  // The end of a fetch: keep the keys (or back off), then answer the waiters.
  void fetched(tl::expected<KeySet, std::string> result) {
    std::unique_lock lock(mutex);
    fetch_pending = false;
    if (stopping) return;  // the waiters were answered by stop()
    const auto now = clock.now();
    std::optional<std::string> failure;
    if (result) {
      keys = std::make_shared<const KeySet>(std::move(*result));
      loaded_at = now;
      retry_at.reset();
      backoff = engine::Millis(0);
    } else {
      backoff = backoff.count() == 0 ? options.first_backoff : std::min(backoff * 2, options.max_backoff);
      retry_at = now + backoff;
      failure = last_failure = result.error();
      spdlog::warn("teams jwt: {}; no new fetch for {} ms", *failure, backoff.count());
    }
    auto ready = std::exchange(waiters, {});
    auto snapshot = keys;
    lock.unlock();
    for (auto& w : ready) w.done(settle(w, snapshot.get(), failure));
  }

  // A waiter's verdict once the fetch it waited for has ended.
  Result<void> settle(const Waiter& w, const KeySet* set, const std::optional<std::string>& failure) const {
    if (set) {
      if (auto it = set->find(w.token.kid); it != set->end()) return finish(w.token, it->second, w.service_url, w.channel_id);
      if (failure) return deny("unknown signing key (" + *failure + ")");
      return deny("unknown signing key");
    }
    return deny(failure.value_or("signing keys unavailable"));
  }

  // The checks that need the key; cheap (one RSA verification).
  Result<void> finish(const Token& t, const Jwk& key, std::string_view activity_service_url,
                      std::string_view activity_channel_id) const {
    if (!verify_rs256(key.key.get(), t.signed_part, t.signature)) return deny("bad signature");

    bool audience_ok = false;
    if (const auto* aud = t.payload.if_contains("aud")) {
      const auto matches = [&](const json::value& v) {
        return v.is_string() && !config.app_id.empty() && integrations::constant_time_equal(v.as_string(), config.app_id);
      };
      if (aud->is_array()) {
        audience_ok = std::any_of(aud->as_array().begin(), aud->as_array().end(), matches);
      } else {
        audience_ok = matches(*aud);
      }
    }
    if (!audience_ok) return deny("wrong audience");

    const std::int64_t now_ms = engine::to_ms(clock.now());
    const auto exp = seconds(t.payload, "exp");
    if (!exp) return deny("token without exp");
    if (now_ms >= *exp * 1000 + kSkewMs) return deny("token expired");
    if (const auto nbf = seconds(t.payload, "nbf"); nbf && now_ms < *nbf * 1000 - kSkewMs) return deny("token not yet valid");
    if (t.payload.contains("nbf") && !seconds(t.payload, "nbf")) return deny("malformed nbf");

    if (const auto* claim = t.payload.if_contains("serviceurl")) {
      if (!claim->is_string() || normalise_url(claim->as_string()) != normalise_url(activity_service_url)) {
        return deny("serviceUrl does not match the token");
      }
    }

    if (!key.endorsements.empty() && !activity_channel_id.empty() &&
        std::find(key.endorsements.begin(), key.endorsements.end(), activity_channel_id) == key.endorsements.end()) {
      return deny("signing key not endorsed for channel '" + std::string(activity_channel_id) + "'");
    }
    return {};
  }

  void stop() {
    std::vector<Waiter> pending;
    {
      std::lock_guard lock(mutex);
      stopping = true;
      pending = std::exchange(waiters, {});
    }
    for (auto& w : pending) w.done(deny("signing keys unavailable: shutting down"));
  }
};

JwtValidator::JwtValidator(TeamsConfig config, const engine::Clock& clock, HttpGet http, JwtValidatorOptions options)
    : impl_(std::make_shared<Impl>(std::move(config), clock, options, std::move(http))) {}

JwtValidator::~JwtValidator() { impl_->stop(); }

void JwtValidator::validate_async(std::string_view authorization_header, std::string_view activity_service_url,
                                  std::string_view activity_channel_id, Done done) {
  auto token = parse_token(authorization_header);
  if (!token) return done(tl::unexpected(token.error()));
  auto& d = *impl_;
  std::optional<Jwk> key;
  std::optional<std::string> refused;
  {
    std::lock_guard lock(d.mutex);
    const auto now = d.clock.now();
    const bool stale = !d.keys || !d.loaded_at || now - *d.loaded_at >= kKeysMaxAge;
    const bool backing_off = d.retry_at && now < *d.retry_at;
    if (d.keys) {
      if (auto it = d.keys->find(token->kid); it != d.keys->end()) key = it->second;
    }
    if (d.stopping) {
      refused = "signing keys unavailable: shutting down";
    } else if (key) {
      if (stale && !backing_off) d.request_fetch();  // refresh behind the request: the cached key serves meanwhile
    } else if (d.fetch_pending) {
      if (d.waiters.size() >= d.options.max_waiters) refused = "signing keys unavailable: too many requests waiting for them";
    } else if (backing_off) {
      refused = d.keys ? std::string("unknown signing key")
                       : d.last_failure + " (next try in " +
                             std::to_string(std::chrono::ceil<std::chrono::seconds>(*d.retry_at - now).count()) + " s)";
    } else if (d.keys && !stale && d.refreshed_at && now - *d.refreshed_at < kRefreshInterval) {
      refused = "unknown signing key";
    } else {
      if (d.keys && !stale) d.refreshed_at = now;  // the first load and the 24 h refresh are not rationed
      d.request_fetch();
    }
    if (!key && !refused) {
      d.waiters.push_back(Waiter{std::move(*token), std::string(activity_service_url), std::string(activity_channel_id),
                                 std::move(done)});
    }
  }
  d.after_unlock();
  if (!key && !refused) return;
  if (refused) return done(deny(*refused));
  done(d.finish(*token, *key, activity_service_url, activity_channel_id));
}

Result<void> JwtValidator::validate(std::string_view authorization_header, std::string_view activity_service_url,
                                    std::string_view activity_channel_id) {
  auto verdict = std::make_shared<std::promise<Result<void>>>();
  auto future = verdict->get_future();
  validate_async(authorization_header, activity_service_url, activity_channel_id,
                 [verdict](Result<void> r) { verdict->set_value(std::move(r)); });
  return future.get();
}

}  // namespace baton::teams
