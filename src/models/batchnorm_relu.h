// relu(batch_norm(x) [+ residual]) for training, as one autograd node with its own loops
// (batchnorm_relu_kernels.h) for channels-last CPU tensors in float or bf16: three passes
// over x forward and two backward, where LibTorch's BatchNorm, add and ReLU (and their
// backwards) each pass over the activations again — and LibTorch 1.13's bf16 BatchNorm
// backward and ReLU are slower than its float ones (docs/benchmarks.md). The values are
// BatchNorm's: batch statistics (biased variance to normalise, unbiased into the running
// variance), the same running-statistics update, gradients for x, the residual, the
// weight and the bias.
#pragma once

#include <ATen/ATen.h>

namespace domino {

struct BatchNormParams {
  at::Tensor weight, bias, running_mean, running_var;  // float, [C]
  double momentum, eps;
};

// Whether batchnorm_relu_train takes these inputs: an AVX-512 CPU, float or bf16, 4-d
// channels-last strides, channels a multiple of 16, a residual (if any) alike, float
// parameters.
bool batchnorm_relu_applies(const at::Tensor& x, const at::Tensor& residual, const BatchNormParams& p);

// Training-mode relu(batch_norm(x) + residual); updates the running statistics.
at::Tensor batchnorm_relu_train(const at::Tensor& x, const at::Tensor& residual, const BatchNormParams& p);

}  // namespace domino
