// `domino scheme` and `domino search` from the command line.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test_util.h"

namespace domino {
namespace {

using test::expect_clean_error;
using test::run_domino;

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}


TEST(CliScheme, UniformErkConvertAndShow) {
  test::TempDir dir;
  auto u = run_domino("scheme uniform --model resnet20 --dataset fashion-mnist --N 2 --M 16 --out " + (dir / "u.json"));
  ASSERT_EQ(u.exit_code, 0) << u.output;
  EXPECT_NE(u.output.find("param sparsity 0.8750"), std::string::npos) << u.output;
  const auto uj = read_json(dir / "u.json");
  EXPECT_EQ(uj["source"], "uniform");
  for (const auto& l : uj["layers"]) EXPECT_EQ(l["N"], 2) << l["name"];
  EXPECT_NE(uj["layers"][0]["note"].get<std::string>().find("groups cross rows"), std::string::npos);  // 9 weights a row

  auto e = run_domino("scheme erk --model resnet20 --dataset fashion-mnist --target params:0.875 --M 16 --out " + (dir / "e.json"));
  ASSERT_EQ(e.exit_code, 0) << e.output;
  const auto ej = read_json(dir / "e.json");
  EXPECT_GE(ej["param_sparsity"].get<double>(), 0.874);
  EXPECT_GT(ej["layers"][0]["N"].get<int>(), ej["layers"][19]["N"].get<int>());  // stem denser than layer3

  auto c = run_domino("scheme convert --policy fixed-n --scheme " + (dir / "u.json") + " --out " + (dir / "f.json"));
  ASSERT_EQ(c.exit_code, 0) << c.output;
  const auto fj = read_json(dir / "f.json");
  EXPECT_EQ(fj["policy"], "fixed-n");
  EXPECT_EQ(fj["layers"][3]["M"], 8);
  EXPECT_EQ(fj["layers"][3]["N"], 1);

  std::ofstream(dir / "authors.txt")
      << "{'SparseConv0_1-16-(3, 3)': [16, 16], 'SparseConv1_16-16-(3, 3)': [4, 16], 'SparseConv2_16-16-(3, 3)': [4, 16],"
         " 'SparseConv3_16-32-(3, 3)': [2, 16], 'SparseConv4_32-32-(3, 3)': [2, 16], 'SparseConv5_16-32-(1, 1)': [8, 16],"
         " 'SparseConv6_32-64-(3, 3)': [1, 16], 'SparseConv7_64-64-(3, 3)': [1, 16], 'SparseConv8_32-64-(1, 1)': [4, 16],"
         " 'Linear0_64-10': [8, 16]}";
  auto show = run_domino("scheme show --scheme " + (dir / "authors.txt") + " --model resnet8 --dataset mnist");
  ASSERT_EQ(show.exit_code, 0) << show.output;
  EXPECT_NE(show.output.find("layer3.0.conv2"), std::string::npos);
  EXPECT_NE(show.output.find("1:16"), std::string::npos);
  expect_clean_error(run_domino("scheme show --scheme " + (dir / "authors.txt") + " --model resnet20 --dataset mnist"),
                     {"lists 10 layers", "22 prunable"});
  expect_clean_error(run_domino("scheme show --scheme " + (dir / "authors.txt")), {"authors' text format", "--model"});
  std::ofstream(dir / "broken.json") << "{\"format\": \"dominosearch-scheme-1\", \"layers\": 3}";
  expect_clean_error(run_domino("scheme show --scheme " + (dir / "broken.json")), {"broken.json", "malformed"});
  expect_clean_error(run_domino("scheme uniform --model resnet20 --N 32 --M 16 --out " + (dir / "x.json")), {"uniform N"});
  expect_clean_error(run_domino("scheme erk --model resnet20 --target params:0.5 --M 6 --out " + (dir / "x.json")),
                     {"M must be 4, 8, 16 or 32"});
}

TEST(CliSearch, HelpAndBadInput) {
  auto help = run_domino("search --help");
  EXPECT_EQ(help.exit_code, 0);
  for (const char* word : {"--target", "--M", "--layout", "--candidates", "--beta1", "--no-eta", "--policy", "--lambda",
                           "--kp", "--kc", "--vr", "--exclude", "--max-iters", "--resume"})
    EXPECT_NE(help.output.find(word), std::string::npos) << word;

  test::TempDir dir;
  test::write_tiny_mnist(dir.path() / "data", 32, 10);
  auto train = run_domino("train --model resnet8 --dataset mnist --data-dir " + (dir / "data") +
                          " --epochs 1 --batch-size 16 --threads 1 --out " + (dir / "dense"));
  ASSERT_EQ(train.exit_code, 0) << train.output;
  const std::string ck = " --batch-size 16 --threads 1 --checkpoint " + (dir / "dense/checkpoint.pt");
  expect_clean_error(run_domino("search --target params:0.97 --M 16" + ck + " --out " + (dir / "s")),
                     {"params:0.97 cannot be reached", "1:16"});
  EXPECT_FALSE(test::fs::exists(dir.path() / "s" / "checkpoint.pt"));  // refused before any training
  expect_clean_error(run_domino("search --target params:0.5 --exclude '*'" + ck + " --out " + (dir / "s")),
                     {"cannot be reached", "10 layers kept dense"}, /*only_line=*/false);
  expect_clean_error(run_domino("search --target size:0.5" + ck), {"params:S, flops:S or latency:S"});
  // The search's options from a --config file and from flags, checked by the same table.
  std::ofstream(dir / "typo.yaml") << "polcy: fixed-n\n";
  expect_clean_error(run_domino("search --target params:0.5 --config " + (dir / "typo.yaml") + ck),
                     {"typo.yaml", "unknown option 'polcy'", "did you mean 'policy'?"});
  std::ofstream(dir / "type.yaml") << "kp: five\nlr: 0.05\n";
  expect_clean_error(run_domino("search --target params:0.5 --config " + (dir / "type.yaml") + ck),
                     {"type.yaml: option 'kp' must be an integer"});
  expect_clean_error(run_domino("search --target params:0.5 --kc 1x" + ck), {"--kc: '1x' is not an integer"});
  expect_clean_error(run_domino("search --target params:0.5 --M 12" + ck), {"M must be 4, 8, 16 or 32"});
  expect_clean_error(run_domino("search --target params:0.5 --layout NHCW" + ck), {"layout", "NHCW"});
  expect_clean_error(run_domino("search --target params:0.5 --checkpoint " + (dir / "nope.pt")), {"nope.pt", "not found"});
  auto out_of_budget = run_domino("search --target params:0.8 --M 8 --max-iters 3" + ck + " --out " + (dir / "b"));
  expect_clean_error(out_of_budget, {"budget of 3 iterations ran out", "--resume"}, /*only_line=*/false);
  EXPECT_TRUE(test::fs::exists(dir.path() / "b" / "scheme.json"));
  EXPECT_EQ(read_json(dir / "b/scheme.json")["source"], "dominosearch");
}

}  // namespace
}  // namespace domino
