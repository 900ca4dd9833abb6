#include "domino/data/image_folder.h"

#include <fmt/format.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <filesystem>

#include "data/image_header.h"
#include "domino/core/error.h"
#include "domino/core/report.h"

namespace fs = std::filesystem;

namespace domino {
bool has_image_extension(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const char* e : {".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp"})
    if (ext == e) return true;
  return false;
}

std::vector<std::string> image_folder_classes(const std::string& root) {
  if (!fs::is_directory(root)) fail("image folder {} not found", root);
  std::vector<std::string> classes;
  for (const auto& entry : fs::directory_iterator(root, fs::directory_options::follow_directory_symlink))
    if (entry.is_directory()) classes.push_back(entry.path().filename().string());
  std::sort(classes.begin(), classes.end());  // byte order = Python's sorted() on names
  if (classes.empty()) fail("image folder {} has no class folders (expected {}/<class>/<image>)", root, root);
  return classes;
}

ImageFolder::ImageFolder(const std::string& root) : root_(root), classes_(image_folder_classes(root)) {
  for (size_t c = 0; c < classes_.size(); ++c) {
    // Sorted as torchvision walks: by folder, then by file name within it.
    std::vector<std::pair<std::string, std::string>> found;
    for (const auto& entry :
         fs::recursive_directory_iterator(fs::path(root) / classes_[c], fs::directory_options::follow_directory_symlink)) {
      if (!entry.is_regular_file()) continue;
      if (!has_image_extension(entry.path().string())) {
        skipped_.push_back(entry.path().string());
        continue;
      }
      found.emplace_back(entry.path().parent_path().string(), entry.path().filename().string());
    }
    std::sort(found.begin(), found.end());
    for (const auto& [dir, name] : found) {
      files_.push_back((fs::path(dir) / name).string());
      labels_.push_back(static_cast<int64_t>(c));
    }
  }
  std::sort(skipped_.begin(), skipped_.end());
  if (!skipped_.empty())
    warn("image folder {}: skipped {} file{} without an image extension: {}{}", root, skipped_.size(),
               skipped_.size() == 1 ? "" : "s", fmt::join(skipped_.begin(), skipped_.begin() + std::min<size_t>(skipped_.size(), 5), ", "),
               skipped_.size() > 5 ? ", ..." : "");
  if (files_.empty()) fail("image folder {} holds no images", root);
}

Image ImageFolder::image(int64_t index) const {
  const auto n = static_cast<size_t>(size());
  const auto first = static_cast<size_t>(index);
  // The next readable image of the same class stands in for an unreadable one.
  for (size_t step = 0; step < n; ++step) {
    const size_t i = (first + step) % n;
    if (labels_[i] != labels_[first]) continue;
    try {
      return decode_image(files_[i]);
    } catch (const Error& e) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (unreadable_.insert(files_[i]).second) warn("{}; skipped", e.what());
    }
  }
  fail("image folder {}: no image of class {} can be decoded", root_, classes_[static_cast<size_t>(labels_[first])]);
}

std::vector<std::string> ImageFolder::unreadable() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return {unreadable_.begin(), unreadable_.end()};
}

int64_t max_image_pixels() {
  static const int64_t limit = []() -> int64_t {
    const char* set = std::getenv("DOMINO_MAX_IMAGE_PIXELS");
    const long long value = set ? std::strtoll(set, nullptr, 10) : 0;
    return value > 0 ? value : kDefaultMaxImagePixels;
  }();
  return limit;
}

Image decode_image(const std::string& path) {
  std::error_code error;
  const auto size = fs::file_size(path, error);
  if (error) fail("cannot read image {}: {}", path, error.message());
  if (size == 0) fail("cannot decode image {} (an empty file)", path);
  if (size > kMaxImageFileBytes) fail("image {} is {} bytes, above the limit of {}", path, size, kMaxImageFileBytes);
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes(size);
  if (!in.read(bytes.data(), static_cast<std::streamsize>(size))) fail("cannot read image {}", path);
  if (!image_format({bytes.data(), bytes.size()}))
    fail("cannot decode image {} (not a JPEG, PNG, BMP, PPM/PGM, TIFF or WebP file)", path);
  if (const auto declared = declared_image_size({bytes.data(), bytes.size()})) {
    if (declared->width <= 0 || declared->height <= 0 || declared->width > max_image_pixels() / declared->height)
      fail("image {} declares {} x {} pixels, above the limit of {} (DOMINO_MAX_IMAGE_PIXELS allows more)", path,
           declared->width, declared->height, max_image_pixels());
  }
  cv::Mat bgr;
  try {
    bgr = cv::imdecode(cv::Mat(1, static_cast<int>(bytes.size()), CV_8U, bytes.data()), cv::IMREAD_COLOR | cv::IMREAD_IGNORE_ORIENTATION);
  } catch (const cv::Exception& e) {
    fail("cannot decode image {} ({})", path, e.msg);
  }
  if (bgr.empty()) fail("cannot decode image {} (not an image, or damaged)", path);
  if (bgr.depth() != CV_8U) bgr.convertTo(bgr, CV_8U, 1.0 / 256);  // 16-bit PNG/TIFF
  Image out{{3, bgr.rows, bgr.cols}, std::vector<uint8_t>(static_cast<size_t>(3 * bgr.rows * bgr.cols))};
  const int64_t plane = static_cast<int64_t>(bgr.rows) * bgr.cols;
  for (int y = 0; y < bgr.rows; ++y) {
    const uint8_t* row = bgr.ptr<uint8_t>(y);
    for (int x = 0; x < bgr.cols; ++x) {
      const int64_t at = static_cast<int64_t>(y) * bgr.cols + x;
      for (int c = 0; c < 3; ++c) out.pixels[static_cast<size_t>(c * plane + at)] = row[3 * x + (2 - c)];  // BGR -> RGB
    }
  }
  return out;
}

}  // namespace domino
