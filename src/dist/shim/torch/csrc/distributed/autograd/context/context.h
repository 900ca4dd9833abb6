// Debian's libtorch-dev 1.13 ships c10d/reducer.hpp but not this header, which it includes
// for two names of distributed autograd (RPC). The Reducer's data-parallel path never uses
// them; they only need to exist, with the types LibTorch gives them, for reducer.hpp to
// compile (reducer.hpp checks GradCallback's type itself). CMake puts this folder on the
// include path only where LibTorch's own header is missing.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <memory>

namespace torch::distributed::autograd {

class DistAutogradContext {
 public:
  using GradCallback = std::function<bool(at::Tensor&)>;
};
using ContextPtr = std::shared_ptr<DistAutogradContext>;

}  // namespace torch::distributed::autograd
