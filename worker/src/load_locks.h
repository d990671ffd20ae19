// Internal header: LoadLocks, the named flock-style locks that make sure only
// one process in the whole server loads a given file from disk.
//
// A fixed pool of kPoolSize lock files in the master's private directory
// (private_dir.h), 000.lock to 255.lock, opened relative to the directory's
// fd with O_NOFOLLOW. A name's file is chosen by a salted hash of the name
// (so another user cannot tell which names share one); two names that share
// a file only serialise their loads. Files are created on first use and
// stay until the master stops, so a miss costs an open and a flock, never a
// create and a remove (no file-system metadata write per miss), and the
// directory never holds more than kPoolSize files. The kernel drops a dead
// holder's lock. Waits are bounded: past the deadline the caller does
// without the lock. If the directory vanishes (a /tmp cleaner), it is
// recreated and logged. A caller holds at most one load lock at a time, so
// sharing a file can delay a load but never deadlock. Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "fc/base/mutex.h"
#include "fc/base/unique_fd.h"

namespace fc::worker {

class LoadLocks {
 public:
  LoadLocks(std::string dir, uint64_t salt);
  LoadLocks(const LoadLocks&) = delete;
  LoadLocks& operator=(const LoadLocks&) = delete;

  static constexpr uint32_t kPoolSize = 256;

  // A held lock; destroying it releases the lock (the file stays).
  class Held {
   public:
    Held() = default;
    Held(Held&&) = default;
    Held& operator=(Held&&) = default;
    ~Held();
    bool held() const { return fd_.valid(); }
    void Release();

   private:
    friend class LoadLocks;
    UniqueFd fd_;
    std::shared_ptr<UniqueFd> dir_;  // the directory it is in (kept open while held)
  };

  enum class Outcome { kHeld, kTimedOut, kError };
  // Takes the lock for `name`, waiting until `deadline_ns` (monotonic) at most.
  // kError (with *error) only when the directory cannot be used at all.
  Outcome Acquire(const std::string& name, int64_t deadline_ns, Held* held, std::string* error);

  const std::string& directory() const { return dir_; }
  // The lock file's name for `name`: its pool slot, "NNN.lock".
  std::string FileName(const std::string& name) const;
  // Which of the kPoolSize files serves `name` (the salted hash, reduced).
  uint32_t PoolIndex(const std::string& name) const;

 private:
  // The directory's fd, opened on first use; after it vanished, recreated.
  std::shared_ptr<UniqueFd> Dir();
  std::shared_ptr<UniqueFd> ReopenDir(const std::shared_ptr<UniqueFd>& stale);

  const std::string dir_;
  const uint64_t salt_;
  Mutex mu_;
  std::shared_ptr<UniqueFd> dir_fd_ FC_GUARDED_BY(mu_);  // replaced when the directory vanished
};

}  // namespace fc::worker
