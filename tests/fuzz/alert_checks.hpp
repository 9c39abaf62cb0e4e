#pragma once
// Checks shared by the alert-source targets (Events v2, Alertmanager).
#include <boost/json/fwd.hpp>

#include "engine/incident.hpp"
#include "integrations/alerts/parse_errors.hpp"

namespace baton::fuzz {

/// A refusal: at least one problem, a bounded list (ParseErrors::kMaxListed plus
/// the "... and N more" line), each line non-empty UTF-8 (it goes into a JSON 400).
void check_errors(const alerts::ParseErrors& errors);

/// An accepted alert: the given source; every text field valid UTF-8 (storage
/// serializes them as JSON); details_json a JSON object that survives the round
/// trip with only finite numbers (check_json_round_trip). Returns the details.
boost::json::value check_alert(const engine::Alert& alert, engine::Source source);

}  // namespace baton::fuzz
