#include "domino/train/precision.h"

#include <ATen/autocast_mode.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <torch/torch.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include <algorithm>

#include "core/memory_format.h"
#include "domino/core/error.h"
#include "domino/core/names.h"

namespace domino {

bool cpu_has_native_bf16() {
#if defined(__x86_64__) || defined(__i386__)
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  // libgcc's check includes the OS saving the AVX-512 state (XCR0), which bf16 needs.
  if (!__builtin_cpu_supports("avx512f")) return false;
  if (__get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) && (eax & (1u << 5))) return true;  // AVX512_BF16
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) && (edx & (1u << 22))) return true;  // AMX-BF16
#endif
  return false;
}

const std::vector<std::string>& precision_names() {
  static const std::vector<std::string> names = [] {
    auto out = kPrecisions.names();
    out.insert(out.begin(), "auto");
    return out;
  }();
  return names;
}

Precision resolve_precision(const std::string& name, c10::Device device) {
  if (name == "auto") {
    // CUDA: bf16 convolutions natively from compute capability 8.0 (Ampere) with cuDNN 8,
    // as LibTorch's CUDA hooks report it; older GPUs emulate bf16 (choose fp16 there).
    if (device.is_cuda())
      return at::detail::getCUDAHooks().supportsBFloat16ConvolutionWithCuDNNv8() ? Precision::BF16 : Precision::FP32;
    return cpu_has_native_bf16() ? Precision::BF16 : Precision::FP32;
  }
  const auto& valid = precision_names();
  if (std::find(valid.begin(), valid.end(), name) == valid.end()) fail_unknown("precision", name, valid);
  const Precision precision = kPrecisions.parse(name, "precision");
  if (precision == Precision::FP16 && !device.is_cuda())
    fail("precision fp16 needs a CUDA device (LibTorch's CPU autocast runs bf16 only); use bf16 or fp32 on {}",
         device.str());
  return precision;
}

std::string to_string(Precision precision) { return kPrecisions.name(precision); }

MemoryFormat parse_memory_format(const std::string& name) { return kMemoryFormats.parse(name, "memory format"); }

std::string to_string(MemoryFormat format) { return kMemoryFormats.name(format); }

c10::MemoryFormat to_c10(MemoryFormat format) {
  return format == MemoryFormat::ChannelsLast ? c10::MemoryFormat::ChannelsLast : c10::MemoryFormat::Contiguous;
}

void set_memory_format(torch::nn::Module& module, MemoryFormat format) {
  torch::NoGradGuard no_grad;
  // The format's own strides, also where a size-1 dimension leaves them free (a 1x1 conv's
  // weight): the gradients LibTorch computes have them, and c10d's Reducer expects a
  // parameter's gradient to have its parameter's strides.
  auto convert = [&](at::Tensor& t) {
    if (!t.defined() || t.dim() != 4) return;
    auto laid_out = with_format_strides(t, to_c10(format));
    if (!laid_out.is_same(t)) t.set_data(laid_out);
  };
  for (auto& p : module.parameters()) convert(p);
  for (auto& b : module.buffers()) convert(b);
}

at::Tensor in_memory_format(const at::Tensor& images, MemoryFormat format) {
  // A 1-channel batch (Fashion-MNIST) with NCHW strides would send the stem convolution down
  // LibTorch's NCHW path wherever its weight's strides are ambiguous too (a masked weight),
  // and the next convolution would copy the whole activation back to channels-last.
  return images.dim() == 4 ? with_format_strides(images, to_c10(format)) : images;
}

AutocastGuard::AutocastGuard(c10::Device device, Precision precision)
    : active_(precision != Precision::FP32), cuda_(device.is_cuda()) {
  if (!active_) return;
  const auto dtype = precision == Precision::BF16 ? at::kBFloat16 : at::kHalf;
  if (cuda_) {
    was_enabled_ = at::autocast::is_enabled();
    was_dtype_ = at::autocast::get_autocast_gpu_dtype();
    at::autocast::set_autocast_gpu_dtype(dtype);
    at::autocast::set_enabled(true);
  } else {
    was_enabled_ = at::autocast::is_cpu_enabled();
    was_dtype_ = at::autocast::get_autocast_cpu_dtype();
    at::autocast::set_autocast_cpu_dtype(dtype);
    at::autocast::set_cpu_enabled(true);
  }
  at::autocast::increment_nesting();
}

AutocastGuard::~AutocastGuard() {
  if (!active_) return;
  // As torch.autocast's exit: the cast cache lives only for the outermost region.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  if (cuda_) {
    at::autocast::set_enabled(was_enabled_);
    at::autocast::set_autocast_gpu_dtype(was_dtype_);
  } else {
    at::autocast::set_cpu_enabled(was_enabled_);
    at::autocast::set_autocast_cpu_dtype(was_dtype_);
  }
}

}  // namespace domino
