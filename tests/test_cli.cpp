// The `domino` executable: outputs, and one-line errors with a non-zero exit for bad input.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test_util.h"

namespace domino {
namespace {

using test::expect_clean_error;
using test::run_domino;
namespace fs = std::filesystem;


TEST(Cli, InfoPrintsTheLayerTableAndJson) {
  auto table = run_domino("info --model resnet56 --dataset cifar10");
  ASSERT_EQ(table.exit_code, 0) << table.output;
  EXPECT_NE(table.output.find("layer1.0.conv1"), std::string::npos);
  EXPECT_NE(table.output.find("0.8558 M params"), std::string::npos) << table.output;

  auto json = run_domino("info --model resnet20 --dataset cifar10 --json");
  ASSERT_EQ(json.exit_code, 0) << json.output;
  const auto j = nlohmann::json::parse(json.output);
  EXPECT_EQ(j["layers"].size(), 22u);
  EXPECT_EQ(j["layers"][0]["name"], "conv1");
  int64_t flops = 0;
  for (const auto& l : j["layers"]) flops += l["flops"].get<int64_t>();
  EXPECT_EQ(j["totals"]["flops"].get<int64_t>(), flops);
  EXPECT_NEAR(j["totals"]["flops"].get<double>() / 1e6, 40.8, 0.2);
}

TEST(Cli, HelpExplainsCommandsAndOptions) {
  auto top = run_domino("--help");
  EXPECT_EQ(top.exit_code, 0);
  for (const char* word : {"train", "eval", "info"}) EXPECT_NE(top.output.find(word), std::string::npos);
  auto train = run_domino("train --help");
  EXPECT_EQ(train.exit_code, 0);
  for (const char* word : {"--batch-size", "--max-iters", "--resume", "--val-split", "YAML"})
    EXPECT_NE(train.output.find(word), std::string::npos) << word;
  auto bench = run_domino("bench-infer --help");
  EXPECT_EQ(bench.exit_code, 0);
  for (const char* word : {"--checkpoint", "--nm", "--scheme", "--prune", "--batch-size", "--threads", "--json", "--isa"})
    EXPECT_NE(bench.output.find(word), std::string::npos) << word;
}

// Each OpenBLAS build installed here, put behind LibTorch in turn (the loader's path before
// the system's choice): one with its own pool of threads has it cut to one (set_threads:
// its spinning threads slowed LibTorch's), one built on OpenMP shares LibTorch's pool.
// bench-infer says which ran. scripts/install-deps.sh installs the OpenMP build.
TEST(Cli, BenchInferNamesTheBlasAndAPthreadsOpenBlasRunsOneThread) {
  test::TempDir dir;
  ASSERT_EQ(run_domino("scheme uniform --model resnet20 --dataset cifar10 --N 2 --out " + (dir / "s.json")).exit_code, 0);
  int builds = 0;
  for (const auto& [build, expect] : {std::pair{"openblas-pthread", "OpenBLAS, pthreads, 1 thread(s)"},
                                      std::pair{"openblas-openmp", "OpenBLAS, OpenMP"}}) {
    for (const auto& arch : fs::directory_iterator("/usr/lib")) {
      const auto lib = arch.path() / build;
      if (!fs::exists(lib / "libblas.so.3")) continue;
      SCOPED_TRACE(lib.string());
      const auto r = test::run_command("LD_LIBRARY_PATH=" + lib.string() + " " + DOMINO_BIN +
                                       " bench-infer --json --threads 2 --repeats 1 --warmup 0 --model resnet20"
                                       " --dataset cifar10 --prune --scheme " + (dir / "s.json"));
      ASSERT_EQ(r.exit_code, 0) << r.output;
      EXPECT_EQ(nlohmann::json::parse(r.output.substr(r.output.find('{')))["blas"], expect);
      ++builds;
    }
  }
  EXPECT_GT(builds, 0) << "no OpenBLAS build under /usr/lib/*/openblas-*: scripts/install-deps.sh installs one";
}

TEST(Cli, UnknownModelDatasetAndOptionsListTheValidOnes) {
  expect_clean_error(run_domino("info --model resnet21"), {"unknown model 'resnet21'", "resnet20", "vgg16"});
  expect_clean_error(run_domino("info --dataset svhn"), {"unknown dataset 'svhn'", "cifar10"});
  expect_clean_error(run_domino("train --model resnet21 --out /tmp/domino-unused"), {"unknown model 'resnet21'"});
  auto bad_flag = run_domino("train --epohcs 3");
  EXPECT_NE(bad_flag.exit_code, 0);
  EXPECT_NE(bad_flag.output.find("--epohcs"), std::string::npos) << bad_flag.output;
  expect_clean_error(run_domino("train --lr fast"), {"--lr", "'fast' is not a number"});
}

TEST(Cli, MissingDatasetNamesThePathAndThePackage) {
  test::TempDir dir;
  expect_clean_error(run_domino("train --dataset fashion-mnist --data-dir " + (dir / "absent") + " --out " + (dir / "o")),
                     {"absent", "apt-get install dataset-fashion-mnist"});
}

TEST(Cli, TrainEvalAndCheckpointErrors) {
  test::TempDir dir;
  test::write_tiny_mnist(dir.path() / "data", 64, 30);
  const std::string common = "--model resnet8 --dataset mnist --data-dir " + (dir / "data") + " --threads 1 --batch-size 16";
  std::ofstream(dir / "c.yaml") << "epochs: 1\nschedule: constant\nlr: 0.05\n";
  auto train = run_domino("train --config " + (dir / "c.yaml") + " " + common + " --out " + (dir / "run"));
  ASSERT_EQ(train.exit_code, 0) << train.output;
  EXPECT_NE(train.output.find("test: top-1"), std::string::npos) << train.output;
  for (const char* file : {"checkpoint.pt", "metrics.jsonl", "config.json", "result.json"})
    EXPECT_TRUE(test::fs::exists(dir.path() / "run" / file)) << file;

  auto eval = run_domino("eval --json --checkpoint " + (dir / "run/checkpoint.pt"));
  ASSERT_EQ(eval.exit_code, 0) << eval.output;
  const auto j = nlohmann::json::parse(eval.output.substr(eval.output.find('{')));
  EXPECT_EQ(j["samples"], 30);
  EXPECT_GE(j["top5"].get<double>(), j["top1"].get<double>());

  expect_clean_error(run_domino("eval --model resnet20 --checkpoint " + (dir / "run/checkpoint.pt")),
                     {"holds a resnet8, not a resnet20"});
  expect_clean_error(run_domino("eval --split val --checkpoint " + (dir / "run/checkpoint.pt")), {"--val-split"});
  test::write_bytes(dir / "bad.pt", {'P', 'K', 3, 4, 0, 0});
  expect_clean_error(run_domino("eval --checkpoint " + (dir / "bad.pt")), {"bad.pt", "not a readable checkpoint"});
  expect_clean_error(run_domino("train --resume " + common + " --out " + (dir / "none")), {"nothing to resume"});
  std::ofstream(dir / "typo.yaml") << "epoch: 1\n";
  expect_clean_error(run_domino("train --config " + (dir / "typo.yaml") + " --out " + (dir / "x")),
                     {"unknown option 'epoch'"});
}

TEST(Cli, TruncatedDatasetFileIsNamed) {
  test::TempDir dir;
  test::write_tiny_mnist(dir.path() / "data", 20, 10, /*gzip=*/false);
  const auto labels = dir.path() / "data" / "train-labels-idx1-ubyte";
  test::fs::resize_file(labels, test::fs::file_size(labels) - 3);
  expect_clean_error(run_domino("train --model resnet8 --dataset mnist --data-dir " + (dir / "data") + " --out " + (dir / "o")),
                     {"train-labels-idx1-ubyte", "truncated"});
}

}  // namespace
}  // namespace domino
