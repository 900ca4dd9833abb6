// torchvision's RegNetX-3.2GF (Radosavovic et al. 2020, as pycls trains it), with
// torchvision's module names (stem.0, trunk_output.block1.block1-0.f.a.0, ..., fc).
#include <fmt/format.h>
#include <torch/torch.h>

#include "domino/models/models.h"
#include "models/conv_bn_relu.h"
#include "models/resnet_blocks.h"

namespace domino {
namespace {

using blocks::conv;

struct StageShape {
  int64_t width, depth;
};
// torchvision's BlockParams.from_init_params(depth=25, w_0=88, w_a=26.31, w_m=2.25,
// group_width=48) evaluates to these stages (checked against torchvision 0.14).
constexpr StageShape kRegNetX32[] = {{96, 2}, {192, 6}, {432, 15}, {1008, 2}};
constexpr int64_t kGroupWidth = 48, kStemWidth = 32;

// Conv + BN (+ ReLU): torchvision's Conv2dNormActivation, children named 0, 1, 2.
torch::nn::Sequential conv_bn(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t groups, bool relu) {
  torch::nn::Sequential s(conv(in, out, kernel, stride, groups), FoldableBatchNorm2d(out));
  if (relu) s->push_back(torch::nn::ReLU(torch::nn::ReLUOptions(true)));  // in place, as torchvision
  return s;
}

// Children run in order, under names of our choosing. (LibTorch's Sequential takes names
// too, but cannot hold another Sequential: its forward is a template.)
class ChainImpl : public torch::nn::Module {
 public:
  template <typename M>
  void add(const std::string& name, M module) {
    auto child = register_module(name, module);
    steps_.push_back([child](const torch::Tensor& x) mutable { return child->forward(x); });
  }
  torch::Tensor forward(torch::Tensor x) {
    for (const auto& step : steps_) x = step(x);
    return x;
  }

 private:
  std::vector<std::function<torch::Tensor(const torch::Tensor&)>> steps_;
};
TORCH_MODULE(Chain);

// ResBottleneckBlock with bottleneck multiplier 1 and no squeeze-excitation (the X family).
class ResBottleneckBlockImpl : public torch::nn::Module {
 public:
  ResBottleneckBlockImpl(int64_t in, int64_t out, int64_t stride)
      : a(conv_bn(in, out, 1, 1, 1, true)), b(conv_bn(out, out, 3, stride, out / kGroupWidth, true)),
        c(conv_bn(out, out, 1, 1, 1, false)) {
    if (in != out || stride != 1) proj = register_module("proj", conv_bn(in, out, 1, stride, 1, false));
    Chain f;  // f.a, f.b, f.c: torchvision's names
    f->add("a", a);
    f->add("b", b);
    f->add("c", c);
    register_module("f", f);
  }

  // The shortcut first: f.c's epilogue adds it (forward_fused).
  torch::Tensor forward(const torch::Tensor& x) {
    const auto shortcut = proj ? proj->forward(x) : x;
    return forward_fused(c, forward_fused(b, forward_fused(a, x)), shortcut);
  }

  torch::nn::Sequential proj{nullptr}, a, b, c;
};
TORCH_MODULE(ResBottleneckBlock);

class RegNetX : public Network {
 public:
  explicit RegNetX(ModelOptions options) {
    stem = register_module("stem", conv_bn(options.in_channels, kStemWidth, 3, 2, 1, true));
    Chain trunk;
    int64_t in = kStemWidth, s = 1;
    for (const auto& stage_shape : kRegNetX32) {
      torch::nn::Sequential stage;
      for (int64_t b = 0; b < stage_shape.depth; ++b) {
        stage->push_back(fmt::format("block{}-{}", s, b), ResBottleneckBlock(in, stage_shape.width, b == 0 ? 2 : 1));
        in = stage_shape.width;
      }
      trunk->add(fmt::format("block{}", s++), stage);
    }
    trunk_output = register_module("trunk_output", trunk);
    fc = register_module("fc", PrunableLinear(in, options.num_classes));
    init_weights();
  }

  torch::Tensor forward(torch::Tensor x) override {
    x = trunk_output->forward(forward_fused(stem, x));
    return fc(torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1));
  }

  torch::nn::Sequential stem{nullptr};
  Chain trunk_output{nullptr};
  PrunableLinear fc{nullptr};

 private:
  // torchvision's RegNet initialisation: N(0, sqrt(2 / fan_out)) convs, N(0, 0.01) classifier.
  void init_weights() {
    torch::NoGradGuard no_grad;
    for (auto& m : modules(/*include_self=*/false)) {
      if (auto* c = m->as<torch::nn::Conv2dImpl>()) {
        const auto& k = c->options.kernel_size();
        c->weight.normal_(0.0, std::sqrt(2.0 / static_cast<double>(k->at(0) * k->at(1) * c->options.out_channels())));
      } else if (auto* bn = m->as<FoldableBatchNorm2dImpl>()) {
        bn->weight.fill_(1);
        bn->bias.zero_();
      } else if (auto* l = m->as<torch::nn::LinearImpl>()) {
        l->weight.normal_(0.0, 0.01);
        l->bias.zero_();
      }
    }
  }
};

}  // namespace

std::shared_ptr<Network> make_regnet_x_3_2gf(ModelOptions options) { return std::make_shared<RegNetX>(options); }

}  // namespace domino
