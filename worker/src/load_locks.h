// Internal header: LoadLocks, the named flock-style locks that make sure only
// one process in the whole server loads a given file from disk.
//
// One lock file per name being loaded, in the master's private directory
// (private_dir.h), opened relative to the directory's fd with O_NOFOLLOW, and
// named by a salted hash of the name (so another user cannot compute it). The
// holder removes the file when it is done, still holding the lock, so lock
// files do not pile up however many spellings or names are requested; a waiter
// that then gets the lock on the removed file notices (the path no longer
// leads to its inode) and tries again. The kernel drops a dead holder's lock.
// Waits are bounded: past the deadline the caller does without the lock.
// If the directory vanishes (a /tmp cleaner), it is recreated and logged.
// Thread-safe.
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

  // A held lock; destroying it removes the lock file, then releases the lock.
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
    std::string file_;
  };

  enum class Outcome { kHeld, kTimedOut, kError };
  // Takes the lock for `name`, waiting until `deadline_ns` (monotonic) at most.
  // kError (with *error) only when the directory cannot be used at all.
  Outcome Acquire(const std::string& name, int64_t deadline_ns, Held* held, std::string* error);

  const std::string& directory() const { return dir_; }
  // The lock file's name for `name`: the salted hash.
  std::string FileName(const std::string& name) const;

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
