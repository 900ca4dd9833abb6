// The training loop end to end: resume equivalence, NaN and interrupt handling, and
// learning on real Fashion-MNIST data.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "domino/core/runtime.h"
#include "domino/data/datasets.h"
#include "domino/io/checkpoint.h"
#include "domino/jobs/eval_job.h"
#include "domino/jobs/train_job.h"
#include "test_util.h"

namespace domino {
namespace {

using test::expect_error_containing;

TrainConfig tiny_config(const test::TempDir& dir, const std::string& out) { return test::tiny_train_config(dir, out); }

void expect_same_state(const std::string& a, const std::string& b) {
  const auto x = load_checkpoint(a), y = load_checkpoint(b);
  EXPECT_EQ(x.iteration, y.iteration);
  ASSERT_EQ(x.model_state.size(), y.model_state.size());
  for (const auto& item : x.model_state) EXPECT_TRUE(torch::equal(item.value(), y.model_state.at(item.key()))) << item.key();
  ASSERT_EQ(x.optimizer_state.size(), y.optimizer_state.size());
  for (const auto& item : x.optimizer_state)
    EXPECT_TRUE(torch::equal(item.value(), y.optimizer_state.at(item.key()))) << item.key();
}

TEST(Training, ResumedRunEndsWithExactlyTheSameWeights) {
  test::TempDir dir;
  auto whole = tiny_config(dir, "whole");
  run_train_job(whole);

  auto first = tiny_config(dir, "split");
  first.max_iters = 8;  // stops in the middle of epoch 2
  const auto part = run_train_job(first);
  EXPECT_EQ(part.train.iterations, 8);
  EXPECT_EQ(part.train.stop, StopReason::MaxIters);
  EXPECT_EQ(load_checkpoint(checkpoint_path(first.out)).iteration, 8);
  EXPECT_EQ(load_checkpoint(checkpoint_path(first.out)).epoch, 1);  // 6 iterations an epoch

  auto rest = tiny_config(dir, "split");
  rest.resume = true;
  const auto finished = run_train_job(rest);
  EXPECT_EQ(finished.train.iterations, 18);
  EXPECT_EQ(finished.train.stop, StopReason::Finished);
  expect_same_state(checkpoint_path(whole.out), checkpoint_path(rest.out));
}

TEST(Training, SameSeedSameWeightsDifferentSeedDifferent) {
  test::TempDir dir;
  auto a = tiny_config(dir, "a"), b = tiny_config(dir, "b"), c = tiny_config(dir, "c");
  a.epochs = b.epochs = c.epochs = 1;
  c.seed = 1;
  run_train_job(a);
  run_train_job(b);
  run_train_job(c);
  expect_same_state(checkpoint_path(a.out), checkpoint_path(b.out));
  const auto x = load_checkpoint(checkpoint_path(a.out)), z = load_checkpoint(checkpoint_path(c.out));
  EXPECT_FALSE(torch::equal(x.model_state.at("fc.weight"), z.model_state.at("fc.weight")));
}

// Breaks the model after a given step, as a diverging run would.
class Saboteur : public TrainHooks {
 public:
  explicit Saboteur(Network& m, int64_t at) : model(m), at(at) {}
  void after_step(int64_t iteration) override {
    if (iteration != at) return;
    torch::NoGradGuard no_grad;
    for (auto& p : model.parameters()) p.fill_(std::nan(""));
  }
  Network& model;
  int64_t at;
};

TrainSetup tiny_setup(const TrainConfig& c) {
  auto data = make_train_data(c);
  TrainSetup s;
  s.model_name = c.model;
  s.model_options = {1, 10};
  s.model = make_model(c.model, s.model_options);
  s.config = c;
  s.train = data.train;
  return s;
}

TEST(Training, NanLossStopsAndKeepsTheLastGoodCheckpoint) {
  test::TempDir dir;
  const auto c = tiny_config(dir, "nan");
  auto setup = tiny_setup(c);
  Saboteur saboteur(*setup.model, 8);
  setup.hooks = &saboteur;
  expect_error_containing([&] { train(setup); }, {"loss became nan at iteration 9", "last good checkpoint is kept at", "checkpoint.pt"});
  const auto kept = load_checkpoint(checkpoint_path(c.out));
  EXPECT_EQ(kept.iteration, 6);  // end of epoch 1
  for (const auto& item : kept.model_state) EXPECT_TRUE(torch::isfinite(item.value()).all().item<bool>()) << item.key();
}

class Interrupter : public TrainHooks {
 public:
  void after_step(int64_t iteration) override {
    if (iteration == 3) request_interrupt();
  }
};

TEST(Training, InterruptSavesACheckpointToResumeFrom) {
  test::TempDir dir;
  const auto c = tiny_config(dir, "int");
  auto setup = tiny_setup(c);
  Interrupter interrupter;
  setup.hooks = &interrupter;
  expect_error_containing([&] { train(setup); }, {"interrupted at iteration 4", "--resume"});
  clear_interrupt();
  EXPECT_EQ(load_checkpoint(checkpoint_path(c.out)).iteration, 4);
}

TEST(Training, ResumeWithoutACheckpointOrOfAnotherModelIsAnError) {
  test::TempDir dir;
  auto c = tiny_config(dir, "empty");
  c.resume = true;
  expect_error_containing([&] { run_train_job(c); }, {"nothing to resume", "checkpoint.pt"});
  auto first = tiny_config(dir, "r8");
  first.max_iters = 2;
  run_train_job(first);
  auto other = tiny_config(dir, "r8");
  other.model = "resnet20";
  other.resume = true;
  expect_error_containing([&] { run_train_job(other); }, {"holds a resnet8, not a resnet20"});
}

// The end-to-end check: a few hundred iterations on a Fashion-MNIST subset.
TEST(Training, LearnsFashionMnistSubset) {
  test::TempDir dir;
  const auto& spec = dataset_spec("fashion-mnist");
  std::vector<int64_t> first(6400), test_part(2000);
  std::iota(first.begin(), first.end(), 0);
  std::iota(test_part.begin(), test_part.end(), 0);
  auto train_data = std::make_shared<Subset>(load_dataset(spec, Split::Train), first);
  auto test_data = std::make_shared<Subset>(load_dataset(spec, Split::Test), test_part);
  LoaderOptions o;
  o.batch_size = 64;
  TrainSetup s;
  s.model_name = "resnet20";
  s.model_options = {1, 10};
  torch::manual_seed(0);
  s.model = make_model("resnet20", s.model_options);
  s.config.epochs = 3;  // 300 iterations
  s.config.schedule = "cosine";
  s.config.weight_decay = 5e-4;
  s.config.out = (dir.path() / "fm").string();
  s.config.log_every = 25;
  s.train = std::make_shared<BatchLoader>(train_data, train_pipeline(spec), o);
  set_threads(0);
  const auto result = train(s);
  EXPECT_EQ(result.iterations, 300);

  std::vector<double> losses;
  std::ifstream log(dir.path() / "fm" / "metrics.jsonl");
  for (std::string line; std::getline(log, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j["type"] == "train") losses.push_back(j["loss"].get<double>());
  }
  ASSERT_EQ(losses.size(), 12u);
  EXPECT_LT(losses.back(), 0.6 * losses.front()) << "loss did not fall";

  o.shuffle = false;
  o.drop_last = false;
  BatchLoader test_loader(test_data, eval_pipeline(spec), o);
  const auto eval = evaluate(*s.model, test_loader, c10::Device(c10::kCPU));
  EXPECT_EQ(eval.samples, 2000);
  EXPECT_GT(eval.top1, 0.70) << "chance is 0.10";
  EXPECT_GE(eval.top5, eval.top1);
}

}  // namespace
}  // namespace domino
