// SGD with momentum, weight decay and optional Nesterov, PyTorch's update rule. Its state
// is keyed by parameter name, so checkpoints are readable and survive module re-creation,
// and the search can add its penalty to gradients between backward and step.
#pragma once

#include <ATen/Tensor.h>
#include <ATen/core/Dict.h>

#include <string>
#include <utility>
#include <vector>

namespace domino {

struct SgdOptions {
  double lr = 0.1;
  double momentum = 0.9;
  double weight_decay = 0.0;
  bool nesterov = false;
};

class Sgd {
 public:
  Sgd(std::vector<std::pair<std::string, at::Tensor>> named_parameters, SgdOptions options);

  void zero_grad();
  void step();
  void set_lr(double lr) { options_.lr = lr; }
  double lr() const { return options_.lr; }

  c10::Dict<std::string, at::Tensor> state() const;            // momentum buffers by name
  void load_state(const c10::Dict<std::string, at::Tensor>& state);  // errors on unknown names or shapes

 private:
  std::vector<std::pair<std::string, at::Tensor>> params_;
  std::vector<at::Tensor> momentum_;  // undefined until the first step, as in PyTorch
  SgdOptions options_;
};

}  // namespace domino
