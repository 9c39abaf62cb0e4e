#pragma once
// What an alert-source parser reports when a request body is not a valid event.
#include <string>
#include <vector>

namespace baton::alerts {

/// Every problem found in one body, worded for the sender (HTTP 400 "errors"
/// array), e.g. "'payload.summary' is missing or blank". Never empty when returned.
struct ParseErrors {
  std::vector<std::string> errors;
};

}  // namespace baton::alerts
