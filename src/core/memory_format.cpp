#include "core/memory_format.h"

#include <ATen/ATen.h>
#include <c10/util/strides.h>

namespace domino {

at::Tensor with_format_strides(const at::Tensor& t, c10::MemoryFormat format) {
  const bool own = format == c10::MemoryFormat::ChannelsLast
                       ? t.dim() == 4 && t.strides() == c10::IntArrayRef(c10::get_channels_last_strides_2d(t.sizes()))
                       : t.strides() == c10::IntArrayRef(c10::contiguous_strides(t.sizes()));
  return own ? t : at::empty_like(t, format).copy_(t);
}

}  // namespace domino
