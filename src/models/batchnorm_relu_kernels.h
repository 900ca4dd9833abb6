// The loops of the fused BatchNorm + ReLU training step (batchnorm_relu.h) over a
// channels-last tensor seen as `rows` x `C` (rows = N x H x W, C a multiple of 16): AVX-512,
// 16 channels a vector, arithmetic in float whether the storage is float or bf16. Where the
// CPU lacks AVX-512 (batchnorm_relu.cpp checks), or the build is not for x86-64, the step runs
// LibTorch's ops instead.
// Each call does one chunk of rows and adds to per-channel sums, so the caller splits the
// work and sums the chunks' partials in a fixed order (the same result for any thread
// count).
#pragma once

#include <cstdint>

namespace domino::bn_kernels {

enum class Storage { Float, BFloat16 };

struct Chunk {
  int64_t rows;  // of this chunk
  int64_t C;     // a multiple of 16
};

// out[c] += sum over rows of x[r][c].
void channel_sums(Storage s, const void* x, Chunk k, float* out);
// out[c] += sum over rows of (x[r][c] - mean[c])^2.
void channel_square_deviations(Storage s, const void* x, Chunk k, const float* mean, float* out);
// y = relu(x * scale + shift [+ residual]); residual may be null.
void normalize_relu(Storage s, const void* x, const void* residual, Chunk k, const float* scale, const float* shift, void* y);
// With dz = dy except where y <= 0 (there 0): sum_dz[c] += dz, sum_dz_xmu[c] += dz * (x - mean).
void backward_sums(Storage s, const void* dy, const void* y, const void* x, Chunk k, const float* mean, float* sum_dz,
                   float* sum_dz_xmu);
// dx = a * dz - b - (x - mean) * kx, per channel; d_residual (may be null) = dz.
void backward_dx(Storage s, const void* dy, const void* y, const void* x, Chunk k, const float* mean, const float* a,
                 const float* b, const float* kx, void* dx, void* d_residual);

}  // namespace domino::bn_kernels
