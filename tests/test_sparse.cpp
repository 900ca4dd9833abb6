// SR-STE, fine-tuning, export (PyTorch and compressed N:M) and verification.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "domino/jobs/finetune_job.h"
#include "domino/jobs/train_job.h"
#include "domino/nm/baselines.h"
#include "domino/sparse/export.h"
#include "domino/sparse/finetune.h"
#include "domino/sparse/srste.h"
#include "test_util.h"

namespace domino {
namespace {

using test::expect_error_containing;

TEST(SrSte, ForwardIsMaskedAndGradientFollowsTheFormula) {
  torch::manual_seed(5);
  auto w = torch::randn({6, 8}, torch::requires_grad());
  const auto upstream = torch::randn({6, 8});
  const auto eff = srste_weight(w, 2, 4, Layout::NHWC, 0.0005);
  const auto mask = nm_mask(w.detach(), 2, 4, Layout::NHWC);
  EXPECT_TRUE(torch::equal(eff.detach(), w.detach() * mask));
  (eff * upstream).sum().backward();
  // ∂L/∂W = ∂L/∂W_eff (straight through, all weights) + λ_w (1 - mask) ⊙ W.
  EXPECT_TRUE(torch::allclose(w.grad(), upstream + 0.0005 * (1 - mask) * w.detach(), 1e-6, 1e-7));
  EXPECT_GT(((1 - mask) * w.grad()).abs().sum().item<float>(), 0.0f);  // pruned weights still learn
}

TEST(SrSte, MaskIsRecomputedEveryForward) {
  auto w = torch::tensor({{1.0f, 2.0f, 3.0f, 4.0f}}, torch::requires_grad());
  EXPECT_TRUE(torch::equal(srste_weight(w, 2, 4, Layout::NHWC).detach(), torch::tensor({{0.0f, 0.0f, 3.0f, 4.0f}})));
  {
    torch::NoGradGuard no_grad;
    w[0][0] = 10.0f;
  }
  EXPECT_TRUE(torch::equal(srste_weight(w, 2, 4, Layout::NHWC).detach(), torch::tensor({{10.0f, 0.0f, 0.0f, 4.0f}})));
}

TEST(NmFormat, RoundTripsToTheDenseTensorAndReportsItsSize) {
  test::TempDir dir;
  torch::manual_seed(1);
  auto model = make_model("resnet8", {1, 10});
  const auto table = build_layer_table(*model, {1, 28, 28});
  auto scheme = uniform_scheme(dense_scheme(table, 8, Layout::NHWC), 2);
  scheme.layers[1].N = 8;  // one dense layer: not in the file
  const auto state = pruned_state(module_state(*model), scheme);
  const auto layers = compress_nm(state, scheme);
  ASSERT_EQ(layers.size(), table.layers.size() - 1);
  write_nm(layers, dir / "w.nm");
  const auto back = read_nm(dir / "w.nm");
  ASSERT_EQ(back.size(), layers.size());
  int64_t dense_bytes = 0;
  for (const auto& l : back) {
    EXPECT_TRUE(torch::equal(decompress_nm(l), state.at(l.name + ".weight"))) << l.name;
    EXPECT_TRUE(l.indices.lt(8).all().item<bool>());
    dense_bytes += c10::multiply_integers(l.shape) * 4;
  }
  EXPECT_DOUBLE_EQ(static_cast<double>(dense_bytes) / static_cast<double>(nm_payload_bytes(back)), 32.0 / 10.0);  // 4M / (4N + N)
  auto bytes = std::vector<uint8_t>(test::fs::file_size(dir / "w.nm"));
  std::ifstream(dir / "w.nm", std::ios::binary).read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  bytes.resize(bytes.size() - 7);
  test::write_bytes(dir / "cut.nm", bytes);
  expect_error_containing([&] { read_nm(dir / "cut.nm"); }, {"cut.nm", "truncated"});
  test::write_bytes(dir / "junk.nm", {'X', 'Y', 'Z', 'W', 1, 0, 0, 0});
  expect_error_containing([&] { read_nm(dir / "junk.nm"); }, {"junk.nm", "bad magic"});
}

class FinetuneJobs : public ::testing::Test {
 protected:
  void SetUp() override {
    test::write_tiny_mnist(dir_.path() / "data", 96, 40);
    TrainConfig c;
    c.model = "resnet8";
    c.dataset = "mnist";
    c.data_dir = (dir_.path() / "data").string();
    c.epochs = 1;
    c.batch_size = 16;
    c.threads = 1;
    c.out = (dir_.path() / "dense").string();
    dense_ = c;
    run_train_job(c);
  }
  FinetuneJob job(const std::string& scheme_path) {
    FinetuneJob j;
    j.checkpoint = checkpoint_path(dense_.out);
    j.scheme = scheme_path;
    j.config = finetune_recipe("cifar", dense_);
    j.config.epochs = 2;
    j.config.batch_size = 16;
    j.config.out = (dir_.path() / "ft").string();
    return j;
  }
  Scheme uniform(int64_t N) {
    auto model = make_model("resnet8", {1, 10});
    auto s = uniform_scheme(dense_scheme(build_layer_table(*model, {1, 28, 28}), 8, Layout::NHWC), N);
    s.model = "resnet8";
    s.dataset = "mnist";
    return s;
  }
  test::TempDir dir_;
  TrainConfig dense_;
};

TEST_F(FinetuneJobs, ExportedWeightsPassVerifyAndOneBrokenGroupFails) {
  save_scheme(uniform(2), dir_ / "u.json");
  const auto r = run_finetune_job(job(dir_ / "u.json"));
  EXPECT_EQ(r.train.iterations, 12);
  EXPECT_NEAR(r.scheme.param_sparsity(), 0.75, 1e-12);
  const auto pruned = load_checkpoint(r.pruned);
  ASSERT_TRUE(scheme_of(pruned, r.pruned).has_value());
  for (const auto& c : verify_nm(pruned.model_state, r.scheme)) EXPECT_EQ(c.broken_groups, 0) << c.name;

  export_pytorch(pruned_state(pruned.model_state, r.scheme), dir_ / "w.pt");
  auto weights = load_weights(dir_ / "w.pt");
  const auto checks = verify_nm(weights, r.scheme);
  ASSERT_EQ(checks.size(), r.scheme.layers.size());
  for (const auto& c : checks) {
    EXPECT_EQ(c.broken_groups, 0) << c.name;
    EXPECT_LE(c.nonzeros, c.elements * c.N / c.M) << c.name;
  }
  auto w = weights.at("layer2.0.conv1.weight").clone();
  const auto groups = to_groups(w, 8, Layout::NHWC);
  groups[3].fill_(0.5f);  // group 3 now has 8 non-zeros instead of at most 2
  weights.insert_or_assign("layer2.0.conv1.weight", from_groups(groups, w.sizes(), Layout::NHWC));
  const auto broken = verify_nm(weights, r.scheme);
  const auto& bad = *std::find_if(broken.begin(), broken.end(), [](const LayerCheck& c) { return c.name == "layer2.0.conv1"; });
  EXPECT_EQ(bad.broken_groups, 1);
  EXPECT_EQ(bad.first_broken, 3);
}

TEST_F(FinetuneJobs, PyTorchLoadsTheExportWithNamesShapesAndValues) {
  save_scheme(uniform(1), dir_ / "u.json");
  const auto r = run_finetune_job(job(dir_ / "u.json"));
  const auto state = pruned_state(load_checkpoint(r.pruned).model_state, r.scheme);
  export_pytorch(state, dir_ / "w.pt");
  // Debian's interpreter: python3-torch is installed for it, not for other pythons on PATH.
  const std::string script =
      "import json, sys, torch\n"
      "d = torch.load(sys.argv[1])\n"
      "assert isinstance(d, dict), type(d)\n"
      "print(json.dumps({k: [list(v.shape), float(v.double().abs().sum()), int((v != 0).sum())] for k, v in d.items()}))\n";
  std::ofstream(dir_ / "load.py") << script;
  const auto py = test::run_command("/usr/bin/python3 " + (dir_ / "load.py") + " " + (dir_ / "w.pt"));
  ASSERT_EQ(py.exit_code, 0) << py.output;
  const auto seen = nlohmann::json::parse(py.output);
  ASSERT_EQ(seen.size(), state.size());
  for (const auto& item : state) {
    ASSERT_TRUE(seen.contains(item.key())) << item.key();
    const auto& [shape, l1, nonzeros] = std::tuple{seen[item.key()][0], seen[item.key()][1], seen[item.key()][2]};
    EXPECT_EQ(shape.get<std::vector<int64_t>>(), item.value().sizes().vec()) << item.key();
    EXPECT_NEAR(l1.get<double>(), item.value().to(torch::kDouble).abs().sum().item<double>(), 1e-6) << item.key();
    EXPECT_EQ(nonzeros.get<int64_t>(), item.value().ne(0).sum().item<int64_t>()) << item.key();
  }
  EXPECT_EQ(seen["layer1.0.conv1.weight"][2].get<int64_t>(), 16 * 16 * 9 / 8);  // 1:8
}

TEST_F(FinetuneJobs, MismatchedOrUnreadableSchemesWriteNothing) {
  auto model = make_model("resnet20", {1, 10});
  auto other = uniform_scheme(dense_scheme(build_layer_table(*model, {1, 28, 28}), 8, Layout::NHWC), 2);
  save_scheme(other, dir_ / "other.json");
  expect_error_containing([&] { run_finetune_job(job(dir_ / "other.json")); }, {"other.json", "22 layers", "10 prunable"});
  EXPECT_FALSE(test::fs::exists(dir_.path() / "ft"));
  expect_error_containing([&] { run_finetune_job(job(dir_ / "none.json")); }, {"none.json", "not found"});
  auto j = uniform(2);
  auto jj = to_json(j);
  jj["layers"][0]["M"] = 7;  // 144 weights: not a multiple of 7
  std::ofstream(dir_ / "m7.json") << jj.dump();
  expect_error_containing([&] { run_finetune_job(job(dir_ / "m7.json")); }, {"m7.json", "not a multiple of M=7"});
  EXPECT_FALSE(test::fs::exists(dir_.path() / "ft"));
}

}  // namespace
}  // namespace domino
