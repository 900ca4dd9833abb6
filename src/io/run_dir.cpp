#include "io/run_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "domino/core/error.h"

namespace fs = std::filesystem;

namespace domino {
namespace {

// What a run writes; any of them means the directory already holds a run.
const std::vector<std::string>& run_files() {
  static const std::vector<std::string> files = {"config.json", "checkpoint.pt", "metrics.jsonl", "result.json",
                                                 "pruned.pt", "scheme.json"};
  return files;
}

std::string holder_of(const fs::path& lock) {
  std::ifstream in(lock);
  std::string pid;
  std::getline(in, pid);
  return pid.empty() ? "another process" : "process " + pid;
}

}  // namespace

RunDirMode run_dir_mode(bool resume, bool force) {
  if (resume && force) fail("resume and force exclude each other: resume continues the run, force replaces it");
  return resume ? RunDirMode::Resume : force ? RunDirMode::Force : RunDirMode::Fresh;
}

RunDirLock::RunDirLock(const std::string& dir, RunDirMode mode, const std::string& checkpoint) {
  std::error_code error;
  fs::create_directories(dir, error);
  if (error || !fs::is_directory(dir)) fail("cannot use {} as a run directory: {}", dir, error ? error.message() : "not a directory");
  const fs::path lock = fs::path(dir) / ".lock";
  fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) fail("cannot lock {}: {}", lock.string(), std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const std::string holder = holder_of(lock);
    ::close(fd_);
    fail("{} is in use by another run ({}); wait for it to finish or choose another output directory", dir, holder);
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  const bool noted = ::ftruncate(fd_, 0) == 0 && ::write(fd_, pid.data(), pid.size()) == static_cast<ssize_t>(pid.size());
  (void)noted;  // the pid only improves the message another run prints
  // A run killed while writing leaves its .tmp behind; holding the lock, nobody else writes one.
  for (const auto& entry : fs::directory_iterator(dir, error))
    if (entry.path().extension() == ".tmp") fs::remove(entry.path(), error);
  try {
    if (mode == RunDirMode::Resume && !fs::exists(checkpoint))
      fail("nothing to resume in {}: {} does not exist", dir, checkpoint);
    if (mode == RunDirMode::Fresh)
      for (const auto& f : run_files())
        if (fs::exists(fs::path(dir) / f))
          fail("{} already holds a run ({} exists): continue it with resume, replace it with force, or choose another "
               "output directory", dir, f);
  } catch (...) {
    ::close(fd_);
    throw;
  }
}

RunDirLock::~RunDirLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock; the file stays (removing it would race a waiting run)
}

}  // namespace domino
