// Which kernel runs: the best instruction set the CPU reports, unless lowered.
#include <atomic>
#include <cstdlib>
#include <string>

#include "domino/core/error.h"
#include "domino/engine/engine.h"
#include "engine/spmm_kernel.h"

namespace domino::engine {
namespace {

Isa from_environment(Isa detected) {
  const char* env = std::getenv("DOMINO_ENGINE_ISA");
  if (!env || !*env) return detected;
  const auto wanted = parse_isa(env);
  return wanted < detected ? wanted : detected;
}

std::atomic<int>& limit() {
  static std::atomic<int> most{static_cast<int>(from_environment(detected_isa()))};
  return most;
}

std::atomic<bool>& channels_last_on() {
  static std::atomic<bool> on{[] {
    const char* env = std::getenv("DOMINO_ENGINE_NHWC");
    return !(env && std::string(env) == "0");
  }()};
  return on;
}

}  // namespace

bool channels_last_kernel() { return channels_last_on().load(); }
void use_channels_last_kernel(bool on) { channels_last_on().store(on); }

std::string to_string(Isa isa) {
  switch (isa) {
    case Isa::Portable: return "portable";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
  }
  return "?";
}

Isa parse_isa(const std::string& name) {
  for (const auto isa : {Isa::Portable, Isa::Avx2, Isa::Avx512})
    if (name == to_string(isa)) return isa;
  fail("unknown instruction set '{}' (valid: portable, avx2, avx512)", name);
}

Isa detected_isa() {
#if defined(__x86_64__)
  static const Isa isa = __builtin_cpu_supports("avx512f")                                   ? Isa::Avx512
                         : (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) ? Isa::Avx2
                                                                                               : Isa::Portable;
  return isa;
#else
  return Isa::Portable;
#endif
}

Isa active_isa() { return static_cast<Isa>(limit().load()); }

void limit_isa(Isa most) {
  limit().store(static_cast<int>(most < detected_isa() ? most : detected_isa()));
}

SpmmKernel active_kernel() {
  switch (active_isa()) {
#if defined(__x86_64__)
    case Isa::Avx512: return spmm_avx512;
    case Isa::Avx2: return spmm_avx2;
#endif
    default: return spmm_portable;
  }
}

}  // namespace domino::engine
