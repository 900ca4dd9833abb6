#include "domino/data/loader.h"

#include <torch/torch.h>

#include <numeric>

#include "core/random.h"
#include "domino/core/error.h"
#include "domino/core/runtime.h"

namespace domino {

std::vector<int64_t> epoch_order(int64_t dataset_size, const LoaderOptions& options, int64_t epoch) {
  std::vector<int64_t> order(static_cast<size_t>(dataset_size));
  std::iota(order.begin(), order.end(), 0);
  if (options.shuffle) shuffle_in_place(order, mix_seed(options.seed, static_cast<uint64_t>(epoch)));
  if (options.world_size == 1) return order;
  const auto world = static_cast<size_t>(options.world_size), rank = static_cast<size_t>(options.rank);
  std::vector<int64_t> mine;
  if (!options.drop_last) {  // evaluation: every sample once, rank r taking every world-th
    for (size_t i = rank; i < order.size(); i += world) mine.push_back(order[i]);
    return mine;
  }
  // Training: the global batches of one process with batch B x world, each split among the
  // ranks in rank order, so that the samples (and their augmentation) of global step i are
  // the same for any world size. A tail short of a whole global batch is dropped.
  const auto batch = static_cast<size_t>(options.batch_size), global = batch * world;
  for (size_t start = 0; start + global <= order.size(); start += global) {
    const auto first = order.begin() + static_cast<std::ptrdiff_t>(start + rank * batch);
    mine.insert(mine.end(), first, first + static_cast<std::ptrdiff_t>(batch));
  }
  return mine;
}

BatchLoader::BatchLoader(std::shared_ptr<const Dataset> data, Pipeline pipeline, LoaderOptions options)
    : data_(std::move(data)), pipeline_(std::move(pipeline)), options_(options) {
  if (options_.batch_size <= 0) fail("batch size must be positive, got {}", options_.batch_size);
  check_thread_count(options_.workers, "worker count");
  if (options_.world_size <= 0 || options_.rank < 0 || options_.rank >= options_.world_size)
    fail("rank {} is not in a world of {}", options_.rank, options_.world_size);
  if (data_->size() == 0) fail("the dataset is empty");
  shape_ = pipeline_.output_shape(data_->image(0).shape);
  if (batches_per_epoch() == 0)
    fail("batch size {}{} is larger than the {} samples of an epoch", options_.batch_size,
         options_.world_size > 1 ? fmt::format(" x {} ranks", options_.world_size) : "", data_->size());
}

BatchLoader::~BatchLoader() { stop_workers(); }

int64_t BatchLoader::batches_per_epoch() const {
  const int64_t world = options_.world_size, b = options_.batch_size;
  if (options_.drop_last) return data_->size() / (b * world);  // whole global batches
  const int64_t mine = (data_->size() - options_.rank + world - 1) / world;  // every world-th sample
  return (mine + b - 1) / b;
}

Batch BatchLoader::build(int64_t batch_index) const {
  const int64_t begin = batch_index * options_.batch_size;
  const int64_t count = std::min<int64_t>(options_.batch_size, static_cast<int64_t>(order_.size()) - begin);
  auto images = torch::empty({count, shape_.channels, shape_.height, shape_.width}, torch::kFloat);
  auto labels = torch::empty({count}, torch::kLong);
  float* out = images.data_ptr<float>();
  int64_t* label_out = labels.data_ptr<int64_t>();
  for (int64_t i = 0; i < count; ++i) {
    const int64_t sample = order_[static_cast<size_t>(begin + i)];
    std::mt19937_64 rng(mix_seed(options_.seed, static_cast<uint64_t>(epoch_), static_cast<uint64_t>(sample)));
    pipeline_.run(data_->image(sample), out + i * shape_.numel(), rng);
    label_out[i] = data_->label(sample);
  }
  return {images, labels};
}

void BatchLoader::work() {
  while (true) {
    int64_t index;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [&] {
        return stopping_ || next_to_build_ >= end_ || next_to_build_ < cursor_ + options_.prefetch;
      });
      if (stopping_ || next_to_build_ >= end_) return;
      index = next_to_build_++;
    }
    try {
      Batch batch = build(index);
      std::lock_guard<std::mutex> lock(mutex_);
      ready_.emplace(index, std::move(batch));
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
    changed_.notify_all();
  }
}

void BatchLoader::stop_workers() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
  stopping_ = false;
}

void BatchLoader::start_epoch(int64_t epoch, int64_t first_batch) {
  stop_workers();
  if (first_batch < 0 || first_batch > batches_per_epoch())
    fail("epoch has {} batches, cannot start at batch {}", batches_per_epoch(), first_batch);
  epoch_ = epoch;
  order_ = epoch_order(data_->size(), options_, epoch);
  end_ = batches_per_epoch();
  cursor_ = next_to_build_ = first_batch;
  ready_.clear();
  error_ = nullptr;
  for (int i = 0; i < options_.workers; ++i) threads_.emplace_back([this] { work(); });
}

std::optional<Batch> BatchLoader::next() {
  if (cursor_ >= end_) return std::nullopt;
  if (threads_.empty()) return build(cursor_++);
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return error_ || ready_.count(cursor_) > 0; });
  if (error_) std::rethrow_exception(error_);
  auto node = ready_.extract(cursor_++);
  lock.unlock();
  changed_.notify_all();
  return std::move(node.mapped());
}

}  // namespace domino
