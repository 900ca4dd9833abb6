// One run owns its output directory: an exclusive lock while it runs, and no fresh run
// over the files of an earlier one unless asked.
#pragma once

#include <string>

namespace domino {

enum class RunDirMode {
  Fresh,   // refuse a directory that already holds a run's files
  Resume,  // continue the run there: its checkpoint must exist
  Force,   // start afresh over whatever the directory holds
};

// Held for the whole run: flock(2) on <dir>/.lock, released by the kernel when the
// process ends however it ends, so a killed run never leaves a stale lock. Taking it
// removes the *.tmp files a killed run left there.
class RunDirLock {
 public:
  // Creates `dir` if needed; fails with one line if another process holds it, or if
  // `mode` forbids what the directory holds (`checkpoint` is the file a resume needs).
  RunDirLock(const std::string& dir, RunDirMode mode, const std::string& checkpoint);
  ~RunDirLock();
  RunDirLock(const RunDirLock&) = delete;
  RunDirLock& operator=(const RunDirLock&) = delete;

 private:
  int fd_ = -1;
};

RunDirMode run_dir_mode(bool resume, bool force);  // fails if both are set

}  // namespace domino
