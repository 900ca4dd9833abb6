// The one inner loop every N:M layer runs (docs/engine.md): a sparse-times-dense product
// whose sparse rows are an output channel's kept weights and whose dense operand is the
// layer's input laid out so that each kept weight reads one contiguous run of it.
// No LibTorch here: these units are compiled once per instruction set.
#pragma once

#include <cstdint>

namespace domino::engine {

// y[r][q] = bias[r] + sum_k values[r][k] * x[offsets[r][k] + q] for q in [0, q_count),
// optionally clamped at zero (a fused ReLU). Every row has `nnz` kept weights.
struct SpmmTask {
  const float* x = nullptr;
  const int32_t* offsets = nullptr;  // [rows][nnz]
  const float* values = nullptr;     // [rows][nnz]
  const float* bias = nullptr;       // [rows], or null for none
  float* y = nullptr;
  int64_t y_stride = 0;  // floats between consecutive rows of y
  int64_t nnz = 0;
  int64_t q_count = 0;
  bool relu = false;
};

// Rows [row_begin, row_end) of the task. Each reads x only in
// [min offset, max offset + q_count).
using SpmmKernel = void (*)(const SpmmTask& task, int64_t row_begin, int64_t row_end);

void spmm_portable(const SpmmTask& task, int64_t row_begin, int64_t row_end);
#if defined(__x86_64__)
void spmm_avx2(const SpmmTask& task, int64_t row_begin, int64_t row_end);
void spmm_avx512(const SpmmTask& task, int64_t row_begin, int64_t row_end);
#endif
// The kernel for engine::active_isa() (isa.cpp).
SpmmKernel active_kernel();

// Runs `tasks`, which share their row count, split over LibTorch's threads by task and by
// blocks of rows (spmm_run.cpp).
void run_spmm(const SpmmTask* tasks, int64_t task_count, int64_t rows);

// Grow-only scratch of the calling thread, one per `slot`: steady-state forwards allocate
// nothing (a fresh large allocation costs a page fault per 4 KiB). Contents are undefined;
// the pointer is 64-byte aligned.
float* scratch(int slot, int64_t floats);

}  // namespace domino::engine
