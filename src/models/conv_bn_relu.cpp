#include "models/conv_bn_relu.h"

#include <torch/torch.h>

#include "domino/core/error.h"

namespace domino {
namespace {

using Step = std::vector<torch::nn::AnyModule>::iterator;

// The convolution at `at` and the BatchNorm after it, both before `end`, or nulls.
std::pair<PrunableConv2dImpl*, FoldableBatchNorm2dImpl*> conv_bn_at(Step at, Step end) {
  if (at == end || std::next(at) == end) return {nullptr, nullptr};
  auto* conv = at->ptr()->as<PrunableConv2dImpl>();
  auto* bn = std::next(at)->ptr()->as<FoldableBatchNorm2dImpl>();
  if (!conv || !bn) return {nullptr, nullptr};
  return {conv, bn};
}

}  // namespace

torch::Tensor forward_fused(torch::nn::Sequential& seq, torch::Tensor x, const torch::Tensor& residual) {
  auto end = seq->end();
  std::pair<PrunableConv2dImpl*, FoldableBatchNorm2dImpl*> last{nullptr, nullptr};
  if (residual.defined()) {
    if (seq->size() >= 2) last = conv_bn_at(end = std::prev(seq->end(), 2), seq->end());
    if (!last.first) fail("a residual branch must end in a convolution and its BatchNorm");
  }
  for (auto it = seq->begin(); it != end; ++it) {
    const auto [conv, bn] = conv_bn_at(it, end);
    if (conv && std::next(it, 2) != end && std::next(it, 2)->ptr()->as<torch::nn::ReLUImpl>()) {
      x = conv_bn_relu(*conv, *bn, x);
      it += 2;
    } else {
      x = it->forward(x);
    }
  }
  return residual.defined() ? conv_bn_relu(*last.first, *last.second, x, residual) : x;
}

}  // namespace domino
