#include "domino/dist/overlapped_reduce.h"

#include <torch/csrc/distributed/c10d/reducer.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <limits>

#include "domino/core/error.h"
#include "dist/group_impl.h"

namespace domino::dist {

struct OverlappedReduce::Impl {
  std::shared_ptr<c10d::Reducer> reducer;
};

OverlappedReduce::OverlappedReduce(ProcessGroup& group, const std::vector<at::Tensor>& parameters, int64_t bucket_bytes)
    : group_(group), impl_(std::make_unique<Impl>()) {
  if (parameters.empty()) fail("nothing to reduce: the model has no trainable parameters");
  const std::vector<bool> dense(parameters.size(), false);
  // As DDP does without unused parameters: one bucket until the first backward has shown
  // the order gradients arrive in, then buckets of `bucket_bytes` in that order (rebuilt by
  // before_forward). Reversed: gradients come roughly in the reverse order of definition.
  // (Not a structured binding: the lambda below captures them, which clang's C++17 refuses.)
  const auto assignment = c10d::compute_bucket_assignment_by_size(parameters, {std::numeric_limits<size_t>::max()}, dense);
  auto buckets = std::get<0>(assignment);
  auto limits = std::get<1>(assignment);
  std::reverse(buckets.begin(), buckets.end());
  std::reverse(limits.begin(), limits.end());
  group.guarded("reducer setup", [&] {
    impl_->reducer = std::make_shared<c10d::Reducer>(parameters, buckets, limits, group.impl_->for_tensor(parameters.front()),
                                                     dense, bucket_bytes, /*find_unused_parameters=*/false,
                                                     /*gradient_as_bucket_view=*/false,
                                                     std::unordered_map<size_t, std::string>{},
                                                     /*first_bucket_bytes_cap=*/1 << 20);
  });
}

OverlappedReduce::~OverlappedReduce() = default;

void OverlappedReduce::before_forward() {
  group_.guarded("bucket rebuild", [&] {
    impl_->reducer->prepare_for_forward();
    impl_->reducer->rebuild_buckets();  // once, after the first iteration; a broadcast from rank 0
  });
}

void OverlappedReduce::backward(const at::Tensor& loss) {
  group_.guarded("all-reduce (overlapped with backward)", [&] {
    impl_->reducer->prepare_for_backward({});
    loss.backward();
  });
}

}  // namespace domino::dist
