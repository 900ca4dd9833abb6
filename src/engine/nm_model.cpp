// Switching a zoo model's N:M layers to the engine (docs/engine.md, "Whole models").
#include <torch/torch.h>

#include <functional>
#include <set>

#include "core/memory_format.h"
#include "domino/core/error.h"
#include "domino/engine/engine.h"
#include "domino/models/prunable.h"

namespace domino::engine {
namespace {

using ModuleMap = torch::OrderedDict<std::string, std::shared_ptr<torch::nn::Module>>;

// The BatchNorm that normalises `conv`'s output, by the zoo's (and torchvision's) names:
// "...convK" feeds "...bnK"; a numbered layer "...i" of a Sequential feeds "...i+1".
FoldableBatchNorm2dImpl* batchnorm_after(const ModuleMap& modules, const std::string& conv, int64_t channels) {
  const auto dot = conv.rfind('.');
  const std::string parent = dot == std::string::npos ? "" : conv.substr(0, dot + 1);
  const std::string last = dot == std::string::npos ? conv : conv.substr(dot + 1);
  std::string candidate;
  if (last.rfind("conv", 0) == 0) candidate = parent + "bn" + last.substr(4);
  else if (!last.empty() && last.find_first_not_of("0123456789") == std::string::npos)
    candidate = parent + std::to_string(std::stoll(last) + 1);
  if (candidate.empty() || !modules.contains(candidate)) return nullptr;
  auto* bn = modules[candidate]->as<FoldableBatchNorm2dImpl>();
  if (!bn || bn->num_features != channels) return nullptr;
  return bn;
}

// Why `conv` cannot run in the engine, or empty.
std::string unsupported(const PrunableConv2dImpl& conv, const LayerScheme& layer) {
  const auto& o = conv.options;
  if (layer.N >= layer.M) return "dense in the scheme";
  if (conv.weight.numel() / conv.weight.size(0) % layer.M != 0) return "rows do not split into groups of M";
  if (!c10::holds_alternative<torch::ExpandingArray<2>>(o.padding())) return "padding mode";
  const auto pad = c10::get<torch::ExpandingArray<2>>(o.padding());
  if (o.stride()->at(0) != o.stride()->at(1) || pad->at(0) != pad->at(1) || o.dilation()->at(0) != 1 ||
      o.dilation()->at(1) != 1 || !c10::holds_alternative<torch::enumtype::kZeros>(o.padding_mode()))
    return "asymmetric stride or padding, or dilation";
  return {};
}

}  // namespace

EngineLayers use_engine(torch::nn::Module& model, const Scheme& scheme, double max_density) {
  torch::NoGradGuard no_grad;
  const auto modules = model.named_modules("", /*include_self=*/false);
  EngineLayers out;
  // Every layer is checked and compressed before any is switched: a failure leaves the
  // model as it was.
  std::vector<std::function<void()>> switches;
  std::shared_ptr<const NmConv2d> channels_last_witness;  // an engine conv that runs channels-last
  for (const auto& layer : scheme.layers) {
    if (!modules.contains(layer.name)) fail("the model has no layer {} (the scheme is another model's)", layer.name);
    const auto& module = modules[layer.name];
    if (layer.N < layer.M && layer.N > max_density * static_cast<double>(layer.M)) {
      out.dense.push_back(fmt::format("{} ({}:{}, denser than the engine is used for)", layer.name, layer.N, layer.M));
      continue;
    }
    if (auto* conv = module->as<PrunableConv2dImpl>()) {
      if (const auto why = unsupported(*conv, layer); !why.empty()) {
        out.dense.push_back(layer.name + " (" + why + ")");
        continue;
      }
      auto weight = conv->weight.detach().to(torch::kFloat).clone();
      at::Tensor bias = conv->options.bias() ? conv->bias.detach().to(torch::kFloat).clone() : at::Tensor();
      if (auto* bn = batchnorm_after(modules, layer.name, weight.size(0))) {
        // y = (conv(x) + b - mean) * gamma / sqrt(var + eps) + beta: a per-output-channel
        // scale, which keeps every group's zeros where they are.
        const auto scale = (bn->running_var.to(torch::kFloat) + bn->eps).rsqrt() * bn->weight.detach().to(torch::kFloat);
        auto shift = bn->bias.detach().to(torch::kFloat) - bn->running_mean.to(torch::kFloat) * scale;
        if (bias.defined()) shift = shift + bias * scale;
        weight.mul_(scale.view({-1, 1, 1, 1}));
        bias = shift;
        switches.push_back([bn] { bn->set_folded(true); });
        ++out.folded_batchnorms;
      }
      const auto& o = conv->options;
      auto nm = std::make_shared<NmConv2d>(compress_nm_checked(layer.name, weight, layer.N, layer.M, scheme.layout), bias,
                                           ConvGeometry{o.stride()->at(0), c10::get<torch::ExpandingArray<2>>(o.padding())->at(0), o.groups()});
      switches.push_back([conv, nm] {
        conv->set_forward_override([nm](const torch::Tensor& x) { return nm->forward(x); },
                                   [nm](const torch::Tensor& x, const torch::Tensor& r) { return nm->forward(x, true, r); });
      });
      if (!channels_last_witness && nm->runs_channels_last()) channels_last_witness = nm;
      out.engine.push_back(layer.name);
    } else if (auto* linear = module->as<PrunableLinearImpl>()) {
      if (layer.N >= layer.M || linear->weight.size(1) % layer.M != 0) {
        out.dense.push_back(layer.name + (layer.N >= layer.M ? " (dense in the scheme)" : " (rows do not split into groups of M)"));
        continue;
      }
      auto nm = std::make_shared<NmLinear>(
          compress_nm_checked(layer.name, linear->weight.detach(), layer.N, layer.M, scheme.layout),
          linear->options.bias() ? linear->bias.detach() : at::Tensor());
      switches.push_back([linear, nm] { linear->set_forward_override([nm](const torch::Tensor& x) { return nm->forward(x); }); });
      out.engine.push_back(layer.name);
    } else {
      fail("layer {} is not a PrunableConv2d or PrunableLinear", layer.name);
    }
  }
  // The convolutions left to LibTorch take channels-last input while the engine's run
  // channels-last (checked at each call: the ISA can be lowered later), in its own strides:
  // a 1-channel image keeps NCHW strides through contiguous(ChannelsLast), and LibTorch would
  // run the stem NCHW.
  if (channels_last_witness) {
    const std::set<std::string> switched(out.engine.begin(), out.engine.end());
    for (const auto& item : modules) {
      auto* conv = item.value()->as<PrunableConv2dImpl>();
      if (!conv || switched.count(item.key())) continue;
      switches.push_back([conv, witness = channels_last_witness] {
        conv->set_forward_override([conv, witness](const torch::Tensor& x) {
          return conv->dense_forward(witness->runs_channels_last() ? with_format_strides(x, at::MemoryFormat::ChannelsLast) : x);
        });
      });
    }
  }
  for (const auto& flip : switches) flip();
  return out;
}

}  // namespace domino::engine
