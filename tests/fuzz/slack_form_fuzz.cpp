// Slack's HTTP-mode form bodies (application/x-www-form-urlencoded): slash
// commands and the interactivity `payload` field, the /baton command line
// itself, and the v0 request signature over the raw body.
#include <chrono>

#include "integrations/slack/signature.hpp"
#include "tests/fuzz/fuzz_checks.hpp"
#include "tests/fuzz/slack_checks.hpp"

using namespace baton;

namespace {

constexpr std::string_view kSecret = "8f742231b10e8888abcd99yyyzzz85a5";
const engine::TimePoint kNow = engine::from_ms(1'700'000'000'000);

// The signature check accepts only what slack_signature() produced, in the window.
void check_signature(std::string_view input) {
  // Input as "timestamp\nsignature\nbody" for the headers sent with it.
  const auto nl1 = input.find('\n');
  const auto nl2 = nl1 == std::string_view::npos ? nl1 : input.find('\n', nl1 + 1);
  if (nl2 != std::string_view::npos) {
    const auto ts = input.substr(0, nl1);
    const auto sig = input.substr(nl1 + 1, nl2 - nl1 - 1);
    const auto body = input.substr(nl2 + 1);
    if (slack::verify_slack_signature(kSecret, ts, sig, body, kNow))
      fuzz::require(sig == slack::slack_signature(kSecret, ts, body), "only a correct signature verifies", input);
  }
  const std::string ts = "1700000123";
  const std::string good = slack::slack_signature(kSecret, ts, input);
  fuzz::require(slack::verify_slack_signature(kSecret, ts, good, input, kNow).has_value(),
                "the signature slack_signature() made verifies", input);
  std::string bad = good;
  bad.back() = bad.back() == '0' ? '1' : '0';
  fuzz::require(!slack::verify_slack_signature(kSecret, ts, bad, input, kNow), "a changed signature fails", input);
  fuzz::require(!slack::verify_slack_signature(kSecret, "1699999000",
                                               slack::slack_signature(kSecret, "1699999000", input), input, kNow),
                "a stale timestamp fails");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input = fuzz::as_text(data, size);

  if (auto request = slack::parse_slash_form(input)) fuzz::check_slash_request(*request);
  if (auto payload = slack::payload_from_form(input)) {
    fuzz::require(!payload->empty(), "an interactivity payload is not empty");
    if (auto press = slack::parse_block_actions(*payload)) fuzz::check_button_press(*press);
  }
  // The command line alone, as the `text` field carries it.
  fuzz::check_slash_command("/baton", input);
  fuzz::check_slash_command("/incident", input);
  check_signature(input);
  return 0;
}
