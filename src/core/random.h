// Portable, counter-based randomness. Every random draw in the data pipeline comes from
// a generator seeded by (seed, epoch, sample), so results do not depend on thread count
// or scheduling, and a resumed run sees exactly the batches it would have seen.
#pragma once

#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace domino {

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

inline uint64_t mix_seed(uint64_t a, uint64_t b, uint64_t c = 0) {
  return splitmix64(splitmix64(splitmix64(a) ^ b) ^ c);
}

// Fisher-Yates with explicit draws: std::shuffle's sequence differs between libraries.
template <typename T>
void shuffle_in_place(std::vector<T>& v, uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng() % i]);
}

}  // namespace domino
