#include "domino/transforms.h"

#include "domino/datasets.h"
#include "domino/error.h"

namespace domino {

Image RandomCrop::apply(const Image& in, std::mt19937_64& rng) const {
  const auto& s = in.shape;
  const int64_t max_y = s.height + 2 * padding_ - height_, max_x = s.width + 2 * padding_ - width_;
  if (max_y < 0 || max_x < 0)
    fail("random crop {}x{} does not fit a {}x{} image padded by {}", height_, width_, s.height, s.width, padding_);
  const int64_t top = static_cast<int64_t>(rng() % static_cast<uint64_t>(max_y + 1)) - padding_;
  const int64_t left = static_cast<int64_t>(rng() % static_cast<uint64_t>(max_x + 1)) - padding_;
  Image out{{s.channels, height_, width_}, std::vector<uint8_t>(static_cast<size_t>(s.channels * height_ * width_), 0)};
  for (int64_t c = 0; c < s.channels; ++c)
    for (int64_t y = 0; y < height_; ++y) {
      const int64_t sy = y + top;
      if (sy < 0 || sy >= s.height) continue;
      for (int64_t x = 0; x < width_; ++x) {
        const int64_t sx = x + left;
        if (sx >= 0 && sx < s.width) out.pixels[static_cast<size_t>((c * height_ + y) * width_ + x)] = in.at(c, sy, sx);
      }
    }
  return out;
}

Image RandomHorizontalFlip::apply(const Image& in, std::mt19937_64& rng) const {
  if (std::uniform_real_distribution<double>(0.0, 1.0)(rng) >= p_) return in;
  Image out = in;
  const auto& s = in.shape;
  for (int64_t c = 0; c < s.channels; ++c)
    for (int64_t y = 0; y < s.height; ++y)
      for (int64_t x = 0; x < s.width; ++x)
        out.pixels[static_cast<size_t>((c * s.height + y) * s.width + x)] = in.at(c, y, s.width - 1 - x);
  return out;
}

Pipeline::Pipeline(std::vector<std::shared_ptr<const ImageOp>> ops, std::vector<float> mean, std::vector<float> std)
    : ops_(std::move(ops)), mean_(std::move(mean)), std_(std::move(std)) {
  if (mean_.size() != std_.size()) fail("normalisation has {} means but {} stds", mean_.size(), std_.size());
}

ImageShape Pipeline::output_shape(ImageShape in) const {
  for (const auto& op : ops_) in = op->output_shape(in);
  return in;
}

void Pipeline::run(const Image& in, float* out, std::mt19937_64& rng) const {
  Image current = in;
  for (const auto& op : ops_) current = op->apply(current, rng);
  const auto& s = current.shape;
  if (static_cast<int64_t>(mean_.size()) != s.channels)
    fail("normalisation is for {} channels, image has {}", mean_.size(), s.channels);
  const int64_t plane = s.height * s.width;
  for (int64_t c = 0; c < s.channels; ++c) {
    const float scale = 1.0f / (255.0f * std_[static_cast<size_t>(c)]);
    const float shift = mean_[static_cast<size_t>(c)] / std_[static_cast<size_t>(c)];
    const uint8_t* src = current.pixels.data() + c * plane;
    float* dst = out + c * plane;
    for (int64_t i = 0; i < plane; ++i) dst[i] = static_cast<float>(src[i]) * scale - shift;
  }
}

Pipeline train_pipeline(const DatasetSpec& spec, bool augment) {
  std::vector<std::shared_ptr<const ImageOp>> ops;
  if (augment && spec.crop_padding > 0)
    ops.push_back(std::make_shared<RandomCrop>(spec.shape.height, spec.shape.width, spec.crop_padding));
  if (augment && spec.horizontal_flip) ops.push_back(std::make_shared<RandomHorizontalFlip>());
  return Pipeline(std::move(ops), spec.mean, spec.std);
}

Pipeline eval_pipeline(const DatasetSpec& spec) { return Pipeline({}, spec.mean, spec.std); }

}  // namespace domino
