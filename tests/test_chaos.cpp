// SIGKILL at random moments (before the first epoch ends, during checkpoint writes, after
// the last one): resuming until the run finishes must give bit for bit what an
// uninterrupted run gives, and leave no partial file behind.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <iostream>
#include <random>
#include <sstream>
#include <thread>

#include "domino/io/checkpoint.h"
#include "domino/nm/scheme.h"
#include "io/files.h"
#include "test_util.h"

namespace domino {
namespace {

using Clock = std::chrono::steady_clock;

// Runs `command` (output to `log`), SIGKILLs it after `delay` unless it ended first.
// Returns the exit code, or -1 if it was killed.
int run_killed_after(const std::string& command, const std::string& log, std::chrono::milliseconds delay) {
  const pid_t pid = fork();
  if (pid == 0) {
    const std::string line = "exec " + command + " > " + log + " 2>&1";
    execl("/bin/sh", "sh", "-c", line.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  const auto deadline = Clock::now() + delay;
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (Clock::now() >= deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// How long `domino args` takes.
std::chrono::milliseconds timed_run(const std::string& args) {
  const auto start = Clock::now();
  const auto r = test::run_domino(args);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
}

class Chaos : public ::testing::Test {
 protected:
  // Runs command() killed at `kills` random moments within `took` (a run's length), then
  // once more to its end.
  void kill_until_done(const std::function<std::string()>& command, int kills, std::chrono::milliseconds took,
                       const std::string& log) {
    std::uniform_int_distribution<int64_t> moment(took.count() / 20, took.count());
    int killed = 0;
    for (int attempt = 0; killed < kills && attempt < 4 * kills; ++attempt)  // a finished run may end before its moment
      if (run_killed_after(command(), log, std::chrono::milliseconds(moment(rng_))) == -1) ++killed;
    EXPECT_GE(killed, kills / 2);
    std::cout << log << ": killed " << killed << " times within runs of " << took.count() << " ms\n";
    ASSERT_EQ(run_killed_after(command(), log, std::chrono::hours(1)), 0) << test::read_text(log);
  }

  // Runs `args --out <name>-reference` once; then the same into <name> killed at `kills`
  // random moments, each time continued with --resume (or --force when no checkpoint was
  // written yet), until it finishes.
  void run_with_kills(const std::string& args, const std::string& name, int kills) {
    const std::string chaos = dir_ / name;
    const auto took = timed_run(args + " --out " + dir_ / (name + "-reference"));
    const auto command = [&] {
      const bool resumable = test::fs::exists(test::fs::path(chaos) / "checkpoint.pt");
      const std::string mode = resumable ? " --resume" : test::fs::exists(chaos) ? " --force" : "";
      return std::string(DOMINO_BIN) + " " + args + mode + " --out " + chaos;
    };
    kill_until_done(command, kills, took, dir_ / (name + ".log"));
    for (const auto& entry : test::fs::directory_iterator(chaos))
      EXPECT_NE(entry.path().extension(), ".tmp") << entry.path() << " survived";
  }

  // The losses logged, in order: a resumed run logs each iteration once.
  static std::vector<std::pair<int64_t, double>> logged_losses(const std::string& metrics) {
    std::vector<std::pair<int64_t, double>> out;
    std::istringstream in(test::read_text(metrics));
    std::string line;
    while (std::getline(in, line)) {
      const auto record = parse_json(line, metrics);
      if (record.at("type") == "train") out.emplace_back(record.at("iteration").get<int64_t>(), record.at("loss").get<double>());
    }
    return out;
  }

  static void expect_same_state(const std::string& a, const std::string& b) {
    const auto x = load_checkpoint(a), y = load_checkpoint(b);
    EXPECT_EQ(x.iteration, y.iteration);
    ASSERT_EQ(x.model_state.size(), y.model_state.size());
    for (const auto& item : x.model_state)
      EXPECT_TRUE(torch::equal(item.value(), y.model_state.at(item.key()))) << a << " vs " << b << ": " << item.key();
  }

  test::TempDir dir_;
  std::mt19937 rng_{20261125};
};

TEST_F(Chaos, TrainSearchAndFinetuneResumeBitForBit) {
  test::write_tiny_mnist(dir_.path() / "data", 96, 40);
  const std::string common = " --threads 1 --workers 1 --checkpoint-every 1";
  run_with_kills("train --model resnet8 --dataset mnist --data-dir " + (dir_ / "data") +
                     " --epochs 3 --batch-size 16 --lr 0.05 --log-every 1" + common, "train", 5);
  expect_same_state(dir_ / "train-reference/checkpoint.pt", dir_ / "train/checkpoint.pt");
  EXPECT_EQ(read_json_file(dir_ / "train-reference/result.json")["test"], read_json_file(dir_ / "train/result.json")["test"]);
  EXPECT_EQ(logged_losses(dir_ / "train-reference/metrics.jsonl"), logged_losses(dir_ / "train/metrics.jsonl"));

  const std::string dense = " --checkpoint " + (dir_ / "train-reference/checkpoint.pt");
  run_with_kills("search --target params:0.5 --M 8 --batch-size 16 --max-iters 2000 --lambda 2.0 --kp 1 --kc 10 --lr 0.05" +
                     dense + common, "search", 4);
  const auto a = load_scheme(dir_ / "search-reference/scheme.json"), b = load_scheme(dir_ / "search/scheme.json");
  ASSERT_EQ(a.layers.size(), b.layers.size());
  for (size_t i = 0; i < a.layers.size(); ++i) EXPECT_EQ(a.layers[i].N, b.layers[i].N) << a.layers[i].name;
  EXPECT_EQ(to_json(a.decisions), to_json(b.decisions));

  run_with_kills("finetune --scheme " + (dir_ / "search-reference/scheme.json") + dense +
                     " --epochs 2 --batch-size 16 --lr 0.05" + common, "finetune", 4);
  expect_same_state(dir_ / "finetune-reference/pruned.pt", dir_ / "finetune/pruned.pt");
}

// An experiment resumes by itself when run again: killed anywhere (dense training, a
// search, a cell), rerun until it ends, its table equals an uninterrupted one's.
TEST_F(Chaos, ExperimentRerunAfterKillsGivesTheSameTable) {
  test::write_tiny_mnist(dir_.path() / "data", 64, 40);
  std::ofstream(dir_ / "dense.yaml") << "model: resnet8\ndataset: mnist\ndata-dir: " << (dir_ / "data")
                                     << "\nepochs: 1\nbatch-size: 16\nworkers: 1\ncheckpoint-every: 1\n";
  for (const char* name : {"reference", "chaos"})
    std::ofstream(dir_ / (std::string(name) + ".yaml"))
        << "name: " << name << "\nout: " << (dir_ / name) << "\ndense:\n  train: " << (dir_ / "dense.yaml")
        << "\nM: 8\nbudgets: [params:0.75]\nschemes: [uniform, dominosearch]\nseeds: [0]\n"
        << "search: {max-iters: 2000, lambda: 2.0, kp: 1, kc: 10, lr: 0.05, batch-size: 16}\n"
        << "finetune: {epochs: 1, batch-size: 16, checkpoint-every: 1}\nthreads: 1\n";
  const auto took = timed_run("experiment --config " + dir_ / "reference.yaml");
  kill_until_done([&] { return std::string(DOMINO_BIN) + " experiment --config " + dir_ / "chaos.yaml"; }, 5, took,
                  dir_ / "experiment.log");
  // every column but the timings: budget, scheme, seed, top-1, top-5, sizes, sparsities
  auto rows = [](const std::string& csv) {
    std::vector<std::string> out;
    std::istringstream in(test::read_text(csv));
    std::string line;
    while (std::getline(in, line)) {
      size_t cut = 0;
      for (int field = 0; field < 9 && cut != std::string::npos; ++field) cut = line.find(',', cut + 1);
      out.push_back(line.substr(0, cut));
    }
    return out;
  };
  const auto expected = rows(dir_ / "reference/results.csv");
  ASSERT_EQ(expected.size(), 3u);  // header, uniform, dominosearch
  EXPECT_EQ(expected, rows(dir_ / "chaos/results.csv"));
}

}  // namespace
}  // namespace domino
