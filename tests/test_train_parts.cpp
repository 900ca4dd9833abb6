// Schedule, optimizer, checkpoint and config: the parts the training loop is made of.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "domino/io/checkpoint.h"
#include "domino/models/pretrained.h"
#include "domino/train/schedule.h"
#include "domino/train/sgd.h"
#include "domino/train/train_config.h"
#include "test_util.h"

namespace domino {
namespace {

using test::expect_error_containing;

TEST(LrSchedule, MultistepDropsAtMilestoneEpochs) {
  LrSchedule s;
  s.kind = ScheduleKind::Multistep;
  s.base_lr = 0.1;
  s.milestones = {80, 120};
  s.iters_per_epoch = 10;
  s.total_iters = 1600;
  EXPECT_DOUBLE_EQ(s.lr_at(0), 0.1);
  EXPECT_DOUBLE_EQ(s.lr_at(799), 0.1);
  EXPECT_NEAR(s.lr_at(800), 0.01, 1e-15);
  EXPECT_NEAR(s.lr_at(1199), 0.01, 1e-15);
  EXPECT_NEAR(s.lr_at(1200), 0.001, 1e-15);
}

TEST(LrSchedule, CosineWithWarmup) {
  LrSchedule s;
  s.kind = ScheduleKind::Cosine;
  s.base_lr = 0.2;
  s.warmup_epochs = 1;
  s.iters_per_epoch = 10;
  s.total_iters = 110;
  EXPECT_DOUBLE_EQ(s.lr_at(0), 0.02);  // warm-up: (i+1)/10 of the base
  EXPECT_DOUBLE_EQ(s.lr_at(4), 0.1);
  EXPECT_DOUBLE_EQ(s.lr_at(10), 0.2);  // cosine starts at the base
  EXPECT_NEAR(s.lr_at(60), 0.1, 1e-12);  // half-way
  EXPECT_NEAR(s.lr_at(110), 0.0, 1e-12);
  s.kind = ScheduleKind::Constant;
  EXPECT_DOUBLE_EQ(s.lr_at(50), 0.2);
  expect_error_containing([] { kScheduleKinds.parse("linear", "schedule"); }, {"linear", "multistep, cosine, constant"});
}

TEST(Sgd, MatchesLibTorchSgd) {
  for (bool nesterov : {false, true}) {
    torch::manual_seed(1);
    auto a = torch::randn({5, 3}, torch::requires_grad());
    auto b = a.detach().clone().requires_grad_(true);
    Sgd ours({{"w", a}}, SgdOptions{0.05, 0.9, 1e-3, nesterov});
    torch::optim::SGD reference({b}, torch::optim::SGDOptions(0.05).momentum(0.9).weight_decay(1e-3).nesterov(nesterov));
    for (int step = 0; step < 6; ++step) {
      const auto target = torch::randn({5, 3});
      ours.zero_grad();
      reference.zero_grad();
      (a - target).pow(2).sum().backward();
      (b - target).pow(2).sum().backward();
      ours.step();
      reference.step();
    }
    EXPECT_TRUE(torch::allclose(a, b, 1e-6, 1e-7)) << "nesterov " << nesterov;
  }
}

TEST(Sgd, StateRoundTripsByName) {
  auto w = torch::ones({2}, torch::requires_grad());
  Sgd first({{"w", w}}, SgdOptions{0.1, 0.9, 0.0, false});
  w.sum().backward();
  first.step();
  const auto state = first.state();
  ASSERT_TRUE(state.contains("w"));
  Sgd second({{"w", w}}, SgdOptions{0.1, 0.9, 0.0, false});
  second.load_state(state);
  EXPECT_TRUE(torch::equal(second.state().at("w"), state.at("w")));
  TensorDict wrong;
  wrong.insert("v", torch::zeros({2}));
  expect_error_containing([&] { second.load_state(wrong); }, {"does not have"});
}

TEST(Checkpoint, RoundTripsEverythingAndLeavesNoTempFile) {
  test::TempDir dir;
  auto model = make_model("resnet8", {1, 10});
  Checkpoint c;
  c.model = "resnet8";
  c.model_options = {1, 10};
  c.config = {{"lr", 0.1}};
  c.iteration = 1234;
  c.epoch = 7;
  c.model_state = module_state(*model);
  c.optimizer_state.insert("fc.weight", torch::full({10, 64}, 3.0));
  c.rng_state = torch::globalContext().defaultGenerator(c10::kCPU).get_state();
  c.extra.insert("search_lambda", 0.4);
  save_checkpoint(c, dir / "sub/ck.pt");
  EXPECT_FALSE(test::fs::exists(dir / "sub/ck.pt.tmp"));
  const auto back = load_checkpoint(dir / "sub/ck.pt");
  EXPECT_EQ(back.model, "resnet8");
  EXPECT_EQ(back.iteration, 1234);
  EXPECT_EQ(back.epoch, 7);
  EXPECT_EQ(back.config, c.config);
  EXPECT_TRUE(torch::equal(back.rng_state, c.rng_state));
  EXPECT_DOUBLE_EQ(back.extra.at("search_lambda").toDouble(), 0.4);
  EXPECT_TRUE(torch::equal(back.optimizer_state.at("fc.weight"), torch::full({10, 64}, 3.0)));
  auto restored = model_from_checkpoint(back, "ck");
  for (const auto& item : module_state(*model)) EXPECT_TRUE(torch::equal(item.value(), module_state(*restored).at(item.key())));
}

TEST(Checkpoint, MismatchedModelIsAClearError) {
  auto resnet8 = make_model("resnet8", {1, 10});
  auto resnet20 = make_model("resnet20", {1, 10});
  expect_error_containing([&] { load_module_state(*resnet20, module_state(*resnet8), "ck.pt"); },
                          {"ck.pt does not fit the model", "missing: layer1.1"});
  auto other_classes = make_model("resnet8", {1, 100});
  expect_error_containing([&] { load_module_state(*other_classes, module_state(*resnet8), "ck.pt"); },
                          {"wrong shape: fc.weight ([10, 64] vs [100, 64])"});
  expect_error_containing([&] { load_module_state(*resnet8, module_state(*resnet20), "ck.pt"); }, {"unexpected: layer1.1"});
}

TEST(Checkpoint, CorruptOrForeignFilesAreClearErrors) {
  test::TempDir dir;
  test::write_bytes(dir / "junk.pt", {1, 2, 3, 4});
  expect_error_containing([&] { load_checkpoint(dir / "junk.pt"); }, {"junk.pt", "not a readable checkpoint"});
  expect_error_containing([&] { load_checkpoint(dir / "none.pt"); }, {"none.pt", "not found"});
  auto d = make_generic_dict();
  d.insert("weights", torch::ones({1}));
  const auto bytes = torch::pickle_save(d);
  test::write_bytes(dir / "other.pt", std::vector<uint8_t>(bytes.begin(), bytes.end()));
  expect_error_containing([&] { load_checkpoint(dir / "other.pt"); }, {"other.pt", "not a domino checkpoint"});
}

TEST(TrainConfig, DefaultsAreThePapersCifarRecipe) {
  const TrainConfig c;
  EXPECT_EQ(c.epochs, 160);
  EXPECT_EQ(c.batch_size, 64);
  EXPECT_DOUBLE_EQ(c.lr, 0.1);
  EXPECT_DOUBLE_EQ(c.momentum, 0.9);
  EXPECT_DOUBLE_EQ(c.weight_decay, 1e-4);
  EXPECT_EQ(c.schedule, "multistep");
  EXPECT_EQ(c.milestones, (std::vector<int64_t>{80, 120}));
}

TEST(TrainConfig, KeysAndJsonAgree) {
  const auto json = to_json(TrainConfig{});
  ASSERT_EQ(json.size(), train_options().keys().size());
  for (const auto& key : train_options().keys()) EXPECT_TRUE(json.contains(key.name)) << key.name;
  const auto back = merge_config(TrainConfig{}, json, "round trip");
  EXPECT_EQ(to_json(back), json);
}

TEST(TrainConfig, YamlThenFlagsOverrideDefaults) {
  test::TempDir dir;
  std::ofstream(dir / "c.yaml") << "model: resnet56\nepochs: 3\nweight-decay: 5.0e-4\nmilestones: [1, 2]\nnesterov: true\n";
  auto c = merge_config(TrainConfig{}, load_yaml_file(dir / "c.yaml"), "c.yaml");
  EXPECT_EQ(c.model, "resnet56");
  EXPECT_EQ(c.epochs, 3);
  EXPECT_DOUBLE_EQ(c.weight_decay, 5e-4);
  EXPECT_EQ(c.milestones, (std::vector<int64_t>{1, 2}));
  EXPECT_TRUE(c.nesterov);
  const auto& table = train_options();
  c = merge_config(c, {{"epochs", table.parse_text("epochs", "7")}, {"milestones", table.parse_text("milestones", "4,6")}}, "cli");
  EXPECT_EQ(c.epochs, 7);
  EXPECT_EQ(c.milestones, (std::vector<int64_t>{4, 6}));
  EXPECT_EQ(c.model, "resnet56");
}

TEST(TrainConfig, BadKeysTypesAndValuesAreClearErrors) {
  test::TempDir dir;
  std::ofstream(dir / "typo.yaml") << "epoch: 3\n";
  expect_error_containing([&] { merge_config(TrainConfig{}, load_yaml_file(dir / "typo.yaml"), "typo.yaml"); },
                          {"typo.yaml", "unknown option 'epoch'", "epochs"});
  std::ofstream(dir / "type.yaml") << "epochs: three\n";
  expect_error_containing([&] { merge_config(TrainConfig{}, load_yaml_file(dir / "type.yaml"), "type.yaml"); },
                          {"'epochs' must be an integer", "three"});
  std::ofstream(dir / "list.yaml") << "- 1\n- 2\n";
  expect_error_containing([&] { load_yaml_file(dir / "list.yaml"); }, {"expected a mapping"});
  expect_error_containing([&] { load_yaml_file(dir / "missing.yaml"); }, {"missing.yaml", "not found"});
  expect_error_containing([] { train_options().parse_text("lr", "0.1x"); }, {"--lr", "'0.1x'", "a number"});
  expect_error_containing([] { train_options().parse_text("seed", "-1"); }, {"--seed"});
  expect_error_containing([] { train_options().parse_text("augment", "maybe"); }, {"true or false"});
  TrainConfig c;
  c.model = "resnet21";
  expect_error_containing([&] { validate(c); }, {"unknown model 'resnet21'"});
  c = TrainConfig{};
  c.schedule = "step";
  expect_error_containing([&] { validate(c); }, {"unknown schedule 'step'"});
  c = TrainConfig{};
  c.val_split = 1.5;
  expect_error_containing([&] { validate(c); }, {"val-split must be in [0, 1)", "1.5"});  // the key as YAML and flags name it
}

}  // namespace
}  // namespace domino
