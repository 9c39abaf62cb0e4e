#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>

#include "integrations/crypto.hpp"
#include "integrations/sms/twilio_signature.hpp"

using namespace baton;
using namespace baton::integrations;

namespace {

// The vectors of twilio.com/docs/usage/webhooks/webhooks-security, produced with twilio-node 6.2.0
// and cross-checked with openssl.
const std::string kV1Token = "12345";
const std::string kV1Url = "https://mycompany.com/myapp.php?foo=1&bar=2";
const FormParams kV1Params = {{"CallSid", "CA1234567890ABCDE"},
                              {"Caller", "+12349013030"},
                              {"Digits", "1234"},
                              {"From", "+12349013030"},
                              {"To", "+18005551212"}};
const std::string kV1Signature = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";

const std::string kV2Token = "test_auth_token_0123456789abcdef";
const std::string kV2Url = "https://escalate.example.com/sms/inbound";
const FormParams kV2Params = {{"ToCountry", "US"},
                              {"SmsMessageSid", "SM0123456789abcdef0123456789abcdef"},
                              {"NumMedia", "0"},
                              {"Body", "ACK 42"},
                              {"From", "+15551230001"},
                              {"To", "+15559870002"},
                              {"MessageSid", "SM0123456789abcdef0123456789abcdef"},
                              {"AccountSid", "AC0123456789abcdef0123456789abcdef"},
                              {"NumSegments", "1"},
                              {"SmsStatus", "received"},
                              {"ApiVersion", "2010-04-01"}};
const std::string kV2Signature = "8X4zzuBeJKWuoeK1X5nd9aDbU+c=";

const std::string kV3Body = R"({"event":"delivered","sid":"SM123"})";
const std::string kV3Hash = "56886765630064fa0d810de9f51e90eef795066f1bac1a13c5f34bf61e44b17a";
const std::string kV3Url = "https://escalate.example.com/hooks/json?bodySHA256=" + kV3Hash;
const std::string kV3Signature = "Y+yCyQSDGjQAh4erwRuV8ypbAUo=";

FormParams with(FormParams params, const std::string& key, const std::string& value) {
  for (auto& [k, v] : params) {
    if (k == key) v = value;
  }
  return params;
}

}  // namespace

// V1 (Twilio's documented example): the exact signature, and it verifies.
TEST_CASE("Twilio signature: V1 golden vector", "[twilio][signature]") {
  CHECK(twilio_signature(kV1Token, kV1Url, kV1Params) == kV1Signature);
  CHECK(verify_twilio_signature(kV1Token, kV1Url, kV1Params, kV1Signature));
}

// V2 (an inbound SMS, params in Twilio's order, not sorted): exact signature;
// the same params posted as a form body and parsed back verify too.
TEST_CASE("Twilio signature: V2 inbound SMS golden vector", "[twilio][signature]") {
  CHECK(twilio_signature(kV2Token, kV2Url, kV2Params) == kV2Signature);
  CHECK(verify_twilio_signature(kV2Token, kV2Url, kV2Params, kV2Signature));
  const auto parsed = parse_form(form_encode(kV2Params));
  CHECK(parsed == kV2Params);
  CHECK(verify_twilio_signature(kV2Token, kV2Url, parsed, kV2Signature));
}

// V3 (JSON body): the URL-only signature is exact, the body hash matches the
// vector, and the body variant verifies; a changed body or hash does not.
TEST_CASE("Twilio signature: V3 JSON body golden vector", "[twilio][signature]") {
  CHECK(to_hex(sha256(kV3Body)) == kV3Hash);
  CHECK(twilio_signature(kV2Token, kV3Url, {}) == kV3Signature);
  CHECK(verify_twilio_body_signature(kV2Token, kV3Url, kV3Body, kV3Signature));
  CHECK_FALSE(verify_twilio_body_signature(kV2Token, kV3Url, kV3Body + " ", kV3Signature));
  CHECK_FALSE(verify_twilio_body_signature("wrong", kV3Url, kV3Body, kV3Signature));
  // Without the bodySHA256 parameter there is nothing binding the body.
  const std::string no_hash = "https://escalate.example.com/hooks/json";
  CHECK_FALSE(verify_twilio_body_signature(kV2Token, no_hash, kV3Body, twilio_signature(kV2Token, no_hash, {})));
  // An uppercase hex hash in the URL is the same hash (the URL is still what was signed).
  std::string upper_hash = kV3Hash;
  std::transform(upper_hash.begin(), upper_hash.end(), upper_hash.begin(), [](unsigned char c) { return std::toupper(c); });
  const std::string upper_url = "https://escalate.example.com/hooks/json?bodySHA256=" + upper_hash;
  CHECK(verify_twilio_body_signature(kV2Token, upper_url, kV3Body, twilio_signature(kV2Token, upper_url, {})));
}

// A tampered parameter, a missing or extra one, a wrong token, a different
// URL, and empty inputs are all rejected.
TEST_CASE("Twilio signature: tampering is rejected", "[twilio][signature]") {
  CHECK_FALSE(verify_twilio_signature(kV1Token, kV1Url, with(kV1Params, "Digits", "1235"), kV1Signature));
  auto missing = kV1Params;
  missing.pop_back();
  CHECK_FALSE(verify_twilio_signature(kV1Token, kV1Url, missing, kV1Signature));
  auto extra = kV1Params;
  extra.emplace_back("Extra", "1");
  CHECK_FALSE(verify_twilio_signature(kV1Token, kV1Url, extra, kV1Signature));
  CHECK_FALSE(verify_twilio_signature("12346", kV1Url, kV1Params, kV1Signature));
  CHECK_FALSE(verify_twilio_signature(kV1Token, "https://mycompany.com/myapp.php?foo=1&bar=3", kV1Params, kV1Signature));
  CHECK_FALSE(verify_twilio_signature(kV2Token, kV2Url, with(kV2Params, "Body", "RESOLVE 42"), kV2Signature));
  CHECK_FALSE(verify_twilio_signature(kV1Token, kV1Url, kV1Params, ""));
  CHECK_FALSE(verify_twilio_signature("", kV1Url, kV1Params, kV1Signature));
  CHECK_FALSE(verify_twilio_signature(kV1Token, kV1Url, kV1Params, kV1Signature.substr(1)));
}

// Twilio may call with or without the default port: a signature over either
// form verifies against the other; a non-default port is not interchangeable.
TEST_CASE("Twilio signature: default port variants", "[twilio][signature]") {
  const std::string with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
  CHECK(verify_twilio_signature(kV1Token, with_port, kV1Params, kV1Signature));
  const auto signed_with_port = twilio_signature(kV1Token, with_port, kV1Params);
  CHECK(signed_with_port != kV1Signature);
  CHECK(verify_twilio_signature(kV1Token, kV1Url, kV1Params, signed_with_port));

  const std::string http = "http://baton.test/sms/inbound";
  const std::string http_80 = "http://baton.test:80/sms/inbound";
  CHECK(verify_twilio_signature("t", http, {}, twilio_signature("t", http_80, {})));
  CHECK(verify_twilio_signature("t", http_80, {}, twilio_signature("t", http, {})));
  // :443 is not the default for http, nor :80 for https.
  CHECK_FALSE(verify_twilio_signature("t", "http://baton.test:443/sms/inbound", {}, twilio_signature("t", http, {})));
  CHECK_FALSE(verify_twilio_signature("t", "https://baton.test/x", {}, twilio_signature("t", "https://baton.test:80/x", {})));
  CHECK_FALSE(verify_twilio_signature("t", "https://baton.test:8443/x", {}, twilio_signature("t", "https://baton.test/x", {})));
  // A URL with no path at all.
  CHECK(verify_twilio_signature("t", "https://baton.test", {}, twilio_signature("t", "https://baton.test:443", {})));
  // The body variant tries the port variants too.
  const std::string v3_with_port = "https://escalate.example.com:443/hooks/json?bodySHA256=" + kV3Hash;
  CHECK(verify_twilio_body_signature(kV2Token, v3_with_port, kV3Body, kV3Signature));
}

// Params are sorted by key then value before signing; a repeated key's values
// all count, and an identical repeated pair counts once (as in Twilio's SDK).
TEST_CASE("Twilio signature: ordering and repeated keys", "[twilio][signature]") {
  auto reversed = kV1Params;
  std::reverse(reversed.begin(), reversed.end());
  CHECK(twilio_signature(kV1Token, kV1Url, reversed) == kV1Signature);

  const FormParams a = {{"MediaUrl", "b"}, {"MediaUrl", "a"}, {"To", "x"}};
  const FormParams b = {{"To", "x"}, {"MediaUrl", "a"}, {"MediaUrl", "b"}};
  const FormParams dup = {{"To", "x"}, {"MediaUrl", "a"}, {"MediaUrl", "b"}, {"MediaUrl", "a"}};
  const FormParams only_a = {{"To", "x"}, {"MediaUrl", "a"}};
  CHECK(twilio_signature("t", "https://h/p", a) == twilio_signature("t", "https://h/p", b));
  CHECK(twilio_signature("t", "https://h/p", dup) == twilio_signature("t", "https://h/p", b));
  CHECK(twilio_signature("t", "https://h/p", only_a) != twilio_signature("t", "https://h/p", b));
}

// Form decoding: '+' is a space, %XX a byte (either case), a malformed escape
// stays literal, a key without '=' has an empty value, empty pieces are
// skipped, and order and repeated keys are kept.
TEST_CASE("parse_form decodes application/x-www-form-urlencoded", "[twilio][form]") {
  CHECK(parse_form("").empty());
  CHECK(parse_form("Body=ACK+42&From=%2B15551230001") ==
        FormParams{{"Body", "ACK 42"}, {"From", "+15551230001"}});
  CHECK(parse_form("a=1&&b&a=2&=x") == FormParams{{"a", "1"}, {"b", ""}, {"a", "2"}, {"", "x"}});
  CHECK(parse_form("t=%e2%82%ac%E2%82%AC") == FormParams{{"t", "€€"}});
  CHECK(parse_form("t=100%&u=%zz&v=%4") == FormParams{{"t", "100%"}, {"u", "%zz"}, {"v", "%4"}});
  CHECK(parse_form("k=a=b") == FormParams{{"k", "a=b"}});
  CHECK(parse_form("%41%2B=%2b") == FormParams{{"A+", "+"}});
}

// Form encoding: unreserved bytes as is, everything else %XX (space as %20,
// as the Twilio SDK sends it); round-trips through parse_form.
TEST_CASE("form_encode and percent_encode", "[twilio][form]") {
  CHECK(form_encode({}).empty());
  CHECK(form_encode({{"To", "+15551230001"}, {"Body", "[FIRING] incident 42: reply ACK 42"}}) ==
        "To=%2B15551230001&Body=%5BFIRING%5D%20incident%2042%3A%20reply%20ACK%2042");
  CHECK(percent_encode("a-b.c_d~e") == "a-b.c_d~e");
  CHECK(percent_encode("é&=/?") == "%C3%A9%26%3D%2F%3F");
  const FormParams odd = {{"k&=", "v +%\n€"}, {"k&=", ""}};
  CHECK(parse_form(form_encode(odd)) == odd);
}

// Standard base64 with padding (RFC 4648 test vectors).
TEST_CASE("base64_encode", "[twilio][form]") {
  CHECK(base64_encode("").empty());
  CHECK(base64_encode("f") == "Zg==");
  CHECK(base64_encode("fo") == "Zm8=");
  CHECK(base64_encode("foo") == "Zm9v");
  CHECK(base64_encode("foobar") == "Zm9vYmFy");
  CHECK(base64_encode(std::string("\xff\xfe", 2)) == "//4=");
}
