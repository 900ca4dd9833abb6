// Gradients averaged over the ranks while the backward pass still runs: c10d's Reducer, the
// engine of PyTorch's DistributedDataParallel. Parameters are grouped into buckets (one in
// the first iteration, then rebuilt in the order their gradients arrived, at most
// `bucket_bytes` each); a bucket is all-reduced as soon as its last gradient is ready, and
// backward() returns with every gradient averaged.
#pragma once

#include <ATen/Tensor.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "domino/dist/process_group.h"

namespace domino::dist {

class OverlappedReduce {
 public:
  // `parameters`: every trainable tensor of the model, in the same order on every rank.
  OverlappedReduce(ProcessGroup& group, const std::vector<at::Tensor>& parameters, int64_t bucket_bytes = 25 << 20);
  ~OverlappedReduce();
  OverlappedReduce(const OverlappedReduce&) = delete;
  OverlappedReduce& operator=(const OverlappedReduce&) = delete;

  // Before each training forward (as DDP's forward does): rebuilds the buckets once, after
  // the first backward showed the order gradients come in.
  void before_forward();
  // `loss`.backward() with the gradients reduced as they are produced; a failed collective
  // (a lost rank) is one domino::Error line, as ProcessGroup's are.
  void backward(const at::Tensor& loss);

 private:
  struct Impl;
  ProcessGroup& group_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace domino::dist
