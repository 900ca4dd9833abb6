#include "domino/sparse/export.h"

#include <torch/torch.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <set>

#include "core/shape.h"
#include "domino/core/error.h"
#include "io/files.h"

namespace domino {
namespace {

constexpr char kMagic[4] = {'D', 'N', 'M', 'W'};
constexpr uint32_t kVersion = 1;

const at::Tensor& layer_weight(const TensorDict& state, const LayerScheme& l, const std::string& source) {
  const auto found = state.find(l.name + ".weight");
  if (found == state.end()) fail("{} has no tensor {}.weight", source, l.name);
  if (!found->value().sizes().equals(l.shape))
    fail("{}: {}.weight has shape {}, the scheme says [{}]", source, l.name, shape_str(found->value().sizes()), fmt::join(l.shape, ", "));
  return found->value();
}

template <typename T>
void put(std::ostream& out, T value) {
  out.write(reinterpret_cast<const char*>(&value), sizeof(T));
}

class Reader {
 public:
  Reader(std::vector<char> bytes, std::string path) : b_(std::move(bytes)), path_(std::move(path)) {}
  template <typename T>
  T get() {
    T value;
    std::memcpy(&value, take(sizeof(T)), sizeof(T));
    return value;
  }
  size_t left() const { return b_.size() - at_; }
  const char* take(size_t n) {
    if (n > left()) fail("{}: truncated N:M file (needs {} more bytes at offset {})", path_, n, at_);
    const char* p = b_.data() + at_;
    at_ += n;
    return p;
  }
  bool done() const { return at_ == b_.size(); }

 private:
  std::vector<char> b_;
  std::string path_;
  size_t at_ = 0;
};

}  // namespace

WeightFile read_weight_file(const std::string& path) {
  const auto dict = read_pickled_dict(path, "weight file");
  WeightFile out;
  if (dict.contains("format")) {
    out.checkpoint = checkpoint_from_dict(dict, path);
    out.state = out.checkpoint->model_state;
    return out;
  }
  for (const auto& item : dict) {
    if (!item.key().isString() || !item.value().isTensor()) fail("{} does not hold a dict of name -> tensor", path);
    out.state.insert(item.key().toStringRef(), item.value().toTensor());
  }
  return out;
}

TensorDict load_weights(const std::string& path) { return read_weight_file(path).state; }

void check_scheme_covers(const TensorDict& state, const Scheme& scheme, const std::string& source) {
  std::set<std::string> named;
  for (const auto& l : scheme.layers) {
    layer_weight(state, l, source);
    named.insert(l.name + ".weight");
  }
  for (const auto& item : state) {
    const auto& name = item.key();
    const bool is_layer = item.value().dim() == 4 || item.value().dim() == 2;
    if (is_layer && name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0 && !named.count(name))
      fail("the scheme has no entry for {} of {}{}", name.substr(0, name.size() - 7), source,
           scheme.model.empty() ? std::string(" (a scheme for another model?)") : fmt::format(" (the scheme is for {})", scheme.model));
  }
}

TensorDict pruned_state(const TensorDict& state, const Scheme& scheme) {
  check_scheme_covers(state, scheme, "the weights");
  TensorDict out = state.copy();
  for (const auto& l : scheme.layers) {
    if (l.N >= l.M) continue;
    const auto& w = layer_weight(state, l, "the weights");
    out.insert_or_assign(l.name + ".weight", w * nm_mask(w, l.N, l.M, scheme.layout));
  }
  return out;
}

void export_pytorch(const TensorDict& state, const std::string& path) {
  const auto bytes = torch::pickle_save(c10::IValue(state));
  write_file_atomic(path, [&](std::ostream& out) { out.write(bytes.data(), static_cast<std::streamsize>(bytes.size())); });
}

namespace {

// The N largest |values| of each group [G, M] and their positions.
NmLayer keep_top_n(std::string name, at::IntArrayRef shape, const at::Tensor& groups, int64_t N, int64_t M, Layout layout) {
  const auto keep = topn_mask(groups, N);
  const auto positions = torch::arange(M, torch::kLong).expand_as(groups);
  return NmLayer{std::move(name), shape.vec(), N, M, layout, groups.masked_select(keep).view({-1, N}),
                 positions.masked_select(keep).view({-1, N}).to(torch::kUInt8)};
}

}  // namespace

std::vector<NmLayer> compress_nm(const TensorDict& state, const Scheme& scheme) {
  std::vector<NmLayer> out;
  for (const auto& l : scheme.layers) {
    if (l.N >= l.M) continue;
    const auto groups = to_groups(layer_weight(state, l, "the weights").to(torch::kFloat), l.M, scheme.layout);
    out.push_back(keep_top_n(l.name, l.shape, groups, l.N, l.M, scheme.layout));
  }
  return out;
}

NmLayer compress_nm_checked(const std::string& name, const at::Tensor& weight, int64_t N, int64_t M, Layout layout) {
  if (N < 1 || N > M || M > 255) fail("{}: N:M must satisfy 1 <= N <= M <= 255, not {}:{}", name, N, M);
  if (weight.dim() < 2 || !groupable(weight.sizes(), M))
    fail("{}: a weight of shape {} cannot be cut into groups of {}", name, shape_str(weight.sizes()), M);
  const auto groups = to_groups(weight.detach().to(torch::kCPU, torch::kFloat), M, layout);
  const auto per_group = groups.ne(0).sum(1);
  const auto broken = per_group.gt(N);
  if (broken.any().item<bool>()) {
    const auto g = broken.nonzero()[0][0].item<int64_t>();
    const auto per_row = weight.numel() / weight.size(0);
    fail("{}: group {} (output channel {}) holds {} non-zeros, more than N={} of M={}: the weight breaks its {}:{} scheme",
         name, g, g * M / per_row, per_group[g].item<int64_t>(), N, M, N, M);
  }
  return keep_top_n(name, weight.sizes(), groups, N, M, layout);
}

at::Tensor decompress_nm(const NmLayer& layer) {
  auto groups = torch::zeros({layer.values.size(0), layer.M}, torch::kFloat);
  groups.scatter_(1, layer.indices.to(torch::kLong), layer.values);
  return from_groups(groups, layer.shape, layer.layout);
}

int64_t nm_payload_bytes(const std::vector<NmLayer>& layers) {
  int64_t bytes = 0;
  for (const auto& l : layers) bytes += l.values.numel() * 4 + l.indices.numel();
  return bytes;
}

void write_nm(const std::vector<NmLayer>& layers, const std::string& path) {
  write_file_atomic(path, [&](std::ostream& out) {
    out.write(kMagic, 4);
    put<uint32_t>(out, kVersion);
    put<uint32_t>(out, static_cast<uint32_t>(layers.size()));
    for (const auto& l : layers) {
      put<uint32_t>(out, static_cast<uint32_t>(l.name.size()));
      out.write(l.name.data(), static_cast<std::streamsize>(l.name.size()));
      put<uint32_t>(out, static_cast<uint32_t>(l.shape.size()));
      for (int64_t d : l.shape) put<int64_t>(out, d);
      put<uint32_t>(out, static_cast<uint32_t>(l.N));
      put<uint32_t>(out, static_cast<uint32_t>(l.M));
      put<uint8_t>(out, l.layout == Layout::NHWC ? 0 : 1);
      put<int64_t>(out, l.values.size(0));
      const auto values = l.values.contiguous();
      const auto indices = l.indices.contiguous();
      out.write(reinterpret_cast<const char*>(values.data_ptr<float>()), static_cast<std::streamsize>(values.numel() * 4));
      out.write(reinterpret_cast<const char*>(indices.data_ptr<uint8_t>()), static_cast<std::streamsize>(indices.numel()));
    }
  });
}

std::vector<NmLayer> read_nm(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("N:M file {} not found", path);
  Reader r(std::vector<char>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()), path);
  if (std::memcmp(r.take(4), kMagic, 4) != 0) fail("{} is not an N:M weight file (bad magic)", path);
  if (const auto v = r.get<uint32_t>(); v != kVersion) fail("{}: N:M format version {} unsupported (expected {})", path, v, kVersion);
  // Every count is checked against the bytes left before anything is allocated for it.
  constexpr size_t kSmallestLayer = 4 + 4 + 4 + 4 + 1 + 8;
  const auto count = r.get<uint32_t>();
  if (count > r.left() / kSmallestLayer) fail("{}: truncated N:M file ({} layers declared)", path, count);
  std::vector<NmLayer> layers(count);
  for (auto& l : layers) {
    const auto name_length = r.get<uint32_t>();
    l.name.assign(r.take(name_length), name_length);
    const auto dims = r.get<uint32_t>();
    if (dims < 1 || dims > 8) fail("{}: layer {} has {} dimensions", path, l.name, dims);
    l.shape.resize(dims);
    int64_t numel = 1;
    for (auto& d : l.shape) {
      d = r.get<int64_t>();
      if (d < 1 || d > (int64_t{1} << 40) / numel) fail("{}: layer {} has an impossible shape", path, l.name);
      numel *= d;
    }
    l.N = r.get<uint32_t>();
    l.M = r.get<uint32_t>();
    l.layout = r.get<uint8_t>() == 0 ? Layout::NHWC : Layout::NCHW;
    const auto groups = r.get<int64_t>();
    if (l.N < 1 || l.N > l.M || l.M > 255 || groups < 1 || groups != numel / l.M || numel % l.M != 0)
      fail("{}: layer {} has inconsistent N={}, M={}, {} groups for shape [{}]", path, l.name, l.N, l.M, groups, fmt::join(l.shape, ", "));
    if (static_cast<uint64_t>(groups) > r.left() / static_cast<uint64_t>(l.N * 5))
      fail("{}: truncated N:M file (layer {} needs {} bytes)", path, l.name, groups * l.N * 5);
    l.values = torch::empty({groups, l.N}, torch::kFloat);
    std::memcpy(l.values.data_ptr<float>(), r.take(static_cast<size_t>(groups * l.N * 4)), static_cast<size_t>(groups * l.N * 4));
    l.indices = torch::empty({groups, l.N}, torch::kUInt8);
    std::memcpy(l.indices.data_ptr<uint8_t>(), r.take(static_cast<size_t>(groups * l.N)), static_cast<size_t>(groups * l.N));
    if (l.indices.ge(l.M).any().item<bool>()) fail("{}: layer {} has an in-group index of M={} or more", path, l.name, l.M);
  }
  if (!r.done()) fail("{}: trailing bytes after {} layers", path, layers.size());
  return layers;
}

std::vector<LayerCheck> verify_nm(const TensorDict& weights, const Scheme& scheme) {
  check_scheme_covers(weights, scheme, "the weight file");
  std::vector<LayerCheck> out;
  for (const auto& l : scheme.layers) {
    const auto& w = layer_weight(weights, l, "the weight file");
    LayerCheck c{l.name, l.N, l.M, w.ne(0).sum().item<int64_t>(), w.numel()};
    if (l.N < l.M) {
      const auto per_group = to_groups(w, l.M, scheme.layout).ne(0).sum(1);
      const auto broken = per_group.gt(l.N);
      c.groups = per_group.numel();
      c.broken_groups = broken.sum().item<int64_t>();
      if (c.broken_groups > 0) c.first_broken = broken.nonzero()[0][0].item<int64_t>();
    }
    out.push_back(c);
  }
  return out;
}

}  // namespace domino
