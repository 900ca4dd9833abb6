// Helpers shared by the benchmarks.
#pragma once

#include <benchmark/benchmark.h>

#include "domino/data/loader.h"

namespace domino::bench {

// Takes one batch per benchmark iteration, epoch after epoch; reports images/s.
inline void consume_batches(benchmark::State& state, BatchLoader& loader) {
  int64_t epoch = 0;
  loader.start_epoch(epoch);
  for (auto _ : state) {
    auto batch = loader.next();
    if (!batch) {
      loader.start_epoch(++epoch);
      batch = loader.next();
    }
    benchmark::DoNotOptimize(batch->images.data_ptr());
  }
  state.counters["images/s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * loader.options().batch_size), benchmark::Counter::kIsRate);
}

}  // namespace domino::bench
