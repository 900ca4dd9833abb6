// SR-STE (docs/ALGORITHM.md §3): train a network into an N:M scheme. The forward uses
// W ⊙ mask_N(W), the mask recomputed every call; the dense W receives
// ∂L/∂W_eff + λ_w · (1 − mask) ⊙ W (the sparse-refined straight-through estimator).
#pragma once

#include <ATen/Tensor.h>

#include "domino/models/models.h"
#include "domino/models/prunable.h"
#include "domino/nm/scheme.h"

namespace domino {

constexpr double kSrSteDecay = 0.0005;  // λ_w

// W ⊙ mask_N(W) with the SR-STE gradient.
at::Tensor srste_weight(const at::Tensor& weight, int64_t N, int64_t M, Layout layout, double decay = kSrSteDecay);

// Installs SR-STE on every layer of `scheme` with N < M (after checking the scheme fits).
void install_srste(Network& model, const Scheme& scheme, double decay = kSrSteDecay);
// Removes every weight transform and writes W ⊙ mask_N(W) into the weights: exactly N:M.
void hard_prune(Network& model, const Scheme& scheme);

}  // namespace domino
