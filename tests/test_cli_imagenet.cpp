// The ImageNet path from the command line, on a tiny ImageFolder tree and a ResNet-18
// saved by torchvision: eval, search, fine-tune, verify and predict from the weights.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <opencv2/imgcodecs.hpp>
#include <torch/torch.h>

#include "domino/io/checkpoint.h"
#include "domino/io/state_dict.h"
#include "io/files.h"

#include "image_tree.h"
#include "test_util.h"

namespace domino {
namespace {

using test::expect_clean_error;
using test::run_domino;

class CliImageNet : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    const auto r = test::run_python("torchvision_fixtures.py", (*dir_ / "fx") + " resnet18 --classes 3 --size 64");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    test::write_image_tree(dir_->path() / "tree", {"ant", "bee", "cat"}, 6, 2, true);
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string from_weights() {
    return " --pretrained " + (*dir_ / "fx/resnet18.pth") + " --model resnet18 --dataset imagenet --data-dir " +
           (*dir_ / "tree") + " --threads 1";
  }
  static test::TempDir* dir_;
};
test::TempDir* CliImageNet::dir_ = nullptr;

TEST_F(CliImageNet, SearchFinetuneVerifyFromTorchvisionWeights) {
  const auto eval = run_domino("eval" + from_weights());
  ASSERT_EQ(eval.exit_code, 0) << eval.output;
  EXPECT_NE(eval.output.find("(6 images)"), std::string::npos) << eval.output;

  const auto search = run_domino("search" + from_weights() + " --target params:0.5 --M 16 --kc 2 --kp 1 --lambda 100 " +
                                 "--batch-size 4 --max-iters 200 --out " + (*dir_ / "s"));
  ASSERT_EQ(search.exit_code, 0) << search.output;
  EXPECT_NE(search.output.find("reached params:0.5"), std::string::npos) << search.output;
  // The tree's bad files were reported, and the run went on.
  EXPECT_NE(search.output.find("notes.txt"), std::string::npos) << search.output;
  EXPECT_NE(search.output.find("0_corrupt.jpg"), std::string::npos) << search.output;

  const auto finetune = run_domino("finetune" + from_weights() + " --scheme " + (*dir_ / "s/scheme.json") +
                                   " --recipe imagenet --epochs 1 --batch-size 4 --out " + (*dir_ / "f"));
  ASSERT_EQ(finetune.exit_code, 0) << finetune.output;
  const auto verify = run_domino("verify --weights " + (*dir_ / "f/pruned.pt") + " --scheme " + (*dir_ / "s/scheme.json"));
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  EXPECT_NE(verify.output.find("verified"), std::string::npos) << verify.output;

  // The fine-tuned model through the N:M engine: the same accuracy as LibTorch's forward.
  const auto pruned = " --json --data-dir " + (*dir_ / "tree") + " --threads 1 --checkpoint " + (*dir_ / "f/pruned.pt");
  const auto dense = run_domino("eval" + pruned);
  const auto nm = run_domino("eval --engine nm" + pruned);
  ASSERT_EQ(dense.exit_code, 0) << dense.output;
  ASSERT_EQ(nm.exit_code, 0) << nm.output;
  const auto d = nlohmann::json::parse(dense.output.substr(dense.output.find('{')));
  const auto n = nlohmann::json::parse(nm.output.substr(nm.output.find('{')));
  EXPECT_EQ(n.at("top1"), d.at("top1"));
  EXPECT_EQ(n.at("top5"), d.at("top5"));
  EXPECT_NEAR(n.at("loss").get<double>(), d.at("loss").get<double>(), 1e-4);
  expect_clean_error(run_domino("eval --engine nm" + from_weights()), {"carries no N:M scheme", "pruned.pt"});

  // The exports as the engine's source: a state dict with the compressed .nm file, or with
  // the scheme file; both give pruned.pt's accuracy.
  const auto f = *dir_ / "f";
  ASSERT_EQ(run_domino("export --checkpoint " + f + "/pruned.pt --format nm --out " + f + "/w.nm").exit_code, 0);
  ASSERT_EQ(run_domino("export --checkpoint " + f + "/pruned.pt --format pytorch --out " + f + "/w.pt").exit_code, 0);
  const auto exported = " --json --pretrained " + f + "/w.pt --model resnet18 --dataset imagenet --data-dir " + (*dir_ / "tree") +
                        " --threads 1";
  for (const auto& source : {" --nm " + f + "/w.nm", " --scheme " + (*dir_ / "s/scheme.json")}) {
    const auto r = run_domino("eval --engine nm" + exported + source);
    ASSERT_EQ(r.exit_code, 0) << source << r.output;
    const auto e = nlohmann::json::parse(r.output.substr(r.output.find('{')));
    EXPECT_EQ(e.at("top1"), d.at("top1")) << source;
    EXPECT_NEAR(e.at("loss").get<double>(), d.at("loss").get<double>(), 1e-4) << source;
  }
  // A .nm file of another model: refused, naming the layer.
  const auto other = run_domino("bench-infer --repeats 1 --warmup 0 --image-size 64 --threads 1 --model resnet50 --nm " + f + "/w.nm");
  EXPECT_EQ(other.exit_code, 1) << other.output;
  EXPECT_TRUE(other.output.find("in the file but") != std::string::npos ||
              other.output.find("is not a layer of resnet50") != std::string::npos)
      << other.output;
  // Dense weights under an N:M scheme are refused, naming layer and group, never computed.
  expect_clean_error(run_domino("eval --engine nm" + from_weights() + " --scheme " + (*dir_ / "s/scheme.json")),
                     {"group", "output channel", "breaks its"});
  const auto both = run_domino("eval" + exported + " --nm " + f + "/w.nm --scheme " + (*dir_ / "s/scheme.json"));
  EXPECT_NE(both.exit_code, 0);
  EXPECT_NE(both.output.find("--scheme excludes --nm"), std::string::npos) << both.output;

  // predict through the engine: the classes and logits of LibTorch's forward.
  const std::string image = *dir_ / "q.png";
  cv::imwrite(image, cv::Mat(90, 120, CV_8UC3, cv::Scalar(40, 160, 220)));
  const auto predict = "predict --top 3 --json --threads 1 --checkpoint " + f + "/pruned.pt --images " + image;
  const auto p_dense = run_domino(predict);
  const auto p_nm = run_domino(predict + " --engine nm");
  ASSERT_EQ(p_dense.exit_code, 0) << p_dense.output;
  ASSERT_EQ(p_nm.exit_code, 0) << p_nm.output;
  const auto top_dense = nlohmann::json::parse(p_dense.output)[0]["top"];
  const auto top_nm = nlohmann::json::parse(p_nm.output)[0]["top"];
  ASSERT_EQ(top_nm.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(top_nm[i]["class"], top_dense[i]["class"]);
    EXPECT_NEAR(top_nm[i]["logit"].get<double>(), top_dense[i]["logit"].get<double>(), 1e-4);
  }

  // bench-infer: a row per engine layer, every scheme layer accounted for, outputs agree.
  const auto bench = run_domino("bench-infer --json --threads 1 --repeats 2 --warmup 1 --batch-size 2 --image-size 64 --checkpoint " +
                                f + "/pruned.pt");
  ASSERT_EQ(bench.exit_code, 0) << bench.output;
  const auto b = nlohmann::json::parse(bench.output.substr(bench.output.find('{')));
  const auto scheme = nlohmann::json::parse(read_text_file(*dir_ / "s/scheme.json", "scheme"));
  int64_t sparse_layers = 0;
  for (const auto& layer : scheme.at("layers")) sparse_layers += layer.at("N").get<int64_t>() < layer.at("M").get<int64_t>();
  ASSERT_GT(b.at("layers").size(), 0u) << bench.output;
  EXPECT_LE(static_cast<int64_t>(b.at("layers").size()), sparse_layers);
  EXPECT_EQ(b.at("layers").size() + b.at("dense_layers").size(), scheme.at("layers").size());
  for (const auto& layer : b.at("layers")) {
    EXPECT_GT(layer.at("dense_ms").get<double>(), 0) << layer;
    EXPECT_GT(layer.at("nm_ms").get<double>(), 0) << layer;
    EXPECT_LE(layer.at("N").get<int64_t>() * 2, layer.at("M").get<int64_t>()) << layer;
    EXPECT_EQ(layer.at("input").size(), 4u) << layer;
  }
  EXPECT_EQ(b.at("same_top1"), 2);
  EXPECT_LT(b.at("max_abs_diff").get<double>(), 1e-3);
  EXPECT_GT(b.at("nm").at("images_per_second").get<double>(), 0);
  // Dense weights: refused, unless --prune makes them N:M first.
  const auto dense_bench = "bench-infer --repeats 1 --warmup 0 --image-size 64 --threads 1 --pretrained " +
                           (*dir_ / "fx/resnet18.pth") + " --model resnet18 --scheme " + (*dir_ / "s/scheme.json");
  expect_clean_error(run_domino(dense_bench), {"group", "breaks its"});
  const auto pruned_bench = run_domino(dense_bench + " --prune");
  ASSERT_EQ(pruned_bench.exit_code, 0) << pruned_bench.output;
  EXPECT_NE(pruned_bench.output.find("whole model: dense"), std::string::npos) << pruned_bench.output;
  EXPECT_NE(pruned_bench.output.find("same top-1 class for 1 of 1 images"), std::string::npos) << pruned_bench.output;
  // No weights at all: the zoo's initialisation (1000 classes), pruned, for timing a scheme;
  // the 3-class search's scheme does not fit it, a uniform 2:16 does (all but the stem).
  const auto untrained = "bench-infer --repeats 1 --warmup 0 --image-size 64 --threads 1 --isa portable --model resnet18 "
                         "--dataset imagenet --prune --json --scheme ";
  expect_clean_error(run_domino(untrained + (*dir_ / "s/scheme.json")), {"fc [3, 512] in the scheme", "fc [1000, 512] in the model"});
  ASSERT_EQ(run_domino("scheme uniform --model resnet18 --dataset imagenet --N 2 --out " + (*dir_ / "u.json")).exit_code, 0);
  const auto u_run = run_domino(untrained + (*dir_ / "u.json"));
  ASSERT_EQ(u_run.exit_code, 0) << u_run.output;
  const auto u = nlohmann::json::parse(u_run.output.substr(u_run.output.find('{')));
  EXPECT_EQ(u.at("isa"), "portable");
  EXPECT_EQ(u.at("layers").size(), 20u);  // 19 convolutions after the stem, and fc
  EXPECT_EQ(u.at("same_top1"), 1);
}

// `train --pretrained` starts from the file's weights (a tiny lr: they stay as loaded).
TEST_F(CliImageNet, TrainStartsFromPretrainedWeights) {
  const auto r = run_domino("train" + from_weights() + " --epochs 1 --max-iters 2 --batch-size 4 --lr 1e-9 --weight-decay 0 --out " +
                            (*dir_ / "t"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto trained = load_checkpoint(*dir_ / "t/checkpoint.pt").model_state;
  std::map<std::string, at::Tensor> file;
  for (const auto& [k, v] : read_pytorch_state_dict(*dir_ / "fx/resnet18.pth")) file.emplace(k, v);
  for (const char* name : {"conv1.weight", "layer3.1.conv2.weight", "fc.weight", "fc.bias"})
    EXPECT_TRUE(torch::allclose(trained.at(name), file.at(name), 0, 1e-6)) << name;
}

// `predict` runs torchvision's evaluation transform and model: same logits. (Solid-colour
// PNGs, so that the resize filters of OpenCV and PIL cannot differ.)
TEST_F(CliImageNet, PredictMatchesTorchvision) {
  std::vector<std::string> images;
  for (int i = 0; i < 2; ++i) {
    images.push_back(*dir_ / ("p" + std::to_string(i) + ".png"));
    cv::imwrite(images.back(), cv::Mat(300 + 40 * i, 260, CV_8UC3, cv::Scalar(30 + 100 * i, 200, 90)));
  }
  const std::string list = images[0] + " " + images[1];
  const auto ours = run_domino("predict --pretrained " + (*dir_ / "fx/resnet18.pth") + " --model resnet18 --top 3 --json --images " + list);
  ASSERT_EQ(ours.exit_code, 0) << ours.output;
  const auto theirs = test::run_python("predict_reference.py", "resnet18 " + (*dir_ / "fx/resnet18.pth") + " 3 " + list);
  ASSERT_EQ(theirs.exit_code, 0) << theirs.output;
  const auto predicted = nlohmann::json::parse(ours.output);
  const auto reference = nlohmann::json::parse(theirs.output);
  ASSERT_EQ(predicted.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    ASSERT_EQ(predicted[i]["top"].size(), 3u);
    for (const auto& entry : predicted[i]["top"])
      EXPECT_NEAR(entry["logit"].get<double>(), reference[i][entry["class"].get<size_t>()].get<double>(), 1e-4) << images[i];
  }
}

TEST_F(CliImageNet, BadRequestsAreCleanErrors) {
  expect_clean_error(run_domino("search --pretrained " + (*dir_ / "fx/resnet18.pth") + " --target params:0.5 --dataset imagenet --data-dir " +
                                (*dir_ / "tree")),
                     {"--pretrained needs --model"});
  expect_clean_error(run_domino("eval --pretrained " + (*dir_ / "fx/resnet18.pth") + " --model resnet50 --dataset imagenet --data-dir " +
                                (*dir_ / "tree")),
                     {"wrong shape", "layer1.0.conv1.weight"});
  expect_clean_error(run_domino("eval --model resnet18 --dataset imagenet"), {"--checkpoint", "--pretrained"});
  expect_clean_error(run_domino("predict --pretrained " + (*dir_ / "fx/resnet18.pth") + " --model resnet18 --images " + (*dir_ / "nothing")),
                     {"nothing", "not found"});
}

}  // namespace
}  // namespace domino
