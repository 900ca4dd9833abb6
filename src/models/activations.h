// ReLUs (and the residual add before one) written into the tensor they read, as
// torchvision's blocks do: that tensor is a BatchNorm's (or the engine's) fresh output, which
// nothing else keeps (BatchNorm's backward needs its input, not its output), so a pass over
// memory and a new tensor are saved and no value changes.
#pragma once

#include <ATen/ATen.h>

namespace domino {

// relu(y + shortcut), written into y where the types agree (an in-place add would round a
// bf16 y where an out-of-place one promotes), else into a fresh tensor.
inline at::Tensor add_relu(at::Tensor y, const at::Tensor& shortcut) {
  if (y.scalar_type() == shortcut.scalar_type()) return y.add_(shortcut).relu_();
  return (y + shortcut).relu_();
}

// relu(y) written into y, a layer's fresh output.
inline at::Tensor relu_fresh(at::Tensor y) { return y.relu_(); }

}  // namespace domino
