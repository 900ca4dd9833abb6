#include "domino/train/schedule.h"

#include <cmath>

#include "domino/core/error.h"

namespace domino {

void validate(const LrSchedule& s) {
  if (!(s.base_lr > 0.0)) fail("learning rate must be positive, got {}", s.base_lr);
  if (s.warmup_epochs < 0.0) fail("warm-up epochs must not be negative, got {}", s.warmup_epochs);
  if (s.iters_per_epoch <= 0 || s.total_iters <= 0) fail("a schedule needs a positive length");
}

double LrSchedule::lr_at(int64_t iteration) const {
  const auto warmup_iters = static_cast<int64_t>(std::llround(warmup_epochs * static_cast<double>(iters_per_epoch)));
  if (iteration < warmup_iters) return base_lr * static_cast<double>(iteration + 1) / static_cast<double>(warmup_iters);
  if (kind == ScheduleKind::Cosine) {
    const double span = static_cast<double>(std::max<int64_t>(total_iters - warmup_iters, 1));
    const double t = std::min(static_cast<double>(iteration - warmup_iters) / span, 1.0);
    return 0.5 * base_lr * (1.0 + std::cos(M_PI * t));
  }
  if (kind == ScheduleKind::Multistep) {
    const int64_t epoch = iteration / iters_per_epoch;
    double lr = base_lr;
    for (int64_t m : milestones)
      if (epoch >= m) lr *= gamma;
    return lr;
  }
  return base_lr;
}

}  // namespace domino
