// Dynamic loss scaling for fp16 training (what torch.cuda.amp.GradScaler does): the loss
// is multiplied by a scale before backward so that small fp16 gradients do not flush to
// zero; gradients are divided back before anything reads them. A step whose gradients
// hold inf/NaN is skipped and the scale halves; after `interval` good steps it doubles.
// Disabled (bf16, fp32), it passes everything through.
#pragma once

#include <ATen/Tensor.h>

#include <vector>

namespace domino {

struct LossScalerState {
  double scale = 65536.0;
  int64_t good_steps = 0;  // finite steps since the scale last changed
};

class LossScaler {
 public:
  explicit LossScaler(bool enabled, LossScalerState state = {}, int64_t interval = 2000);
  bool enabled() const { return enabled_; }
  at::Tensor scale(const at::Tensor& loss) const;
  // Divides every defined gradient by the scale; true when all are finite (the caller may
  // step). Updates the scale either way.
  bool unscale(const std::vector<at::Tensor>& parameters);
  const LossScalerState& state() const { return state_; }

 private:
  bool enabled_;
  LossScalerState state_;
  int64_t interval_;
};

}  // namespace domino
