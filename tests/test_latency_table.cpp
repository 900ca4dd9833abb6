// Latency tables: each prunable layer's time under the N:M engine at every candidate N.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "domino/core/runtime.h"
#include "domino/engine/engine.h"
#include "domino/engine/latency_table.h"
#include "domino/io/checkpoint.h"
#include "domino/models/layer_table.h"
#include "domino/models/models.h"
#include "domino/nm/baselines.h"
#include "io/files.h"
#include "test_util.h"

namespace domino::engine {
namespace {

using test::expect_error_containing;

const ImageShape kFashion{1, 28, 28};

LatencyOptions small_options() {
  LatencyOptions o;
  o.batch_size = 4;
  o.M = 16;
  o.candidates = {1, 2, 8};
  o.warmup = 2;
  o.repeats = 7;  // in each of 3 interleaved rounds
  return o;
}

}  // namespace

TEST(LatencyTable, EveryLayerAtEveryCandidateAndTheSumFallsWithN) {
  set_threads(1);
  const auto o = small_options();
  auto model = make_model("resnet20", {1, 10});
  const auto layers = build_layer_table(*model, kFashion);
  const Scheme dense = dense_scheme(layers, 16, Layout::NHWC);
  // Usable as a budget: the sum over the layers falls as N falls. Asserted where the margin
  // is wide on this model (measured at batch 4, one thread: 1:16 ~0.13x, 8:16 ~0.5x of
  // dense), so that load from other processes does not flip it: 1:16 below 8:16, 8:16 below
  // dense. The median of 3 interleaved rounds drops one slowed round; a CI run with another
  // timing test on the other core once saw 8:16 at dense's time in every round, so a table
  // whose order is flipped is measured again, up to three times.
  LatencyTable t;
  double at1 = 0, at8 = 0;
  for (int attempt = 0; attempt < 3; ++attempt) {
    t = measure_latency_table("resnet20", {1, 10}, kFashion, "fashion-mnist", o);
    at1 = t.scheme_ms(uniform_scheme(dense, 1));
    at8 = t.scheme_ms(uniform_scheme(dense, 8));
    if (at1 < at8 && at8 < t.dense_ms()) break;
  }
  ASSERT_EQ(t.layers.size(), layers.layers.size());  // every prunable layer, the stem and fc too
  for (size_t i = 0; i < t.layers.size(); ++i) {
    EXPECT_EQ(t.layers[i].name, layers.layers[i].name);
    EXPECT_GT(t.layers[i].dense_ms, 0.0) << t.layers[i].name;
    for (int64_t n : o.candidates) EXPECT_GT(t.ms(t.layers[i].name, n), 0.0) << t.layers[i].name << " " << n;
  }
  // The stem (1 input channel: no group of 16 along it) stays dense at every N.
  EXPECT_EQ(t.ms("conv1", 1), t.layers.front().dense_ms);
  EXPECT_EQ(t.key.input, (std::vector<int64_t>{4, 1, 28, 28}));
  EXPECT_EQ(t.key.threads, 1);

  EXPECT_LT(at1, at8);
  EXPECT_LT(at8, t.dense_ms());
  EXPECT_DOUBLE_EQ(t.scheme_ms(dense), t.dense_ms());

  // One JSON form, read back as written.
  const auto back = latency_table_from_json(to_json(t), "t.json");
  EXPECT_TRUE(back.key == t.key);
  EXPECT_TRUE(key_differences(back.key, t.key).empty());
  auto other_key = t.key;  // each differing field named, with both values
  other_key.threads = 2;
  other_key.engine = "";
  other_key.candidates = {1, 2};
  EXPECT_EQ(key_differences(other_key, t.key),
            (std::vector<std::string>{"candidates N 1, 2 (here N " + fmt::format("{}", fmt::join(t.key.candidates, ", ")) + ")",
                                      "engine revision 'not recorded' (here '" + std::string(kEngineRevision) + "')",
                                      "threads 2 (here 1)"}));
  EXPECT_EQ(to_json(back), to_json(t));
  expect_error_containing([&] { t.ms("layer9.conv1", 1); }, {"no layer 'layer9.conv1'"});
  expect_error_containing([&] { t.ms("layer1.0.conv1", 4); }, {"no time for layer1.0.conv1 at 4:16", "--candidates all"});
  auto other_m = uniform_scheme(dense_scheme(layers, 8, Layout::NHWC), 2);
  expect_error_containing([&] { t.scheme_ms(other_m); }, {"M = 8", "M = 16"});
  expect_error_containing([] { latency_table_from_json({{"format", "x"}}, "x.json"); }, {"x.json", "not a latency table"});
}

TEST(LatencyTable, TheCommandKeepsItsTableAndMeasuresAnotherKeyOnlyWhenTold) {
  test::TempDir dir;
  const std::string common = "latency-table --model resnet8 --dataset mnist --M 8 --batch-size 2 --threads 1 --repeats 3 --out " +
                             (dir / "lat.json");
  const auto first = test::run_domino(common);
  ASSERT_EQ(first.exit_code, 0) << first.output;
  EXPECT_NE(first.output.find("1:8"), std::string::npos) << first.output;
  EXPECT_NE(first.output.find("layer1.0.conv1"), std::string::npos) << first.output;
  const auto written = read_text_file(dir / "lat.json", "table");

  const auto again = test::run_domino(common);  // same key: taken from the file, not measured
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("cached: "), std::string::npos) << again.output;
  EXPECT_EQ(read_text_file(dir / "lat.json", "table"), written);

  // A table measured by other kernels (another engine revision, or one not recorded) is
  // refused too, the message naming the revisions: its times are not this build's.
  for (const std::string revision : {"2026-11-25.1", ""}) {
    auto stale = read_json_file(dir / "lat.json");
    EXPECT_EQ(stale.at("key").at("engine"), engine::kEngineRevision);
    if (revision.empty()) stale.at("key").erase("engine");
    else stale.at("key").at("engine") = revision;
    write_json_file(dir / "stale.json", stale);
    const std::string stale_run = "latency-table --model resnet8 --dataset mnist --M 8 --batch-size 2 --threads 1 "
                                  "--repeats 3 --out " + (dir / "stale.json");
    test::expect_clean_error(test::run_domino(stale_run),
                             {"stale.json", "another setting", "engine revision '" + (revision.empty() ? "not recorded" : revision) +
                                  "' (here '" + engine::kEngineRevision + "')", "--force"});
  }

  // Another batch size is another key: refused unless --force.
  const std::string other = "latency-table --model resnet8 --dataset mnist --M 8 --batch-size 4 --threads 1 --repeats 3 --out " +
                            (dir / "lat.json");
  test::expect_clean_error(test::run_domino(other), {"lat.json", "another setting", "input 2x1x28x28 (here 4x1x28x28)", "--force"});
  const auto forced = test::run_domino(other + " --force --json");
  ASSERT_EQ(forced.exit_code, 0) << forced.output;
  EXPECT_EQ(read_json_file(dir / "lat.json").at("key").at("input"), (std::vector<int64_t>{4, 1, 28, 28}));
  test::expect_clean_error(test::run_domino("latency-table --model resnet9 --out " + (dir / "x.json")),
                           {"unknown model 'resnet9'"});

  // Baselines and any scheme file report their latency by a table; it travels in the scheme.
  const std::string table = " --latency-table " + (dir / "lat.json");
  const auto uniform = test::run_domino("scheme uniform --model resnet8 --dataset mnist --N 2 --M 8" + table + " --out " +
                                        (dir / "u.json"));
  ASSERT_EQ(uniform.exit_code, 0) << uniform.output;
  EXPECT_NE(uniform.output.find("latency reduction"), std::string::npos) << uniform.output;
  EXPECT_EQ(read_json_file(dir / "u.json").at("latency").at("table"), dir / "lat.json");
  const auto shown = test::run_domino("scheme show --scheme " + (dir / "u.json"));
  EXPECT_NE(shown.output.find("latency reduction"), std::string::npos) << shown.output;
  // The truth check: bench-infer of a scheme with times sets the table's prediction against
  // what it measures for the same layers (both sums present; how close is noise here).
  const auto bench = test::run_domino("bench-infer --model resnet8 --dataset mnist --scheme " + (dir / "u.json") +
                                      " --prune --batch-size 4 --threads 1 --repeats 3 --json");
  ASSERT_EQ(bench.exit_code, 0) << bench.output;
  const auto check = nlohmann::json::parse(bench.output.substr(bench.output.find('{'))).at("latency_table");
  EXPECT_EQ(check.at("table"), dir / "lat.json");
  EXPECT_GT(check.at("predicted_ms").get<double>(), 0.0);
  EXPECT_GT(check.at("measured_ms").get<double>(), 0.0);
  test::expect_clean_error(test::run_domino("scheme uniform --model resnet20 --dataset mnist --N 2 --M 8" + table +
                                            " --out " + (dir / "v.json")),
                           {"measured for resnet8", "resnet20"});
  test::expect_clean_error(test::run_domino("scheme erk --model resnet8 --dataset mnist --target latency:0.5 --M 8 --out " +
                                            (dir / "e.json")),
                           {"latency table", "--latency-table"});
}

}  // namespace domino::engine
