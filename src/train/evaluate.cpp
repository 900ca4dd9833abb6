#include <fmt/format.h>
#include <torch/torch.h>

#include "domino/dist/process_group.h"
#include "domino/train/progress.h"
#include "domino/train/trainer.h"

namespace domino {

EvalResult evaluate(Network& model, BatchLoader& loader, c10::Device device, const std::string& label,
                    Precision precision, MemoryFormat format, dist::ProcessGroup* group) {
  const bool was_training = model.is_training();
  model.eval();
  torch::NoGradGuard no_grad;
  EvalResult r;
  double loss_sum = 0;
  int64_t top1 = 0, top5 = 0;
  const bool shown = !label.empty() && (!group || group->rank() == 0);
  Progress progress(label.empty() ? "eval" : label, loader.batches_per_epoch());
  loader.start_epoch(0);
  int64_t done = 0;
  while (auto batch = loader.next()) {
    auto x = in_memory_format(batch->images.to(device), format), y = batch->labels.to(device);
    at::Tensor logits;
    {
      AutocastGuard autocast(device, precision);
      logits = model.forward(x).to(torch::kFloat);
    }
    loss_sum += torch::nn::functional::cross_entropy(
                    logits, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                    .item<double>();
    const int64_t k = std::min<int64_t>(5, logits.size(1));
    auto hits = std::get<1>(logits.topk(k, 1)).eq(y.unsqueeze(1));
    top1 += hits.narrow(1, 0, 1).sum().item<int64_t>();
    top5 += hits.sum().item<int64_t>();
    r.samples += y.size(0);
    if (shown) progress.update(++done, fmt::format("top-1 {:.2f}%", 100.0 * top1 / r.samples));
  }
  model.train(was_training);
  if (group) {  // each rank saw its own samples: the sums over all of them
    auto sums = torch::tensor({loss_sum, static_cast<double>(top1), static_cast<double>(top5), static_cast<double>(r.samples)},
                              torch::kDouble);
    group->allreduce_sum({sums});
    loss_sum = sums[0].item<double>();
    top1 = static_cast<int64_t>(sums[1].item<double>());
    top5 = static_cast<int64_t>(sums[2].item<double>());
    r.samples = static_cast<int64_t>(sums[3].item<double>());
  }
  r.loss = loss_sum / static_cast<double>(r.samples);
  r.top1 = static_cast<double>(top1) / static_cast<double>(r.samples);
  r.top5 = static_cast<double>(top5) / static_cast<double>(r.samples);
  return r;
}

}  // namespace domino
