// Groups, masks, ERK, schemes and the baseline schemes (docs/ALGORITHM.md §1, §2.4, §2.6, §2.7).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "domino/models/models.h"
#include "domino/nm/baselines.h"
#include "domino/nm/nm.h"
#include "domino/nm/scheme.h"
#include "test_util.h"

namespace domino {
namespace {

using test::expect_error_containing;

// The specification: sort |w| descending, stable, keep the first N.
torch::Tensor sort_reference(const torch::Tensor& groups, int64_t N) {
  const auto order = std::get<1>(groups.abs().sort(/*stable=*/true, /*dim=*/1, /*descending=*/true));
  auto keep = torch::zeros_like(groups, torch::kBool);
  keep.scatter_(1, order.narrow(1, 0, N), true);
  return keep;
}

TEST(TopNMask, BitIdenticalToStableSortWithTies) {
  torch::manual_seed(3);
  for (int64_t M : {4, 8, 16, 32})
    for (int64_t N = 1; N < M; ++N) {
      // Few distinct values and signs make ties common, between w and -w too.
      auto groups = (torch::randint(-3, 4, {500, M}) * 0.5).to(torch::kFloat);
      const auto expect = sort_reference(groups, N);
      EXPECT_TRUE(torch::equal(topn_mask(groups, N), expect)) << N << ":" << M;
      EXPECT_TRUE(torch::equal(topn_mask_tensor_ops(groups, N), expect)) << N << ":" << M;
      auto random = torch::randn({300, M}, torch::kDouble);
      EXPECT_TRUE(torch::equal(topn_mask(random, N), sort_reference(random, N)));
      EXPECT_EQ(topn_mask(groups, N).sum(1).eq(N).all().item<bool>(), true);
    }
}

// The AVX-512 kernel (float, M = 16k, where the CPU has it) and the portable one agree bit
// for bit, ties and signed zeros included, for bool masks and for in-place float masks.
TEST(TopNMask, VectorAndPortableKernelsAgree) {
  torch::manual_seed(4);
  for (int64_t M : {16, 32, 64})
    for (int64_t N : {1, 2, 3, 5, 8, 15}) {
      auto ties = (torch::randint(-3, 4, {700, M}) * 0.5).to(torch::kFloat);
      ties.index_put_({0}, -0.0f);  // a group of signed zeros
      const auto random = torch::randn({700, M});
      const auto weight = torch::randn({64, M, 3, 3}).contiguous(c10::MemoryFormat::ChannelsLast);
      set_topn_vectorised(false);
      const auto a = topn_mask(ties, N), b = topn_mask(random, N), c = nm_mask(weight, N, M, Layout::NHWC);
      set_topn_vectorised(true);
      EXPECT_TRUE(torch::equal(a, sort_reference(ties, N))) << N << ":" << M;
      EXPECT_TRUE(torch::equal(topn_mask(ties, N), a)) << N << ":" << M;
      EXPECT_TRUE(torch::equal(topn_mask(random, N), b)) << N << ":" << M;
      EXPECT_TRUE(torch::equal(nm_mask(weight, N, M, Layout::NHWC), c)) << N << ":" << M;
    }
}

TEST(TopNMask, TiesGoToTheLowerIndex) {
  const auto groups = torch::tensor({{1.0f, -2.0f, 2.0f, 2.0f}, {0.0f, 0.0f, 0.0f, 0.0f}});
  EXPECT_TRUE(torch::equal(topn_mask(groups, 2), torch::tensor({{false, true, true, false}, {true, true, false, false}})));
}

TEST(Layouts, NhwcGroupsRunAlongInputChannels) {
  // w[o][c][h][w] = 1000o + 100c + 10h + w, so each value names its position.
  auto w = torch::empty({2, 4, 1, 2});
  for (int o = 0; o < 2; ++o)
    for (int c = 0; c < 4; ++c)
      for (int x = 0; x < 2; ++x) w[o][c][0][x] = 1000 * o + 100 * c + x;
  const auto nhwc = to_groups(w, 4, Layout::NHWC);
  ASSERT_EQ(nhwc.sizes(), (std::vector<int64_t>{4, 4}));
  EXPECT_TRUE(torch::equal(nhwc[0], torch::tensor({0.f, 100.f, 200.f, 300.f})));  // o=0, x=0, c=0..3
  EXPECT_TRUE(torch::equal(nhwc[1], torch::tensor({1.f, 101.f, 201.f, 301.f})));
  const auto nchw = to_groups(w, 4, Layout::NCHW);
  EXPECT_TRUE(torch::equal(nchw[0], torch::tensor({0.f, 1.f, 100.f, 101.f})));  // native order
  EXPECT_TRUE(torch::equal(from_groups(nhwc, w.sizes(), Layout::NHWC), w));
  EXPECT_TRUE(torch::equal(from_groups(nchw, w.sizes(), Layout::NCHW), w));
  auto linear = torch::arange(8.0f).view({2, 4});
  EXPECT_TRUE(torch::equal(to_groups(linear, 4, Layout::NHWC), linear));
  EXPECT_TRUE(torch::equal(to_groups(linear, 4, Layout::NCHW), linear));
}

TEST(Layouts, MaskFollowsTheLayoutsGroups) {
  auto w = torch::zeros({1, 4, 1, 2});  // NHWC groups: (x=0: c0..c3), (x=1: c0..c3)
  w[0][2][0][0] = 5;
  w[0][3][0][0] = 4;
  w[0][0][0][1] = 3;
  w[0][1][0][1] = -6;
  const auto mask = nm_mask(w, 1, 4, Layout::NHWC);
  EXPECT_EQ(mask.sum().item<float>(), 2);
  EXPECT_EQ(mask[0][2][0][0].item<float>(), 1);
  EXPECT_EQ(mask[0][1][0][1].item<float>(), 1);
  const auto native = nm_mask(w, 1, 4, Layout::NCHW);  // groups (c0,c1 x both), (c2,c3 x both)
  EXPECT_EQ(native[0][1][0][1].item<float>(), 1);
  EXPECT_EQ(native[0][2][0][0].item<float>(), 1);
  EXPECT_TRUE(groups_cross_rows({8, 3, 3, 3}, 16));
  EXPECT_FALSE(groups_cross_rows({8, 16, 3, 3}, 16));
  EXPECT_FALSE(groupable({10, 3}, 4));
  expect_error_containing([] { to_groups(torch::zeros({10, 3}), 4, Layout::NHWC); }, {"30 elements", "groups of 4"});
}

// Supplementary Figures 1-2: same 50 % sparsity, larger M keeps more of the L1 norm.
TEST(WorkedExample, TwoOfFourKeepsMoreThanOneOfTwo) {
  const auto w = torch::tensor({0.0104, 0.0114, 0.0020, 0.0061, 0.0212, 0.0748, 0.0368, 0.0898, 0.0854, 0.1751, 0.0406,
                                0.0450, 0.0896, 0.0169, 0.0, 0.0177}, torch::kDouble).view({4, 4});
  const double l1_2_4 = (w * nm_mask(w, 2, 4, Layout::NHWC)).abs().sum().item<double>();
  const double l1_1_2 = (w * nm_mask(w, 1, 2, Layout::NHWC)).abs().sum().item<double>();
  EXPECT_NEAR(l1_2_4, 0.5542, 1e-9);
  EXPECT_NEAR(l1_1_2, 0.5095, 1e-9);
}

TEST(Erk, MatchesHandWorkedValues) {
  // [4,8]: p = 12/32, n = 32; [4,4]: p = 8/16, n = 16; s = 0.5:
  // ε = ((32-16) + (16-8)) / (0.375*32 + 0.5*16) = 24/20 = 1.2 -> s = 1 - 1.2p.
  auto s = erk_sparsities({{4, 8}, {4, 4}}, 0.5);
  EXPECT_NEAR(s[0], 0.55, 1e-12);
  EXPECT_NEAR(s[1], 0.40, 1e-12);
  // [2,2]: p = 1, n = 4; [16,16]: p = 1/8, n = 256; s = 0.5: first ε = 130/36 > 1 for p = 1,
  // so [2,2] is made dense and ε = (128 - 2) / 32 = 3.9375.
  s = erk_sparsities({{2, 2}, {16, 16}}, 0.5);
  EXPECT_EQ(s[0], 0.0);
  EXPECT_NEAR(s[1], 1 - 3.9375 / 8, 1e-12);
  // Conv: [8, 4, 3, 3]: p = 18/288, n = 288; linear [10, 8]: p = 18/80, n = 80; s = 0.75:
  // ε = ((288-216) + (80-60)) / (18 + 18) = 92/36.
  s = erk_sparsities({{8, 4, 3, 3}, {10, 8}}, 0.75);
  EXPECT_NEAR(s[0], 1 - (92.0 / 36) * 18 / 288, 1e-12);
  EXPECT_NEAR(s[1], 1 - (92.0 / 36) * 18 / 80, 1e-12);
}

LayerTable small_table() {
  LayerTable t;
  t.input = {3, 8, 8};
  auto add = [&](std::string name, std::string kind, std::vector<int64_t> shape, int64_t flops) {
    LayerInfo l;
    l.name = std::move(name);
    l.kind = kLayerKinds.parse(kind, "layer kind");
    l.weight_shape = std::move(shape);
    l.params = c10::multiply_integers(l.weight_shape);
    l.flops = flops;
    t.layers.push_back(l);
  };
  add("conv1", "conv", {16, 3, 3, 3}, 27648);      // 432 weights: groups cross rows (27 a row)
  add("layer1.conv", "conv", {32, 16, 3, 3}, 73728);
  add("odd", "conv", {5, 3, 1, 1}, 960);           // 15 weights: not a multiple of 16
  add("fc", "linear", {10, 32}, 330);
  return t;
}

TEST(Scheme, DenseSchemeMarksWhatCannotBeSearched) {
  const auto s = dense_scheme(small_table(), 16, Layout::NHWC, {"layer1.*"});
  ASSERT_EQ(s.layers.size(), 4u);
  EXPECT_TRUE(s.layers[0].searchable);
  EXPECT_NE(s.layers[0].note.find("groups cross rows"), std::string::npos);
  EXPECT_FALSE(s.layers[1].searchable);
  EXPECT_NE(s.layers[1].note.find("excluded by 'layer1.*'"), std::string::npos);
  EXPECT_FALSE(s.layers[2].searchable);
  EXPECT_NE(s.layers[2].note.find("not a multiple of M=16"), std::string::npos);
  EXPECT_EQ(s.param_sparsity(), 0.0);
}

TEST(Scheme, BudgetsFollowTheDefinitions) {
  auto s = dense_scheme(small_table(), 16, Layout::NHWC);
  s.layers[0].N = 4;  // 432 -> 108 params, 27648 -> 6912 FLOPs
  s.layers[1].N = 2;  // 4608 -> 576, 73728 -> 9216
  const double dense_p = 432 + 4608 + 15 + 320, sparse_p = 108 + 576 + 15 + 320;
  EXPECT_NEAR(s.param_sparsity(), 1 - sparse_p / dense_p, 1e-12);
  EXPECT_NEAR(s.flops_reduction(), 1 - (6912.0 + 9216 + 960 + 330) / (27648.0 + 73728 + 960 + 330), 1e-12);
}

TEST(Scheme, JsonRoundTripAndMalformedFiles) {
  test::TempDir dir;
  auto s = uniform_scheme(dense_scheme(small_table(), 16, Layout::NCHW), 4);
  s.model = "m";
  s.dataset = "d";
  s.target = Target{TargetKind::Flops, 0.7};
  s.decisions.push_back({300, "fc", 8, 0.1, 0.2});
  save_scheme(s, dir / "s.json");
  const auto back = load_scheme(dir / "s.json");
  EXPECT_EQ(to_json(back), to_json(s));
  EXPECT_EQ(back.layout, Layout::NCHW);
  test::write_bytes(dir / "bad.json", {'{', '"', 'x', '"', ':', '1', '}'});
  expect_error_containing([&] { load_scheme(dir / "bad.json"); }, {"bad.json", "not a scheme file"});
  auto j = to_json(s);
  j["layers"][0]["N"] = 17;
  std::ofstream(dir / "n.json") << j.dump();
  expect_error_containing([&] { load_scheme(dir / "n.json"); }, {"conv1", "N=17"});
  j = to_json(s);
  j["layers"][0].erase("shape");
  std::ofstream(dir / "m.json") << j.dump();
  expect_error_containing([&] { load_scheme(dir / "m.json"); }, {"malformed", "shape"});
  std::ofstream(dir / "junk.json") << "not json at all";
  expect_error_containing([&] { load_scheme(dir / "junk.json"); }, {"junk.json", "malformed"});
}

TEST(Scheme, ReadsTheAuthorsFormatCheckingShapes) {
  const auto table = small_table();
  const std::string text =
      "{'SparseConv0_3-16-(3, 3)': [16, 16], 'SparseConv1_16-32-(3, 3)': [4, 16], 'SparseConv2_3-5-(1, 1)': [5, 5],\n"
      " 'Linear0_32-10': [2, 16]}";
  const auto s = parse_authors_scheme(text, table, "a.txt");
  EXPECT_EQ(s.layers[1].N, 4);
  EXPECT_EQ(s.layers[3].N, 2);
  EXPECT_EQ(s.layers[2].M, 5);
  expect_error_containing([&] { parse_authors_scheme("{'SparseConv0_3-16-(3, 3)': [16, 16]}", table, "a.txt"); },
                          {"lists 1 layers", "4 prunable"});
  const std::string wrong = "{'SparseConv0_3-16-(5, 5)': [16, 16], 'SparseConv1_16-32-(3, 3)': [4, 16], "
                            "'SparseConv2_3-5-(1, 1)': [5, 5], 'Linear0_32-10': [2, 16]}";
  expect_error_containing([&] { parse_authors_scheme(wrong, table, "a.txt"); }, {"SparseConv0_3-16-(5, 5)", "does not match", "conv1"});
  expect_error_containing([&] { parse_authors_scheme("{'Linear0_32-10' [2, 16]}", table, "a.txt"); }, {"malformed", "expected ':'"});
}

TEST(Baselines, UniformErkAndFixedN) {
  const auto base = dense_scheme(small_table(), 16, Layout::NHWC);
  const auto u = uniform_scheme(base, 2);
  EXPECT_EQ(u.layers[0].N, 2);
  EXPECT_EQ(u.layers[2].N, u.layers[2].M);  // not groupable: stays dense
  const Target target{TargetKind::Params, 0.8};
  const auto e = erk_scheme(base, target, candidate_ns(16, CandidateSet::Pow2));
  EXPECT_GE(e.param_sparsity(), 0.8 - 0.001);
  for (const auto& l : e.layers) EXPECT_TRUE(l.N == 1 || l.N == 2 || l.N == 4 || l.N == 8 || l.N == 16);
  EXPECT_GT(e.layers[0].N, e.layers[1].N);  // ERK keeps the small first layer denser
  auto fixed_m = base;
  fixed_m.layers[0].N = 8;
  fixed_m.layers[1].N = 2;
  fixed_m.layers[3].N = 1;
  const auto fixed_n = to_fixed_n(fixed_m);
  EXPECT_EQ(fixed_n.policy, Policy::FixedN);
  EXPECT_EQ(std::make_pair(fixed_n.layers[0].N, fixed_n.layers[0].M), std::make_pair(int64_t{1}, int64_t{2}));
  EXPECT_EQ(std::make_pair(fixed_n.layers[1].N, fixed_n.layers[1].M), std::make_pair(int64_t{1}, int64_t{8}));
  EXPECT_EQ(std::make_pair(fixed_n.layers[3].N, fixed_n.layers[3].M), std::make_pair(int64_t{1}, int64_t{16}));
  EXPECT_NEAR(fixed_n.param_sparsity(), fixed_m.param_sparsity(), 1e-12);  // same densities
  auto odd = base;
  odd.layers[0].N = 3;
  expect_error_containing([&] { to_fixed_n(odd); }, {"N to divide M", "3:16"});
  EXPECT_EQ(candidate_ns(8, CandidateSet::All).size(), 8u);
  expect_error_containing([] { candidate_ns(12, CandidateSet::Pow2); }, {"power of two"});
  expect_error_containing([] { parse_target("params"); }, {"params:S"});
  expect_error_containing([] { parse_target("flops:1.5"); }, {"between 0 and 1"});
  EXPECT_NEAR(reachable(base, TargetKind::Params, 1), 1 - (27.0 + 4608 / 16 + 15 + 20) / (432 + 4608 + 15 + 320), 1e-12);
}

}  // namespace
}  // namespace domino
