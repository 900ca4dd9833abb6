// Process-level settings every command shares: thread count, device, and a Ctrl-C that
// asks long work to stop at a safe point (after saving) instead of killing it.
#pragma once

#include <c10/core/Device.h>

#include <string>

namespace domino {

// 0 means every core. LibTorch on these machines otherwise starts with one thread.
// Fails above max_threads(). An OpenBLAS with its own pool of threads has it cut to one
// (set_blas_pool_threads): LibTorch's threads do the parallel work.
void set_threads(int threads);

// The size of OpenBLAS's own thread pool, where it has one (built on pthreads; its threads
// spin after each call on the cores LibTorch's work on); else (OpenBLAS on OpenMP, another
// BLAS) nothing.
void set_blas_pool_threads(int n);

// The BLAS behind LibTorch and how it threads: "OpenBLAS, OpenMP", "OpenBLAS, pthreads,
// 1 thread(s)", "not OpenBLAS" (bench-infer reports it with its timings).
std::string blas_threading();

// The most threads (LibTorch's, or data-pipeline workers) a run may ask for: 8 per core,
// at least 64. More only slows a run down, and tens of thousands hang the process.
int max_threads();
// Fails with a line naming `what` ("thread count", "worker count") if n is negative or above max_threads().
void check_thread_count(int64_t n, const char* what);

// Keeps freed memory for reuse instead of handing every large block back to the OS. With
// glibc's defaults each activation tensor of a large batch is a fresh mmap (page faults on
// every use) and the heap is trimmed after each forward: measured 2-9x slower forwards at
// batch 8-256 (docs/benchmarks.md). Call once at start; no effect outside glibc.
void keep_freed_memory();

// "auto" (cuda when LibTorch sees a GPU, else cpu), "cpu", "cuda" or "cuda:K".
c10::Device resolve_device(const std::string& name);

// After this, SIGINT/SIGTERM set a flag that long-running loops poll; a second
// SIGINT kills the process as usual.
void install_interrupt_handler();
bool interrupt_requested();
void request_interrupt();  // as if a signal arrived (tests)
void clear_interrupt();

}  // namespace domino
