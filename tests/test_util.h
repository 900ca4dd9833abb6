// Helpers shared by the tests: temporary directories, small dataset files written on
// the fly, and running the `domino` executable.
#pragma once

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <functional>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <sys/wait.h>
#include <vector>

#include "domino/core/error.h"
#include "domino/train/train_config.h"
#include "test_paths.h"

namespace domino::test {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = fs::temp_directory_path() / ("domino-test-" + std::to_string(rd()) + std::to_string(rd()));
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

inline void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes, bool gzip = false) {
  if (gzip) {
    gzFile f = gzopen(path.c_str(), "wb");
    gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(f);
    return;
  }
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

inline std::vector<uint8_t> idx_bytes(const std::vector<uint32_t>& dims, const std::vector<uint8_t>& data) {
  std::vector<uint8_t> b = {0, 0, 0x08, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims)
    for (int shift : {24, 16, 8, 0}) b.push_back(static_cast<uint8_t>(d >> shift));
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

// An MNIST-layout directory of `n_train` / `n_test` 28x28 images whose class is
// readable from the pixels (class c brightens row band c), so small models can learn it.
inline void write_tiny_mnist(const fs::path& dir, int n_train, int n_test, bool gzip = true) {
  fs::create_directories(dir);
  std::mt19937 rng(7);
  auto make = [&](const std::string& prefix, int n) {
    std::vector<uint8_t> pixels, labels;
    for (int i = 0; i < n; ++i) {
      const int label = i % 10;
      labels.push_back(static_cast<uint8_t>(label));
      for (int y = 0; y < 28; ++y)
        for (int x = 0; x < 28; ++x)
          pixels.push_back(static_cast<uint8_t>((y / 3 == label ? 160 : 0) + rng() % 64));
    }
    const std::string ext = gzip ? ".gz" : "";
    write_bytes((dir / (prefix + "-images-idx3-ubyte" + ext)).string(),
                idx_bytes({static_cast<uint32_t>(n), 28, 28}, pixels), gzip);
    write_bytes((dir / (prefix + "-labels-idx1-ubyte" + ext)).string(), idx_bytes({static_cast<uint32_t>(n)}, labels), gzip);
  };
  make("train", n_train);
  make("t10k", n_test);
}

// A few-second training run: ResNet-8 on 96 tiny MNIST-layout images (6 iterations an
// epoch, 3 epochs), one LibTorch thread so that float reductions are deterministic.
inline TrainConfig tiny_train_config(const TempDir& dir, const std::string& out) {
  write_tiny_mnist(dir.path() / "data", 96, 40);
  TrainConfig c;
  c.model = "resnet8";
  c.dataset = "mnist";
  c.data_dir = (dir.path() / "data").string();
  c.epochs = 3;
  c.batch_size = 16;
  c.lr = 0.05;
  c.schedule = "cosine";
  c.warmup_epochs = 0.5;
  c.threads = 1;
  c.workers = 2;
  c.log_every = 2;
  c.out = (dir.path() / out).string();
  return c;
}

// Runs f and checks it throws domino::Error whose message holds every one of `parts`.
inline void expect_error_containing(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    for (const auto& part : parts) EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct CommandResult {
  int exit_code;
  std::string output;  // stdout and stderr together
};

// Runs a shell command, stdout and stderr together.
inline CommandResult run_command(const std::string& command) {
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  std::string output;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

inline CommandResult run_domino(const std::string& args) { return run_command(std::string(DOMINO_BIN) + " " + args); }

// Debian's interpreter: python3-torch and -torchvision are installed for it, not for other
// pythons on PATH. `script` is relative to tests/python.
inline CommandResult run_python(const std::string& script, const std::string& args) {
  return run_command("/usr/bin/python3 " + std::string(DOMINO_SOURCE_DIR) + "/tests/python/" + script + " " + args);
}

// The CLI's answer to bad input: exit 1 and a last line "error: ..." holding every part;
// with `only_line`, nothing else was printed (no backtrace, no abort message).
inline void expect_clean_error(const CommandResult& r, const std::vector<std::string>& parts, bool only_line = true) {
  EXPECT_EQ(r.exit_code, 1) << r.output;
  const size_t at = r.output.rfind("error: ");
  ASSERT_NE(at, std::string::npos) << r.output;
  const std::string last = r.output.substr(at);
  EXPECT_EQ(std::count(last.begin(), last.end(), '\n'), 1) << r.output;
  if (only_line) {
    EXPECT_EQ(at, 0u) << r.output;
  }
  for (const auto& p : parts) EXPECT_NE(last.find(p), std::string::npos) << r.output;
}

// A loopback port nothing listens on now (the kernel's pick), for a rank-0 store to serve on.
inline int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

}  // namespace domino::test
