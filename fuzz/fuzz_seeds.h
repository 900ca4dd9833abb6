// Valid inputs made by our own writers, for the harnesses' seed corpora.
#pragma once

#include <zlib.h>

#include <map>
#include <string>
#include <vector>

#include "domino/io/checkpoint.h"
#include "domino/models/layer_table.h"
#include "domino/models/models.h"
#include "domino/nm/baselines.h"
#include "domino/sparse/export.h"
#include "fuzz_util.h"

namespace domino::fuzz {

inline LayerTable resnet8_table() {
  auto model = make_model("resnet8", {1, 10});
  return build_layer_table(*model, {1, 28, 28});
}

inline Scheme resnet8_dense_scheme() {
  auto s = dense_scheme(resnet8_table(), 16, Layout::NHWC);
  s.model = "resnet8";
  s.dataset = "fashion-mnist";
  return s;
}

// The scheme in the authors' dict format: {'SparseConv0_1-16-(3, 3)': [2, 16], ...}.
inline std::string authors_text(const Scheme& s) {
  std::string out = "{";
  int conv = 0, linear = 0;
  for (const auto& l : s.layers) {
    if (out.size() > 1) out += ", ";
    out += l.shape.size() == 4 ? fmt::format("'SparseConv{}_{}-{}-({}, {})'", conv++, l.shape[1], l.shape[0], l.shape[2], l.shape[3])
                               : fmt::format("'Linear{}_{}-{}'", linear++, l.shape[1], l.shape[0]);
    out += fmt::format(": [{}, {}]", l.N, l.M);
  }
  return out + "}";
}

// Small torch.save-format archives: a checkpoint and a plain state dict (a few tensors, so
// that inputs stay short and the fuzzer fast).
inline std::map<std::string, std::string> seed_archives() {
  TensorDict state;
  state.insert("conv.weight", torch::randn({2, 16, 1, 1}));
  state.insert("bn.running_var", torch::ones({2}));
  state.insert("bn.num_batches_tracked", torch::tensor(int64_t{3}));
  const std::string dir = (std::filesystem::temp_directory_path() / ("domino-seeds-" + std::to_string(::getpid()))).string();
  std::filesystem::create_directories(dir);
  Checkpoint c;
  c.model = "resnet8";
  c.model_options = {1, 10};
  c.config = {{"dataset", "fashion-mnist"}, {"seed", 1}};
  c.iteration = 5;
  c.model_state = state;
  c.rng_state = torch::empty({0}, torch::kUInt8);
  c.extra.insert("scheme", std::string("{}"));
  c.extra.insert("loss_scaler.scale", 1024.0);
  save_checkpoint(c, dir + "/checkpoint.pt");
  export_pytorch(state, dir + "/state_dict.pt");
  std::map<std::string, std::string> out = {{"checkpoint", read_all(dir + "/checkpoint.pt")},
                                            {"state_dict", read_all(dir + "/state_dict.pt")}};
  std::filesystem::remove_all(dir);
  return out;
}

inline std::string idx_seed(const std::vector<uint32_t>& dims) {
  std::string b = {0, 0, 0x08, static_cast<char>(dims.size())};
  size_t count = 1;
  for (uint32_t d : dims) {
    for (int shift : {24, 16, 8, 0}) b += static_cast<char>((d >> shift) & 0xff);
    count *= d;
  }
  for (size_t i = 0; i < count; ++i) b += static_cast<char>(i % 10);
  return b;
}

inline std::string gzip(const std::string& raw) {
  z_stream z{};
  deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);  // +16: gzip wrapper
  std::string out(deflateBound(&z, raw.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  z.avail_in = static_cast<uInt>(raw.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

}  // namespace domino::fuzz
