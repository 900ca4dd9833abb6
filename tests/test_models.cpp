#include <gtest/gtest.h>
#include <torch/torch.h>

#include "domino/data/datasets.h"
#include "domino/models/layer_table.h"
#include "domino/models/models.h"
#include "domino/models/prunable.h"
#include "models/conv_bn_relu.h"
#include "test_util.h"

namespace domino {
namespace {

// Reference counts of the same architectures at 32x32x3, 10 classes (the figures).
TEST(ModelZoo, CifarResNetCountsMatchIndependentCounts) {
  struct Expect {
    const char* name;
    double params_m, macs_m;
  };
  for (const auto& e : {Expect{"resnet20", 0.2725, 40.8}, Expect{"resnet56", 0.8558, 125.7}}) {
    auto model = make_model(e.name, {3, 10});
    const auto table = build_layer_table(*model, {3, 32, 32});
    EXPECT_NEAR(table.model_params / 1e6, e.params_m, 0.005 * e.params_m) << e.name;
    EXPECT_NEAR(table.flops / 1e6, e.macs_m, 0.005 * e.macs_m) << e.name;
  }
}

// torchvision's models at 224x224, 1000 classes (the figures; MACs of conv + linear).
TEST(ModelZoo, ImageNetCountsMatchTorchvision) {
  struct Expect {
    const char* name;
    double params_m, macs_g;
  };
  for (const auto& e : {Expect{"resnet18", 11.690, 1.814}, Expect{"resnet34", 21.798, 3.664},
                        Expect{"resnet50", 25.557, 4.089}, Expect{"regnet_x_3_2gf", 15.297, 3.177}}) {
    auto model = make_model(e.name, {3, 1000});
    const auto table = build_layer_table(*model, {3, 224, 224});
    EXPECT_NEAR(table.model_params / 1e6, e.params_m, 0.005 * e.params_m) << e.name;
    EXPECT_NEAR(table.flops / 1e9, e.macs_g, 0.005 * e.macs_g) << e.name;
  }
}

TEST(ModelZoo, ImageNetModelsUseTorchvisionNames) {
  auto resnet = make_model("resnet50", {3, 1000});
  const auto state = resnet->named_parameters();
  for (const char* name : {"conv1.weight", "layer1.0.conv3.weight", "layer1.0.downsample.0.weight",
                           "layer4.2.bn3.bias", "fc.weight"})
    EXPECT_TRUE(state.contains(name)) << name;
  EXPECT_TRUE(resnet->named_buffers().contains("layer1.0.bn1.running_mean"));
  auto regnet = make_model("regnet_x_3_2gf", {3, 1000});
  const auto rstate = regnet->named_parameters();
  for (const char* name : {"stem.0.weight", "trunk_output.block1.block1-0.proj.0.weight",
                           "trunk_output.block3.block3-14.f.b.0.weight", "fc.bias"})
    EXPECT_TRUE(rstate.contains(name)) << name;
  // Group width 48: 432 channels in 9 groups.
  EXPECT_EQ(rstate["trunk_output.block3.block3-0.f.b.0.weight"].sizes(), (std::vector<int64_t>{432, 48, 3, 3}));
}

TEST(ModelZoo, EveryModelRunsOnEveryDatasetShape) {
  for (const auto& name : model_names())
    for (const auto& dataset : dataset_names()) {
      const auto& spec = dataset_spec(dataset);
      auto model = make_model(name, {spec.shape.channels, spec.num_classes});
      model->eval();
      auto out = model->forward(torch::randn({2, spec.shape.channels, spec.shape.height, spec.shape.width}));
      EXPECT_EQ(out.sizes(), (std::vector<int64_t>{2, spec.num_classes})) << name << " on " << dataset;
    }
}

TEST(ModelZoo, UnknownModelListsTheValidOnes) {
  test::expect_error_containing([] { make_model("resnet18x", {}); }, {"resnet18x", "resnet20", "resnet110", "vgg16"});
  test::expect_error_containing([] { make_cifar_resnet(21, {}); }, {"6n+2"});
}

TEST(LayerTable, ResNetLayersInForwardOrderWithMeasuredOutputs) {
  auto model = make_model("resnet20", {1, 10});
  const auto table = build_layer_table(*model, {1, 28, 28});
  ASSERT_EQ(table.layers.size(), 22u);  // stem + 18 block convs + 2 projections + fc
  EXPECT_EQ(table.layers.front().name, "conv1");
  EXPECT_EQ(table.layers[1].name, "layer1.0.conv1");
  EXPECT_EQ(table.layers.back().name, "fc");
  EXPECT_EQ(table.layers.back().kind, LayerKind::Linear);
  const auto& projection = *std::find_if(table.layers.begin(), table.layers.end(),
                                         [](const LayerInfo& l) { return l.name == "layer2.0.downsample.0"; });
  EXPECT_EQ(projection.weight_shape, (std::vector<int64_t>{32, 16, 1, 1}));
  EXPECT_EQ(projection.output_height, 14);
  const auto& last = table.layers[table.layers.size() - 2];
  EXPECT_EQ(last.name, "layer3.2.conv2");
  EXPECT_EQ(last.output_height, 7);
  EXPECT_EQ(last.flops, 64 * 64 * 9 * 7 * 7);
  EXPECT_EQ(table.layers.back().flops, 64 * 10 + 10);  // linear: in*out + out for the bias
}

// A network with a strided, biased conv whose output size a formula could get wrong
// (odd input, stride 3, no padding): the table must report what the forward produced.
class Odd : public Network {
 public:
  Odd() {
    conv = register_module("conv", PrunableConv2d(torch::nn::Conv2dOptions(2, 4, 3).stride(3).groups(2)));
    head = register_module("head", PrunableLinear(4, 3));
  }
  torch::Tensor forward(torch::Tensor x) override {
    return head(torch::adaptive_avg_pool2d(conv(x), {1, 1}).flatten(1));
  }
  PrunableConv2d conv{nullptr};
  PrunableLinear head{nullptr};
};

TEST(LayerTable, FlopsFromTheRealForwardPassIncludingBiasAndGroups) {
  Odd model;
  const auto table = build_layer_table(model, {2, 11, 10});
  ASSERT_EQ(table.layers.size(), 2u);
  const auto& conv = table.layers[0];
  EXPECT_EQ(conv.output_height, 3);  // floor((11 - 3) / 3) + 1
  EXPECT_EQ(conv.output_width, 3);   // floor((10 - 3) / 3) + 1
  EXPECT_EQ(conv.params, 4 * 1 * 3 * 3);
  EXPECT_EQ(conv.flops, 4 * 1 * 3 * 3 * 9 + 4 * 9);
  EXPECT_EQ(table.layers[1].flops, 4 * 3 + 3);
  EXPECT_EQ(table.prunable_params, 36 + 12);
  EXPECT_EQ(table.model_params, 36 + 4 + 12 + 3);
  const auto json = to_json(table);
  EXPECT_EQ(json["totals"]["flops"].get<int64_t>(), conv.flops + 15);
  EXPECT_EQ(json["layers"][0]["output"], nlohmann::json({3, 3}));
  EXPECT_TRUE(model.is_training());  // the table's eval-mode forward is undone
}

TEST(PrunableLayers, WeightTransformChangesTheForwardAndKeepsGradientsFlowing) {
  PrunableConv2d conv(torch::nn::Conv2dOptions(1, 1, 1).bias(false));
  PrunableLinear linear(2, 1);
  torch::NoGradGuard no_grad;
  conv->weight.fill_(2.0);
  linear->weight.fill_(1.0);
  linear->bias.zero_();
  auto x = torch::ones({1, 1, 1, 1});
  EXPECT_FLOAT_EQ(conv(x).item<float>(), 2.0f);
  conv->set_weight_transform([](const torch::Tensor& w) { return w * 0.5; });
  EXPECT_FLOAT_EQ(conv(x).item<float>(), 1.0f);
  conv->set_weight_transform(nullptr);
  EXPECT_FLOAT_EQ(conv(x).item<float>(), 2.0f);

  torch::AutoGradMode grad(true);
  linear->set_weight_transform([](const torch::Tensor& w) { return w * torch::tensor({1.0f, 0.0f}); });
  auto y = linear(torch::tensor({{3.0f, 5.0f}}));
  EXPECT_FLOAT_EQ(y.item<float>(), 3.0f);
  y.backward();
  EXPECT_TRUE(torch::equal(linear->weight.grad(), torch::tensor({{3.0f, 0.0f}})));
}

// conv_bn_relu takes a convolution's fused forward only where its BatchNorm is folded (the
// identity); otherwise, and without one, it computes relu(bn(conv(x)) + residual) as written.
TEST(PrunableLayers, ConvBnReluUsesTheFusedForwardOnlyOverAFoldedBatchNorm) {
  torch::NoGradGuard no_grad;
  PrunableConv2d conv(torch::nn::Conv2dOptions(1, 1, 1).bias(false));
  FoldableBatchNorm2d bn(1);
  bn->eval();
  conv->weight.fill_(-2.0);
  bn->bias.fill_(0.5);  // bn(y) = y + 0.5 (running mean 0, variance 1)
  const auto x = torch::ones({1, 1, 1, 1}), r = torch::full({1, 1, 1, 1}, 4.0f);
  EXPECT_NEAR(conv_bn_relu(*conv, *bn, x).item<float>(), 0.0f, 1e-6);    // relu(-2 + 0.5)
  EXPECT_NEAR(conv_bn_relu(*conv, *bn, x, r).item<float>(), 2.5f, 1e-3);  // relu(-1.5 + 4), BatchNorm eps aside
  std::vector<bool> calls;  // with a residual or not
  conv->set_forward_override([](const torch::Tensor& in) { return in * 10; },
                             [&](const torch::Tensor& in, const torch::Tensor& res) {
                               calls.push_back(res.defined());
                               return in * 100;
                             });
  EXPECT_NEAR(conv_bn_relu(*conv, *bn, x, r).item<float>(), 14.5f, 1e-3);  // override, bn, add, relu: 10 + 0.5 + 4
  EXPECT_TRUE(calls.empty());
  bn->set_folded(true);
  EXPECT_FLOAT_EQ(conv_bn_relu(*conv, *bn, x, r).item<float>(), 100.0f);
  EXPECT_FLOAT_EQ(conv_bn_relu(*conv, *bn, x).item<float>(), 100.0f);
  EXPECT_EQ(calls, (std::vector<bool>{true, false}));
  conv->set_forward_override([](const torch::Tensor& in) { return in * 10; });  // a new override drops the fused one
  EXPECT_FALSE(conv->fused_relu_forward());
  EXPECT_FLOAT_EQ(conv_bn_relu(*conv, *bn, x, r).item<float>(), 14.0f);
}

// forward_fused runs a Sequential as its own forward does, each convolution, BatchNorm, ReLU
// triple through conv_bn_relu (a fused call once the BatchNorm is folded), and with a
// residual fuses the add and ReLU into a final convolution and BatchNorm.
TEST(PrunableLayers, ForwardFusedFusesConvBnReluTriplesAndAResidualBranch) {
  torch::manual_seed(3);
  auto conv = [] { return PrunableConv2d(torch::nn::Conv2dOptions(4, 4, 3).padding(1).bias(false)); };
  auto relu = [] { return torch::nn::ReLU(torch::nn::ReLUOptions(true)); };
  PrunableConv2d c0 = conv(), c1 = conv(), c2 = conv();
  FoldableBatchNorm2d b0(4), b1(4), b2(4);
  torch::nn::Sequential seq(c0, b0, relu(), c1, b1, torch::nn::MaxPool2d(2), c2, b2, relu());
  torch::nn::Sequential branch(c0, b0, relu(), c1, b1);
  seq->eval();
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({2, 4, 8, 8}), r = torch::randn({2, 4, 8, 8});
  EXPECT_TRUE(torch::allclose(forward_fused(seq, x), seq->forward(x)));
  EXPECT_TRUE(torch::allclose(forward_fused(branch, x, r), (branch->forward(x) + r).relu()));

  std::vector<std::string> calls;
  for (auto [c, name] : {std::pair{c0, "c0"}, std::pair{c1, "c1"}, std::pair{c2, "c2"}})
    c->set_forward_override([&calls, name = std::string(name)](const torch::Tensor& in) {
      calls.push_back(name);
      return in;
    }, [&calls, name = std::string(name)](const torch::Tensor& in, const torch::Tensor& res) {
      calls.push_back(name + (res.defined() ? " fused+r" : " fused"));
      return res.defined() ? in + res : in;
    });
  for (auto* bn : {&b0, &b1, &b2}) (*bn)->set_folded(true);
  forward_fused(seq, x);
  EXPECT_EQ(calls, (std::vector<std::string>{"c0 fused", "c1", "c2 fused"}));  // c1 has no ReLU after it
  calls.clear();
  EXPECT_TRUE(torch::equal(forward_fused(branch, x, r), x + r));
  EXPECT_EQ(calls, (std::vector<std::string>{"c0 fused", "c1 fused+r"}));
  torch::nn::Sequential no_bn(c0, relu());
  test::expect_error_containing([&] { forward_fused(no_bn, x, r); }, {"must end in a convolution and its BatchNorm"});
}

}  // namespace
}  // namespace domino
