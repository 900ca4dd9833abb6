// The batch pipeline: worker threads build batches ahead of the consumer and hand them
// over in order. The sample order of an epoch, and every augmentation draw, is a pure
// function of (seed, epoch, sample), so any thread count yields the same batches, an
// epoch can start at any batch (exact resume), and data-parallel ranks take disjoint
// shards of one global order.
#pragma once

#include <ATen/Tensor.h>

#include <condition_variable>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "domino/data/dataset.h"
#include "domino/data/transforms.h"

namespace domino {

struct LoaderOptions {
  int64_t batch_size = 64;
  bool shuffle = true;
  bool drop_last = true;  // a short last batch would change BatchNorm statistics mid-epoch
  uint64_t seed = 0;
  int workers = 2;        // 0: batches are built on the consumer's thread
  int prefetch = 4;       // batches built ahead of the consumer
  int rank = 0, world_size = 1;
};

struct Batch {
  at::Tensor images;  // float [B, C, H, W]
  at::Tensor labels;  // int64 [B]
};

// The indices this rank visits in `epoch` (before batching).
std::vector<int64_t> epoch_order(int64_t dataset_size, const LoaderOptions& options, int64_t epoch);

class BatchLoader {
 public:
  BatchLoader(std::shared_ptr<const Dataset> data, Pipeline pipeline, LoaderOptions options);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  int64_t batches_per_epoch() const;
  int64_t num_samples() const { return data_->size(); }
  int64_t num_classes() const { return data_->num_classes(); }
  ImageShape sample_shape() const { return shape_; }
  const LoaderOptions& options() const { return options_; }

  // Begins `epoch` at batch `first_batch`; stops any epoch in flight.
  void start_epoch(int64_t epoch, int64_t first_batch = 0);
  // The next batch of the current epoch, or nothing at its end.
  std::optional<Batch> next();

 private:
  Batch build(int64_t batch_index) const;
  void work();
  void stop_workers();

  std::shared_ptr<const Dataset> data_;
  Pipeline pipeline_;
  LoaderOptions options_;
  ImageShape shape_;

  int64_t epoch_ = 0, end_ = 0, cursor_ = 0, next_to_build_ = 0;
  std::vector<int64_t> order_;
  std::map<int64_t, Batch> ready_;
  std::exception_ptr error_;
  bool stopping_ = false;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::thread> threads_;
};

}  // namespace domino
