// ERK sparsity (docs/ALGORITHM.md §2.4), candidate sets, and the schemes DominoSearch is
// compared against (§2.6, §2.7): uniform, ERK-rounded, and the fixed-N mapping.
#pragma once

#include <vector>

#include "domino/nm/scheme.h"

namespace domino {

// s_i for each weight shape at overall target s; layers ERK would make denser than
// dense (ε·p_i > 1) are kept dense (s_i = 0) and the rest re-solved.
std::vector<double> erk_sparsities(const std::vector<std::vector<int64_t>>& shapes, double target);

// Which N a search or baseline may give a layer: pow2 (1, 2, 4, ..., M) or all (1..M).
enum class CandidateSet { Pow2, All };
inline constexpr EnumNames<CandidateSet, 2> kCandidateSets{{{{CandidateSet::Pow2, "pow2"}, {CandidateSet::All, "all"}}}};
std::vector<int64_t> candidate_ns(int64_t M, CandidateSet set);

// Highest param sparsity / FLOPs reduction reachable when every searchable layer goes
// to the smallest candidate.
double reachable(const Scheme& scheme, TargetKind kind, int64_t smallest_n);

Scheme uniform_scheme(Scheme base, int64_t N);
// ERK sparsities rounded to the nearest candidate N, then the layers furthest above their
// ERK density lowered one candidate at a time until the target is met (within 0.001).
Scheme erk_scheme(Scheme base, const Target& target, const std::vector<int64_t>& candidates);
// Fixed N, flexible M: N:M -> 1:(M/N); dense stays dense. Needs N to divide M.
Scheme to_fixed_n(Scheme scheme);

}  // namespace domino
