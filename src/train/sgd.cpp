#include "domino/train/sgd.h"

#include <torch/torch.h>

#include "core/shape.h"
#include "domino/core/error.h"

namespace domino {

Sgd::Sgd(std::vector<std::pair<std::string, at::Tensor>> named_parameters, SgdOptions options)
    : params_(std::move(named_parameters)), momentum_(params_.size()), options_(options) {}

void Sgd::zero_grad() {
  for (auto& [name, p] : params_)
    if (p.grad().defined()) p.mutable_grad().zero_();
}

void Sgd::step() {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    auto& p = params_[i].second;
    if (!p.grad().defined()) continue;
    auto d_p = p.grad();
    if (options_.weight_decay != 0.0) d_p = d_p.add(p, options_.weight_decay);
    if (options_.momentum != 0.0) {
      auto& buf = momentum_[i];
      if (!buf.defined())
        buf = d_p.clone();
      else
        buf.mul_(options_.momentum).add_(d_p);
      d_p = options_.nesterov ? d_p.add(buf, options_.momentum) : buf;
    }
    p.add_(d_p, -options_.lr);
  }
}

c10::Dict<std::string, at::Tensor> Sgd::state() const {
  c10::Dict<std::string, at::Tensor> out;
  for (size_t i = 0; i < params_.size(); ++i)
    if (momentum_[i].defined()) out.insert(params_[i].first, momentum_[i]);
  return out;
}

void Sgd::load_state(const c10::Dict<std::string, at::Tensor>& state) {
  std::vector<at::Tensor> loaded(params_.size());
  size_t matched = 0;
  for (size_t i = 0; i < params_.size(); ++i) {
    auto found = state.find(params_[i].first);
    if (found == state.end()) continue;
    if (!found->value().sizes().equals(params_[i].second.sizes()))
      fail("optimizer state for {} has shape {}, the parameter {}", params_[i].first, shape_str(found->value().sizes()),
           shape_str(params_[i].second.sizes()));
    loaded[i] = found->value().to(params_[i].second.device()).clone();
    ++matched;
  }
  if (matched != state.size()) fail("optimizer state names {} parameters the model does not have", state.size() - matched);
  momentum_ = std::move(loaded);
}

}  // namespace domino
