// Handing sparse weights over: a PyTorch state dict (torch.load opens it as a dict of
// tensors), a compressed N:M format (docs/nm-format.md), and group-by-group verification.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "domino/io/checkpoint.h"
#include "domino/nm/scheme.h"

namespace domino {

// A weight file's tensors by name: a domino checkpoint's model state, or a dict of
// tensors such as `domino export --format pytorch` writes.
TensorDict load_weights(const std::string& path);
// The same, with the checkpoint itself when the file is a domino checkpoint (its model
// and config say which layers a scheme must cover).
struct WeightFile {
  TensorDict state;
  std::optional<Checkpoint> checkpoint;
};
WeightFile read_weight_file(const std::string& path);

// Fails unless `scheme` names every convolution and linear weight of `state` (4-d and 2-d
// "*.weight" tensors) with its shape: a scheme of another model, or one missing a layer,
// would otherwise check or prune only part of the network.
void check_scheme_covers(const TensorDict& state, const Scheme& scheme, const std::string& source);

// `state` with every layer of `scheme` multiplied by its N:M mask (checked as above).
TensorDict pruned_state(const TensorDict& state, const Scheme& scheme);

void export_pytorch(const TensorDict& state, const std::string& path);  // atomic

// One layer in the compressed format: per group, the N kept values and their in-group
// indices (ascending), groups in the scheme's layout order.
struct NmLayer {
  std::string name;
  std::vector<int64_t> shape;
  int64_t N = 0, M = 0;
  Layout layout = Layout::NHWC;
  at::Tensor values;   // float32 [G, N]
  at::Tensor indices;  // uint8 [G, N]
};

std::vector<NmLayer> compress_nm(const TensorDict& state, const Scheme& scheme);  // layers with N < M
// One weight that should already be N:M, compressed without pruning: fails, naming `name`,
// the first group of M (in `layout` order) holding more than N non-zeros and its output
// channel — a weight that breaks its scheme is refused, never silently re-pruned.
NmLayer compress_nm_checked(const std::string& name, const at::Tensor& weight, int64_t N, int64_t M, Layout layout);
at::Tensor decompress_nm(const NmLayer& layer);  // the dense tensor, zeros where pruned
void write_nm(const std::vector<NmLayer>& layers, const std::string& path);  // atomic
std::vector<NmLayer> read_nm(const std::string& path);
int64_t nm_payload_bytes(const std::vector<NmLayer>& layers);  // values + indices

struct LayerCheck {
  std::string name;
  int64_t N = 0, M = 0, nonzeros = 0, elements = 0, groups = 0, broken_groups = 0;
  int64_t first_broken = -1;  // index of the first group with more than N non-zeros
};
// Checks every layer of `scheme` in `weights` group by group (after check_scheme_covers).
std::vector<LayerCheck> verify_nm(const TensorDict& weights, const Scheme& scheme);

}  // namespace domino
