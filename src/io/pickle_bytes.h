// A cursor over a pickle's bytes for the two readers of pickles (the scan in
// pickle_scan.cpp, the state-dict unpickler): fixed-size little-endian fields,
// length-prefixed runs and newline-terminated lines, each checked against the bytes left
// (a declared length may be anything, 2^64 - 1 included).
#pragma once

#include <cstdint>
#include <string_view>

#include "domino/core/error.h"

namespace domino {

class PickleBytes {
 public:
  // `source` and `what` name the file in errors: "<source> is not a readable <what>: ...".
  PickleBytes(std::string_view bytes, const std::string& source, const std::string& what)
      : bytes_(bytes), source_(source), what_(what) {}

  template <typename... Args>
  [[noreturn]] void bad(fmt::format_string<Args...> format, Args&&... args) const {
    fail("{} is not a readable {}: {}", source_, what_, fmt::format(format, std::forward<Args>(args)...));
  }

  std::string_view take(uint64_t n) {
    if (n > bytes_.size() - pos_) bad("it is truncated (a field of {} bytes at offset {})", n, pos_);
    const auto out = bytes_.substr(pos_, n);
    pos_ += n;
    return out;
  }
  uint64_t little(size_t n) {
    const auto b = take(n);
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(b[i])) << (8 * i);
    return v;
  }
  std::string_view line() {  // without its '\n'
    const auto end = bytes_.find('\n', pos_);
    if (end == std::string_view::npos) bad("it is truncated (an unterminated line)");
    const auto out = take(end - pos_ + 1);
    return out.substr(0, out.size() - 1);
  }
  size_t offset() const { return pos_; }

 private:
  std::string_view bytes_;
  const std::string& source_;
  const std::string& what_;
  size_t pos_ = 0;
};

}  // namespace domino
