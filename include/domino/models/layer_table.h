// The prunable-layer table: every Conv2d and Linear of a model, by module path, with
// weight shape, params and FLOPs (multiply-accumulates, docs/ALGORITHM.md §1). Conv output
// sizes are measured in a real forward pass, never assumed.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "domino/core/names.h"
#include "domino/core/types.h"

namespace torch::nn {
class Module;
}

namespace domino {

enum class LayerKind { Conv, Linear };
inline constexpr EnumNames<LayerKind, 2> kLayerKinds{{{{LayerKind::Conv, "conv"}, {LayerKind::Linear, "linear"}}}};

struct LayerInfo {
  std::string name;                   // module path, e.g. "layer1.0.conv1"
  LayerKind kind = LayerKind::Conv;
  std::vector<int64_t> weight_shape;  // [Cout, Cin/groups, Kh, Kw] or [out, in]
  bool has_bias = false;
  int64_t output_height = 1, output_width = 1;  // measured; 1x1 for linear layers
  int64_t params = 0;                 // weight elements (biases are never pruned)
  int64_t flops = 0;                  // MACs per image, bias included
};

struct LayerTable {
  ImageShape input;
  std::vector<LayerInfo> layers;
  int64_t prunable_params = 0;  // Σ params over prunable layers
  int64_t flops = 0;            // Σ flops over prunable layers
  int64_t model_params = 0;     // every parameter of the model
};

// Runs one forward pass of a single `input`-shaped image (model in eval mode, restored
// afterwards) and reads each layer's output size from the autograd graph.
LayerTable build_layer_table(torch::nn::Module& model, ImageShape input);

std::string format_layer_table(const LayerTable& table);
nlohmann::json to_json(const LayerTable& table);

}  // namespace domino
