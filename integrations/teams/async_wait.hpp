#pragma once
// The blocking forms of the Teams clients' asynchronous calls: start the call
// and wait for its callback. For tests and tools only: never call them on the
// thread that runs the AsyncHttpClient's io_context (the callback could not run).
#include <future>
#include <memory>
#include <utility>

#include "engine/result.hpp"

namespace baton::teams::detail {

template <typename T, typename Start>
Result<T> wait_for(Start&& start) {
  auto promise = std::make_shared<std::promise<Result<T>>>();
  auto future = promise->get_future();
  std::forward<Start>(start)([promise](Result<T> result) { promise->set_value(std::move(result)); });
  return future.get();
}

}  // namespace baton::teams::detail
