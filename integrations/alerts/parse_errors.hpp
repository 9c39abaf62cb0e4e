#pragma once
// What an alert-source parser reports when a request body is not a valid event.
#include <cstddef>
#include <string>
#include <vector>

namespace baton::alerts {

/// Stored details are at most this deep: the parsers accept 64 levels from the
/// sender and wrap them in a few of their own. Readers parse with this limit.
inline constexpr unsigned kMaxDetailsDepth = 80;

/// Every problem found in one body, worded for the sender (HTTP 400 "errors"
/// array), e.g. "'payload.summary' is missing or blank". Never empty when
/// returned. Bounded: at most kMaxListed problems are listed, then one line
/// "... and N more problems", so a hostile body cannot make a huge answer.
struct ParseErrors {
  static constexpr std::size_t kMaxListed = 20;

  std::vector<std::string> errors;
  std::size_t omitted = 0;  ///< problems found but not listed

  void add(std::string error) {
    if (errors.size() < kMaxListed)
      errors.push_back(std::move(error));
    else
      ++omitted;
  }
  bool empty() const { return errors.empty(); }
  /// Problems found so far, listed or not.
  std::size_t count() const { return errors.size() + omitted; }
  /// Appends the "... and N more" line when problems were left out.
  ParseErrors&& finish() && {
    if (omitted > 0) errors.push_back("... and " + std::to_string(omitted) + " more problems");
    omitted = 0;
    return std::move(*this);
  }
};

}  // namespace baton::alerts
