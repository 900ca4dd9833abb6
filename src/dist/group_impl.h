// ProcessGroup's c10d objects, shared by the dist part's sources (the Reducer drives them too).
#pragma once

// LibTorch's CMake config defines this for a build with Gloo (Debian's is one); the Gloo
// header is empty without it.
#ifndef USE_C10D_GLOO
#error "this LibTorch was built without Gloo (USE_C10D_GLOO): data-parallel runs need it"
#endif

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>

#include "dist/heartbeat.h"
#include "domino/dist/process_group.h"

namespace domino::dist {

struct ProcessGroup::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;
  c10::intrusive_ptr<c10d::ProcessGroup> nccl;  // null unless the backend is NCCL
  std::unique_ptr<Heartbeat> heartbeat;          // once every rank has joined

  // The group that carries a collective of these tensors: NCCL for CUDA tensors when the
  // run uses it, Gloo for the rest (Gloo also reduces CUDA tensors in a CUDA build).
  c10::intrusive_ptr<c10d::ProcessGroup> for_tensor(const at::Tensor& t) const {
    if (nccl && t.is_cuda()) return nccl;
    return gloo;
  }
};

}  // namespace domino::dist
