#include "models/batchnorm_relu.h"

#include <torch/torch.h>

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
// partials summed over the chunks in double: [partials_per_chunk, C].
template <typename Body>
at::Tensor per_channel(const at::Tensor& x, int64_t partials_per_chunk, Body body) {
  const int64_t C = x.size(1);
  auto partials = torch::zeros({chunks_of(x), partials_per_chunk, C}, x.options().dtype(at::kFloat));
  float* out = partials.data_ptr<float>();
  per_chunk(x, [&](k::Chunk c, int64_t at, int64_t i) { body(c, at, out + i * partials_per_chunk * C); });
  return partials.to(at::kDouble).sum(0);
}

const char* at_offset(const at::Tensor& t, int64_t elements) {
  return static_cast<const char*>(t.data_ptr()) + elements * static_cast<int64_t>(t.element_size());
}
char* at_offset(at::Tensor& t, int64_t elements) {
  return static_cast<char*>(t.data_ptr()) + elements * static_cast<int64_t>(t.element_size());
}

struct BatchNormRelu : public torch::autograd::Function<BatchNormRelu> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& residual,
                            const at::Tensor& weight, const at::Tensor& bias, at::Tensor running_mean, at::Tensor running_var,
                            double momentum, double eps, bool has_residual) {
    const auto s = storage_of(x);
    const int64_t C = x.size(1);
    const double n = static_cast<double>(x.numel() / C);
    const auto mean = (per_channel(x, 1, [&](k::Chunk c, int64_t at, float* out) {
                         k::channel_sums(s, at_offset(x, at), c, out);
                       }) / n).to(at::kFloat).view({C});
    const float* m = mean.data_ptr<float>();
    const auto var = (per_channel(x, 1, [&](k::Chunk c, int64_t at, float* out) {
                        k::channel_square_deviations(s, at_offset(x, at), c, m, out);
                      }) / n).view({C});  // biased, double
    const auto invstd = (var + eps).rsqrt().to(at::kFloat);
    running_mean.mul_(1 - momentum).add_(mean, momentum);
    running_var.mul_(1 - momentum).add_(var.to(at::kFloat), momentum * n / std::max(n - 1, 1.0));
    const auto scale = (weight.detach() * invstd).contiguous();
    const auto shift = (bias.detach() - mean * scale).contiguous();
    auto y = at::empty_like(x, x.options(), at::MemoryFormat::ChannelsLast);
    per_chunk(x, [&](k::Chunk c, int64_t at, int64_t) {
      k::normalize_relu(s, at_offset(x, at), has_residual ? at_offset(residual, at) : nullptr, c,
                        scale.data_ptr<float>(), shift.data_ptr<float>(), at_offset(y, at));
    });
    ctx->save_for_backward({x, y, scale, mean, invstd});  // scale = γ σ⁻¹, the backward's factor too
    ctx->saved_data["residual"] = has_residual;
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &y = saved[1], &a = saved[2], &mean = saved[3], &invstd = saved[4];
    const auto dy = grads[0].to(x.scalar_type()).contiguous(at::MemoryFormat::ChannelsLast);
    const auto s = storage_of(x);
    const int64_t C = x.size(1);
    const double n = static_cast<double>(x.numel() / C);
    const float* m = mean.data_ptr<float>();
    const auto sums = per_channel(x, 2, [&](k::Chunk c, int64_t at, float* out) {
      k::backward_sums(s, at_offset(dy, at), at_offset(y, at), at_offset(x, at), c, m, out, out + C);
    });
    const auto sum_dz = sums[0].to(at::kFloat), sum_dz_xmu = sums[1].to(at::kFloat);
    // dx = γ σ⁻¹ (dz − Σdz / n − (x − μ) σ⁻² Σ dz (x − μ) / n)
    const auto b = (a * sum_dz / n).contiguous();
    const auto kx = (a * invstd * invstd * sum_dz_xmu / n).contiguous();
    auto dx = at::empty_like(x, x.options(), at::MemoryFormat::ChannelsLast);
    const bool residual = ctx->saved_data["residual"].toBool() && ctx->needs_input_grad(1);
    at::Tensor dr = residual ? at::empty_like(x, x.options(), at::MemoryFormat::ChannelsLast) : at::Tensor();
    per_chunk(x, [&](k::Chunk c, int64_t at, int64_t) {
      k::backward_dx(s, at_offset(dy, at), at_offset(y, at), at_offset(x, at), c, m, a.data_ptr<float>(),
                     b.data_ptr<float>(), kx.data_ptr<float>(), at_offset(dx, at), residual ? at_offset(dr, at) : nullptr);
    });
    return {dx, dr, sum_dz_xmu * invstd, sum_dz, {}, {}, {}, {}, {}};
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
