// The shared parts of the jobs layer and of every closed set of names: "did you mean",
// results written and read back by the same code.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>

#include "domino/domino.h"  // the umbrella header compiles, and holds what these tests use
#include "io/files.h"
#include "test_util.h"

using domino::test::expect_error_containing;

namespace domino {

TEST(Names, ATypoGetsTheNearestValidName) {
  const std::vector<std::string> keys = {"lambda", "kp", "kc", "vr", "lr", "batch-size", "max-iters"};
  EXPECT_EQ(closest_name("max-iter", keys), "max-iters");
  EXPECT_EQ(closest_name("Lambda", keys), "lambda");   // case is not a typo worth a distance
  EXPECT_EQ(closest_name("batchsize", keys), "batch-size");
  EXPECT_EQ(closest_name("momentum", keys), std::nullopt);  // nothing near: no guess
  EXPECT_EQ(closest_name("x", {"kp"}), std::nullopt);       // a one-letter name may be one edit off, not two
}

TEST(Names, UnknownNamesSayWhereWhatAndTheValidSet) {
  expect_error_containing([] { fail_unknown("option", "epoch", {"epochs", "lr"}, "run.yaml"); },
                          {"run.yaml: unknown option 'epoch'", "did you mean 'epochs'?", "valid: epochs, lr"});
  try {
    fail_unknown("model", "transformer", {"resnet20", "vgg16"});
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "unknown model 'transformer' (valid: resnet20, vgg16)");
  }
  // Every closed set goes through it.
  expect_error_containing([] { merge_config(TrainConfig{}, {{"epoch", 3}}, "cli"); }, {"did you mean 'epochs'?"});
  TrainConfig c;
  c.model = "resnet21";
  expect_error_containing([&] { validate(c); }, {"unknown model 'resnet21'", "did you mean 'resnet20'?"});
  c = TrainConfig{};
  c.schedule = "cosin";
  expect_error_containing([&] { validate(c); }, {"did you mean 'cosine'?"});
}

TEST(Results, AFinetuneResultReadsBackAsWritten) {
  test::TempDir dir;
  FinetuneResult r;
  r.train.iterations = 1234;
  r.train.seconds = 56.5;
  r.train.loss = 0.25;
  r.train.accuracy = 0.875;
  r.train.validation = EvalResult{0.5, 0.75, 0.95, 1000};
  r.test = EvalResult{0.4, 0.8, 0.99, 10000};
  auto model = make_model("resnet20", {1, 10});
  r.scheme = uniform_scheme(dense_scheme(build_layer_table(*model, {1, 28, 28}), 8, Layout::NHWC), 2);
  r.scheme.model = "resnet20";
  write_json_file(dir / "result.json", to_json(r));
  save_scheme(r.scheme, dir / "scheme.json");

  const auto back = read_finetune_result(dir.path().string());
  EXPECT_EQ(back.train.iterations, 1234);
  EXPECT_DOUBLE_EQ(back.train.seconds, 56.5);
  EXPECT_DOUBLE_EQ(back.train.loss, 0.25);
  EXPECT_DOUBLE_EQ(back.train.accuracy, 0.875);
  ASSERT_TRUE(back.train.validation.has_value());
  EXPECT_DOUBLE_EQ(back.train.validation->top1, 0.75);
  EXPECT_DOUBLE_EQ(back.test.top1, 0.8);
  EXPECT_DOUBLE_EQ(back.test.top5, 0.99);
  EXPECT_DOUBLE_EQ(back.test.loss, 0.4);
  EXPECT_EQ(back.test.samples, 10000);
  EXPECT_EQ(back.scheme.model, "resnet20");
  EXPECT_DOUBLE_EQ(back.scheme.param_sparsity(), r.scheme.param_sparsity());
  EXPECT_EQ(to_json(back), to_json(r));  // one JSON form: what is read writes the same file again

  std::ofstream(dir / "result.json") << R"({"test": {"top1": 0.5, "top5": 0.6, "loss": 1}})";
  expect_error_containing([&] { read_finetune_result(dir.path().string()); },
                          {"result.json", "not a fine-tuning result", "iterations"});
}

}  // namespace domino
