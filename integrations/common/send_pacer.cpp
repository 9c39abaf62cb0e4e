#include "integrations/common/send_pacer.hpp"

#include <cmath>
#include <stdexcept>

namespace baton::integrations {

SendPacer::SendPacer(double rate, int burst) {
  if (!(rate > 0) || !std::isfinite(rate)) throw std::invalid_argument("messages_per_second must be positive");
  if (burst < 1) throw std::invalid_argument("burst must be at least 1");
  // Rounded up: never faster than the provider allows.
  interval_ = engine::Millis(static_cast<std::int64_t>(std::ceil(1000.0 / rate)));
  tolerance_ = interval_ * (burst - 1);
}

std::optional<engine::TimePoint> SendPacer::reserve(const std::string& sender, engine::TimePoint now) {
  std::lock_guard lock(mutex_);
  auto it = next_free_.find(sender);
  const engine::TimePoint tat = it == next_free_.end() ? now : std::max(it->second, now);
  if (tat - now > tolerance_) return tat - tolerance_;
  if (it == next_free_.end()) {
    next_free_.emplace(sender, tat + interval_);
  } else {
    it->second = tat + interval_;
  }
  return std::nullopt;
}

}  // namespace baton::integrations
