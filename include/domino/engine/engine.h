// The N:M inference engine (docs/engine.md): convolutions and linear layers whose weights
// keep at most N of every M run through kernels that do only the kept multiply-adds,
// reading the weights in their compressed form (values + in-group indices, as
// docs/nm-format.md). Outputs equal LibTorch's forward of the same masked layer up to
// float rounding (the sums are taken in another order).
#pragma once

#include <ATen/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "domino/sparse/export.h"

namespace torch::nn {
class Module;
}

namespace domino::engine {

class OffsetCache;  // src/engine/nm_rows.h

// A convolution's weights as the channels-last kernel reads them (src/engine/nhwc_kernel.h).
struct ChannelsLastWeights {
  int64_t k = 0;      // kept weights of an output channel in each chunk of 16 input channels
  // float [blocks of 16 outputs][chunks][k][16]; each value's 4 lowest mantissa bits say which
  // channel of the chunk it multiplies (nhwc_weight in src/engine/nhwc_kernel.h)
  at::Tensor values;
};

// Which kernels' speed this build has: bumped (date.sequence) by any change that moves a
// layer's time. Latency tables record it, so one measured by other kernels is not reused.
inline constexpr const char* kEngineRevision = "2026-12-02.5";

// The kernels' instruction sets, from slowest to fastest. The best the CPU has is chosen at
// run time; the build needs none of them.
enum class Isa { Portable, Avx2, Avx512 };
std::string to_string(Isa isa);
Isa parse_isa(const std::string& name);  // "portable", "avx2", "avx512"
Isa detected_isa();                      // the best this CPU runs
// What the kernels use now: the detected set, lowered by limit_isa or by the environment
// variable DOMINO_ENGINE_ISA (to check or measure a slower path).
Isa active_isa();
void limit_isa(Isa most);  // never raises the set above detected_isa()
// Whether convolutions that can (groups along input channels of M <= 16, channels in
// blocks of 16, AVX-512) run the channels-last kernel, which returns channels-last
// outputs; otherwise every layer runs the row kernel (NCHW). On by default; the
// environment variable DOMINO_ENGINE_NHWC=0 turns it off (to compare the two).
bool channels_last_kernel();
void use_channels_last_kernel(bool on);

struct ConvGeometry {
  int64_t stride = 1;
  int64_t padding = 0;
  int64_t groups = 1;  // grouped convolution (RegNet): input and output channels in `groups` blocks
};

// Layers are built from the compressed format (compress_nm_checked refuses a weight that
// breaks its scheme).

// A convolution with N:M weights [Cout, Cin / groups, Kh, Kw] and a bias (BatchNorm folded
// in, or undefined for none). Input is float on the CPU, any batch, size and memory
// format; the output is channels-last where the channels-last kernel ran, else NCHW.
class NmConv2d {
 public:
  NmConv2d(const NmLayer& weight, const at::Tensor& bias, ConvGeometry geometry);
  // relu?(conv(input) + bias [+ residual]): a residual (the output's shape; a residual
  // block's shortcut) is added, and the ReLU applied, as the outputs are stored — one pass
  // over them where LibTorch's add and ReLU would take two more (docs/engine.md, "Fused
  // epilogue").
  at::Tensor forward(const at::Tensor& input, bool relu = false, const at::Tensor& residual = {}) const;
  int64_t out_channels() const { return shape_[0]; }
  // Multiply-adds per output pixel, over all output channels (kept weights only).
  int64_t macs_per_output_pixel() const { return shape_[0] * nnz_; }
  // Whether forward runs the channels-last kernel now (it can, and the ISA and switch allow).
  bool runs_channels_last() const;

 private:
  std::vector<int64_t> shape_;  // [Cout, Cin / groups, Kh, Kw]
  ConvGeometry geometry_;
  int64_t nnz_ = 0;             // kept weights per output channel (N x groups of a row)
  std::vector<float> values_;   // [Cout][nnz]
  // Each kept weight's input channel (counting all groups), and its tap split by the
  // stride: which phase image (kh mod s, kw mod s) and where in it (kh / s, kw / s).
  std::vector<int32_t> channel_, phase_, dy_, dx_;
  std::vector<float> bias_;
  std::shared_ptr<OffsetCache> offsets_;  // by input H x W
  // The channels-last kernel's weights (src/engine/nhwc_kernel.h), undefined where it cannot run.
  ChannelsLastWeights channels_last_;
  void sort_rows_by_address();
  std::vector<int32_t> offsets_for(int64_t h, int64_t w) const;
  at::Tensor forward_channels_last(const at::Tensor& input, bool relu, const at::Tensor& residual) const;
};

// A linear layer with N:M weights [out, in] and an optional bias; input [B, in].
class NmLinear {
 public:
  NmLinear(const NmLayer& weight, const at::Tensor& bias);
  at::Tensor forward(const at::Tensor& input, bool relu = false) const;

 private:
  int64_t out_ = 0, in_ = 0, nnz_ = 0;
  std::vector<float> values_;
  std::vector<int32_t> column_;  // [out][nnz]: each kept weight's input index
  std::vector<float> bias_;
  std::shared_ptr<OffsetCache> offsets_;  // by batch size
};

// A model switched to the engine for inference (eval mode; no gradients flow): every layer
// of `scheme` with N / M <= max_density that the kernels run (rows that split into groups
// of M, square stride and padding) computes through NmConv2d / NmLinear, with the
// BatchNorm after it folded in (that BatchNorm becomes the identity); the others stay
// LibTorch layers. Fails, naming the layer and group, if a weight breaks its scheme. To
// undo, rebuild the model. The default density: above 8:16 the kernels do not beat
// LibTorch's dense convolution; at 8:16 they are about even per layer, and ResNet-50 ran
// faster with them than without, BatchNorm folding included (docs/benchmarks.md).
// Where the engine's convolutions run channels-last, the convolutions it leaves to LibTorch
// take their input channels-last too: the model's input then turns channels-last at the
// stem, and the stem's BatchNorm, ReLU and max-pooling run LibTorch's channels-last
// kernels (its NCHW max-pooling took 3.3 ms of a ~20 ms ResNet-50 forward at batch 1).
constexpr double kEngineMaxDensity = 0.5;
struct EngineLayers {
  std::vector<std::string> engine;  // layers the engine runs
  std::vector<std::string> dense;   // "name (why)" of the scheme's layers that stay dense
  int64_t folded_batchnorms = 0;
};
EngineLayers use_engine(torch::nn::Module& model, const Scheme& scheme, double max_density = kEngineMaxDensity);

}  // namespace domino::engine
