#include "domino/train/trainer.h"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <optional>

#include "domino/core/error.h"
#include "domino/core/report.h"
#include "domino/core/runtime.h"
#include "domino/dist/overlapped_reduce.h"
#include "domino/io/checkpoint.h"
#include "domino/models/pretrained.h"
#include "domino/models/prunable.h"
#include "domino/train/loss_scaler.h"
#include "domino/train/progress.h"
#include "domino/train/schedule.h"
#include "domino/train/sgd.h"

namespace fs = std::filesystem;

namespace domino {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<std::pair<std::string, at::Tensor>> named_parameters(Network& model) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& p : model.named_parameters()) out.emplace_back(p.key(), p.value());
  return out;
}

// Running means over the iterations since the last reset.
struct RunningStats {
  double loss = 0;
  int64_t correct = 0, samples = 0, steps = 0;
  void add(double batch_loss, int64_t batch_correct, int64_t batch_samples) {
    loss += batch_loss;
    correct += batch_correct;
    samples += batch_samples;
    ++steps;
  }
  double mean_loss() const { return steps ? loss / static_cast<double>(steps) : 0.0; }
  double accuracy() const { return samples ? static_cast<double>(correct) / static_cast<double>(samples) : 0.0; }
};

class Loop {
 public:
  explicit Loop(TrainSetup& s)
      : s_(s), cfg_(s.config), path_(checkpoint_path(cfg_.out)),
        optimizer_(named_parameters(*s.model), SgdOptions{cfg_.lr, cfg_.momentum, cfg_.weight_decay, cfg_.nesterov}),
        precision_(resolve_precision(cfg_.precision, s.device)), format_(parse_memory_format(cfg_.memory_format)),
        scaler_(precision_ == Precision::FP16) {
    for (const auto& p : s.model->parameters()) parameters_.push_back(p);
    schedule_.kind = kScheduleKinds.parse(cfg_.schedule, "schedule");
    schedule_.base_lr = cfg_.lr;
    schedule_.milestones = cfg_.milestones;
    schedule_.gamma = cfg_.gamma;
    schedule_.warmup_epochs = cfg_.warmup_epochs;
    schedule_.iters_per_epoch = s.train->batches_per_epoch();
    schedule_.total_iters = cfg_.epochs * schedule_.iters_per_epoch;
    validate(schedule_);
    stop_at_ = cfg_.max_iters > 0 ? std::min(cfg_.max_iters, schedule_.total_iters) : schedule_.total_iters;
  }

  TrainResult run() {
    if (writer_) fs::create_directories(cfg_.out);
    if (cfg_.resume) restore();  // every rank reads the checkpoint
    if (s_.group) s_.group->broadcast(model_tensors());  // identical starting weights, also after a resume
    if (s_.group && cfg_.dist_overlap) overlap_ = std::make_unique<dist::OverlappedReduce>(*s_.group, parameters_);
    std::optional<MetricsLog> metrics;
    if (writer_) metrics.emplace(fs::path(cfg_.out) / "metrics.jsonl", /*append=*/cfg_.resume, iteration_);
    const auto start = Clock::now();
    const int64_t per_epoch = schedule_.iters_per_epoch;
    const bool open_ended = s_.hooks && !s_.hooks->progress_note().empty();
    std::optional<Progress> progress;  // drawn by rank 0 alone
    if (writer_) progress.emplace(open_ended ? "search" : "train", open_ended ? 0 : stop_at_);
    RunningStats epoch_stats, log_stats;
    auto log_start = Clock::now();
    TrainResult result;
    s_.model->train();

    while (iteration_ < stop_at_ && result.stop == StopReason::Finished) {
      const int64_t epoch = iteration_ / per_epoch;
      s_.train->start_epoch(epoch, iteration_ % per_epoch);
      epoch_stats = {};
      while (iteration_ < stop_at_) {
        auto batch = s_.train->next();
        if (!batch) break;
        const auto [loss, correct] = step(*batch);
        epoch_stats.add(loss, correct, batch->labels.size(0));
        log_stats.add(loss, correct, batch->labels.size(0));
        ++iteration_;
        const double seconds = std::chrono::duration<double>(Clock::now() - log_start).count();
        const double images_per_s = static_cast<double>(log_stats.samples) / std::max(seconds, 1e-9);
        if (progress && open_ended)
          progress->update(iteration_, fmt::format("{} | loss {:.4f} acc {:.2f}% {:.0f} img/s", s_.hooks->progress_note(),
                                                   epoch_stats.mean_loss(), 100 * epoch_stats.accuracy(), images_per_s));
        else if (progress)
          progress->update(iteration_, fmt::format("ep {}/{} loss {:.4f} acc {:.2f}% lr {:.4g} {:.0f} img/s", epoch + 1,
                                                   cfg_.epochs, epoch_stats.mean_loss(), 100 * epoch_stats.accuracy(),
                                                   optimizer_.lr(), images_per_s));
        if (iteration_ % cfg_.log_every == 0) {
          if (s_.group) check_ranks_agree();
          if (metrics)
            metrics->write({{"type", "train"}, {"iteration", iteration_}, {"epoch", epoch}, {"loss", log_stats.mean_loss()},
                            {"accuracy", log_stats.accuracy()}, {"lr", optimizer_.lr()}, {"images_per_s", images_per_s}});
          log_stats = {};
          log_start = Clock::now();
        }
        if (s_.hooks && s_.hooks->should_stop()) {
          result.stop = StopReason::Hook;
          break;
        }
        if (checkpoint_due() && iteration_ % per_epoch != 0 && iteration_ < stop_at_) save();  // epoch ends save below
        if (interrupted()) {
          save();
          fail("interrupted at iteration {}; checkpoint saved to {}; continue with --resume --out {}", iteration_, path_,
               cfg_.out);
        }
      }
      const bool epoch_done = iteration_ % per_epoch == 0;
      if (epoch_done && s_.validation) {
        share_buffers();
        result.validation = evaluate(*s_.model, *s_.validation, s_.device, "", Precision::FP32, format_, s_.group);
        if (metrics)
          metrics->write({{"type", "validation"}, {"iteration", iteration_}, {"epoch", epoch},
                          {"loss", result.validation->loss}, {"top1", result.validation->top1},
                          {"top5", result.validation->top5}});
      }
      save();  // every epoch, and wherever the run stops
    }
    if (s_.group) {  // what the job does next (write a scheme, evaluate) holds on every rank
      check_ranks_agree();
      share_buffers();
    }
    if (result.stop == StopReason::Finished && iteration_ < schedule_.total_iters) result.stop = StopReason::MaxIters;
    if (progress)
      progress->finish(iteration_, fmt::format("{}{}loss {:.4f} acc {:.2f}%", open_ended ? s_.hooks->progress_note() : "",
                                               open_ended ? " | " : "", epoch_stats.mean_loss(),
                                               100 * epoch_stats.accuracy()));
    result.iterations = iteration_;
    result.loss = epoch_stats.mean_loss();
    result.accuracy = epoch_stats.accuracy();
    result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return result;
  }

 private:
  std::pair<double, int64_t> step(const Batch& batch) {
    optimizer_.set_lr(schedule_.lr_at(iteration_));
    auto x = in_memory_format(batch.images.to(s_.device, /*non_blocking=*/true), format_);
    auto y = batch.labels.to(s_.device, true);
    at::Tensor logits;
    if (overlap_) overlap_->before_forward();
    {
      AutocastGuard autocast(s_.device, precision_);  // the forward only, as torch.autocast is meant to be used
      logits = s_.model->forward(x);
    }
    logits = logits.to(torch::kFloat);
    auto loss = torch::nn::functional::cross_entropy(logits, y);
    const double loss_value = loss.item<double>();
    if (!std::isfinite(loss_value)) {
      fail("loss became {} at iteration {}; stopped. {}; lower --lr or check the data",
           std::isnan(loss_value) ? "nan" : loss_value > 0 ? "inf" : "-inf", iteration_,
           fs::exists(path_) ? fmt::format("The last good checkpoint is kept at {}", path_) : "No checkpoint was written yet");
    }
    optimizer_.zero_grad();
    // Data-parallel: gradients averaged over the ranks before fp16's inf check (every rank
    // decides alike), the hooks and the step.
    if (overlap_)
      overlap_->backward(scaler_.scale(loss));
    else
      scaler_.scale(loss).backward();
    if (s_.group && !overlap_) s_.group->allreduce_mean(gradients());
    if (scaler_.unscale(parameters_)) {  // fp16: a step with inf/NaN gradients is skipped
      if (s_.hooks) s_.hooks->after_backward(iteration_);
      optimizer_.step();
      if (s_.hooks) s_.hooks->after_step(iteration_);
    }
    const int64_t correct = logits.argmax(1).eq(y).sum().item<int64_t>();
    return {loss_value, correct};
  }

  bool checkpoint_due() const {
    if (cfg_.checkpoint_every > 0 && iteration_ % cfg_.checkpoint_every == 0) return true;
    return cfg_.checkpoint_minutes > 0 &&
           std::chrono::duration<double>(Clock::now() - last_save_).count() >= 60 * cfg_.checkpoint_minutes;
  }

  void save() {
    last_save_ = Clock::now();
    if (!writer_) return;
    Checkpoint c = checkpoint_of(*s_.model, s_.model_name, s_.model_options, to_json(cfg_));
    c.iteration = iteration_;
    c.epoch = iteration_ / schedule_.iters_per_epoch;
    c.optimizer_state = optimizer_.state();
    c.rng_state = torch::globalContext().defaultGenerator(c10::kCPU).get_state();
    if (scaler_.enabled()) {
      c.extra.insert("loss_scaler.scale", scaler_.state().scale);
      c.extra.insert("loss_scaler.good_steps", scaler_.state().good_steps);
    }
    if (s_.hooks) s_.hooks->save_state(c.extra);
    save_checkpoint(c, path_);
  }

  void restore() {
    if (!fs::exists(path_)) fail("nothing to resume: {} does not exist", path_);
    const auto c = load_checkpoint(path_);
    if (c.model != s_.model_name)
      fail("checkpoint {} holds a {}, not a {}", path_, c.model, s_.model_name);
    const auto saved = c.config.is_object() ? c.config.value("precision", "fp32") : "fp32";  // older runs: fp32
    if (saved != to_string(precision_))
      fail("checkpoint {} was computed in {}, this run would continue it in {}: resume with --precision {} (a run "
           "cannot change precision half-way and stay exact)", path_, saved, to_string(precision_), saved);
    load_module_state(*s_.model, c.model_state, path_);
    optimizer_.load_state(c.optimizer_state);
    if (c.rng_state.numel() > 0) {
      auto generator = torch::globalContext().defaultGenerator(c10::kCPU);  // a handle: setting it sets the global one
      generator.set_state(c.rng_state);
    }
    if (scaler_.enabled()) {
      auto scale = c.extra.find("loss_scaler.scale"), good = c.extra.find("loss_scaler.good_steps");
      if (scale != c.extra.end() && good != c.extra.end()) scaler_ = LossScaler(true, {scale->value().toDouble(), good->value().toInt()});
    }
    if (s_.hooks) s_.hooks->load_state(c.extra);
    iteration_ = c.iteration;
    note("resuming {} from iteration {}", path_, iteration_);
  }

  // Parameters and buffers (BatchNorm statistics): what rank 0 broadcasts at the start.
  std::vector<at::Tensor> model_tensors() const {
    std::vector<at::Tensor> out = parameters_;
    for (const auto& b : s_.model->buffers()) out.push_back(b);
    return out;
  }

  // Without --sync-bn each rank's BatchNorm statistics follow its own shard; rank 0's are
  // the model's (what it saves), so every rank takes them before evaluating, as PyTorch
  // DDP broadcasts buffers. Training itself does not read them (batch statistics).
  void share_buffers() const {
    if (!s_.group) return;
    std::vector<at::Tensor> buffers;
    for (const auto& b : s_.model->buffers()) buffers.push_back(b);
    s_.group->broadcast(buffers);
  }

  std::vector<at::Tensor> gradients() const {
    std::vector<at::Tensor> out;
    for (const auto& p : parameters_)
      if (p.grad().defined()) out.push_back(p.grad());
    return out;
  }

  // Ctrl-C (or SIGTERM) on any rank stops every rank at the same iteration.
  bool interrupted() const {
    if (!s_.group) return interrupt_requested();
    auto flag = torch::tensor({interrupt_requested() ? int64_t{1} : int64_t{0}});
    s_.group->allreduce_sum({flag});
    return flag.item<int64_t>() > 0;
  }

  // Ranks that compute alike hold bit-identical weights and take the same decisions: a
  // digest of both, compared at every log line, turns a silent divergence into an error.
  void check_ranks_agree() const {
    uint64_t digest = s_.hooks ? s_.hooks->decisions_digest() : 0;
    for (const auto& p : parameters_) {
      const auto bits = p.detach().to(torch::kCPU).contiguous().view(torch::kInt32).to(torch::kLong).sum().item<int64_t>();
      digest = digest * 1000003u ^ static_cast<uint64_t>(bits);
    }
    s_.group->check_same(digest, fmt::format("the weights and decisions at iteration {}", iteration_));
  }

  TrainSetup& s_;
  const TrainConfig& cfg_;
  const bool writer_ = !s_.group || s_.group->rank() == 0;
  std::string path_;
  Sgd optimizer_;
  Precision precision_;
  MemoryFormat format_;
  LossScaler scaler_;
  std::vector<at::Tensor> parameters_;
  std::unique_ptr<dist::OverlappedReduce> overlap_;  // data-parallel with dist-overlap
  LrSchedule schedule_;
  int64_t stop_at_ = 0;
  int64_t iteration_ = 0;
  Clock::time_point last_save_ = Clock::now();
};

// --sync-bn while training: every BatchNorm's statistics summed over the ranks; undone after,
// so that the model never holds on to the group.
class SyncBatchNorm {
 public:
  SyncBatchNorm(Network& model, dist::ProcessGroup* group) {
    if (!group) return;
    for (const auto& m : model.modules(/*include_self=*/false))
      if (auto* bn = m->as<FoldableBatchNorm2dImpl>()) {
        bn->set_cross_batch_sum([group](const at::Tensor& x) { return dist::differentiable_sum(x, *group); });
        synced_.push_back(bn);
      }
  }
  ~SyncBatchNorm() {
    for (auto* bn : synced_) bn->set_cross_batch_sum({});
  }
  SyncBatchNorm(const SyncBatchNorm&) = delete;
  SyncBatchNorm& operator=(const SyncBatchNorm&) = delete;

 private:
  std::vector<FoldableBatchNorm2dImpl*> synced_;
};

}  // namespace

std::string checkpoint_path(const std::string& out_dir) { return (fs::path(out_dir) / "checkpoint.pt").string(); }

TrainResult train(TrainSetup& setup) {
  if (!setup.model || !setup.train) fail("training needs a model and training data");
  setup.model->to(setup.device);  // before the optimizer takes the parameters
  set_memory_format(*setup.model, parse_memory_format(setup.config.memory_format));
  setup.config.precision = to_string(resolve_precision(setup.config.precision, setup.device));
  const SyncBatchNorm sync(*setup.model, setup.config.sync_bn ? setup.group : nullptr);
  return Loop(setup).run();
}

}  // namespace domino
