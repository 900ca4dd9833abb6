#include "domino/models/layer_table.h"

#include <torch/csrc/autograd/functions/accumulate_grad.h>
#include <torch/torch.h>

#include <map>
#include <set>

#include "domino/core/error.h"
#include "domino/models/models.h"

namespace domino {
namespace {

using torch::autograd::Node;

// For every leaf tensor that the graph of `output` consumes directly, the shape of the
// consuming op's output. LibTorch has no forward hooks; the graph records the same facts.
std::map<const c10::TensorImpl*, std::vector<int64_t>> consumer_output_shapes(const torch::Tensor& output) {
  std::map<const c10::TensorImpl*, std::vector<int64_t>> shapes;
  std::vector<Node*> stack{output.grad_fn().get()};
  std::set<Node*> seen;
  while (!stack.empty()) {
    Node* node = stack.back();
    stack.pop_back();
    if (node == nullptr || !seen.insert(node).second) continue;
    for (const auto& edge : node->next_edges()) {
      Node* next = edge.function.get();
      if (auto* leaf = dynamic_cast<torch::autograd::AccumulateGrad*>(next)) {
        // input_metadata(0) describes the gradient of the op's output: its shape is the output's.
        shapes.emplace(leaf->variable.unsafeGetTensorImpl(), node->input_metadata(0).zeros_like().sizes().vec());
      } else {
        stack.push_back(next);
      }
    }
  }
  return shapes;
}

struct TrainingModeGuard {
  explicit TrainingModeGuard(torch::nn::Module& m) : module(m), was_training(m.is_training()) { m.eval(); }
  ~TrainingModeGuard() { module.train(was_training); }
  torch::nn::Module& module;
  bool was_training;
};

torch::Tensor run_forward(torch::nn::Module& model, const torch::Tensor& x) {
  if (auto* net = dynamic_cast<Network*>(&model)) return net->forward(x);
  fail("the layer table needs a domino::Network (a module with forward(Tensor))");
}

}  // namespace

LayerTable build_layer_table(torch::nn::Module& model, ImageShape input) {
  LayerTable table;
  table.input = input;
  table.model_params = count_parameters(model);
  torch::Tensor output;
  {
    TrainingModeGuard eval_mode(model);
    torch::AutoGradMode grad_on(true);
    auto device = model.parameters().empty() ? torch::Device(torch::kCPU) : model.parameters().front().device();
    output = run_forward(model, torch::zeros({1, input.channels, input.height, input.width}, torch::TensorOptions(device)));
  }
  const auto shapes = consumer_output_shapes(output);

  for (const auto& item : model.named_modules("", /*include_self=*/false)) {
    LayerInfo layer;
    layer.name = item.key();
    torch::Tensor weight, bias;
    if (auto* conv = item.value()->as<torch::nn::Conv2dImpl>()) {
      layer.kind = LayerKind::Conv;
      weight = conv->weight;
      bias = conv->bias;
    } else if (auto* linear = item.value()->as<torch::nn::LinearImpl>()) {
      layer.kind = LayerKind::Linear;
      weight = linear->weight;
      bias = linear->bias;
    } else {
      continue;
    }
    layer.weight_shape = weight.sizes().vec();
    layer.has_bias = bias.defined();
    layer.params = weight.numel();
    if (layer.kind == LayerKind::Conv) {
      // The conv consumes its bias (and, in a dense forward, its weight) directly.
      auto found = shapes.find(weight.unsafeGetTensorImpl());
      if (found == shapes.end() && bias.defined()) found = shapes.find(bias.unsafeGetTensorImpl());
      if (found == shapes.end() || found->second.size() != 4)
        fail("layer {}: could not measure its output in a forward pass (is it used, with a plain weight?)", layer.name);
      layer.output_height = found->second[2];
      layer.output_width = found->second[3];
    }
    const int64_t positions = layer.output_height * layer.output_width;
    layer.flops = layer.params * positions + (layer.has_bias ? layer.weight_shape[0] * positions : 0);
    table.prunable_params += layer.params;
    table.flops += layer.flops;
    table.layers.push_back(std::move(layer));
  }
  return table;
}

std::string format_layer_table(const LayerTable& table) {
  std::string out = fmt::format("{:<28} {:<6} {:>18} {:>9} {:>10} {:>14}\n", "layer", "kind", "weight shape", "output", "params", "FLOPs (MACs)");
  for (const auto& l : table.layers) {
    out += fmt::format("{:<28} {:<6} {:>18} {:>9} {:>10} {:>14}\n", l.name, kLayerKinds.name(l.kind),
                       fmt::format("{}", fmt::join(l.weight_shape, "x")),
                       fmt::format("{}x{}", l.output_height, l.output_width), l.params, l.flops);
  }
  out += fmt::format("{} prunable layers: {:.4f} M params, {:.2f} M FLOPs (MACs) at {}x{}x{}; model total {:.4f} M params\n",
                     table.layers.size(), table.prunable_params / 1e6, table.flops / 1e6, table.input.channels,
                     table.input.height, table.input.width, table.model_params / 1e6);
  return out;
}

nlohmann::json to_json(const LayerTable& table) {
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& l : table.layers)
    layers.push_back({{"name", l.name}, {"kind", kLayerKinds.name(l.kind)}, {"shape", l.weight_shape}, {"bias", l.has_bias},
                      {"output", {l.output_height, l.output_width}}, {"params", l.params}, {"flops", l.flops}});
  return {{"input", {table.input.channels, table.input.height, table.input.width}},
          {"layers", layers},
          {"totals", {{"params", table.prunable_params}, {"flops", table.flops}, {"model_params", table.model_params}}}};
}

}  // namespace domino
