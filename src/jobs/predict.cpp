#include "domino/jobs/predict.h"

#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <random>

#include "domino/core/error.h"
#include "domino/data/image_folder.h"
#include "domino/data/transforms.h"

namespace fs = std::filesystem;

namespace domino {
namespace {

// An image of any size and colour brought to `spec`'s shape, for datasets whose own
// images all have that shape (the evaluation transform alone would not fit them).
Image fit_to_shape(const Image& rgb, const DatasetSpec& spec) {
  Image out = resize_region(rgb, 0, 0, rgb.shape.height, rgb.shape.width, spec.shape.height, spec.shape.width);
  if (spec.shape.channels == 3) return out;
  const int64_t plane = spec.shape.height * spec.shape.width;
  Image grey{{1, spec.shape.height, spec.shape.width}, std::vector<uint8_t>(static_cast<size_t>(plane))};
  for (int64_t i = 0; i < plane; ++i) {  // ITU-R 601 luma, as PIL's convert("L")
    const auto at = [&](int64_t c) { return static_cast<float>(out.pixels[static_cast<size_t>(c * plane + i)]); };
    grey.pixels[static_cast<size_t>(i)] = static_cast<uint8_t>(std::lround(0.299f * at(0) + 0.587f * at(1) + 0.114f * at(2)));
  }
  return grey;
}

}  // namespace

std::vector<std::string> list_images(const std::vector<std::string>& paths) {
  std::vector<std::string> out;
  for (const auto& p : paths) {
    if (!fs::exists(p)) fail("{} not found", p);
    if (!fs::is_directory(p)) {
      out.push_back(p);
      continue;
    }
    std::vector<std::string> found;
    for (const auto& entry : fs::recursive_directory_iterator(p, fs::directory_options::follow_directory_symlink))
      if (entry.is_regular_file() && has_image_extension(entry.path().string())) found.push_back(entry.path().string());
    std::sort(found.begin(), found.end());
    out.insert(out.end(), found.begin(), found.end());
  }
  if (out.empty()) fail("no images found in {}", fmt::join(paths, ", "));
  return out;
}

std::vector<Prediction> predict_images(Network& model, const DatasetSpec& spec, const std::vector<std::string>& images,
                                       int64_t k, c10::Device device, int64_t batch_size) {
  const Pipeline pipeline = eval_pipeline(spec);
  const ImageShape shape = spec.shape;
  std::vector<Prediction> out(images.size());
  model.eval();
  torch::NoGradGuard no_grad;
  std::mt19937_64 unused_rng(0);  // the evaluation transform draws nothing
  for (size_t begin = 0; begin < images.size(); begin += static_cast<size_t>(batch_size)) {
    const size_t end = std::min(images.size(), begin + static_cast<size_t>(batch_size));
    auto batch = torch::zeros({static_cast<int64_t>(end - begin), shape.channels, shape.height, shape.width});
    std::vector<size_t> decoded;
    for (size_t i = begin; i < end; ++i) {
      out[i].image = images[i];
      try {
        Image image = decode_image(images[i]);
        if (spec.eval_resize == 0) image = fit_to_shape(image, spec);
        pipeline.run(image, batch[static_cast<int64_t>(i - begin)].data_ptr<float>(), unused_rng);
        decoded.push_back(i);
      } catch (const Error& e) {
        out[i].error = e.what();
      }
    }
    const auto logits = model.forward(batch.to(device)).to(torch::kCPU);
    const auto [values, indices] = logits.topk(std::min<int64_t>(k, logits.size(1)), 1);
    for (size_t i : decoded) {
      const auto row = static_cast<int64_t>(i - begin);
      for (int64_t j = 0; j < values.size(1); ++j)
        out[i].top.emplace_back(indices[row][j].item<int64_t>(), values[row][j].item<float>());
    }
  }
  return out;
}

}  // namespace domino
