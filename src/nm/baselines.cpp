#include "domino/nm/baselines.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "domino/core/error.h"
#include "domino/core/names.h"

namespace domino {

std::vector<double> erk_sparsities(const std::vector<std::vector<int64_t>>& shapes, double target) {
  const size_t L = shapes.size();
  std::vector<double> p(L), n(L);
  for (size_t i = 0; i < L; ++i) {
    const auto& s = shapes[i];
    p[i] = static_cast<double>(std::accumulate(s.begin(), s.end(), int64_t{0})) /
           static_cast<double>(std::accumulate(s.begin(), s.end(), int64_t{1}, std::multiplies<>()));
    n[i] = static_cast<double>(std::accumulate(s.begin(), s.end(), int64_t{1}, std::multiplies<>()));
  }
  std::vector<bool> dense(L, false);
  double epsilon = 0;
  while (true) {
    double rhs = 0, denominator = 0, max_p = 0;
    for (size_t i = 0; i < L; ++i) {
      const double budget_pruned = std::floor(target * n[i]);
      if (dense[i]) {
        rhs -= budget_pruned;
      } else {
        rhs += n[i] - budget_pruned;
        denominator += p[i] * n[i];
        max_p = std::max(max_p, p[i]);
      }
    }
    if (denominator == 0) break;  // every layer dense
    epsilon = rhs / denominator;
    if (epsilon * max_p <= 1.0) break;
    for (size_t i = 0; i < L; ++i)
      if (!dense[i] && p[i] == max_p) dense[i] = true;
  }
  std::vector<double> out(L);
  for (size_t i = 0; i < L; ++i) out[i] = dense[i] ? 0.0 : 1.0 - epsilon * p[i];
  return out;
}

std::vector<int64_t> candidate_ns(int64_t M, CandidateSet set) {
  std::vector<int64_t> out;
  if (set == CandidateSet::All) {
    for (int64_t n = 1; n <= M; ++n) out.push_back(n);
  } else {
    if ((M & (M - 1)) != 0) fail("candidates pow2 need M to be a power of two, got {}", M);
    for (int64_t n = 1; n <= M; n *= 2) out.push_back(n);
  }
  return out;
}

double reachable(const Scheme& scheme, TargetKind kind, int64_t smallest_n) {
  Scheme lowest = scheme;
  for (auto& l : lowest.layers)
    if (l.searchable) l.N = smallest_n;
  return lowest.achieved(kind);
}

Scheme uniform_scheme(Scheme base, int64_t N) {
  if (N < 1 || N > base.M) fail("uniform N must be in 1..M={}, got {}", base.M, N);
  for (auto& l : base.layers)
    if (l.searchable) l.N = N;
  base.source = "uniform";
  return base;
}

Scheme erk_scheme(Scheme base, const Target& target, const std::vector<int64_t>& candidates) {
  std::vector<size_t> idx;
  std::vector<std::vector<int64_t>> shapes;
  for (size_t i = 0; i < base.layers.size(); ++i)
    if (base.layers[i].searchable) {
      idx.push_back(i);
      shapes.push_back(base.layers[i].shape);
    }
  const auto erk = erk_sparsities(shapes, target.value);
  std::vector<double> erk_density(base.layers.size(), 1.0);
  for (size_t k = 0; k < idx.size(); ++k) {
    auto& l = base.layers[idx[k]];
    erk_density[idx[k]] = 1.0 - erk[k];
    const double want = erk_density[idx[k]] * static_cast<double>(l.M);
    l.N = *std::min_element(candidates.begin(), candidates.end(),
                            [&](int64_t a, int64_t b) { return std::abs(a - want) < std::abs(b - want); });
  }
  auto lower = [&](int64_t n) {  // the next smaller candidate, or n itself
    int64_t best = n;
    for (int64_t c : candidates)
      if (c < n && (best == n || c > best)) best = c;
    return best;
  };
  while (base.achieved(target.kind) < target.value - 0.001) {
    // Lower the layer whose density is furthest above what ERK asked for.
    double worst = -1;
    size_t pick = base.layers.size();
    for (size_t i : idx) {
      const auto& l = base.layers[i];
      if (lower(l.N) == l.N) continue;
      const double excess = static_cast<double>(l.N) / static_cast<double>(l.M) - erk_density[i];
      if (excess > worst) {
        worst = excess;
        pick = i;
      }
    }
    if (pick == base.layers.size()) fail("ERK scheme cannot reach {}", to_string(target));
    base.layers[pick].N = lower(base.layers[pick].N);
  }
  base.source = "erk";
  base.target = target;
  return base;
}

Scheme to_fixed_n(Scheme scheme) {
  if (scheme.policy == Policy::FixedN) return scheme;
  for (auto& l : scheme.layers) {
    if (l.N == l.M) continue;
    if (l.M % l.N != 0) fail("fixed-N needs N to divide M; layer {} is {}:{}", l.name, l.N, l.M);
    l.M /= l.N;
    l.N = 1;
  }
  scheme.policy = Policy::FixedN;
  scheme.latency = nullptr;  // measured at M; 1:(M/N) is another kernel, not in the table
  return scheme;
}

}  // namespace domino
