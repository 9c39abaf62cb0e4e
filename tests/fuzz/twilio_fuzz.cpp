// Twilio's inbound webhooks: the application/x-www-form-urlencoded body (and
// query strings), X-Twilio-Signature over the decoded parameters, the SMS reply
// grammar applied to a message Body, and the TwiML answer.
#include <algorithm>

#include "integrations/common/command_grammar.hpp"
#include "integrations/sms/sms_reply.hpp"
#include "integrations/sms/twilio_signature.hpp"
#include "tests/fuzz/fuzz_checks.hpp"

using namespace baton;
using integrations::FormParams;

namespace {

constexpr std::string_view kToken = "12345678901234567890123456789012";
constexpr std::string_view kUrl = "https://baton.example.com/twilio/sms?n=1";

// Decoding what form_encode() made gives back the same pairs, in order.
void check_form_round_trip(const FormParams& params, std::string_view input) {
  const std::string encoded = integrations::form_encode(params);
  fuzz::require(integrations::parse_form(encoded) == params, "form_encode/parse_form round trip", input);
}

void check_signature(const FormParams& params) {
  const std::string sig = integrations::twilio_signature(kToken, kUrl, params);
  fuzz::require(integrations::verify_twilio_signature(kToken, kUrl, params, sig), "Twilio's own signature verifies");
  // The same request seen with the default port spelled out.
  fuzz::require(
      integrations::verify_twilio_signature(kToken, "https://baton.example.com:443/twilio/sms?n=1", params, sig),
      "the signature verifies with :443 added");
  // Order of the parameters does not matter (the scheme sorts them).
  FormParams reversed(params.rbegin(), params.rend());
  fuzz::require(integrations::verify_twilio_signature(kToken, kUrl, reversed, sig), "parameter order is irrelevant");
  std::string bad = sig;
  bad[0] = bad[0] == 'A' ? 'B' : 'A';
  fuzz::require(!integrations::verify_twilio_signature(kToken, kUrl, params, bad), "a changed signature fails");
  fuzz::require(!integrations::verify_twilio_signature(kToken, kUrl, params, ""), "an empty signature fails");
}

std::string ascii_case(std::string_view s, bool upper) {
  std::string out(s);
  for (char& c : out) {
    if (upper && c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (!upper && c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

void check_sms_reply(std::string_view body) {
  using integrations::Verb;
  const auto reply = integrations::parse_command(body);
  if (reply.incident)
    fuzz::require(*reply.incident > 0 && *reply.incident < 1'000'000'000'000'000'000, "an incident is 1..10^18", body);
  // The replies an SMS means (ack/resolve/escalate, the opt-out keywords) do not depend on case.
  const bool reply_word = reply.verb == Verb::ack || reply.verb == Verb::resolve || reply.verb == Verb::escalate ||
                          reply.verb == Verb::stop || reply.verb == Verb::start;
  for (bool upper : {true, false}) {
    if (!reply_word) break;
    const auto other = integrations::parse_command(ascii_case(body, upper));
    fuzz::require(other.verb == reply.verb && other.incident == reply.incident, "SMS replies are case-insensitive",
                  body);
  }
}

// TwiML (XML 1.0): the text escaped, forbidden control characters gone.
void check_twiml(std::string_view text) {
  const std::string xml = integrations::twiml_message(text);
  constexpr std::string_view kHead = R"(<?xml version="1.0" encoding="UTF-8"?><Response><Message>)";
  constexpr std::string_view kTail = "</Message></Response>";
  fuzz::require(xml.starts_with(kHead) && xml.ends_with(kTail), "TwiML frame", xml);
  const std::string_view inner = std::string_view(xml).substr(kHead.size(), xml.size() - kHead.size() - kTail.size());
  for (std::size_t i = 0; i < inner.size(); ++i) {
    const auto b = static_cast<unsigned char>(inner[i]);
    fuzz::require(b != '<' && b != '>' && b != '"' && b != '\'', "markup characters are escaped", xml);
    fuzz::require(b >= 0x20 || b == '\t' || b == '\n' || b == '\r', "no control characters XML 1.0 forbids", xml);
    if (b == '&') {
      const auto rest = inner.substr(i);
      fuzz::require(rest.starts_with("&amp;") || rest.starts_with("&lt;") || rest.starts_with("&gt;") ||
                        rest.starts_with("&quot;") || rest.starts_with("&apos;"),
                    "every & starts an entity", xml);
    }
  }
  if (fuzz::is_utf8(text)) fuzz::check_utf8("TwiML", xml);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input = fuzz::as_text(data, size);

  const FormParams params = integrations::parse_form(input);
  check_form_round_trip(params, input);
  check_signature(params);
  // A JSON-bodied request signs the URL and carries the body's hash in it.
  (void)integrations::verify_twilio_body_signature(kToken, input, input, "c2lnbmF0dXJl");

  check_sms_reply(input);
  for (const auto& [k, v] : params) {
    if (k == "Body") {
      check_sms_reply(v);
      check_twiml(v);
    }
  }
  check_twiml(input);
  return 0;
}
