// How a run computes: the precision of its forward/backward (autocast) and the memory
// layout of its activations and convolution weights. Neither changes what is stored:
// master weights, optimizer state, masks, thresholds and checkpoints stay fp32 and in
// the logical (NCHW) order; N:M groups are defined on the logical shape.
#pragma once

#include <ATen/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/MemoryFormat.h>
#include <c10/core/ScalarType.h>

#include <string>
#include <vector>

#include "domino/core/names.h"

namespace torch::nn {
class Module;
}

namespace domino {

enum class Precision { FP32, BF16, FP16 };
inline constexpr EnumNames<Precision, 3> kPrecisions{
    {{{Precision::FP32, "fp32"}, {Precision::BF16, "bf16"}, {Precision::FP16, "fp16"}}}};
// What a precision option takes: "auto" and kPrecisions' names.
const std::vector<std::string>& precision_names();

// "fp32", "bf16", "fp16" or "auto": bf16 where `device` runs it natively (a CPU with
// AVX512_BF16 or AMX-BF16; a CUDA device of compute capability 8.0 or more), else fp32.
// fp16 needs a CUDA device: CPU autocast has no fp16 path.
Precision resolve_precision(const std::string& name, c10::Device device);
std::string to_string(Precision precision);
// AVX512_BF16 or AMX-BF16, as the CPU reports it (cpuid) and the OS enables it (XSAVE).
bool cpu_has_native_bf16();

enum class MemoryFormat { Contiguous, ChannelsLast };
inline constexpr EnumNames<MemoryFormat, 2> kMemoryFormats{
    {{{MemoryFormat::ChannelsLast, "channels-last"}, {MemoryFormat::Contiguous, "contiguous"}}}};

// "contiguous" (NCHW) or "channels-last" (NHWC in memory).
MemoryFormat parse_memory_format(const std::string& name);
std::string to_string(MemoryFormat format);
c10::MemoryFormat to_c10(MemoryFormat format);

// Puts every 4-d parameter and buffer of `module` in `format`; values do not change.
void set_memory_format(torch::nn::Module& module, MemoryFormat format);
// A batch of images (4-d) in `format`; other tensors as they are.
at::Tensor in_memory_format(const at::Tensor& images, MemoryFormat format);

// Autocast while alive: ops on the device's lower-precision list run in `precision`
// (convolutions, matmuls); the rest, and every parameter, stay fp32. A no-op for fp32.
class AutocastGuard {
 public:
  AutocastGuard(c10::Device device, Precision precision);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool active_ = false;
  bool cuda_ = false;
  bool was_enabled_ = false;
  c10::ScalarType was_dtype_ = c10::ScalarType::Float;
};

}  // namespace domino
