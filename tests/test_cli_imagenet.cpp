// The ImageNet path from the command line, on a tiny ImageFolder tree and a ResNet-18
// saved by torchvision: eval, search, fine-tune, verify and predict from the weights.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <opencv2/imgcodecs.hpp>
#include <torch/torch.h>

#include "domino/checkpoint.h"
#include "domino/state_dict.h"

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
