#include "io/zip_check.h"

#include <algorithm>
#include <string_view>
#include <vector>

#include "domino/core/error.h"

namespace domino {
namespace {

constexpr uint64_t kDeflateMaxRatio = 1032;  // deflate's best case: 258 bytes from 2 bits

uint64_t le(std::string_view b, size_t at, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(b[at + static_cast<size_t>(i)]);
  return v;
}

std::string read_at(std::istream& in, uint64_t offset, uint64_t size) {
  std::string out(size, '\0');
  in.clear();
  in.seekg(static_cast<std::streamoff>(offset));
  in.read(out.data(), static_cast<std::streamsize>(size));
  out.resize(static_cast<size_t>(std::max<std::streamsize>(in.gcount(), 0)));
  return out;
}

struct Directory {
  uint64_t offset = 0, size = 0;
};

// The central directory's place, from the end record (and its zip64 form); nothing if absent.
bool find_directory(std::istream& in, uint64_t file_size, Directory& dir) {
  const uint64_t tail_size = std::min<uint64_t>(file_size, 65535 + 22);
  const std::string tail = read_at(in, file_size - tail_size, tail_size);
  const auto end = tail.rfind(std::string_view("PK\x05\x06", 4));
  if (end == std::string::npos || end + 22 > tail.size()) return false;
  dir.size = le(tail, end + 12, 4);
  dir.offset = le(tail, end + 16, 4);
  if (dir.offset == 0xffffffff && end >= 20 && tail.compare(end - 20, 4, "PK\x06\x07", 4) == 0) {
    const std::string record = read_at(in, le(tail, end - 20 + 8, 8), 56);
    if (record.size() < 56 || record.compare(0, 4, "PK\x06\x06", 4) != 0) return false;
    dir.size = le(record, 40, 8);
    dir.offset = le(record, 48, 8);
  }
  return dir.offset <= file_size && dir.size <= file_size - dir.offset;
}

}  // namespace

void check_zip_sizes(std::istream& in, uint64_t file_size, const std::string& source, const std::string& what) {
  Directory dir;
  if (!find_directory(in, file_size, dir)) return;
  const std::string d = read_at(in, dir.offset, dir.size);
  for (size_t at = 0; at + 46 <= d.size() && d.compare(at, 4, "PK\x01\x02", 4) == 0;) {
    const uint64_t method = le(d, at + 10, 2);
    uint64_t compressed = le(d, at + 20, 4), size = le(d, at + 24, 4);
    const size_t name = le(d, at + 28, 2), extra = le(d, at + 30, 2), comment = le(d, at + 32, 2);
    if (at + 46 + name + extra > d.size()) break;
    // zip64: the 32-bit fields hold 0xffffffff and the sizes follow in the 0x0001 extra field.
    for (size_t e = at + 46 + name; e + 4 <= at + 46 + name + extra;) {
      const size_t id = le(d, e, 2), length = le(d, e + 2, 2);
      if (id == 1) {
        size_t f = e + 4;
        if (size == 0xffffffff && f + 8 <= e + 4 + length) {
          size = le(d, f, 8);
          f += 8;
        }
        if (compressed == 0xffffffff && f + 8 <= e + 4 + length) compressed = le(d, f, 8);
      }
      e += 4 + length;
    }
    const uint64_t most = method == 0 ? file_size : std::min<uint64_t>(compressed, file_size) * kDeflateMaxRatio;
    if (size > most)
      fail("{} is not a readable {}: its entry '{}' declares {} bytes, more than the {}-byte file can hold", source, what,
           d.substr(at + 46, name), size, file_size);
    at += 46 + name + extra + comment;
  }
}

}  // namespace domino
