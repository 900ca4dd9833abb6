#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "domino/io/checkpoint.h"
#include "domino/io/state_dict.h"
#include "domino/jobs/starting_point.h"
#include "domino/models/models.h"
#include "domino/models/pretrained.h"
#include "image_tree.h"
#include "test_util.h"

namespace domino {
namespace {

// torchvision models saved by Debian's python3-torchvision (tests/python/torchvision_fixtures.py).
class Pretrained : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    auto r = test::run_python("torchvision_fixtures.py", dir_->path().string() + " resnet18 resnet50 regnet_x_3_2gf");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    r = test::run_python("torchvision_fixtures.py", (dir_->path() / "broken").string() + " resnet18 --classes 10 --broken");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    r = test::run_python("torchvision_fixtures.py", (dir_->path() / "c3").string() + " resnet18 --classes 3 --size 64");
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string file(const std::string& name) { return (*dir_) / name; }
  static test::TempDir* dir_;
};
test::TempDir* Pretrained::dir_ = nullptr;

std::map<std::string, at::Tensor> as_map(const StateDict& s) { return {s.begin(), s.end()}; }

TEST_F(Pretrained, ReadsTorchSavedOrderedDictsInFileOrder) {
  const auto state = read_pytorch_state_dict(file("resnet18.pth"));
  auto model = make_model("resnet18", {3, 1000});
  EXPECT_EQ(state.size(), model->named_parameters().size() + model->named_buffers().size());
  EXPECT_EQ(state.front().first, "conv1.weight");
  EXPECT_EQ(state.back().first, "fc.bias");
  const auto m = as_map(state);
  EXPECT_EQ(m.at("conv1.weight").sizes(), (std::vector<int64_t>{64, 3, 7, 7}));
  EXPECT_EQ(m.at("bn1.num_batches_tracked").scalar_type(), torch::kLong);
  EXPECT_EQ(m.at("bn1.num_batches_tracked").item<int64_t>(), 7);
  EXPECT_GE(m.at("bn1.running_var").min().item<float>(), 0.5f);
}

// The parity bar: torchvision's logits on the same input, to 1e-4.
TEST_F(Pretrained, LogitsMatchTorchvision) {
  for (const char* name : {"resnet18", "resnet50", "regnet_x_3_2gf"}) {
    auto model = model_from_pretrained(name, 3, file(std::string(name) + ".pth"), true);
    model->eval();
    const auto io = as_map(read_pytorch_state_dict(file(std::string(name) + ".io.pth")));
    torch::NoGradGuard no_grad;
    const auto logits = model->forward(io.at("input"));
    ASSERT_EQ(logits.sizes(), io.at("logits").sizes()) << name;
    const double diff = (logits - io.at("logits")).abs().max().item<double>();
    EXPECT_LT(diff, 1e-4) << name << ": largest logit " << io.at("logits").abs().max().item<double>();
  }
}

TEST_F(Pretrained, BadStateDictsAreClearErrors) {
  auto load = [](const std::string& f, bool strict) { return model_from_pretrained("resnet18", 3, file("broken/" + f), strict); };
  test::expect_error_containing([&] { load("resnet18.missing.pth", true); }, {"missing", "fc.bias"});
  test::expect_error_containing([&] { load("resnet18.extra.pth", true); }, {"unexpected", "head.weight", "--strict=false"});
  test::expect_error_containing([&] { load("resnet18.shape.pth", true); }, {"wrong shape", "conv1.weight", "[64, 3, 3, 3]"});
  test::expect_error_containing([&] { load("resnet18.legacy.pth", true); }, {"legacy", "torch.save(torch.load(f), f)"});
  EXPECT_NO_THROW(load("resnet18.extra.pth", false));  // extras allowed
  auto wrapped = load("resnet18.wrapped.pth", true);  // under "state_dict", DataParallel's "module." prefix
  EXPECT_TRUE(torch::equal(wrapped->named_parameters()["fc.bias"], as_map(read_pytorch_state_dict(file("broken/resnet18.pth"))).at("fc.bias")));

  const auto bytes = [] {
    std::ifstream in(file("broken/resnet18.pth"), std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }();
  std::ofstream(file("truncated.pth"), std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  test::expect_error_containing([&] { read_pytorch_state_dict(file("truncated.pth")); }, {"truncated.pth", "not a readable"});
  test::expect_error_containing([&] { read_pytorch_state_dict(file("nope.pth")); }, {"nope.pth", "not found"});
}

// A pretrained start keeps every tensor of the file, BatchNorm statistics included.
TEST_F(Pretrained, StartingCheckpointKeepsBatchNormStatistics) {
  const auto tree = dir_->path() / "tree";
  test::write_image_tree(tree, {"ant", "bee", "cat"}, 2, 1, false);
  TrainConfig config;
  config.model = "resnet18";
  config.dataset = "imagenet";
  config.data_dir = tree.string();
  config.pretrained = file("c3/resnet18.pth");
  const auto c = starting_checkpoint("", config);
  EXPECT_EQ(c.model_options.num_classes, 3);
  const auto saved = as_map(read_pytorch_state_dict(config.pretrained));
  for (const auto& item : c.model_state) EXPECT_TRUE(torch::equal(item.value(), saved.at(item.key()))) << item.key();
  config.pretrained = file("resnet18.pth");  // 1000 classes: not this dataset's
  test::expect_error_containing([&] { starting_checkpoint("", config); }, {"1000 classes", "has 3"});
  config.model = "";
  test::expect_error_containing([&] { starting_checkpoint("", config); }, {"--model"});
}

}  // namespace
}  // namespace domino
