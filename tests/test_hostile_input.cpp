// Crafted and damaged input: every reader refuses it with one line that names the file and
// the limit, instead of crashing, hanging or taking all memory (issue: hostile input).
#include <caffe2/serialize/inline_container.h>
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <zlib.h>

#include <thread>

#include "data/image_header.h"
#include "domino/core/runtime.h"
#include "domino/data/datasets.h"
#include "domino/data/image_folder.h"
#include "domino/data/loader.h"
#include "domino/data/readers.h"
#include "domino/experiment/experiment.h"
#include "domino/io/checkpoint.h"
#include "domino/io/state_dict.h"
#include "domino/models/layer_table.h"
#include "domino/models/models.h"
#include "domino/nm/baselines.h"
#include "domino/nm/scheme.h"
#include "domino/sparse/export.h"
#include "domino/train/train_config.h"
#include "image_tree.h"
#include "io/files.h"
#include "io/pickle_scan.h"
#include "io/run_dir.h"
#include "test_util.h"

namespace domino {
namespace {

// A torch.save-style zip whose data.pkl is `pickle`.
void write_archive(const std::string& path, const std::string& pickle) {
  caffe2::serialize::PyTorchStreamWriter writer(path);
  writer.writeRecord("data.pkl", pickle.data(), pickle.size());
  writer.writeEndOfFile();
}

std::string nested_tuples(size_t depth) { return "\x80\x02)" + std::string(depth, '\x85') + "."; }

class HostileInput : public ::testing::Test {
 protected:
  test::TempDir dir_;
};

TEST_F(HostileInput, DeeplyNestedPicklesAreRefusedByEveryWeightReader) {
  const auto file = dir_ / "deep.pt";
  write_archive(file, nested_tuples(1'000'000));
  test::expect_error_containing([&] { read_pytorch_state_dict(file); }, {"deep.pt", "nests values", "limit is 100"});
  test::expect_error_containing([&] { load_checkpoint(file); }, {"deep.pt", "nests values"});
  const auto r = test::run_domino("verify --weights " + file + " --scheme " + file);
  test::expect_clean_error(r, {"deep.pt"});
}

TEST_F(HostileInput, PickleScanFollowsMemoAndMutation) {
  // Nested within the limit passes.
  EXPECT_NO_THROW(check_pickle(nested_tuples(50), "ok"));
  // A list appended into itself.
  test::expect_error_containing([] { check_pickle(std::string("\x80\x02]q\x00h\x00" "a.", 9), "cycle"); }, {"contains itself"});
  // Depth built by appending to lists after they were memoised (each list fetched back
  // from the memo and put into the next): only the whole graph shows the depth.
  std::string p = "\x80\x02";
  for (int i = 0; i < 300; ++i) p += "]r" + std::string(reinterpret_cast<const char*>(&i), 4);
  for (int i = 0; i + 1 < 300; ++i) {
    const int outer = i + 1;
    p += "j" + std::string(reinterpret_cast<const char*>(&outer), 4) + "j" + std::string(reinterpret_cast<const char*>(&i), 4) + "a0";
  }
  p += std::string(300, '0') + "j" + std::string("\x2b\x01\x00\x00", 4) + ".";  // leave list 299 alone
  test::expect_error_containing([&] { check_pickle(p, "memo"); }, {"memo", "nests values"});
  // A string whose declared length wraps a 64-bit offset.
  test::expect_error_containing([] { check_pickle(std::string("\x80\x02\x8d\xff\xff\xff\xff\xff\xff\xff\xff", 11), "long"); },
                                {"long", "truncated"});
  test::expect_error_containing([] { check_pickle(std::string("\x80\x02\xff.", 4), "op"); }, {"unknown pickle opcode 0xff"});
}

// An archive entry declaring 4 GiB in a file of a few hundred bytes: refused before the zip
// reader allocates it (the fuzzer found LibTorch's reader taking the 4 GiB).
TEST_F(HostileInput, ArchiveEntriesCannotDeclareMoreThanTheFileHolds) {
  write_archive(dir_ / "ok.pt", nested_tuples(3));
  auto bytes = test::read_text(dir_ / "ok.pt");
  const auto entry = bytes.find(std::string("PK\x01\x02", 4));
  ASSERT_NE(entry, std::string::npos);
  bytes.replace(entry + 24, 4, std::string("\xf0\xff\xff\xff", 4));  // uncompressed size
  test::write_bytes(dir_ / "huge.pt", {bytes.begin(), bytes.end()});
  test::expect_error_containing([&] { read_pytorch_state_dict(dir_ / "huge.pt"); }, {"huge.pt", "declares 4294967280 bytes"});
  test::expect_error_containing([&] { load_checkpoint(dir_ / "huge.pt"); }, {"huge.pt", "declares 4294967280 bytes"});
}

TEST_F(HostileInput, OverflowingStringLengthInAStateDict) {
  const auto file = dir_ / "long.pt";
  write_archive(file, std::string("\x80\x02\x8d\xf8\xff\xff\xff\xff\xff\xff\xff.", 12));
  test::expect_error_containing([&] { read_pytorch_state_dict(file); }, {"long.pt", "truncated"});
}

TEST_F(HostileInput, DamagedCheckpointFieldsAreNamed) {
  auto write = [&](const std::string& name, const std::function<void(c10::impl::GenericDict&)>& change) {
    Checkpoint c;
    c.model = "resnet8";
    c.model_options = {1, 10};
    c.config = {{"seed", 1}};
    c.rng_state = torch::empty({0}, torch::kUInt8);
    save_checkpoint(c, dir_ / "good.pt");
    auto d = read_pickled_dict(dir_ / "good.pt", "checkpoint");
    change(d);
    const auto bytes = torch::pickle_save(c10::IValue(d));
    test::write_bytes(dir_ / name, {bytes.begin(), bytes.end()});
    return dir_ / name;
  };
  EXPECT_NO_THROW(load_checkpoint(write("same.pt", [](auto&) {})));
  test::expect_error_containing([&] { load_checkpoint(write("model.pt", [](auto& d) { d.insert_or_assign("model", int64_t{3}); })); },
                                {"model.pt", "'model' entry is not text"});
  test::expect_error_containing([&] { load_checkpoint(write("config.pt", [](auto& d) { d.insert_or_assign("config", std::string("{oops")); })); },
                                {"config.pt (its config)", "not valid JSON"});
  test::expect_error_containing([&] { load_checkpoint(write("state.pt", [](auto& d) { d.insert_or_assign("model_state", int64_t{1}); })); },
                                {"state.pt", "'model_state' entry is not a dict"});
}

TEST_F(HostileInput, YamlAliasBombAndDeepNestingAreRefused) {
  std::ofstream(dir_ / "laughs.yaml") << "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                                         "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                                         "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                                         "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                                         "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                                         "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                                         "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
                                         "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
                                         "i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]\n";
  test::expect_error_containing([&] { load_yaml_file(dir_ / "laughs.yaml"); }, {"laughs.yaml", "more than 100000 values"});
  std::ofstream(dir_ / "deep.yaml") << "a: " << std::string(200, '[') << std::string(200, ']') << "\n";
  test::expect_error_containing([&] { load_yaml_file(dir_ / "deep.yaml"); }, {"deep.yaml"});
  // A few aliases, as a real config might use them, are fine.
  std::ofstream(dir_ / "ok.yaml") << "milestones: &m [80, 120]\nx: *m\n";
  EXPECT_EQ(load_yaml_file(dir_ / "ok.yaml").at("x"), nlohmann::json({80, 120}));
  const auto r = test::run_domino("train --config " + dir_ / "laughs.yaml");
  test::expect_clean_error(r, {"laughs.yaml", "100000 values"});
}

TEST_F(HostileInput, JsonNestingIsLimited) {
  test::expect_error_containing([] { parse_json(std::string(100'000, '[') + std::string(100'000, ']'), "deep.json"); },
                                {"deep.json", "levels deep"});
  test::expect_error_containing([&] { read_json_file(dir_.path().string()); }, {"is a directory"});
}

TEST_F(HostileInput, ThreadAndWorkerCountsAreBounded) {
  const int limit = max_threads();
  EXPECT_GE(limit, 64);
  EXPECT_GE(limit, 8 * static_cast<int>(std::thread::hardware_concurrency()));
  test::expect_error_containing([&] { set_threads(limit + 1); }, {"thread count", std::to_string(limit + 1), "limit"});
  TrainConfig c;
  c.workers = 100000;
  test::expect_error_containing([&] { validate(c); }, {"worker count 100000", "limit"});
  c.workers = 2;
  c.threads = -1;
  test::expect_error_containing([&] { validate(c); }, {"thread count must not be negative"});
  const auto r = test::run_domino("train --threads 100000 --out " + dir_ / "t");
  test::expect_clean_error(r, {"thread count 100000", "limit"});
  EXPECT_FALSE(test::fs::exists(dir_.path() / "t" / "config.json"));
}

// A PNG whose header declares 20000 x 20000 pixels: refused before any pixel is allocated.
TEST_F(HostileInput, DecompressionBombImagesAreRefused) {
  auto chunk = [](const std::string& type, const std::string& data) {
    std::string out;
    for (int s : {24, 16, 8, 0}) out += static_cast<char>((data.size() >> s) & 0xff);
    out += type + data;
    uLong crc = crc32(0, reinterpret_cast<const Bytef*>(type.data()), static_cast<uInt>(type.size()));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size()));
    for (int s : {24, 16, 8, 0}) out += static_cast<char>((crc >> s) & 0xff);
    return out;
  };
  std::string ihdr;
  for (uint32_t v : {20000u, 20000u})
    for (int s : {24, 16, 8, 0}) ihdr += static_cast<char>((v >> s) & 0xff);
  ihdr += std::string("\x08\x02\x00\x00\x00", 5);  // 8-bit RGB
  std::string idat(64, '\0');
  uLongf size = static_cast<uLongf>(idat.size());
  const std::string raw(16, '\0');
  compress(reinterpret_cast<Bytef*>(idat.data()), &size, reinterpret_cast<const Bytef*>(raw.data()), raw.size());
  idat.resize(size);
  const std::string png = std::string("\x89PNG\r\n\x1a\n", 8) + chunk("IHDR", ihdr) + chunk("IDAT", idat) + chunk("IEND", "");
  test::write_bytes(dir_ / "bomb.png", {png.begin(), png.end()});
  test::expect_error_containing([&] { decode_image(dir_ / "bomb.png"); }, {"bomb.png", "20000 x 20000 pixels", "above the limit"});
}

// The header reader that guards the decoders agrees with them on real files.
TEST_F(HostileInput, DeclaredImageSizesMatchTheDecodedOnes) {
  const cv::Mat image(23, 37, CV_8UC3, cv::Scalar(1, 2, 3));
  for (const char* ext : {".png", ".jpg", ".bmp", ".ppm", ".pgm", ".webp"}) {
    std::vector<uchar> bytes;
    const cv::Mat input = std::string(ext) == ".pgm" ? cv::Mat(23, 37, CV_8UC1, cv::Scalar(9)) : image;
    ASSERT_TRUE(cv::imencode(ext, input, bytes)) << ext;
    EXPECT_TRUE(image_format({reinterpret_cast<const char*>(bytes.data()), bytes.size()}).has_value()) << ext;
    const auto size = declared_image_size({reinterpret_cast<const char*>(bytes.data()), bytes.size()});
    ASSERT_TRUE(size.has_value()) << ext;
    EXPECT_EQ(size->width, 37) << ext;
    EXPECT_EQ(size->height, 23) << ext;
    test::write_bytes(dir_ / (std::string("i") + ext), {bytes.begin(), bytes.end()});
    const auto decoded = decode_image(dir_ / (std::string("i") + ext));
    EXPECT_EQ(decoded.shape.width, 37) << ext;
  }
  EXPECT_FALSE(declared_image_size("not an image").has_value());
  EXPECT_FALSE(image_format("not an image").has_value());
  // OpenCV's DICOM reader aborts the process on this input (found by fuzz_image): only the
  // formats torchvision reads reach a decoder.
  std::string dicom(128, '\0');
  dicom += "DICM\n\n1";
  test::write_bytes(dir_ / "scan.png", {dicom.begin(), dicom.end()});
  test::expect_error_containing([&] { decode_image(dir_ / "scan.png"); }, {"scan.png", "not a JPEG, PNG"});
  EXPECT_FALSE(declared_image_size(std::string("\xff\xd8\xff", 3)).has_value());  // a JPEG cut short
}

TEST_F(HostileInput, RunDirectoryIsOwnedByOneRun) {
  const auto out = dir_ / "run";
  {
    RunDirLock first(out, RunDirMode::Fresh, out + "/checkpoint.pt");
    test::expect_error_containing([&] { RunDirLock second(out, RunDirMode::Force, ""); }, {"in use by another run", "process"});
  }
  EXPECT_NO_THROW(RunDirLock(out, RunDirMode::Fresh, ""));  // released with the first
  std::ofstream(out + "/result.json") << "{}";
  test::expect_error_containing([&] { RunDirLock(out, RunDirMode::Fresh, ""); }, {"already holds a run", "result.json", "force"});
  EXPECT_NO_THROW(RunDirLock(out, RunDirMode::Force, ""));
  test::expect_error_containing([&] { RunDirLock(out, RunDirMode::Resume, out + "/checkpoint.pt"); }, {"nothing to resume", "checkpoint.pt"});
  test::expect_error_containing([] { run_dir_mode(true, true); }, {"exclude each other"});
}

TEST_F(HostileInput, ARunDirectoryIsNotOverwrittenWithoutForce) {
  test::write_tiny_mnist(dir_.path() / "data", 32, 10);
  const std::string run = "train --model resnet8 --dataset mnist --data-dir " + (dir_ / "data") +
                          " --epochs 1 --batch-size 16 --threads 1 --max-iters 1 --out " + (dir_ / "run");
  ASSERT_EQ(test::run_domino(run).exit_code, 0);
  const auto before = test::read_text(dir_ / "run/checkpoint.pt");
  test::expect_clean_error(test::run_domino(run), {"already holds a run", "resume", "force"});
  EXPECT_EQ(test::read_text(dir_ / "run/checkpoint.pt"), before);
  test::expect_clean_error(test::run_domino(run + " --resume --force"), {"exclude each other"});
  EXPECT_EQ(test::run_domino(run + " --force").exit_code, 0);
  test::expect_clean_error(test::run_domino("train --resume --out " + (dir_ / "nothing")), {"nothing to resume"});
}

TEST_F(HostileInput, ExperimentConfigsRejectUnknownKeysAndNegativeSeeds) {
  auto spec = [&](const std::string& extra) {
    std::ofstream(dir_ / "e.yaml") << "name: e\ndense: {checkpoint: x.pt}\nbudgets: [params:0.5]\nschemes: [uniform]\n" << extra;
    return dir_ / "e.yaml";
  };
  EXPECT_NO_THROW(load_experiment(spec("search: {max-iters: 5}\nseeds: [0, 3]\n")));
  test::expect_error_containing([&] { load_experiment(spec("search: {max-iter: 5}\n")); }, {"search", "unknown key 'max-iter'", "max-iters"});
  test::expect_error_containing([&] { load_experiment(spec("seeds: [-1]\n")); }, {"non-negative integers", "-1"});
  test::expect_error_containing([&] { load_experiment(spec("finetune: {epoch: 2}\n")); }, {"finetune", "unknown option 'epoch'"});
  std::ofstream(dir_ / "d.yaml") << "name: d\ndense: {checkpoint: x.pt, chekpoint: y.pt}\nbudgets: [params:0.5]\nschemes: [uniform]\n";
  test::expect_error_containing([&] { load_experiment(dir_ / "d.yaml"); }, {"dense", "unknown key 'chekpoint'"});
}

TEST_F(HostileInput, ShippedConfigsLoad) {
  for (const auto& entry : test::fs::directory_iterator(test::fs::path(DOMINO_SOURCE_DIR) / "configs")) {
    if (entry.path().extension() != ".yaml") continue;  // configs/schemes/ holds scheme files
    const auto j = load_yaml_file(entry.path().string());
    if (j.contains("budgets")) {
      EXPECT_NO_THROW(load_experiment(entry.path().string())) << entry.path();
    } else {
      EXPECT_NO_THROW(validate(merge_config(TrainConfig{}, j, entry.path().string()))) << entry.path();
    }
  }
  const auto directory = (test::fs::path(DOMINO_SOURCE_DIR) / "configs" / "schemes").string();
  test::expect_error_containing([&] { load_yaml_file(directory); }, {directory, "is a directory", "config file"});
}

TEST_F(HostileInput, ImageFolderValidationClassesMustMatchTraining) {
  test::write_image_tree(dir_.path() / "tree", {"ant", "bee", "cat"}, 1, 1, false);
  const auto& spec = dataset_spec("imagenet");
  EXPECT_NO_THROW(load_dataset(spec, Split::Test, dir_ / "tree"));
  test::fs::rename(dir_.path() / "tree/val/bee", dir_.path() / "tree/val/bees");
  test::expect_error_containing([&] { load_dataset(spec, Split::Test, dir_ / "tree"); },
                                {"different classes", "only in train: bee", "only in val: bees"});
}

TEST_F(HostileInput, SchemeNumbersMustBeWholeAndTheSchemeMustFitTheWeights) {
  auto model = make_model("resnet8", {1, 10});
  const auto table = build_layer_table(*model, {1, 28, 28});
  auto scheme = uniform_scheme(dense_scheme(table, 16, Layout::NHWC), 2);
  scheme.model = "resnet8";
  auto with = [&](const std::string& name, const std::function<void(nlohmann::json&)>& change) {
    auto j = to_json(scheme);
    change(j);
    std::ofstream(dir_ / name) << j.dump();
    return dir_ / name;
  };
  test::expect_error_containing([&] { load_scheme(with("half.json", [](auto& j) { j["layers"][1]["N"] = 4.5; })); },
                                {"half.json", "N must be a whole number", "4.5"});
  test::expect_error_containing([&] { load_scheme(with("huge.json", [](auto& j) { j["layers"][1]["N"] = 1e300; })); },
                                {"huge.json", "whole number"});
  test::expect_error_containing([&] { load_scheme(with("shape.json", [](auto& j) { j["layers"][0]["shape"][0] = -3; })); },
                                {"shape.json", "impossible size -3"});
  const auto state = module_state(*model);
  auto missing = load_scheme(with("missing.json", [](auto& j) { j["layers"].erase(2); }));
  test::expect_error_containing([&] { verify_nm(state, missing); }, {"no entry for", "(the scheme is for resnet8)"});
  test::expect_error_containing([&] { pruned_state(state, missing); }, {"no entry for"});
  auto other = make_model("resnet20", {1, 10});
  test::expect_error_containing([&] { verify_nm(module_state(*other), scheme); }, {"no entry for"});
  EXPECT_NO_THROW(verify_nm(pruned_state(state, scheme), scheme));
}

TEST_F(HostileInput, VerifyReadsTheAuthorsFormatWithTheCheckpointsModel) {
  test::write_tiny_mnist(dir_.path() / "data", 32, 10);
  ASSERT_EQ(test::run_domino("train --model resnet8 --dataset mnist --data-dir " + (dir_ / "data") +
                             " --epochs 1 --batch-size 16 --threads 1 --max-iters 1 --out " + (dir_ / "run")).exit_code, 0);
  const auto table = build_layer_table(*make_model("resnet8", {1, 10}), {1, 28, 28});
  std::string text = "{";
  int conv = 0;
  for (const auto& l : table.layers)
    text += l.weight_shape.size() == 4 ? fmt::format("'SparseConv{}_{}-{}-({}, {})': [16, 16], ", conv++, l.weight_shape[1],
                                                     l.weight_shape[0], l.weight_shape[2], l.weight_shape[3])
                                       : fmt::format("'Linear0_{}-{}': [16, 16]", l.weight_shape[1], l.weight_shape[0]);
  std::ofstream(dir_ / "authors.txt") << text << "}";
  const auto r = test::run_domino("verify --weights " + (dir_ / "run/checkpoint.pt") + " --scheme " + (dir_ / "authors.txt"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("verified"), std::string::npos) << r.output;
}

TEST_F(HostileInput, DataFilesDirectoriesAndOverflowingHeaders) {
  test::expect_error_containing([&] { read_file_bytes(dir_.path().string()); }, {"is a directory"});
  test::write_bytes(dir_ / "wrap.idx", test::idx_bytes({0x10000, 0x10000, 0x10001, 0xffff}, {1, 2, 3}));
  test::expect_error_containing([&] { read_idx(dir_ / "wrap.idx"); }, {"wrap.idx", "larger than any file"});
  test::expect_error_containing([&] { write_file_atomic(dir_.path().string(), [](std::ostream&) {}); }, {"is a directory"});
  test::expect_error_containing([&] { write_file_atomic(dir_ / "f.json", [](std::ostream&) { throw Error("disk full"); }); },
                                {"disk full"});
  EXPECT_FALSE(test::fs::exists(dir_.path() / "f.json.tmp"));
  std::string nm = "DNMW";
  for (uint32_t v : {1u, 0xffffffffu}) nm.append(reinterpret_cast<const char*>(&v), 4);
  test::write_bytes(dir_ / "many.nm", {nm.begin(), nm.end()});
  test::expect_error_containing([&] { read_nm(dir_ / "many.nm"); }, {"many.nm", "truncated", "4294967295 layers"});
}

// Inputs the fuzzers found (tests/fuzz_regressions/<reader>/): each must stay a clean error.
TEST_F(HostileInput, FuzzFindingsStayCleanErrors) {
  const auto root = test::fs::path(DOMINO_SOURCE_DIR) / "tests/fuzz_regressions";
  int seen = 0;
  for (const auto& entry : test::fs::directory_iterator(root / "checkpoint")) {
    test::expect_error_containing([&] { read_weight_file(entry.path().string()); }, {entry.path().filename().string()});
    ++seen;
  }
  for (const auto& entry : test::fs::directory_iterator(root / "image")) {
    test::expect_error_containing([&] { decode_image(entry.path().string()); }, {entry.path().filename().string()});
    ++seen;
  }
  EXPECT_GE(seen, 2);
  // A value that is not UTF-8 in an error message (nlohmann's dump threw on it).
  const nlohmann::json bad_text = {{"epochs", std::string("\x8d")}};
  test::expect_error_containing([&] { merge_config(TrainConfig{}, bad_text, "utf8.yaml"); }, {"utf8.yaml", "option 'epochs' must be"});
}

}  // namespace
}  // namespace domino
