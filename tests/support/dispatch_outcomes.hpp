#pragma once
// The outcomes a Dispatcher reports (its on_outcome callback), collected by
// notification id from whichever thread reports them. Header-only.
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <vector>

#include "integrations/dispatcher.hpp"

namespace baton::test {

struct DispatchOutcomes {
  using Kind = integrations::DispatchOutcome::Kind;

  std::mutex mutex;
  std::map<std::int64_t, std::vector<Kind>> by_id;  ///< every outcome of each notification, in order

  void add(const integrations::DispatchOutcome& o) {
    std::lock_guard lock(mutex);
    by_id[o.notification.id].push_back(o.kind);
  }
  /// How many outcomes were `delivered`, over all notifications.
  std::size_t delivered() {
    std::lock_guard lock(mutex);
    std::size_t n = 0;
    for (const auto& [id, kinds] : by_id)
      for (auto k : kinds) n += k == Kind::delivered;
    return n;
  }
};

}  // namespace baton::test
