// DominoSearch (docs/ALGORITHM.md §2): thresholds, the vote, decisions, η, the penalty, and
// whole searches (reproducible, resumable, refusing unreachable targets).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>

#include "domino/io/checkpoint.h"
#include "domino/jobs/eval_job.h"
#include "domino/jobs/search_job.h"
#include "domino/jobs/train_job.h"
#include "domino/models/prunable.h"
#include "domino/nm/baselines.h"
#include "domino/search/search.h"
#include "latency_fixture.h"
#include "test_util.h"

namespace domino {
namespace {

using test::expect_error_containing;

// fc1: [4, 8] (8 groups of 4), fc2: [4, 4] (4 groups of 4); no biases.
class TwoLinear : public Network {
 public:
  TwoLinear() {
    fc1 = register_module("fc1", PrunableLinear(torch::nn::LinearOptions(8, 4).bias(false)));
    fc2 = register_module("fc2", PrunableLinear(torch::nn::LinearOptions(4, 4).bias(false)));
  }
  torch::Tensor forward(torch::Tensor x) override { return fc2(fc1(x.flatten(1))); }
  PrunableLinear fc1{nullptr}, fc2{nullptr};
};

// Every group of the weight set to `group` (|w| values; signs alternate).
void fill_groups(torch::Tensor& w, std::vector<float> group) {
  torch::NoGradGuard no_grad;
  auto g = w.view({-1, 4});
  for (int64_t i = 0; i < g.size(0); ++i)
    for (int64_t j = 0; j < 4; ++j) g[i][j] = group[static_cast<size_t>(j)] * ((i + j) % 2 ? -1.0f : 1.0f);
}

struct Fixture {
  TwoLinear model;
  std::unique_ptr<DominoSearch> search;
  Fixture() : Fixture(params_half()) {}
  static SearchOptions params_half() {
    SearchOptions o;
    o.target = Target{TargetKind::Params, 0.5};
    return o;
  }
  explicit Fixture(SearchOptions o, std::shared_ptr<const LatencyCosts> latency = nullptr) {
    fill_groups(model.fc1->weight, {1, 2, 3, 4});
    fill_groups(model.fc2->weight, {1, 2, 3, 4});
    o.M = 4;
    const auto table = build_layer_table(model, {1, 1, 8});
    auto scheme = dense_scheme(table, 4, Layout::NHWC);
    scheme.latency = std::move(latency);
    search = std::make_unique<DominoSearch>(model, scheme, o);
  }
};

TEST(Search, ThresholdIsTheMeanOfTheHalfSmallestAtTheStart) {
  Fixture f;
  EXPECT_TRUE(torch::allclose(f.search->thresholds(0), torch::full({8}, 1.5f)));
  EXPECT_TRUE(torch::allclose(f.search->thresholds(1), torch::full({4}, 1.5f)));
}

TEST(Search, VoteLowersNIntAndACandidateIsADecision) {
  Fixture f;
  f.search->check(0);  // every group has 3 weights above 1.5 < 4 = N_int
  EXPECT_EQ(f.search->n_int(0), 3);
  EXPECT_EQ(f.search->n_int(1), 3);
  EXPECT_TRUE(f.search->scheme().decisions.empty());  // 3 is no power of two
  EXPECT_EQ(f.search->scheme().layers[0].N, 4);

  // 5 of fc1's 8 groups (62.5 % < v_r) now have 2 weights above the fixed threshold.
  {
    torch::NoGradGuard no_grad;
    auto g = f.model.fc1->weight.view({-1, 4});
    for (int64_t i = 0; i < 5; ++i) g[i][1] = 1.2f;
  }
  f.search->check(100);
  EXPECT_EQ(f.search->n_int(0), 3);
  {
    torch::NoGradGuard no_grad;
    f.model.fc1->weight.view({-1, 4})[5][1] = 1.2f;  // 6 of 8 = 75 %: the vote passes
  }
  f.search->check(200);
  EXPECT_EQ(f.search->n_int(0), 2);
  ASSERT_EQ(f.search->scheme().decisions.size(), 1u);
  const auto& d = f.search->scheme().decisions[0];
  EXPECT_EQ(d.iteration, 200);
  EXPECT_EQ(d.layer, "fc1");
  EXPECT_EQ(d.N, 2);
  EXPECT_NEAR(d.param_sparsity, 1 - (16.0 + 16) / 48, 1e-12);
  EXPECT_FALSE(f.search->should_stop());

  fill_groups(f.model.fc2->weight, {1, 1.2f, 3, 4});
  f.search->check(300);  // fc2 falls too: 0.5 >= target - 0.001, the search ends
  EXPECT_EQ(f.search->scheme().layers[1].N, 2);
  EXPECT_NEAR(f.search->scheme().param_sparsity(), 0.5, 1e-12);
  EXPECT_TRUE(f.search->should_stop());
}

TEST(Search, EtaFollowsComplexityAndRedundancy) {
  Fixture f;
  // ERK at 0.5: s = (0.55, 0.40). Dense: c = (1, 0.5), d = (0.55, 0.40), r = d / 0.55.
  EXPECT_NEAR(f.search->eta()[0], 0.5 * 1 + 0.5 * 1, 1e-12);
  EXPECT_NEAR(f.search->eta()[1], 0.5 * 0.5 + 0.5 * (0.40 / 0.55), 1e-12);
  fill_groups(f.model.fc1->weight, {1, 1.2f, 3, 4});
  f.search->check(0);  // N_int 4 -> 3
  f.search->check(100);  // -> 2: decision; FLOPs 16 and 16: c = (1, 1), d = (0.05, 0.40), r = d / 0.40
  ASSERT_EQ(f.search->scheme().layers[0].N, 2);
  EXPECT_NEAR(f.search->eta()[0], 0.5 + 0.5 * (0.05 / 0.40), 1e-12);
  EXPECT_NEAR(f.search->eta()[1], 0.5 + 0.5 * 1.0, 1e-12);

  SearchOptions flops;
  flops.target = Target{TargetKind::Flops, 0.5};
  Fixture g(flops);  // defaults 0.8 / 0.2
  EXPECT_NEAR(g.search->eta()[1], 0.8 * 0.5 + 0.2 * (0.40 / 0.55), 1e-12);
  SearchOptions without;
  without.use_eta = false;
  Fixture h(without);
  EXPECT_EQ(h.search->eta()[0], 1.0);
  EXPECT_EQ(h.search->eta()[1], 1.0);
}

TEST(Search, UnderALatencyTargetEtaCountsMeasuredTimeNotFlops) {
  // fc2 has half fc1's FLOPs but takes 4x its time: under a latency budget its complexity
  // term is the larger, c_i = t_i(N_i) / max_j t_j(N_j), with the FLOPs defaults for beta.
  auto costs = std::make_shared<LatencyCosts>();
  costs->table = "lat.json";
  costs->ms["fc1"] = {{1, 0.7}, {2, 0.8}, {4, 1.0}};
  costs->ms["fc2"] = {{1, 2.5}, {2, 3.0}, {4, 4.0}};
  SearchOptions latency;
  latency.target = Target{TargetKind::Latency, 0.5};
  Fixture f(latency, costs);
  EXPECT_NEAR(f.search->eta()[0], 0.8 * (1.0 / 4.0) + 0.2 * 1.0, 1e-12);
  EXPECT_NEAR(f.search->eta()[1], 0.8 * 1.0 + 0.2 * (0.40 / 0.55), 1e-12);
  EXPECT_DOUBLE_EQ(f.search->scheme().achieved(TargetKind::Latency), 0.0);
  fill_groups(f.model.fc1->weight, {1, 1.2f, 3, 4});
  f.search->check(0);
  f.search->check(100);  // fc1 -> 2:4: its time 0.8 of the 4.0 now largest
  ASSERT_EQ(f.search->scheme().layers[0].N, 2);
  EXPECT_NEAR(f.search->eta()[0], 0.8 * (0.8 / 4.0) + 0.2 * (0.05 / 0.40), 1e-12);
  EXPECT_NEAR(f.search->scheme().achieved(TargetKind::Latency), 1 - (0.8 + 4.0) / 5.0, 1e-12);
  expect_error_containing([&] { Fixture without_table(latency); }, {"latency target", "--latency-table"});
}

TEST(Search, ForwardMasksWithNIntAndPenaltyHitsSurvivors) {
  Fixture f;
  fill_groups(f.model.fc1->weight, {1, 1.2f, 3, 4});
  f.search->check(0);
  f.search->check(100);  // fc1: N_int = N = 2; fc2: N_int = 3
  auto x = torch::randn({3, 8});
  auto out = f.model.forward(x);
  const auto w1 = f.model.fc1->weight.detach(), w2 = f.model.fc2->weight.detach();
  const auto m1 = nm_mask(w1, 2, 4, Layout::NHWC), m2 = nm_mask(w2, 3, 4, Layout::NHWC);
  EXPECT_TRUE(torch::allclose(out, torch::matmul(torch::matmul(x, (w1 * m1).t()), (w2 * m2).t())));
  f.model.zero_grad();
  out.sum().backward();
  const auto grad_data = f.model.fc1->weight.grad().clone();
  EXPECT_EQ((grad_data * (1 - m1)).abs().sum().item<float>(), 0.0f);  // pruned weights get no gradient

  f.search->apply_penalty(5);
  const auto expect = grad_data + 0.1 * f.search->eta()[0] * w1 * m1;
  EXPECT_TRUE(torch::allclose(f.model.fc1->weight.grad(), expect));
  EXPECT_DOUBLE_EQ(search_lambda(0.1, 29999), 0.1);
  EXPECT_DOUBLE_EQ(search_lambda(0.1, 30000), 0.2);
  EXPECT_DOUBLE_EQ(search_lambda(0.1, 45000), 0.4);
  EXPECT_DOUBLE_EQ(search_lambda(0.1, 80000), 6.4);
  EXPECT_DOUBLE_EQ(search_lambda(0.1, 500000), 6.4);
}

TEST(Search, StateRoundTripsThroughACheckpointDict) {
  Fixture f;
  fill_groups(f.model.fc1->weight, {1, 1.2f, 3, 4});
  f.search->check(0);
  f.search->check(100);
  auto extra = make_generic_dict();
  f.search->save_state(extra);
  Fixture g;
  g.search->load_state(extra);
  EXPECT_EQ(g.search->n_int(0), 2);
  EXPECT_EQ(g.search->n_int(1), 3);
  EXPECT_EQ(g.search->scheme().layers[0].N, 2);
  EXPECT_EQ(to_json(g.search->scheme().decisions), to_json(f.search->scheme().decisions));
  EXPECT_EQ(g.search->eta(), f.search->eta());
  expect_error_containing([&] { g.search->load_state(make_generic_dict()); }, {"no search state"});
}

// A scheme as JSON without the wall-clock facts of the run that made it.
nlohmann::json without_timing(Scheme s) {
  s.run.erase("seconds");
  return to_json(s);
}

// Whole searches on a tiny dense model, with settings that make dominoes fall quickly.
class SearchJobs : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    test::write_tiny_mnist(dir_->path() / "data", 128, 40);
    TrainConfig c;
    c.model = "resnet8";
    c.dataset = "mnist";
    c.data_dir = (dir_->path() / "data").string();
    c.epochs = 2;
    c.batch_size = 16;
    c.lr = 0.05;
    c.threads = 1;
    c.out = (dir_->path() / "dense").string();
    run_train_job(c);
  }
  static void TearDownTestSuite() { delete dir_; }

  SearchJob job(const std::string& out, int64_t budget = 3000) const {
    SearchJob j;
    j.checkpoint = checkpoint_path((dir_->path() / "dense").string());
    j.options.target = Target{TargetKind::Params, 0.75};
    j.options.M = 8;
    j.options.lambda = 2.0;
    j.options.kp = 1;
    j.options.kc = 10;
    j.train.lr = 0.05;
    j.train.batch_size = 16;
    j.train.max_iters = budget;
    j.train.threads = 1;
    j.train.out = (dir_->path() / out).string();
    return j;
  }
  static test::TempDir* dir_;
};
test::TempDir* SearchJobs::dir_ = nullptr;

TEST_F(SearchJobs, ReachesTheTargetWithCandidatesAndIsReproducible) {
  const auto a = run_search_job(job("a"));
  const auto b = run_search_job(job("b"));
  const auto& s = a.scheme;
  EXPECT_GE(s.param_sparsity(), 0.75 - 0.001);
  EXPECT_FALSE(s.decisions.empty());
  for (const auto& l : s.layers) EXPECT_TRUE(l.N == 1 || l.N == 2 || l.N == 4 || l.N == 8) << l.name << " " << l.N;
  EXPECT_EQ(without_timing(a.scheme), without_timing(b.scheme));  // same seed, same threads: same scheme and log
  EXPECT_EQ(to_json(load_scheme(a.scheme_path)), to_json(a.scheme));
  EXPECT_LT(a.iterations, 3000);
}

TEST_F(SearchJobs, BudgetRunsOutWithAClearErrorThenResumesToTheSameScheme) {
  const auto whole = run_search_job(job("whole"));
  const int64_t stop = whole.iterations / 2;
  expect_error_containing([&] { run_search_job(job("split", stop)); },
                          {fmt::format("budget of {} iterations ran out", stop), "scheme.json", "--resume"});
  const auto partial = load_scheme((dir_->path() / "split" / "scheme.json").string());  // the last scheme is written
  EXPECT_LT(partial.param_sparsity(), 0.75 - 0.001);
  auto rest = job("split");
  rest.train.resume = true;
  const auto resumed = run_search_job(rest);
  EXPECT_EQ(resumed.iterations, whole.iterations);
  auto strip = [](Scheme s) {
    s.options.erase("max_iters");
    return without_timing(s);
  };
  EXPECT_EQ(strip(resumed.scheme), strip(whole.scheme));
}

TEST_F(SearchJobs, UnreachableTargetsAreRefusedBeforeTraining) {
  auto j = job("refused");
  j.options.target = Target{TargetKind::Params, 0.95};  // above 1 - 1/M for M = 8
  expect_error_containing([&] { run_search_job(j); }, {"params:0.95 cannot be reached", "1:8"});
  EXPECT_FALSE(test::fs::exists(dir_->path() / "refused" / "checkpoint.pt"));
  j = job("excluded");
  j.options.exclude = {"*"};
  expect_error_containing([&] { run_search_job(j); }, {"cannot be reached"});
  j = job("mismatch");
  j.checkpoint = (dir_->path() / "missing.pt").string();
  expect_error_containing([&] { run_search_job(j); }, {"missing.pt", "not found"});
}

TEST_F(SearchJobs, ALatencyTargetIsMetByTheTableAndTheSchemeRecordsIt) {
  auto j = job("latency");
  j.options.target = Target{TargetKind::Latency, 0.6};
  expect_error_containing([&] { run_search_job(j); }, {"latency:0.6 needs a latency table", "domino latency-table"});
  j.options.latency_table = test::write_latency_table(*dir_);
  const auto r = run_search_job(j);
  EXPECT_GE(r.scheme.latency_reduction(), 0.6 - 0.001);
  EXPECT_FALSE(r.scheme.decisions.empty());
  // The stem, timed alike at every N (the engine runs it dense), is not pruned for nothing.
  const auto stem = std::find_if(r.scheme.layers.begin(), r.scheme.layers.end(), [](const auto& l) { return l.name == "conv1"; });
  ASSERT_NE(stem, r.scheme.layers.end());
  EXPECT_EQ(stem->N, stem->M);
  EXPECT_FALSE(stem->searchable);
  EXPECT_NE(stem->note.find("the engine runs it dense"), std::string::npos) << stem->note;
  for (const auto& l : r.scheme.layers) EXPECT_TRUE(l.name == "conv1" || l.searchable) << l.name;
  const auto back = load_scheme(r.scheme_path);  // the table's name and times travel with the scheme
  ASSERT_TRUE(back.latency);
  EXPECT_EQ(back.latency->table, j.options.latency_table);
  EXPECT_DOUBLE_EQ(back.latency_reduction(), r.scheme.latency_reduction());
  EXPECT_EQ(to_json(back), to_json(r.scheme));

  // A stem of 100 ms that no N changes: 0.6 of the sum cannot be saved; refused before training.
  auto unreachable = job("latency-refused");
  unreachable.options.target = Target{TargetKind::Latency, 0.6};
  unreachable.options.latency_table = test::write_latency_table(*dir_, 100.0);
  expect_error_containing([&] { run_search_job(unreachable); }, {"latency:0.6 cannot be reached", "latency reduction"});
  EXPECT_FALSE(test::fs::exists(dir_->path() / "latency-refused" / "checkpoint.pt"));
  // A table of another M.
  auto other = job("latency-m4");
  other.options.M = 4;
  other.options.latency_table = j.options.latency_table;
  expect_error_containing([&] { run_search_job(other); }, {"measured for M = 8", "M = 4"});
}

TEST_F(SearchJobs, FixedNPolicyMapsTheResult) {
  auto j = job("fixedn");
  j.options.policy = Policy::FixedN;
  const auto r = run_search_job(j);
  EXPECT_EQ(r.scheme.policy, Policy::FixedN);
  for (const auto& l : r.scheme.layers) EXPECT_TRUE(l.N == 1 || l.N == l.M) << l.name;
  EXPECT_GE(r.scheme.param_sparsity(), 0.75 - 0.001);
}

}  // namespace
}  // namespace domino
