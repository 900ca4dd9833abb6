#include "models/batchnorm_relu.h"

#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "models/batchnorm_relu_kernels.h"

namespace domino {
namespace {

namespace k = bn_kernels;

// Chunks of about 16 K values: enough work per task, and a split that does not depend on
// the thread count, so neither do the sums.
int64_t chunk_rows(int64_t C) { return std::max<int64_t>(1, 16384 / C); }
int64_t chunks_of(const at::Tensor& x) {
  const int64_t C = x.size(1), step = chunk_rows(C);
  return (x.numel() / C + step - 1) / step;
}

k::Storage storage_of(const at::Tensor& t) {
  return t.scalar_type() == at::kBFloat16 ? k::Storage::BFloat16 : k::Storage::Float;
}

// Runs `body(chunk, element offset of its first row, chunk index)` over x's chunks in
// parallel.
template <typename Body>
void per_chunk(const at::Tensor& x, Body body) {
  const int64_t C = x.size(1), rows = x.numel() / C, step = chunk_rows(C);
  at::parallel_for(0, chunks_of(x), 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) body(k::Chunk{std::min(step, rows - i * step), C}, i * step * C, i);
  });
}

// Runs `body(chunk, element offset of its first row, its partials)` over x's chunks in
// parallel, each adding into its own `partials_per_chunk` x C floats, and returns the
// partials summed over the chunks in double: partials_per_chunk x C values.
template <typename Body>
std::vector<double> per_channel(const at::Tensor& x, int64_t partials_per_chunk, Body body) {
  const int64_t width = partials_per_chunk * x.size(1), chunks = chunks_of(x);
  std::vector<float> partials(static_cast<size_t>(chunks * width), 0.0f);
  per_chunk(x, [&](k::Chunk c, int64_t at, int64_t i) { body(c, at, partials.data() + i * width); });
  std::vector<double> sums(static_cast<size_t>(width), 0.0);
  for (int64_t i = 0; i < chunks; ++i)
    for (int64_t j = 0; j < width; ++j) sums[j] += partials[i * width + j];
  return sums;
}

const char* at_offset(const at::Tensor& t, int64_t elements) {
  return static_cast<const char*>(t.data_ptr()) + elements * static_cast<int64_t>(t.element_size());
}
char* at_offset(at::Tensor& t, int64_t elements) {
  return static_cast<char*>(t.data_ptr()) + elements * static_cast<int64_t>(t.element_size());
}

// The per-channel arithmetic runs as plain loops over C floats: as tensor ops it was some
// 40 small LibTorch calls a layer, as long as the passes themselves on ResNet-20's
// 7 x 7 layers.
struct BatchNormRelu : public torch::autograd::Function<BatchNormRelu> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& residual,
                            const at::Tensor& weight, const at::Tensor& bias, at::Tensor running_mean, at::Tensor running_var,
                            double momentum, double eps, bool has_residual) {
    const auto s = storage_of(x);
    const int64_t C = x.size(1);
    const double n = static_cast<double>(x.numel() / C);
    // Saved for the backward: γ σ⁻¹ (its factor too), μ, σ⁻¹.
    auto stats = at::empty({3, C}, x.options().dtype(at::kFloat));
    float *scale = stats.data_ptr<float>(), *mean = scale + C, *invstd = mean + C;
    const auto sums = per_channel(x, 1, [&](k::Chunk c, int64_t at, float* out) {
      k::channel_sums(s, at_offset(x, at), c, out);
    });
    for (int64_t c = 0; c < C; ++c) mean[c] = static_cast<float>(sums[c] / n);
    const auto squares = per_channel(x, 1, [&](k::Chunk c, int64_t at, float* out) {
      k::channel_square_deviations(s, at_offset(x, at), c, mean, out);
    });
    const float* w = weight.data_ptr<float>();
    const float* bias_ = bias.data_ptr<float>();
    float *rm = running_mean.data_ptr<float>(), *rv = running_var.data_ptr<float>();
    const auto keep = static_cast<float>(1 - momentum), take = static_cast<float>(momentum);
    const auto take_unbiased = static_cast<float>(momentum * n / std::max(n - 1, 1.0));
    std::vector<float> shift(static_cast<size_t>(C));
    for (int64_t c = 0; c < C; ++c) {
      const double var = squares[c] / n;  // biased, to normalise
      invstd[c] = static_cast<float>(1 / std::sqrt(var + eps));
      rm[c] = rm[c] * keep + take * mean[c];
      rv[c] = rv[c] * keep + take_unbiased * static_cast<float>(var);
      scale[c] = w[c] * invstd[c];
      shift[c] = bias_[c] - mean[c] * scale[c];
    }
    auto y = at::empty_like(x, x.options(), at::MemoryFormat::ChannelsLast);
    per_chunk(x, [&](k::Chunk c, int64_t at, int64_t) {
      k::normalize_relu(s, at_offset(x, at), has_residual ? at_offset(residual, at) : nullptr, c, scale, shift.data(),
                        at_offset(y, at));
    });
    ctx->save_for_backward({x, y, stats});
    ctx->saved_data["residual"] = has_residual;
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &y = saved[1];
    const auto dy = grads[0].to(x.scalar_type()).contiguous(at::MemoryFormat::ChannelsLast);
    const auto s = storage_of(x);
    const int64_t C = x.size(1);
    const double n = static_cast<double>(x.numel() / C);
    const float *a = saved[2].data_ptr<float>(), *mean = a + C, *invstd = mean + C;
    const auto sums = per_channel(x, 2, [&](k::Chunk c, int64_t at, float* out) {
      k::backward_sums(s, at_offset(dy, at), at_offset(y, at), at_offset(x, at), c, mean, out, out + C);
    });
    // dx = γ σ⁻¹ (dz − Σdz / n − (x − μ) σ⁻² Σ dz (x − μ) / n); dγ = σ⁻¹ Σ dz (x − μ), dβ = Σ dz.
    const auto options = x.options().dtype(at::kFloat);
    auto dweight = at::empty({C}, options), dbias = at::empty({C}, options);
    float *dw = dweight.data_ptr<float>(), *db = dbias.data_ptr<float>();
    std::vector<float> b(static_cast<size_t>(C)), kx(static_cast<size_t>(C));
    for (int64_t c = 0; c < C; ++c) {
      const auto sum_dz = static_cast<float>(sums[c]), sum_dz_xmu = static_cast<float>(sums[C + c]);
      b[c] = static_cast<float>(a[c] * sum_dz / n);
      kx[c] = static_cast<float>(a[c] * invstd[c] * invstd[c] * sum_dz_xmu / n);
      dw[c] = sum_dz_xmu * invstd[c];
      db[c] = sum_dz;
    }
    auto dx = at::empty_like(x, x.options(), at::MemoryFormat::ChannelsLast);
    const bool residual = ctx->saved_data["residual"].toBool() && ctx->needs_input_grad(1);
    at::Tensor dr = residual ? at::empty_like(x, x.options(), at::MemoryFormat::ChannelsLast) : at::Tensor();
    per_chunk(x, [&](k::Chunk c, int64_t at, int64_t) {
      k::backward_dx(s, at_offset(dy, at), at_offset(y, at), at_offset(x, at), c, mean, a, b.data(), kx.data(),
                     at_offset(dx, at), residual ? at_offset(dr, at) : nullptr);
    });
    return {dx, dr, dweight, dbias, {}, {}, {}, {}, {}};
  }
};

bool kernels_available() {
#if defined(__x86_64__)
  static const bool yes = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl");
  return yes;
#else
  return false;  // the kernels' unit is built for x86-64 only
#endif
}

bool channels_last_4d(const at::Tensor& t) { return t.dim() == 4 && t.is_contiguous(at::MemoryFormat::ChannelsLast); }

bool float_vector(const at::Tensor& t, int64_t C) {
  return t.defined() && t.device().is_cpu() && t.scalar_type() == at::kFloat && t.dim() == 1 && t.size(0) == C &&
         t.is_contiguous();
}

}  // namespace

bool batchnorm_relu_applies(const at::Tensor& x, const at::Tensor& residual, const BatchNormParams& p) {
  if (!kernels_available()) return false;
  if (!x.device().is_cpu() || (x.scalar_type() != at::kFloat && x.scalar_type() != at::kBFloat16)) return false;
  // One value a channel: LibTorch's BatchNorm refuses it in training, and so should we.
  if (!channels_last_4d(x) || x.numel() <= x.size(1) || x.size(1) % 16 != 0) return false;
  if (residual.defined() && (residual.sizes() != x.sizes() || residual.scalar_type() != x.scalar_type() ||
                             !residual.device().is_cpu() || !channels_last_4d(residual)))
    return false;
  const int64_t C = x.size(1);
  return float_vector(p.weight, C) && float_vector(p.bias, C) && float_vector(p.running_mean, C) &&
         float_vector(p.running_var, C);
}

at::Tensor batchnorm_relu_train(const at::Tensor& x, const at::Tensor& residual, const BatchNormParams& p) {
  // A custom Function's inputs must be defined tensors: no residual travels as an empty one.
  const bool has_residual = residual.defined();
  return BatchNormRelu::apply(x, has_residual ? residual : at::empty({0}, x.options()), p.weight, p.bias, p.running_mean,
                              p.running_var, p.momentum, p.eps, has_residual);
}

}  // namespace domino
