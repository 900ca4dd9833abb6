// torchvision's ImageFolder: root/<class>/**/<image>, classes sorted by name (label i is
// the i-th class), images decoded (JPEG, PNG, ...) with OpenCV when asked for, so the
// loader's worker threads do the decoding. Files without an image extension are listed
// and skipped at the scan; a file that fails to decode is reported once and replaced by
// the next readable image of the same class, so one bad file never stops a run.
#pragma once

#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "domino/data/dataset.h"

namespace domino {

class ImageFolder : public Dataset {
 public:
  explicit ImageFolder(const std::string& root);
  int64_t size() const override { return static_cast<int64_t>(files_.size()); }
  int64_t num_classes() const override { return static_cast<int64_t>(classes_.size()); }
  Image image(int64_t index) const override;
  int64_t label(int64_t index) const override { return labels_.at(static_cast<size_t>(index)); }

  const std::vector<std::string>& classes() const { return classes_; }
  const std::string& path(int64_t index) const { return files_.at(static_cast<size_t>(index)); }
  const std::vector<std::string>& skipped() const { return skipped_; }  // non-image files
  std::vector<std::string> unreadable() const;                          // found so far while decoding

 private:
  std::string root_;
  std::vector<std::string> classes_, files_, skipped_;
  std::vector<int64_t> labels_;
  mutable std::mutex mutex_;
  mutable std::set<std::string> unreadable_;
};

// Decodes an image file to 8-bit RGB (grey and alpha images converted, EXIF orientation
// ignored, as PIL does); throws domino::Error naming the file if it cannot be decoded or
// declares more than max_image_pixels() pixels (checked before anything is allocated).
Image decode_image(const std::string& path);

// 2^26 (e.g. 8192 x 8192, 192 MiB decoded) unless DOMINO_MAX_IMAGE_PIXELS says otherwise.
constexpr int64_t kDefaultMaxImagePixels = int64_t{1} << 26;
int64_t max_image_pixels();
constexpr uint64_t kMaxImageFileBytes = uint64_t{256} << 20;

// torchvision's IMG_EXTENSIONS: .jpg .jpeg .png .ppm .bmp .pgm .tif .tiff .webp, any case.
bool has_image_extension(const std::string& path);

// The class folders of an ImageFolder root, sorted (cheap: no file scan).
std::vector<std::string> image_folder_classes(const std::string& root);

}  // namespace domino
