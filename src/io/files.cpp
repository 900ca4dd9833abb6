#include "io/files.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/torch.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "domino/core/error.h"
#include "io/pickle_scan.h"
#include "io/zip_check.h"

namespace fs = std::filesystem;

namespace domino {

void write_file_atomic(const std::string& path, const std::function<void(std::ostream&)>& body) {
  const fs::path target(path);
  std::error_code error;
  if (fs::is_directory(target, error)) fail("cannot write {}: it is a directory", path);
  if (target.has_parent_path()) {
    fs::create_directories(target.parent_path(), error);
    if (error) fail("cannot create the folder of {}: {}", path, error.message());
  }
  const std::string tmp = path + ".tmp";
  try {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) fail("cannot write {}: {}", tmp, std::strerror(errno));
    body(out);
    out.close();
    if (!out) fail("could not write {} (disk full?)", tmp);
    fs::rename(tmp, target, error);
    if (error) fail("cannot replace {}: {}", path, error.message());
  } catch (...) {
    fs::remove(tmp, error);  // a failed write leaves the old file and no partial one (a full disk stays usable)
    throw;
  }
}

void write_json_file(const std::string& path, const nlohmann::json& value) {
  write_file_atomic(path, [&](std::ostream& out) { out << json_text(value, 2) << '\n'; });
}

std::string json_text(const nlohmann::json& value, int indent) {
  return value.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

nlohmann::json parse_json(std::string_view text, const std::string& source) {
  constexpr int kMaxDepth = 100;  // our files nest < 6 deep
  const nlohmann::json::parser_callback_t limit_depth = [&](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
    if (depth > kMaxDepth) fail("{} nests JSON more than {} levels deep (the limit)", source, kMaxDepth);
    return true;
  };
  auto value = nlohmann::json::parse(text, limit_depth, /*allow_exceptions=*/false);
  if (value.is_discarded()) fail("{} is not valid JSON (damaged, or not written by domino)", source);
  return value;
}

std::string read_text_file(const std::string& path, const std::string& what) {
  std::error_code error;
  if (fs::is_directory(path, error)) fail("{} is a directory, not a {}", path, what);
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{} {} not found or unreadable", what, path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

nlohmann::json read_json_file(const std::string& path) { return parse_json(read_text_file(path, "JSON file"), path); }

namespace {

// Scans the pickle before LibTorch builds it: torch::pickle_load has no depth limit.
void check_archive_pickle(const std::vector<char>& bytes, const std::string& path, const std::string& what) {
  if (bytes.size() < 2 || bytes[0] != 'P' || bytes[1] != 'K') return check_pickle({bytes.data(), bytes.size()}, path, what);
  std::string pickle;
  std::istringstream in(std::string(bytes.begin(), bytes.end()));
  check_zip_sizes(in, bytes.size(), path, what);
  in.clear();
  in.seekg(0);
  try {
    caffe2::serialize::PyTorchStreamReader archive(&in);
    auto [data, size] = archive.getRecord("data.pkl");
    pickle.assign(static_cast<const char*>(data.get()), size);
  } catch (const c10::Error& e) {
    fail("{} is not a readable {} (truncated or damaged): {}", path, what, e.msg().substr(0, e.msg().find('\n')));
  }
  check_pickle(pickle, path, what);
}

}  // namespace

c10::impl::GenericDict read_pickled_dict(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{} {} not found", what, path);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  check_archive_pickle(bytes, path, what);
  c10::IValue value;
  try {
    value = torch::pickle_load(bytes);
  } catch (const std::exception&) {  // c10::Error, and the TorchScript type parser's own errors (fuzzing found them)
    fail("{} is not a readable {} (truncated, or not written by torch.save / domino)", path, what);
  }
  if (!value.isGenericDict()) fail("{} is not a {}: it holds no dict", path, what);
  return value.toGenericDict();
}

}  // namespace domino
