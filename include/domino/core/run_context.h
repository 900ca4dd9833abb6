// How a run executes, as opposed to what it computes: every job takes one. Resuming a run
// takes these from the new command line, not from the saved config (beyond float reduction
// order for `threads`, they do not change the result).
#pragma once

#include <cstdint>
#include <string>

namespace domino {

struct RunContext {
  int threads = 0;  // LibTorch threads; 0: every core
  int workers = 2;  // data-pipeline threads
  std::string device = "auto";
  std::string memory_format = "channels-last";  // of activations and conv weights
  int64_t max_iters = 0;  // 0: no cap
  int64_t log_every = 50;
  // Checkpoints besides the one at each epoch's end: an ImageNet epoch is hours of work.
  int64_t checkpoint_every = 0;    // iterations; 0: off
  double checkpoint_minutes = 10;  // since the last checkpoint; 0: off
  std::string out = "runs/train";
  bool resume = false;
  bool force = false;  // replace a run already in `out`
  // Seconds a data-parallel rank waits for the others (rendezvous, each collective) before
  // it stops with an error: how long a lost rank can hold up the rest.
  double dist_timeout = 60;
  // The c10d backend for tensors on the device: auto (NCCL on CUDA where LibTorch has it,
  // else Gloo), gloo or nccl.
  std::string dist_backend = "auto";
  // Gradients all-reduced while backward runs (c10d's Reducer, as PyTorch DDP), or after it.
  bool dist_overlap = true;
  // This process's place among the processes of a data-parallel run (one process: 0 of 1).
  // Set by the launcher, not by options.
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
};

}  // namespace domino
