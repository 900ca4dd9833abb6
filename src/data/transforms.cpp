#include "domino/data/transforms.h"

#include <opencv2/imgproc.hpp>

#include <cmath>

#include "domino/core/error.h"
#include "domino/data/datasets.h"

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

Image resize_region(const Image& in, int64_t top, int64_t left, int64_t height, int64_t width, int64_t out_h,
                    int64_t out_w) {
  const auto& s = in.shape;
  if (top < 0 || left < 0 || height <= 0 || width <= 0 || top + height > s.height || left + width > s.width)
    fail("region {}x{} at ({}, {}) is outside a {}x{} image", height, width, top, left, s.height, s.width);
  Image out{{s.channels, out_h, out_w}, std::vector<uint8_t>(static_cast<size_t>(s.channels * out_h * out_w))};
  const int interpolation = (out_h < height && out_w < width) ? cv::INTER_AREA : cv::INTER_LINEAR;
  for (int64_t c = 0; c < s.channels; ++c) {
    // OpenCV's Mat wants a non-const pointer; it only reads from `plane`.
    cv::Mat plane(static_cast<int>(s.height), static_cast<int>(s.width), CV_8UC1,
                  const_cast<uint8_t*>(in.pixels.data() + c * s.height * s.width));
    cv::Mat dst(static_cast<int>(out_h), static_cast<int>(out_w), CV_8UC1, out.pixels.data() + c * out_h * out_w);
    const cv::Rect region(static_cast<int>(left), static_cast<int>(top), static_cast<int>(width), static_cast<int>(height));
    if (height == out_h && width == out_w)
      plane(region).copyTo(dst);
    else
      cv::resize(plane(region), dst, dst.size(), 0, 0, interpolation);
  }
  return out;
}

Image RandomResizedCrop::apply(const Image& in, std::mt19937_64& rng) const {
  const double height = static_cast<double>(in.shape.height), width = static_cast<double>(in.shape.width);
  const double area = height * width;
  std::uniform_real_distribution<double> scale(scale_[0], scale_[1]);
  std::uniform_real_distribution<double> log_ratio(std::log(ratio_[0]), std::log(ratio_[1]));
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target = area * scale(rng), aspect = std::exp(log_ratio(rng));
    const auto w = static_cast<int64_t>(std::nearbyint(std::sqrt(target * aspect)));
    const auto h = static_cast<int64_t>(std::nearbyint(std::sqrt(target / aspect)));
    if (w > 0 && h > 0 && w <= in.shape.width && h <= in.shape.height) {
      const auto top = std::uniform_int_distribution<int64_t>(0, in.shape.height - h)(rng);
      const auto left = std::uniform_int_distribution<int64_t>(0, in.shape.width - w)(rng);
      return resize_region(in, top, left, h, w, size_, size_);
    }
  }
  // Fallback: the largest centred window whose ratio is within range.
  int64_t w = in.shape.width, h = in.shape.height;
  if (width / height < ratio_[0]) h = static_cast<int64_t>(std::nearbyint(width / ratio_[0]));
  else if (width / height > ratio_[1]) w = static_cast<int64_t>(std::nearbyint(height * ratio_[1]));
  return resize_region(in, (in.shape.height - h) / 2, (in.shape.width - w) / 2, h, w, size_, size_);
}

Image ResizeCenterCrop::apply(const Image& in, std::mt19937_64&) const {
  const auto& s = in.shape;
  // torchvision's Resize(int): the short side becomes `resize`, the long one scales (truncated).
  int64_t h = resize_, w = resize_;
  if (s.width <= s.height) h = resize_ * s.height / s.width;
  else w = resize_ * s.width / s.height;
  if (h < crop_ || w < crop_) fail("centre crop {} does not fit an image resized to {}x{}", crop_, h, w);
  const auto top = static_cast<int64_t>(std::nearbyint((h - crop_) / 2.0));
  const auto left = static_cast<int64_t>(std::nearbyint((w - crop_) / 2.0));
  const Image resized = resize_region(in, 0, 0, s.height, s.width, h, w);
  return resize_region(resized, top, left, crop_, crop_, crop_, crop_);
}

Pipeline::Pipeline(std::vector<std::shared_ptr<const ImageOp>> ops, std::vector<float> mean, std::vector<float> std,
                   Lighting lighting)
    : ops_(std::move(ops)), mean_(std::move(mean)), std_(std::move(std)), lighting_(lighting) {
  if (mean_.size() != std_.size()) fail("normalisation has {} means but {} stds", mean_.size(), std_.size());
}

ImageShape Pipeline::output_shape(ImageShape in) const {
  for (const auto& op : ops_) in = op->output_shape(in);
  return in;
}

std::vector<float> Pipeline::lighting_noise(int64_t channels, std::mt19937_64& rng) const {
  std::vector<float> noise(static_cast<size_t>(channels), 0.0f);
  if (lighting_.std <= 0) return noise;
  if (channels != 3) fail("lighting noise is for RGB images, not {} channels", channels);
  static const float eigval[3] = {0.2175f, 0.0188f, 0.0045f};
  static const float eigvec[3][3] = {{-0.5675f, 0.7192f, 0.4009f}, {-0.5808f, -0.0045f, -0.8140f}, {-0.5836f, -0.6948f, 0.4203f}};
  std::normal_distribution<float> normal(0.0f, lighting_.std);
  float alpha[3];
  for (auto& a : alpha) a = normal(rng);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) noise[static_cast<size_t>(i)] += eigvec[i][j] * alpha[j] * eigval[j];
  return noise;
}

void Pipeline::run(const Image& in, float* out, std::mt19937_64& rng) const {
  Image current = in;
  for (const auto& op : ops_) current = op->apply(current, rng);
  const auto& s = current.shape;
  if (static_cast<int64_t>(mean_.size()) != s.channels)
    fail("normalisation is for {} channels, image has {}", mean_.size(), s.channels);
  const int64_t plane = s.height * s.width;
  const auto noise = lighting_noise(s.channels, rng);
  for (int64_t c = 0; c < s.channels; ++c) {
    const float scale = 1.0f / (255.0f * std_[static_cast<size_t>(c)]);
    const float shift = (mean_[static_cast<size_t>(c)] - noise[static_cast<size_t>(c)]) / std_[static_cast<size_t>(c)];
    const uint8_t* src = current.pixels.data() + c * plane;
    float* dst = out + c * plane;
    for (int64_t i = 0; i < plane; ++i) dst[i] = static_cast<float>(src[i]) * scale - shift;
  }
}

Pipeline train_pipeline(const DatasetSpec& spec, bool augment) {
  if (spec.eval_resize > 0) {  // images of any size: the ImageNet recipe
    if (!augment) return eval_pipeline(spec);
    std::vector<std::shared_ptr<const ImageOp>> ops = {std::make_shared<RandomResizedCrop>(spec.shape.height),
                                                       std::make_shared<RandomHorizontalFlip>()};
    return Pipeline(std::move(ops), spec.mean, spec.std, Lighting{spec.lighting});
  }
  std::vector<std::shared_ptr<const ImageOp>> ops;
  if (augment && spec.crop_padding > 0)
    ops.push_back(std::make_shared<RandomCrop>(spec.shape.height, spec.shape.width, spec.crop_padding));
  if (augment && spec.horizontal_flip) ops.push_back(std::make_shared<RandomHorizontalFlip>());
  return Pipeline(std::move(ops), spec.mean, spec.std);
}

Pipeline eval_pipeline(const DatasetSpec& spec) {
  if (spec.eval_resize > 0)
    return Pipeline({std::make_shared<ResizeCenterCrop>(spec.eval_resize, spec.shape.height)}, spec.mean, spec.std);
  return Pipeline({}, spec.mean, spec.std);
}

}  // namespace domino
