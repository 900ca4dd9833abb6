// A compressed N:M weight regrouped by output channel: what the engine's layers share.
#pragma once

#include <ATen/Tensor.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "domino/sparse/export.h"

namespace domino::engine {

struct NmRows {
  int64_t nnz = 0;               // kept weights per output channel
  std::vector<float> values;     // [rows][nnz]
  std::vector<int64_t> position; // [rows][nnz]: index inside the row in the layout's order
};

// Fails, naming the layer, if groups cross rows (a row length not a multiple of M): such a
// layer has no per-channel N:M form and runs dense.
NmRows nm_rows(const NmLayer& weight);

// `bias` as floats, or empty when undefined; fails unless it has one value per output.
std::vector<float> bias_vector(const std::string& layer, const at::Tensor& bias, int64_t outputs);

// The kept weights' input offsets for the last input geometry a layer saw (a key of two
// numbers: H x W for a convolution, the batch for a linear layer): forward recomputes them
// only when the geometry changes. Safe to use from several threads.
class OffsetCache {
 public:
  using Offsets = std::shared_ptr<const std::vector<int32_t>>;
  Offsets get(int64_t a, int64_t b, const std::function<std::vector<int32_t>()>& make) const;

 private:
  mutable std::mutex mutex_;
  mutable int64_t a_ = -1, b_ = -1;
  mutable Offsets offsets_;
};

}  // namespace domino::engine
