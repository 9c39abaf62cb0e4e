#include "tests/fuzz/alert_checks.hpp"

#include <boost/json.hpp>

#include "tests/fuzz/fuzz_checks.hpp"

namespace baton::fuzz {

void check_errors(const alerts::ParseErrors& errors) {
  require(!errors.errors.empty(), "a refusal names at least one problem");
  require(errors.errors.size() <= alerts::ParseErrors::kMaxListed + 1, "a refusal lists a bounded number of problems",
          std::to_string(errors.errors.size()) + " lines");
  for (const auto& e : errors.errors) {
    require(!e.empty(), "no empty error line");
    check_utf8("an error line", e);
  }
}

boost::json::value check_alert(const engine::Alert& alert, engine::Source source) {
  require(alert.source == source, "the alert names its source");
  check_utf8("integration_key", alert.integration_key);
  check_utf8("dedup_key", alert.dedup_key);
  check_utf8("summary", alert.summary);
  check_utf8("source_name", alert.source_name);
  check_utf8("client", alert.client);
  check_utf8("client_url", alert.client_url);
  for (const auto& g : alert.group) {
    check_utf8("group.fingerprint", g.fingerprint);
    check_utf8("group.starts_at", g.starts_at);
    check_utf8("group.summary", g.summary);
  }
  boost::json::value details = check_json_round_trip("details_json", alert.details_json, true);
  require(details.is_object(), "details_json is a JSON object", alert.details_json);
  return details;
}

}  // namespace baton::fuzz
