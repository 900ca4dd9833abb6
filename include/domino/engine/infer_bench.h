// Timing a model's inference with LibTorch's dense forward against the N:M engine, end to
// end and layer by layer, in one process on one input: what `domino bench-infer` reports.
#pragma once

#include <ATen/Tensor.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "domino/engine/engine.h"
#include "domino/models/models.h"
#include "domino/nm/scheme.h"

namespace domino::engine {

struct LayerTiming {
  std::string name;
  std::vector<int64_t> input_shape, weight_shape;
  int64_t N = 0, M = 0;
  // Medians over the timed forwards, the layer inside the running model. The engine's
  // time includes the BatchNorm folded into it; the dense time is the layer alone.
  double dense_ms = 0, nm_ms = 0;
};

struct InferenceTiming {
  int64_t batch_size = 0;
  int threads = 0;
  std::string isa;                 // the engine's instruction set
  std::string blas;                // the BLAS behind LibTorch and its threading (blas_threading())
  double dense_ms = 0, nm_ms = 0;  // median latency of one whole forward
  std::vector<LayerTiming> layers; // the layers the engine runs, in forward order
  // LibTorch's time of every layer of the scheme it could time alone, those the engine
  // keeps dense included (median, ms).
  std::map<std::string, double> dense_layer_ms;
  EngineLayers switched;           // and those that stayed dense, with why
  // How far the engine's outputs are from the dense forward's on the timed input (float
  // rounding, the sums being taken in another order) and how many top-1 classes agree.
  double max_abs_diff = 0;
  int64_t same_top1 = 0;
};

struct BenchOptions {
  int64_t warmup = 3, repeats = 20;  // forwards untimed, then timed (per mode)
  double max_density = kEngineMaxDensity;
  // LibTorch's dense forward in channels-last (NHWC) memory, else NCHW; the engine reads NCHW.
  bool dense_channels_last = false;
  // Called after every forward: (done, total) over the whole measurement.
  std::function<void(int64_t, int64_t)> on_forward;
};

// The median of timings (0 for none): what every timing here reports, robust to the odd
// slow run on a shared machine.
double median_ms(std::vector<double> ms);

// Times `model` (eval mode, its weights N:M as `scheme` says) on `input` [B, C, H, W]:
// dense first, then switched to the engine — the model is left switched. Fails as
// use_engine does on a weight that breaks its scheme.
InferenceTiming bench_inference(Network& model, const Scheme& scheme, const at::Tensor& input, const BenchOptions& options);

}  // namespace domino::engine
