// The dataset interface: indexed, thread-safe access to labelled images.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "domino/core/types.h"

namespace domino {

// A uint8 image in planar (C, H, W) order.
struct Image {
  ImageShape shape;
  std::vector<uint8_t> pixels;
  uint8_t at(int64_t c, int64_t y, int64_t x) const {
    return pixels[static_cast<size_t>((c * shape.height + y) * shape.width + x)];
  }
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  virtual int64_t num_classes() const = 0;
  // Both must be safe to call from several threads at once.
  virtual Image image(int64_t index) const = 0;
  virtual int64_t label(int64_t index) const = 0;
};

// Equally sized images held in memory (IDX, CIFAR).
class InMemoryDataset : public Dataset {
 public:
  InMemoryDataset(ImageShape shape, std::vector<uint8_t> pixels, std::vector<int64_t> labels,
                  int64_t num_classes);
  int64_t size() const override { return static_cast<int64_t>(labels_.size()); }
  int64_t num_classes() const override { return num_classes_; }
  Image image(int64_t index) const override;
  int64_t label(int64_t index) const override { return labels_.at(static_cast<size_t>(index)); }
  ImageShape shape() const { return shape_; }

 private:
  ImageShape shape_;
  std::vector<uint8_t> pixels_;
  std::vector<int64_t> labels_;
  int64_t num_classes_;
};

// A view on chosen indices of another dataset.
class Subset : public Dataset {
 public:
  Subset(std::shared_ptr<const Dataset> base, std::vector<int64_t> indices);
  int64_t size() const override { return static_cast<int64_t>(indices_.size()); }
  int64_t num_classes() const override { return base_->num_classes(); }
  Image image(int64_t index) const override { return base_->image(map(index)); }
  int64_t label(int64_t index) const override { return base_->label(map(index)); }

 private:
  int64_t map(int64_t index) const { return indices_.at(static_cast<size_t>(index)); }
  std::shared_ptr<const Dataset> base_;
  std::vector<int64_t> indices_;
};

struct HoldoutSplit {
  std::shared_ptr<const Dataset> train, validation;
};

// Holds out `fraction` of `data` as a validation set, chosen by a seeded shuffle,
// so that schemes and hyper-parameters can be chosen without the test set.
HoldoutSplit split_holdout(std::shared_ptr<const Dataset> data, double fraction, uint64_t seed);

}  // namespace domino
