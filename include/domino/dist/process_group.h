// The process group of a data-parallel run: PyTorch's own runtime (c10d) — a TCPStore for the
// rendezvous at MASTER_ADDR:MASTER_PORT, ProcessGroupGloo for the collectives (and
// ProcessGroupNCCL for CUDA tensors where LibTorch has it) — wrapped so that the rest of the
// library sees a few operations and domino::Error on failure.
#pragma once

#include <ATen/Tensor.h>
#include <c10/core/Device.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "domino/core/names.h"
#include "domino/dist/launch_env.h"

namespace domino::dist {

// Which c10d backend carries the collectives of tensors on the run's device. Gloo always
// carries those of CPU tensors (counts, checks, flags), as PyTorch's own CPU side group does.
enum class Backend { Auto, Gloo, Nccl };
inline constexpr EnumNames<Backend, 3> kBackends{{{{Backend::Auto, "auto"}, {Backend::Gloo, "gloo"}, {Backend::Nccl, "nccl"}}}};

// Whether this LibTorch was built with NCCL (a CUDA build); Debian's CPU build is not.
bool nccl_available();
// `auto`: NCCL for a CUDA device where LibTorch has it, else Gloo. NCCL asked for on a CPU
// device or in a LibTorch without it is an error saying so.
Backend resolve_backend(Backend asked, c10::Device device);

class ProcessGroup {
 public:
  // Joins the group (rank 0 serves the store); waits at most `timeout` for the others, and
  // fails any later collective that a rank does not join within it (a killed rank).
  // `backend` (resolved: Gloo or Nccl) carries the collectives of CUDA tensors.
  ProcessGroup(const LaunchEnv& env, std::chrono::milliseconds timeout, Backend backend = Backend::Gloo);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const { return env_.rank; }
  int size() const { return env_.world_size; }
  Backend backend() const { return backend_; }

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

  // Runs `f`, turning a c10d failure into one line naming `what`, this rank, the ranks that
  // are gone (their heartbeats stopped) and the master.
  void guarded(const char* what, const std::function<void()>& f) const;

 private:
  std::string who_is_lost() const;

  friend class OverlappedReduce;  // drives c10d's Reducer on this group
  struct Impl;
  LaunchEnv env_;
  Backend backend_;
  std::unique_ptr<Impl> impl_;
};

// The group of the launch this process was started in, joined at the first call and kept
// for the life of the process, as torch.distributed's default group is: every job of one
// command (an experiment runs many) shares it; later calls return it as it is.
ProcessGroup& world(const LaunchEnv& env, std::chrono::milliseconds timeout, Backend backend);

// `x` summed over the ranks, differentiably: its gradient is the sum of the ranks'
// gradients, since every rank's result depends on every rank's input (SyncBatchNorm).
at::Tensor differentiable_sum(const at::Tensor& x, ProcessGroup& group);

}  // namespace domino::dist
