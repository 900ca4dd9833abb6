// The experiment grid: cells run, results and report written, finished cells cached.
#include <gtest/gtest.h>

#include <algorithm>

#include "domino/core/report.h"
#include "domino/experiment/experiment.h"
#include "domino/jobs/eval_job.h"
#include "domino/jobs/train_job.h"
#include "latency_fixture.h"
#include "test_util.h"

namespace domino {
namespace {

using test::expect_error_containing;

void write_tiny_experiment(const test::TempDir& dir, const std::string& schemes, const std::string& budgets = "[params:0.75]") {
  test::write_tiny_mnist(dir.path() / "data", 96, 40);
  std::ofstream(dir / "dense.yaml") << "model: resnet8\ndataset: mnist\ndata-dir: " << (dir / "data")
                                    << "\nepochs: 1\nbatch-size: 16\nthreads: 1\n";
  std::ofstream(dir / "exp.yaml") << "name: tiny\nout: " << (dir / "out") << "\ndense:\n  train: " << (dir / "dense.yaml")
                                  << "\nM: 8\nbudgets: " << budgets << "\nschemes: " << schemes << "\nseeds: [0, 1]\n"
                                  << "search: {max-iters: 2000, lambda: 2.0, kp: 1, kc: 10, lr: 0.05, batch-size: 16}\n"
                                  << "finetune: {epochs: 1, batch-size: 16}\nthreads: 1\n";
}

TEST(Experiment, RunsTheGridWritesResultsAndCachesCells) {
  test::TempDir dir;
  write_tiny_experiment(dir, "[dominosearch, uniform, fixed-n]");
  const auto result = run_experiment(load_experiment(dir / "exp.yaml"));
  ASSERT_EQ(result.cells.size(), 6u);  // 3 schemes x 2 seeds
  for (const auto& c : result.cells) {
    EXPECT_GE(c.param_sparsity, 0.75 - 0.001) << c.scheme;
    EXPECT_GE(c.top1, 0.0);
    EXPECT_GT(c.finetune_seconds, 0.0);
  }
  EXPECT_NE(result.table_md.find("| params:0.75 | dominosearch |"), std::string::npos) << result.table_md;
  EXPECT_NE(result.table_md.find("| params:0.75 | uniform |"), std::string::npos);
  EXPECT_EQ(std::count(result.table_csv.begin(), result.table_csv.end(), '\n'), 7);
  EXPECT_NE(result.report_html.find("<svg"), std::string::npos);
  EXPECT_NE(result.report_html.find("Dominoes falling"), std::string::npos);
  // Top-1 with its seed spread against each budget measure, and per-layer densities as bars
  // side by side (fixed-n has dominosearch's densities: it must not hide it).
  EXPECT_NE(result.report_html.find("Top-1 against param sparsity"), std::string::npos);
  EXPECT_NE(result.report_html.find("Top-1 against FLOPs reduction"), std::string::npos);
  EXPECT_NE(result.report_html.find("(2 seeds)"), std::string::npos);
  EXPECT_NE(result.report_html.find("<rect"), std::string::npos);
  for (const char* file : {"results.md", "results.csv", "report.html", "dense/checkpoint.pt", "dominosearch/params-0.75/scheme.json",
                           "cells/uniform/params-0.75/seed1/pruned.pt"})
    EXPECT_TRUE(test::fs::exists(dir.path() / "out" / file)) << file;

  // The fine-tuned CIFAR-style ResNets through the N:M engine: the test split's top-1 and
  // loss of LibTorch's forward, for the searched (layer-wise N) and the uniform scheme.
  for (const char* cell : {"cells/dominosearch/params-0.75/seed0/pruned.pt", "cells/uniform/params-0.75/seed1/pruned.pt"}) {
    EvalJob job;
    job.source.checkpoint = (dir.path() / "out" / cell).string();
    job.run.workers = 0;
    const auto dense = run_eval_job(job);
    job.engine = Engine::Nm;
    const auto nm = run_eval_job(job);
    EXPECT_EQ(nm.top1, dense.top1) << cell;
    EXPECT_EQ(nm.samples, dense.samples) << cell;
    EXPECT_NEAR(nm.loss, dense.loss, 1e-4) << cell;
    auto model = load_inference_model(job.source);  // and the engine did run layers:
    EXPECT_GE(use_nm_engine(model, c10::Device(c10::kCPU), Precision::FP32).engine.size(), 3u) << cell;
  }

  // A finished cell is never run again: its recorded result is what the next run reports.
  const auto cell = dir.path() / "out/cells/uniform/params-0.75/seed0/result.json";
  auto j = nlohmann::json::parse(std::ifstream(cell));
  j["test"]["top1"] = 0.4242;
  std::ofstream(cell) << j.dump();
  const auto again = run_experiment(load_experiment(dir / "exp.yaml"));
  EXPECT_NE(again.table_csv.find("params:0.75,uniform,0,0.424200"), std::string::npos) << again.table_csv;

  // A second experiment sharing the cache reuses the dense model, search and cells it asks for too...
  std::ofstream(dir / "shared.yaml") << "name: shared\nout: " << (dir / "shared") << "\ncache: " << (dir / "out")
                                     << "\ndense:\n  checkpoint: " << (dir / "out/dense/checkpoint.pt")
                                     << "\nM: 8\nbudgets: [params:0.75]\nschemes: [uniform]\nseeds: [0]\n"
                                     << "finetune: {epochs: 1, batch-size: 16}\nthreads: 1\n";
  const auto shared = run_experiment(load_experiment(dir / "shared.yaml"));
  EXPECT_NE(shared.table_csv.find("params:0.75,uniform,0,0.424200"), std::string::npos) << shared.table_csv;
  EXPECT_TRUE(test::fs::exists(dir.path() / "shared/results.md"));
  // ...but a cached cell fine-tuned with other options is an error, not a silent reuse...
  std::ofstream(dir / "shared.yaml", std::ios::app) << "finetune: {epochs: 2, batch-size: 16}\n";
  expect_error_containing([&] { run_experiment(load_experiment(dir / "shared.yaml")); }, {"seed0", "other options", "epochs"});

  // ...and so is a cell whose scheme is no longer the one its source gives (a search rerun).
  const auto searched = dir.path() / "out/dominosearch/params-0.75/scheme.json";
  auto scheme = load_scheme(searched.string());
  const auto layer = std::find_if(scheme.layers.begin(), scheme.layers.end(), [](const auto& l) { return l.N >= 2; });
  ASSERT_NE(layer, scheme.layers.end());
  layer->N /= 2;  // sparser: the changed scheme still meets the budget, so it is taken as the search's
  save_scheme(scheme, searched.string());
  expect_error_containing([&] { run_experiment(load_experiment(dir / "exp.yaml")); },
                          {"cells/dominosearch/params-0.75/seed0", "another scheme"});
}

// Uniform 2:8 is both the params:0.75 and the flops:0.75 scheme: fine-tuned once, reported twice.
TEST(Experiment, OneSchemeAtTwoBudgetsIsFineTunedOnce) {
  test::TempDir dir;
  write_tiny_experiment(dir, "[uniform]", "[params:0.75, flops:0.75]");
  std::vector<std::string> notes;  // the library reports through the reporter, not by printing
  const auto result = [&] {
    ScopedReporter capture([&](ReportKind kind, const std::string& m) { if (kind == ReportKind::Note) notes.push_back(m); });
    return run_experiment(load_experiment(dir / "exp.yaml"));
  }();
  const auto said = [&](const std::string& part) {
    return std::count_if(notes.begin(), notes.end(), [&](const std::string& m) { return m.find(part) != std::string::npos; });
  };
  EXPECT_EQ(said("fine-tuned once"), 2);  // flops:0.75, seeds 0 and 1
  EXPECT_EQ(said("] fine-tune uniform at"), 2);
  ASSERT_EQ(result.cells.size(), 4u);
  EXPECT_EQ(result.cells[0].top1, result.cells[2].top1);
  EXPECT_EQ(result.cells[1].top1, result.cells[3].top1);
  EXPECT_EQ(result.cells[2].budget, "flops:0.75");
  EXPECT_TRUE(test::fs::exists(dir.path() / "out/cells/uniform/params-0.75/seed0/result.json"));
  EXPECT_FALSE(test::fs::exists(dir.path() / "out/cells/uniform/flops-0.75"));

  // A damaged cache file is named, with what to do, never an internal error.
  const auto cell = dir.path() / "out/cells/uniform/params-0.75/seed0";
  std::ofstream(cell / "result.json") << R"({"test": {"top1": 0.5}})";
  expect_error_containing([&] { run_experiment(load_experiment(dir / "exp.yaml")); },
                          {"params-0.75/seed0/result.json", "not a fine-tuning result", "top5", "remove the cell"});
  std::ofstream(cell / "result.json") << R"({"test": )";
  expect_error_containing([&] { run_experiment(load_experiment(dir / "exp.yaml")); }, {"params-0.75/seed0/result.json"});
  std::ofstream(cell / "config.json") << "[1, 2]";
  expect_error_containing([&] { run_experiment(load_experiment(dir / "exp.yaml")); },
                          {"params-0.75/seed0/config.json", "not a config"});
}

TEST(Experiment, LatencyBudgetsRunEverySourceAndReportTheirLatency) {
  test::TempDir dir;
  write_tiny_experiment(dir, "[dominosearch, uniform, erk]", "[latency:0.6]");
  const auto table = test::write_latency_table(dir);
  std::ofstream(dir / "exp.yaml", std::ios::app) << "latency-table: " << table << "\n";
  const int threads_before = at::get_num_threads();
  const auto result = run_experiment(load_experiment(dir / "exp.yaml"));
  ASSERT_EQ(result.cells.size(), 6u);  // 3 sources x 2 seeds
  for (const auto& c : result.cells) {
    ASSERT_TRUE(c.latency_reduction.has_value()) << c.scheme;
    EXPECT_GE(*c.latency_reduction, 0.6 - 0.001) << c.scheme;
  }
  // The table's sum: 28 ms dense (stem 1, layer1's two convs 10 each, seven layers of 1);
  // uniform N:8 costs 1 + 27 N / 8, so the densest uniform scheme at latency:0.6 is 2:8.
  const auto uniform = load_scheme((dir.path() / "out/schemes/uniform/latency-0.6.json").string());
  EXPECT_EQ(uniform.layers[1].N, 2);
  EXPECT_NEAR(uniform.latency_reduction(), 1 - (1 + 27 * 2.0 / 8) / 28, 1e-12);
  EXPECT_NE(result.table_md.find("latency reduction"), std::string::npos) << result.table_md;
  EXPECT_NE(result.table_csv.find("latency_ms,latency_reduction"), std::string::npos) << result.table_csv;
  EXPECT_NE(result.report_html.find("Top-1 against latency"), std::string::npos);
  // Every cell's scheme timed end to end under the engine, at the table's batch and threads
  // (1; the caller's thread count is given back); a scheme's seeds share one measurement.
  EXPECT_EQ(at::get_num_threads(), threads_before);
  for (const auto& c : result.cells) {
    ASSERT_TRUE(c.forward_ms && c.dense_forward_ms) << c.scheme;
    EXPECT_GT(*c.forward_ms, 0) << c.scheme;
    EXPECT_GT(*c.dense_forward_ms, 0) << c.scheme;
    for (const auto& other : result.cells) {
      if (other.scheme == c.scheme) {
        EXPECT_EQ(*other.forward_ms, *c.forward_ms) << c.scheme;
      }
    }
  }
  EXPECT_NE(result.table_md.find("forward (ms, measured) | speed-up over dense"), std::string::npos) << result.table_md;
  EXPECT_NE(result.table_csv.find("forward_ms,dense_forward_ms"), std::string::npos) << result.table_csv;
  EXPECT_NE(result.report_html.find("Top-1 against the whole forward under the N:M engine"), std::string::npos);

  write_tiny_experiment(dir, "[fixed-n]", "[latency:0.6]");
  std::ofstream(dir / "exp.yaml", std::ios::app) << "latency-table: " << table << "\n";
  expect_error_containing([&] { load_experiment(dir / "exp.yaml"); }, {"fixed-n", "did not time"});
  write_tiny_experiment(dir, "[uniform]", "[latency:0.6]");
  expect_error_containing([&] { load_experiment(dir / "exp.yaml"); }, {"latency:0.6 needs", "latency-table: FILE"});
}

TEST(Experiment, BadConfigsAreClearErrors) {
  test::TempDir dir;
  write_tiny_experiment(dir, "[dominosearch, magic]");
  expect_error_containing([&] { load_experiment(dir / "exp.yaml"); }, {"unknown scheme source 'magic'", "uniform"});
  std::ofstream(dir / "k.yaml") << "name: x\nbudget: [params:0.5]\n";
  expect_error_containing([&] { load_experiment(dir / "k.yaml"); }, {"unknown key 'budget'"});
  std::ofstream(dir / "d.yaml") << "name: x\nbudgets: [params:0.5]\nschemes: [uniform]\n";
  expect_error_containing([&] { load_experiment(dir / "d.yaml"); }, {"'dense' needs exactly one"});
  write_tiny_experiment(dir, "[uniform]", "[params:0.6]");  // N = 8 * 0.4 = 3.2: no uniform scheme
  expect_error_containing([&] { run_experiment(load_experiment(dir / "exp.yaml")); }, {"no uniform N:8 gives params:0.6"});
}

}  // namespace
}  // namespace domino
