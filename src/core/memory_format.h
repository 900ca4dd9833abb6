// A 4-d tensor in a memory format's own strides.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/MemoryFormat.h>

namespace domino {

// `t` with `format`'s own strides: `t` itself where it has them, else a copy.
// `t.contiguous(format)` is not enough where a size-1 dimension makes a tensor contiguous in
// both formats (a 1-channel image, a 1x1 convolution's weight): it keeps the strides the
// tensor has, and LibTorch reads a format from strides — a convolution's layout from its
// input's and weight's, a gradient's strides from its parameter's.
at::Tensor with_format_strides(const at::Tensor& t, c10::MemoryFormat format);

}  // namespace domino
