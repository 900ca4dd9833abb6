// The fused BatchNorm + ReLU training step (src/models/batchnorm_relu.h) against LibTorch's
// BatchNorm, add and ReLU: outputs, every gradient, running statistics.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "domino/core/runtime.h"
#include "domino/models/prunable.h"
#include "models/batchnorm_relu.h"

namespace domino {
namespace {

bool cpu_has_kernels() {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
}

struct Case {
  std::vector<int64_t> shape;
  at::ScalarType dtype;
  bool residual;
};

struct Outcome {
  at::Tensor y, dx, dr, dweight, dbias, running_mean, running_var;
};

// relu(bn(x) + r) and its gradients for `g`, fused (through the module's forward_relu) or
// as LibTorch computes them in float from the same values (the reference).
Outcome run(const Case& c, const at::Tensor& x0, const at::Tensor& r0, const at::Tensor& g, bool fused) {
  const int64_t C = c.shape[1];
  FoldableBatchNorm2d bn(C);
  bn->train();
  torch::NoGradGuard no_grad;
  bn->weight.copy_(torch::linspace(0.5, 1.5, C));
  bn->bias.copy_(torch::linspace(-0.3, 0.3, C));
  bn->running_mean.fill_(0.2);
  bn->running_var.fill_(1.5);
  const auto dtype = fused ? c.dtype : at::kFloat;
  auto x = x0.to(dtype).contiguous(at::MemoryFormat::ChannelsLast).set_requires_grad(true);
  auto r = c.residual ? r0.to(dtype).contiguous(at::MemoryFormat::ChannelsLast).set_requires_grad(true) : at::Tensor();
  at::Tensor y;
  {
    torch::AutoGradMode grad(true);
    if (fused) {
      y = bn->forward_relu(x, r);
      if (cpu_has_kernels()) {
        EXPECT_NE(y.grad_fn()->name().find("BatchNormRelu"), std::string::npos) << y.grad_fn()->name();
      }
    } else {
      y = bn->forward(x);
      y = (c.residual ? y + r : y).relu();
    }
    y.backward(g.to(dtype).contiguous(at::MemoryFormat::ChannelsLast));
  }
  EXPECT_EQ(bn->num_batches_tracked.item<int64_t>(), 1);
  return {y.to(at::kFloat), x.grad().to(at::kFloat), c.residual ? r.grad().to(at::kFloat) : at::Tensor(),
          bn->weight.grad().clone(), bn->bias.grad().clone(), bn->running_mean.clone(), bn->running_var.clone()};
}

void expect_close(const at::Tensor& a, const at::Tensor& b, double tol, const std::string& what) {
  ASSERT_EQ(a.sizes(), b.sizes()) << what;
  const double err = (a - b).abs().max().item<double>(), scale = b.abs().max().item<double>();
  EXPECT_LE(err, tol * std::max(1.0, scale)) << what << ": max |difference| " << err << " at scale " << scale;
}

TEST(FusedBatchNormRelu, MatchesLibTorchInFloatAndBf16WithAndWithoutResidual) {
  set_threads(2);
  const std::vector<Case> cases = {
      {{3, 16, 5, 7}, at::kFloat, false},   {{3, 16, 5, 7}, at::kFloat, true},    {{2, 48, 3, 3}, at::kFloat, true},
      {{8, 16, 40, 40}, at::kFloat, true},  // 13 chunks of rows
      {{3, 16, 5, 7}, at::kBFloat16, false}, {{4, 32, 9, 9}, at::kBFloat16, true}, {{8, 16, 40, 40}, at::kBFloat16, true},
  };
  for (const auto& c : cases) {
    const std::string name = std::string(c10::toString(c.dtype)) + " " + c10::str(c.shape) + (c.residual ? " +r" : "");
    torch::manual_seed(1);
    // Inputs representable in the case's dtype, so both sides start from the same values;
    // a mean far from zero, as a convolution's output can have.
    const auto x0 = (torch::randn(c.shape) * 2 + 3).to(c.dtype).to(at::kFloat);
    const auto r0 = torch::randn(c.shape).to(c.dtype).to(at::kFloat);
    const auto g = torch::randn(c.shape).to(c.dtype).to(at::kFloat);
    EXPECT_EQ(batchnorm_relu_applies(x0.to(c.dtype).contiguous(at::MemoryFormat::ChannelsLast),
                                     c.residual ? r0.to(c.dtype).contiguous(at::MemoryFormat::ChannelsLast) : at::Tensor(),
                                     BatchNormParams{torch::ones({c.shape[1]}), torch::zeros({c.shape[1]}),
                                                     torch::zeros({c.shape[1]}), torch::ones({c.shape[1]}), 0.1, 1e-5}),
              cpu_has_kernels())
        << name;
    const auto fused = run(c, x0, r0, g, true), ref = run(c, x0, r0, g, false);
    // bf16 outputs and input gradients are rounded to 8 significant bits; the sums inside
    // are float either way.
    const double tol = c.dtype == at::kFloat ? 1e-5 : 1.0 / 64;
    expect_close(fused.y, ref.y, tol, name + " output");
    expect_close(fused.dx, ref.dx, tol, name + " input gradient");
    if (c.residual) expect_close(fused.dr, ref.dr, tol, name + " residual gradient");
    expect_close(fused.dweight, ref.dweight, c.dtype == at::kFloat ? 1e-5 : 1e-3, name + " weight gradient");
    expect_close(fused.dbias, ref.dbias, c.dtype == at::kFloat ? 1e-5 : 1e-3, name + " bias gradient");
    expect_close(fused.running_mean, ref.running_mean, 1e-6, name + " running mean");
    expect_close(fused.running_var, ref.running_var, 1e-5, name + " running variance");
  }
}

TEST(FusedBatchNormRelu, GivesTheSameBitsForAnyThreadCount) {
  torch::manual_seed(2);
  const Case c{{8, 32, 24, 24}, at::kBFloat16, true};
  const auto x0 = torch::randn(c.shape), r0 = torch::randn(c.shape), g = torch::randn(c.shape);
  set_threads(1);
  const auto one = run(c, x0, r0, g, true);
  set_threads(2);
  const auto two = run(c, x0, r0, g, true);
  EXPECT_TRUE(torch::equal(one.y, two.y));
  EXPECT_TRUE(torch::equal(one.dx, two.dx));
  EXPECT_TRUE(torch::equal(one.dweight, two.dweight));
  EXPECT_TRUE(torch::equal(one.running_var, two.running_var));
}

TEST(FusedBatchNormRelu, KeepsNaNAsLibTorchsReluDoes) {
  set_threads(2);
  const Case c{{2, 16, 4, 4}, at::kFloat, false};
  auto x0 = torch::randn(c.shape);
  x0[1][3][2][2] = std::numeric_limits<float>::quiet_NaN();  // channel 3's statistics become NaN
  const auto fused = run(c, x0, {}, torch::ones(c.shape), true);
  EXPECT_TRUE(fused.y.select(1, 3).isnan().all().item<bool>());
  EXPECT_FALSE(fused.y.select(1, 4).isnan().any().item<bool>());
}

// Inputs the kernels do not take run LibTorch's BatchNorm, add and ReLU, with the same
// values: NCHW strides, channels not in 16s, other dtypes, a residual of another dtype,
// one value a channel, evaluation mode.
TEST(FusedBatchNormRelu, OtherInputsRunLibTorchsOps) {
  set_threads(2);
  const BatchNormParams p{torch::ones({16}), torch::zeros({16}), torch::zeros({16}), torch::ones({16}), 0.1, 1e-5};
  const auto cl = [](const at::Tensor& t) { return t.contiguous(at::MemoryFormat::ChannelsLast); };
  const auto x = torch::randn({2, 16, 5, 5});
  EXPECT_FALSE(batchnorm_relu_applies(x, {}, p));  // NCHW
  EXPECT_FALSE(batchnorm_relu_applies(cl(x).to(at::kDouble), {}, p));
  EXPECT_FALSE(batchnorm_relu_applies(cl(x).to(at::kHalf), {}, p));
  EXPECT_FALSE(batchnorm_relu_applies(cl(x), cl(x).to(at::kBFloat16), p));
  EXPECT_FALSE(batchnorm_relu_applies(cl(torch::randn({2, 24, 5, 5})), {}, p));
  EXPECT_FALSE(batchnorm_relu_applies(cl(torch::randn({1, 16, 1, 1})), {}, p));  // LibTorch refuses it in training
  EXPECT_TRUE(batchnorm_relu_applies(cl(torch::randn({2, 16, 1, 1})), {}, p) || !cpu_has_kernels());
  for (const bool training : {true, false}) {
    FoldableBatchNorm2d bn(24), reference(24);
    bn->train(training);
    reference->train(training);
    const auto x24 = cl(torch::randn({2, 24, 5, 5})), r = cl(torch::randn({2, 24, 5, 5}));
    const auto y = bn->forward_relu(x24, r);
    EXPECT_TRUE(torch::allclose(y, (reference->forward(x24) + r).relu())) << training;
    EXPECT_TRUE(torch::equal(bn->running_var, reference->running_var)) << training;
  }
}

}  // namespace
}  // namespace domino
