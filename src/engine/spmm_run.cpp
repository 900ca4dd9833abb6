#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "engine/spmm_kernel.h"

namespace domino::engine {

void run_spmm(const SpmmTask* tasks, int64_t task_count, int64_t rows) {
  if (task_count == 0 || rows == 0) return;
  const SpmmKernel kernel = active_kernel();
  // Blocks of 16 rows (a multiple of every kernel's row blocking), fewer when there are
  // too few blocks to keep every thread busy.
  const int64_t threads = at::get_num_threads();
  int64_t block = 16;
  while (block > 1 && task_count * ((rows + block - 1) / block) < 4 * threads) block /= 2;
  const int64_t blocks = (rows + block - 1) / block;
  at::parallel_for(0, task_count * blocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t row = (i % blocks) * block;
      kernel(tasks[i / blocks], row, std::min(rows, row + block));
    }
  });
}

float* scratch(int slot, int64_t floats) {
  constexpr int64_t kLine = 16;  // floats in a 64-byte cache line: the pointer is aligned to it
  thread_local std::vector<float> buffers[2];
  auto& buffer = buffers[slot];
  if (static_cast<int64_t>(buffer.size()) < floats + kLine) buffer.resize(static_cast<size_t>(floats + kLine));
  const auto address = reinterpret_cast<uintptr_t>(buffer.data());
  return buffer.data() + (kLine - address / sizeof(float) % kLine) % kLine;
}

}  // namespace domino::engine
