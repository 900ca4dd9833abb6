// The process group of a data-parallel run: PyTorch's own runtime (c10d) — a TCPStore for the
// rendezvous at MASTER_ADDR:MASTER_PORT, ProcessGroupGloo for the collectives — wrapped so
// that the rest of the library sees a few operations and domino::Error on failure.
#pragma once

#include <ATen/Tensor.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "domino/dist/launch_env.h"

namespace domino::dist {

class ProcessGroup {
 public:
  // Joins the group (rank 0 serves the store); waits at most `timeout` for the others, and
  // fails any later collective that a rank does not join within it (a killed rank).
  ProcessGroup(const LaunchEnv& env, std::chrono::milliseconds timeout);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const { return env_.rank; }
  int size() const { return env_.world_size; }

  // Sums each tensor over the ranks, in place, then divides by the world size. Tensors are
  // packed into flat buckets of at most `bucket_bytes` per dtype, so a model's gradients
  // take a few collectives, not one per parameter.
  void allreduce_mean(const std::vector<at::Tensor>& tensors, int64_t bucket_bytes = 25 << 20);
  // Sums in place (no division): counts, losses, correct predictions.
  void allreduce_sum(const std::vector<at::Tensor>& tensors, int64_t bucket_bytes = 25 << 20);
  // Each tensor takes rank `root`'s values, in place.
  void broadcast(const std::vector<at::Tensor>& tensors, int root = 0);
  void barrier();
  // Fails on every rank, naming `what` and the ranks that differ from rank 0, unless every
  // rank passes the same `value` (e.g. a checksum of a config or of search decisions).
  void check_same(uint64_t value, const std::string& what);

 private:
  struct Impl;
  LaunchEnv env_;
  std::unique_ptr<Impl> impl_;
};

// `x` summed over the ranks, differentiably: its gradient is the sum of the ranks'
// gradients, since every rank's result depends on every rank's input (SyncBatchNorm).
at::Tensor differentiable_sum(const at::Tensor& x, ProcessGroup& group);

}  // namespace domino::dist
