#include "domino/data/dataset.h"

#include <algorithm>
#include <numeric>

#include "core/random.h"
#include "domino/core/error.h"

namespace domino {

InMemoryDataset::InMemoryDataset(ImageShape shape, std::vector<uint8_t> pixels,
                                 std::vector<int64_t> labels, int64_t num_classes)
    : shape_(shape), pixels_(std::move(pixels)), labels_(std::move(labels)),
      num_classes_(num_classes) {
  if (static_cast<int64_t>(pixels_.size()) != shape_.numel() * size())
    fail("dataset holds {} bytes of pixels for {} images of {} bytes", pixels_.size(), size(),
         shape_.numel());
}

Image InMemoryDataset::image(int64_t index) const {
  const auto n = static_cast<size_t>(shape_.numel());
  const auto begin = pixels_.begin() + static_cast<std::ptrdiff_t>(n * static_cast<size_t>(index));
  return Image{shape_, std::vector<uint8_t>(begin, begin + static_cast<std::ptrdiff_t>(n))};
}

Subset::Subset(std::shared_ptr<const Dataset> base, std::vector<int64_t> indices)
    : base_(std::move(base)), indices_(std::move(indices)) {
  for (int64_t i : indices_)
    if (i < 0 || i >= base_->size()) fail("subset index {} outside dataset of {}", i, base_->size());
}

HoldoutSplit split_holdout(std::shared_ptr<const Dataset> data, double fraction, uint64_t seed) {
  if (fraction <= 0.0) return {data, nullptr};
  if (fraction >= 1.0) fail("validation split must be in [0, 1), got {}", fraction);
  std::vector<int64_t> order(static_cast<size_t>(data->size()));
  std::iota(order.begin(), order.end(), 0);
  shuffle_in_place(order, mix_seed(seed, 0x76616c6964ULL));  // "valid": apart from batch order
  const auto n_val = static_cast<std::ptrdiff_t>(fraction * static_cast<double>(order.size()));
  if (n_val == 0) fail("validation split {} of {} images holds no image", fraction, order.size());
  std::vector<int64_t> val(order.begin(), order.begin() + n_val);
  std::vector<int64_t> train(order.begin() + n_val, order.end());
  std::sort(val.begin(), val.end());
  std::sort(train.begin(), train.end());
  return {std::make_shared<Subset>(data, std::move(train)),
          std::make_shared<Subset>(data, std::move(val))};
}

}  // namespace domino
