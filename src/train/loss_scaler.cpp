#include "domino/train/loss_scaler.h"

#include <torch/torch.h>

namespace domino {

LossScaler::LossScaler(bool enabled, LossScalerState state, int64_t interval)
    : enabled_(enabled), state_(state), interval_(interval) {}

at::Tensor LossScaler::scale(const at::Tensor& loss) const { return enabled_ ? loss * state_.scale : loss; }

bool LossScaler::unscale(const std::vector<at::Tensor>& parameters) {
  if (!enabled_) return true;
  torch::NoGradGuard no_grad;
  bool finite = true;
  for (const auto& p : parameters) {
    if (!p.grad().defined()) continue;
    auto grad = p.grad();
    grad.mul_(1.0 / state_.scale);
    if (finite && !grad.isfinite().all().item<bool>()) finite = false;
  }
  if (!finite) {
    state_.scale *= 0.5;
    state_.good_steps = 0;
  } else if (++state_.good_steps >= interval_) {
    state_.scale *= 2.0;
    state_.good_steps = 0;
  }
  return finite;
}

}  // namespace domino
