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

TEST(Options, SearchOptionsComeFromOneTable) {
  const auto& table = search_options();
  const auto json = table.to_json(SearchOptions{});
  EXPECT_EQ(json.size(), table.keys().size());
  EXPECT_TRUE(json.at("beta1").is_null());  // unset: its default depends on the target
  EXPECT_EQ(json.at("layout"), "NHWC");
  EXPECT_EQ(json.at("policy"), "fixed-m");

  const auto o = table.merge(SearchOptions{}, {{"layout", "NCHW"}, {"policy", "fixed-n"}, {"beta1", 0.3}, {"eta", false},
                                               {"exclude", {"conv1", "layer3.*"}}, {"kp", 2}}, "s.yaml");
  EXPECT_EQ(o.layout, Layout::NCHW);
  EXPECT_EQ(o.policy, Policy::FixedN);
  EXPECT_EQ(o.beta1, 0.3);
  EXPECT_FALSE(o.beta2.has_value());
  EXPECT_FALSE(o.use_eta);
  EXPECT_EQ(o.exclude, (std::vector<std::string>{"conv1", "layer3.*"}));
  EXPECT_EQ(o.kp, 2);
  EXPECT_EQ(table.merge(o, table.to_json(o), "round trip").to_json(), o.to_json());
  // The record in scheme.json: every option, β resolved for the target.
  EXPECT_EQ(o.to_json().at("beta2"), 0.5);

  expect_error_containing([&] { table.merge(o, {{"polcy", "fixed-n"}}, "s.yaml"); },
                          {"s.yaml: unknown option 'polcy'", "did you mean 'policy'?"});
  expect_error_containing([&] { table.merge(o, {{"policy", "fixed-k"}}, "s.yaml"); }, {"s.yaml", "policy 'fixed-k'"});
  expect_error_containing([&] { table.merge(o, {{"kp", "five"}}, "s.yaml"); }, {"s.yaml: option 'kp' must be an integer"});
  expect_error_containing([&] { table.merge(o, {{"exclude", {1}}}, "s.yaml"); }, {"'exclude' must be a list of strings"});
  expect_error_containing([&] { table.merge(o, {{"lambda", 1.0}}, "s.yaml", {"kp", "kc"}); }, {"unknown option 'lambda'"});
  EXPECT_EQ(table.parse_text("exclude", "conv1,fc"), (nlohmann::json{"conv1", "fc"}));

  SearchOptions bad;
  bad.M = 12;
  expect_error_containing([&] { validate(bad); }, {"M must be 4, 8, 16 or 32"});
  bad = SearchOptions{};
  bad.beta2 = 1.5;
  expect_error_containing([&] { validate(bad); }, {"beta1 and beta2 must be in [0, 1]"});
}

TEST(Options, TheRunContextIsWhatOnlySaysHowToRun) {
  // The options marked run-only are TrainConfig's RunContext part; nothing else is.
  TrainConfig c;
  c.threads = 3;
  c.out = "elsewhere";
  c.epochs = 7;
  std::vector<std::string> run_only;
  for (const auto& key : train_options().keys())
    if (key.run_only) run_only.push_back(key.name);
  EXPECT_EQ(run_only, (std::vector<std::string>{"threads", "workers", "device", "memory-format", "max-iters", "log-every",
                                                "checkpoint-every", "checkpoint-minutes", "out", "resume", "force",
                                                "dist-timeout", "dist-backend", "dist-overlap"}));
  const RunContext run = c;
  EXPECT_EQ(run.threads, 3);
  EXPECT_EQ(run.out, "elsewhere");
  EXPECT_EQ(run.rank, 0);  // one process unless a launcher says otherwise
  EXPECT_EQ(run.world_size, 1);
  EXPECT_FALSE(to_json(c).contains("rank"));  // set by the launcher, never an option
}

TEST(Options, AnExperimentChecksItsSearchMapAndRunOptions) {
  test::TempDir dir;
  auto write = [&](const std::string& extra) {
    std::ofstream(dir / "e.yaml") << "dense: {checkpoint: dense.pt}\nbudgets: [params:0.5]\nschemes: [uniform]\n" << extra;
    return dir / "e.yaml";
  };
  const auto spec = load_experiment(write("search: {beta1: 0.3, exclude: [conv1], max-iters: 10}\nthreads: 1\n"));
  EXPECT_EQ(spec.search.at("beta1"), 0.3);
  EXPECT_EQ(spec.run.threads, 1);
  expect_error_containing([&] { load_experiment(write("search: {beta_1: 0.3}\n")); },
                          {"search", "unknown key 'beta_1'", "did you mean 'beta1'?"});
  expect_error_containing([&] { load_experiment(write("search: {beta1: 3}\n")); }, {"beta1 and beta2 must be in [0, 1]"});
  expect_error_containing([&] { load_experiment(write("search: {kp: 1.5}\n")); }, {"search: option 'kp' must be an integer"});
  expect_error_containing([&] { load_experiment(write("precision: bf32\n")); }, {"unknown precision 'bf32'"});
  expect_error_containing([&] { load_experiment(write("M: 12\n")); }, {"M must be 4, 8, 16 or 32"});
  expect_error_containing([&] { load_experiment(write("candidates: pow3\n")); }, {"e.yaml", "'pow3'", "did you mean 'pow2'?"});
  EXPECT_EQ(load_experiment(write("layout: NCHW\nM: 8\n")).layout, Layout::NCHW);
  expect_error_containing([&] { load_experiment(write("threads: many\n")); }, {"option 'threads' must be an integer"});
  auto changed = spec;
  apply_run_options(changed, {{"device", "cpu"}, {"memory-format", "contiguous"}}, "command line");
  EXPECT_EQ(changed.run.device, "cpu");
  EXPECT_EQ(changed.run.memory_format, "contiguous");
  EXPECT_EQ(changed.run.threads, 1);
  expect_error_containing([&] { apply_run_options(changed, {{"epochs", 3}}, "command line"); }, {"unknown option 'epochs'"});
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
