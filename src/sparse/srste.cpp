#include "domino/sparse/srste.h"

#include <torch/torch.h>

#include "domino/core/error.h"

namespace domino {
namespace {

struct SrSte : public torch::autograd::Function<SrSte> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& weight, int64_t N, int64_t M,
                               int64_t layout, double decay) {
    auto masked = weight * nm_mask(weight, N, M, static_cast<Layout>(layout));
    ctx->save_for_backward({weight, masked});
    ctx->saved_data["decay"] = decay;
    return masked;
  }
  // (1 - mask) ⊙ W = W - W ⊙ mask, exactly (the mask is 0 or 1): two passes over the
  // weight where the formula as written takes four, each a LibTorch op whose fixed cost
  // dominates on the small weights of a CIFAR network.
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const double decay = ctx->saved_data["decay"].toDouble();
    return {grads[0].add(saved[0] - saved[1], decay), {}, {}, {}, {}};
  }
};

}  // namespace

at::Tensor srste_weight(const at::Tensor& weight, int64_t N, int64_t M, Layout layout, double decay) {
  return SrSte::apply(weight, N, M, static_cast<int64_t>(layout), decay);
}

void install_srste(Network& model, const Scheme& scheme, double decay) {
  for (const auto& l : scheme.layers) {
    if (l.N >= l.M) continue;
    const int64_t N = l.N, M = l.M;
    const Layout layout = scheme.layout;
    prunable_layer(model, l.name).set_transform(
        [N, M, layout, decay](const torch::Tensor& w) { return srste_weight(w, N, M, layout, decay); });
  }
}

void hard_prune(Network& model, const Scheme& scheme) {
  torch::NoGradGuard no_grad;
  for (const auto& l : scheme.layers) {
    auto layer = prunable_layer(model, l.name);
    layer.set_transform(nullptr);
    if (l.N < l.M) layer.weight.mul_(nm_mask(layer.weight, l.N, l.M, scheme.layout));
  }
}

}  // namespace domino
