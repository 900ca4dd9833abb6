// Mixed precision and channels-last: what autocast computes in, what stays fp32, that N:M
// groups and masks ignore the memory layout, fp16 loss scaling, and that runs record and
// keep their precision across a resume.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <ATen/autocast_mode.h>

#include "domino/data/readers.h"
#include "domino/io/checkpoint.h"
#include "domino/jobs/eval_job.h"
#include "domino/jobs/search_job.h"
#include "domino/jobs/train_job.h"
#include "domino/models/layer_table.h"
#include "domino/nm/baselines.h"
#include "domino/nm/nm.h"
#include "domino/search/search.h"
#include "domino/sparse/srste.h"
#include "domino/train/loss_scaler.h"
#include "domino/train/precision.h"
#include "test_util.h"

namespace domino {
namespace {

using test::expect_error_containing;
const c10::Device kCpu(c10::kCPU);

TEST(Precision, NamesResolveAndFp16NeedsCuda) {
  EXPECT_EQ(resolve_precision("fp32", kCpu), Precision::FP32);
  EXPECT_EQ(resolve_precision("bf16", kCpu), Precision::BF16);
  EXPECT_EQ(resolve_precision("auto", kCpu), cpu_has_native_bf16() ? Precision::BF16 : Precision::FP32);
  expect_error_containing([] { resolve_precision("fp16", kCpu); }, {"fp16 needs a CUDA device", "bf16"});
  expect_error_containing([] { resolve_precision("half", kCpu); }, {"unknown precision 'half'", "auto, fp32, bf16, fp16"});
  EXPECT_EQ(to_string(Precision::BF16), "bf16");
  EXPECT_EQ(parse_memory_format("channels-last"), MemoryFormat::ChannelsLast);
  expect_error_containing([] { parse_memory_format("nhwc"); }, {"unknown memory format 'nhwc'", "channels-last, contiguous"});
}

TEST(Precision, AutocastRunsConvolutionsInBf16AndKeepsParametersFp32) {
  torch::manual_seed(0);
  auto model = make_model("resnet8", {1, 10});
  const auto x = torch::randn({2, 1, 28, 28});
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(1, 4, 3));
  {
    AutocastGuard guard(kCpu, Precision::BF16);
    EXPECT_TRUE(at::autocast::is_cpu_enabled());
    EXPECT_EQ(conv->forward(x).scalar_type(), torch::kBFloat16);
    const auto logits = model->forward(x);
    EXPECT_EQ(logits.scalar_type(), torch::kBFloat16);  // the final linear layer is autocast too
    {
      AutocastGuard fp32(kCpu, Precision::FP32);  // a no-op: autocast stays as it was
      EXPECT_TRUE(at::autocast::is_cpu_enabled());
    }
  }
  EXPECT_FALSE(at::autocast::is_cpu_enabled());
  EXPECT_EQ(conv->forward(x).scalar_type(), torch::kFloat);
  for (const auto& p : model->parameters()) EXPECT_EQ(p.scalar_type(), torch::kFloat);
  // bf16 keeps 8 bits of mantissa: the logits agree with fp32 to about 1e-2 relative.
  const auto exact = model->forward(x);
  at::Tensor low;
  {
    AutocastGuard guard(kCpu, Precision::BF16);
    low = model->forward(x).to(torch::kFloat);
  }
  EXPECT_LT((low - exact).abs().max().item<float>(), 0.05f * exact.abs().max().item<float>() + 1e-3f);
}

TEST(MemoryFormat, GroupsAndMasksDoNotDependOnTheLayoutInMemory) {
  torch::manual_seed(1);
  const auto w = torch::randn({32, 16, 3, 3});
  const auto cl = w.contiguous(c10::MemoryFormat::ChannelsLast);
  ASSERT_FALSE(cl.is_contiguous());
  for (const auto layout : {Layout::NHWC, Layout::NCHW}) {
    EXPECT_TRUE(torch::equal(to_groups(w, 16, layout), to_groups(cl, 16, layout)));
    for (const int64_t n : {1, 2, 4, 8}) {
      const auto a = nm_mask(w, n, 16, layout), b = nm_mask(cl, n, 16, layout);
      EXPECT_TRUE(torch::equal(a, b)) << to_string(layout) << " N=" << n;
      EXPECT_TRUE(b.is_contiguous(c10::MemoryFormat::ChannelsLast));  // the mask takes the weight's layout
      EXPECT_TRUE(a.is_contiguous());
    }
  }
  // SR-STE: the same forward and the same gradient for either layout.
  auto a = w.clone().requires_grad_(), b = cl.clone().requires_grad_();
  const auto g = torch::randn_like(w);
  const auto ya = srste_weight(a, 2, 16, Layout::NHWC), yb = srste_weight(b, 2, 16, Layout::NHWC);
  EXPECT_TRUE(torch::equal(ya, yb));
  ya.backward(g);
  yb.backward(g);
  EXPECT_TRUE(torch::equal(a.grad(), b.grad()));
}

TEST(MemoryFormat, ChannelsLastModelComputesTheSameAndSavesContiguous) {
  torch::manual_seed(2);
  auto model = make_model("resnet8", {1, 10});
  model->eval();
  const auto x = torch::randn({3, 1, 28, 28});
  const auto before = model->forward(x);
  const auto state_before = module_state(*model);
  set_memory_format(*model, MemoryFormat::ChannelsLast);
  int converted = 0;
  for (const auto& p : model->parameters())
    if (p.dim() == 4) {
      EXPECT_TRUE(p.is_contiguous(c10::MemoryFormat::ChannelsLast));
      ++converted;
    }
  EXPECT_GT(converted, 5);
  const auto after = model->forward(in_memory_format(x, MemoryFormat::ChannelsLast));
  EXPECT_TRUE(torch::allclose(before, after, 1e-4, 1e-5));
  for (const auto& item : module_state(*model)) {  // files do not depend on the layout
    EXPECT_TRUE(item.value().is_contiguous()) << item.key();
    EXPECT_TRUE(torch::equal(item.value(), state_before.at(item.key()))) << item.key();
  }
}

// A 1-channel batch is contiguous in both formats, so `contiguous(ChannelsLast)` kept its
// NCHW strides; with SR-STE's masked stem weight (whose strides are ambiguous too) LibTorch
// then ran the stem NCHW and the next convolution copied its input back (3 ms of a 40 ms
// bf16 step, 2026-12-03).
TEST(MemoryFormat, OneChannelBatchesTakeChannelsLastStridesAndKeepTheStemChannelsLast) {
  torch::manual_seed(3);
  const auto x = torch::randn({4, 1, 28, 28});
  const auto cl = in_memory_format(x, MemoryFormat::ChannelsLast);
  EXPECT_EQ(cl.suggest_memory_format(), c10::MemoryFormat::ChannelsLast);
  EXPECT_EQ(cl.strides(), at::empty_like(x, c10::MemoryFormat::ChannelsLast).strides());
  EXPECT_TRUE(torch::equal(cl, x));
  const auto back = in_memory_format(cl, MemoryFormat::Contiguous);
  EXPECT_EQ(back.strides(), x.strides());
  EXPECT_TRUE(in_memory_format(back, MemoryFormat::Contiguous).is_same(back));  // no copy when already so
  EXPECT_TRUE(in_memory_format(cl, MemoryFormat::ChannelsLast).is_same(cl));

  auto model = make_model("resnet8", {1, 10});
  set_memory_format(*model, MemoryFormat::ChannelsLast);
  install_srste(*model, uniform_scheme(dense_scheme(build_layer_table(*model, {1, 28, 28}), 16, Layout::NHWC), 2));
  std::shared_ptr<PrunableConv2dImpl> stem;
  for (const auto& m : model->named_modules())
    if (m.key() == "conv1") stem = std::dynamic_pointer_cast<PrunableConv2dImpl>(m.value());
  ASSERT_TRUE(stem);
  ASSERT_NE(stem->effective_weight().suggest_memory_format(), c10::MemoryFormat::ChannelsLast);  // the ambiguous weight
  for (const auto precision : {Precision::FP32, Precision::BF16}) {
    AutocastGuard autocast(kCpu, precision);
    EXPECT_EQ(stem->forward(cl).suggest_memory_format(), c10::MemoryFormat::ChannelsLast) << to_string(precision);
  }
}

TEST(LossScaler, ScalesUnscalesSkipsOnOverflowAndGrows) {
  LossScaler off(false);
  const auto loss = torch::tensor(2.0);
  EXPECT_TRUE(torch::equal(off.scale(loss), loss));
  auto p = torch::ones({3}).requires_grad_();
  p.mutable_grad() = torch::full({3}, 8.0);
  EXPECT_TRUE(off.unscale({p}));
  EXPECT_EQ(p.grad()[0].item<double>(), 8.0);  // untouched

  LossScaler on(true, {1024.0, 0}, /*interval=*/2);
  EXPECT_EQ(on.scale(loss).item<double>(), 2048.0);
  p.mutable_grad() = torch::full({3}, 2048.0);
  EXPECT_TRUE(on.unscale({p}));
  EXPECT_EQ(p.grad()[0].item<double>(), 2.0);
  EXPECT_EQ(on.state().scale, 1024.0);
  p.mutable_grad() = torch::tensor({1.0, std::numeric_limits<double>::infinity(), 1.0}).to(torch::kFloat);
  EXPECT_FALSE(on.unscale({p}));  // the step must be skipped
  EXPECT_EQ(on.state().scale, 512.0);
  EXPECT_EQ(on.state().good_steps, 0);
  p.mutable_grad() = torch::ones({3});
  EXPECT_TRUE(on.unscale({p}));
  EXPECT_TRUE(on.unscale({p}));
  EXPECT_EQ(on.state().scale, 1024.0);  // two good steps: grows back
}

TrainConfig tiny(const test::TempDir& dir, const std::string& out, const std::string& precision) {
  auto c = test::tiny_train_config(dir, out);
  c.epochs = 2;
  c.precision = precision;
  return c;
}

nlohmann::json read_json(const std::string& path) {
  const auto bytes = read_file_bytes(path);
  return nlohmann::json::parse(bytes.begin(), bytes.end());
}

TEST(PrecisionRuns, Bf16RunResumesExactlyAndRecordsItsPrecision) {
  test::TempDir dir;
  const auto whole = run_train_job(tiny(dir, "whole", "bf16"));
  EXPECT_LT(whole.train.loss, 2.3);  // it learns (the loss of a uniform guess is ln 10 = 2.30)
  auto first = tiny(dir, "split", "bf16");
  first.max_iters = 7;
  run_train_job(first);
  auto rest = tiny(dir, "split", "bf16");
  rest.resume = true;
  run_train_job(rest);
  const auto x = load_checkpoint(whole.checkpoint), y = load_checkpoint(checkpoint_path(rest.out));
  for (const auto& item : x.model_state) {
    EXPECT_TRUE(torch::equal(item.value(), y.model_state.at(item.key()))) << item.key();
    if (item.value().is_floating_point()) {
      EXPECT_EQ(item.value().scalar_type(), torch::kFloat) << item.key();  // master weights stay fp32
    }
  }
  for (const auto& item : x.optimizer_state) EXPECT_EQ(item.value().scalar_type(), torch::kFloat) << item.key();
  EXPECT_EQ(x.config.at("precision"), "bf16");
  EXPECT_EQ(read_json(test::fs::path(rest.out) / "config.json").at("precision"), "bf16");

  // bf16 computes something else than fp32 (else the flag would do nothing).
  const auto fp32 = run_train_job(tiny(dir, "fp32", "fp32"));
  EXPECT_FALSE(torch::equal(load_checkpoint(fp32.checkpoint).model_state.at("fc.weight"), x.model_state.at("fc.weight")));
}

TEST(PrecisionRuns, AutoIsRecordedResolvedAndResumeCannotSwitchPrecision) {
  test::TempDir dir;
  auto first = tiny(dir, "run", "auto");
  first.max_iters = 3;
  run_train_job(first);
  const std::string resolved = to_string(resolve_precision("auto", kCpu));
  EXPECT_EQ(read_json(test::fs::path(first.out) / "config.json").at("precision"), resolved);
  EXPECT_EQ(load_checkpoint(checkpoint_path(first.out)).config.at("precision"), resolved);
  auto other = tiny(dir, "run", resolved == "bf16" ? "fp32" : "bf16");
  other.resume = true;
  expect_error_containing([&] { run_train_job(other); },
                          {"was computed in " + resolved, "resume with --precision " + resolved});
}

TEST(PrecisionRuns, CliRefusesFp16OnCpuAndBadNames) {
  test::TempDir dir;
  test::write_tiny_mnist(dir.path() / "data", 32, 16);
  const std::string common = "train --model resnet8 --dataset mnist --data-dir " + dir / "data" + " --out " + dir / "o";
  test::expect_clean_error(test::run_domino(common + " --precision fp16"), {"fp16 needs a CUDA device"});
  test::expect_clean_error(test::run_domino(common + " --precision half"), {"unknown precision 'half'"});
  test::expect_clean_error(test::run_domino(common + " --memory-format nhwc"), {"unknown memory format 'nhwc'"});
}

TEST(PrecisionRuns, SearchRecordsItsPrecisionAndShowsTheBudgetNotAnEta) {
  test::TempDir dir;
  auto dense = tiny(dir, "dense", "fp32");
  dense.epochs = 1;
  run_train_job(dense);
  const auto r = test::run_domino("search --checkpoint " + checkpoint_path(dense.out) +
                                  " --target params:0.5 --M 8 --lambda 2 --kp 1 --kc 10 --lr 0.05 --batch-size 16"
                                  " --max-iters 2000 --threads 1 --precision bf16 --out " + dir / "search");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("param sparsity 0.5"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("/0.500, "), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("ETA"), std::string::npos) << r.output;
  const auto scheme = load_scheme(dir / "search/scheme.json");
  EXPECT_EQ(scheme.options.at("precision"), "bf16");
  EXPECT_EQ(load_checkpoint(dir / "search/checkpoint.pt").config.at("precision"), "bf16");
}

}  // namespace
}  // namespace domino
