#pragma once
// Expected failures are values. One small taxonomy shared by every layer; each
// integration maps its vendor's codes onto it in one table.
#include <chrono>
#include <string>
#include <tl/expected.hpp>

namespace baton {

enum class ErrorKind {
  invalid_request,  ///< the caller sent something wrong; retrying will not help
  not_found,        ///< the thing named does not exist
  conflict,         ///< the request does not apply to the current state
  unauthorized,     ///< missing or bad credentials
  transient,        ///< a peer or resource failed; retry with backoff
  rate_limited,     ///< a peer asked us to slow down; see retry_after
  auth_revoked,     ///< our credentials for a peer no longer work
  permanent,        ///< the peer refused for good (bad number, unknown user...)
  fenced,           ///< HA: this instance no longer holds the engine lease; nothing was written
};

struct Error {
  ErrorKind kind = ErrorKind::permanent;
  std::string message;
  std::chrono::milliseconds retry_after{0};

  bool retryable() const { return kind == ErrorKind::transient || kind == ErrorKind::rate_limited; }
};

inline tl::unexpected<Error> fail(ErrorKind kind, std::string message) {
  return tl::unexpected<Error>(Error{kind, std::move(message), {}});
}

template <typename T>
using Result = tl::expected<T, Error>;

const char* to_string(ErrorKind kind);

}  // namespace baton
