#include "domino/core/runtime.h"

#include <torch/torch.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <dlfcn.h>

#include <atomic>
#include <limits>
#include <csignal>
#include <thread>

#include <fmt/format.h>

#include "domino/core/error.h"

namespace domino {
namespace {

std::atomic<bool> g_interrupted{false};

void on_signal(int signal) {
  if (g_interrupted.exchange(true) && signal == SIGINT) {
    std::signal(SIGINT, SIG_DFL);
    std::raise(SIGINT);
  }
}

// An OpenBLAS function where OpenBLAS is LibTorch's BLAS (looked up, not linked: the
// system's libblas.so.3 may be another), else null.
template <typename F>
F* openblas(const char* name) {
  return reinterpret_cast<F*>(dlsym(RTLD_DEFAULT, name));
}
constexpr int kOpenBlasPthreads = 1;  // openblas_get_parallel(): 0 sequential, 1 pthreads, 2 OpenMP

}  // namespace

int max_threads() { return static_cast<int>(std::max(64u, 8 * std::thread::hardware_concurrency())); }

void check_thread_count(int64_t n, const char* what) {
  if (n < 0) fail("{} must not be negative, got {}", what, n);
  if (n > max_threads())
    fail("{} {} is above the limit of {} (8 per core of this machine, at least 64)", what, n, max_threads());
}

void keep_freed_memory() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_MAX, 0);                                       // large blocks from the heap too
  mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());  // and kept there once freed
#endif
}

void set_threads(int threads) {
  check_thread_count(threads, "thread count");
  const int n = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(n);
  set_blas_pool_threads(1);
}

// OpenBLAS built on pthreads (Debian's libopenblas0-pthread) keeps a pool of its own that
// spins for a while after every call, on the cores LibTorch's OpenMP threads work on: after
// a small convolution that LibTorch hands to BLAS (below oneDNN's size threshold, e.g. a
// CIFAR stem at batch 1), every following operation ran slower, VGG-16's batch-1 N:M
// forward 4.0 ms instead of 0.6-0.9 (docs/benchmarks.md). OpenBLAS built on OpenMP (what
// scripts/install-deps.sh installs) shares LibTorch's pool and has none of its own.
void set_blas_pool_threads(int n) {
  const auto parallel = openblas<int()>("openblas_get_parallel");
  const auto set = openblas<void(int)>("openblas_set_num_threads");
  if (parallel && set && parallel() == kOpenBlasPthreads) set(n);
}

std::string blas_threading() {
  const auto parallel = openblas<int()>("openblas_get_parallel");
  if (!parallel) return "not OpenBLAS";
  const auto threads = openblas<int()>("openblas_get_num_threads");
  const int kind = parallel();
  return fmt::format("OpenBLAS, {}{}", kind == 0 ? "sequential" : kind == kOpenBlasPthreads ? "pthreads" : "OpenMP",
                     kind == kOpenBlasPthreads && threads ? fmt::format(", {} thread(s)", threads()) : std::string());
}

c10::Device resolve_device(const std::string& name) {
  if (name == "auto") return torch::cuda::is_available() ? c10::Device(c10::kCUDA) : c10::Device(c10::kCPU);
  c10::Device device(c10::kCPU);
  try {
    device = c10::Device(name);
  } catch (const c10::Error&) {
    fail("unknown device '{}' (valid: auto, cpu, cuda, cuda:K)", name);
  }
  if (device.is_cuda() && !torch::cuda::is_available())
    fail("device {} requested, but this LibTorch build sees no CUDA device", name);
  if (device.is_cuda() && device.has_index() && device.index() >= static_cast<int>(torch::cuda::device_count()))
    fail("device {} requested, but only {} CUDA devices are visible", name, torch::cuda::device_count());
  if (!device.is_cpu() && !device.is_cuda()) fail("unsupported device '{}' (valid: auto, cpu, cuda, cuda:K)", name);
  return device;
}

void install_interrupt_handler() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
}

bool interrupt_requested() { return g_interrupted.load(); }
void request_interrupt() { g_interrupted = true; }
void clear_interrupt() { g_interrupted = false; }

}  // namespace domino
