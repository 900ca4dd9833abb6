// A small ImageFolder tree written on the fly: root/{train,val}/<class>/<image>, JPEG and
// PNG of varied sizes, each class its own colour; optionally with a corrupt JPEG and a
// non-image file in the first class's training folder.
#pragma once

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace domino::test {

inline const std::vector<cv::Scalar>& class_colours() {  // BGR, as OpenCV writes
  static const std::vector<cv::Scalar> colours = {{0, 0, 255}, {0, 255, 0}, {255, 0, 0}, {0, 255, 255}};
  return colours;
}

inline void write_image_tree(const std::filesystem::path& root, const std::vector<std::string>& classes, int train_per_class,
                             int val_per_class, bool with_bad_files) {
  for (const char* split : {"train", "val"}) {
    const int n = std::string(split) == "train" ? train_per_class : val_per_class;
    for (size_t c = 0; c < classes.size(); ++c) {
      const auto dir = root / split / classes[c];
      std::filesystem::create_directories(dir);
      for (int i = 0; i < n; ++i) {
        cv::Mat image(40 + 8 * i, 56 - 4 * i, CV_8UC3, class_colours()[c % class_colours().size()]);
        cv::imwrite((dir / (std::to_string(i) + (i % 2 ? ".png" : ".jpg"))).string(), image);
      }
    }
  }
  if (!with_bad_files) return;
  const auto first = root / "train" / classes.front();
  std::ofstream(first / "0_corrupt.jpg") << "this is not a JPEG";  // sorts first in its class
  std::ofstream(first / "notes.txt") << "not an image";
}

}  // namespace domino::test
