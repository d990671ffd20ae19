// Internal header: LoadLocks, the named flock-style locks that make sure only
// one process in the whole server loads a given file from disk.
//
// A fixed pool of kPoolSize lock files in the master's private directory
// (private_dir.h), 000.lock to 255.lock, opened relative to the directory's
// fd with O_NOFOLLOW. A name's file is chosen by a salted hash of the name
// (so another user cannot tell which names share one); two names that share
// a file only serialise their loads. Files are created on first use and
// stay until the master stops, and the directory never holds more than
// kPoolSize files. Each process opens a pool file once, on first use, and
// keeps the descriptor: a load costs a flock, an fstat and an unlock — no
// path lookup, no create or remove. One descriptor is one flock owner for
// the whole process, so the threads of a process take a slot in turn
// first (an in-process claim), then the flock, which the other processes
// see. The kernel drops a dead holder's lock. Waits are bounded: past the
// deadline the caller does without the lock. If the directory vanishes (a
// /tmp cleaner), the held file's link count says so: it is recreated,
// logged, and the file reopened. A caller holds at most one load lock at a
// time, so sharing a file can delay a load but never deadlock.
// Thread-safe. Not to be shared across fork(): construct it in the process
// that uses it (each worker does).
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

  // A held lock; destroying it releases the lock (the file and its
  // descriptor stay for the next load). Must not outlive its LoadLocks.
  class Held {
   public:
    Held() = default;
    Held(Held&& o) noexcept { *this = std::move(o); }
    Held& operator=(Held&& o) noexcept;
    Held(const Held&) = delete;
    Held& operator=(const Held&) = delete;
    ~Held();
    bool held() const { return owner_ != nullptr; }
    void Release();

   private:
    friend class LoadLocks;
    LoadLocks* owner_ = nullptr;
    uint32_t slot_ = 0;
    int fd_ = -1;  // the slot's kept descriptor (the claim keeps it open)
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

  // Claims `slot` for this thread (no other thread of this process holds
  // it), waiting until the deadline; false when it ran out.
  bool Claim(uint32_t slot, int64_t deadline_ns);
  // flock's LOCK_EX on the claimed slot's file, waiting until the deadline;
  // opens (and creates) the file first if this process has not yet. On
  // kHeld, *locked is the locked descriptor.
  Outcome LockClaimed(uint32_t slot, const std::string& file, int64_t deadline_ns, std::string* error,
                      int* locked);
  // Gives up the claim of `slot` (no flock held).
  void ReleaseClaim(uint32_t slot);
  // Unlocks `fd` (no mutex held) and gives up the claim (Held::Release).
  void Unlock(uint32_t slot, int fd);

  const std::string dir_;
  const uint64_t salt_;
  Mutex mu_;
  std::shared_ptr<UniqueFd> dir_fd_ FC_GUARDED_BY(mu_);  // replaced when the directory vanished
  struct Slot {
    bool claimed = false;  // a thread of this process holds it, or is taking the flock
    UniqueFd file;         // the pool file, open once; used only by the claimer
  };
  Slot slots_[kPoolSize] FC_GUARDED_BY(mu_);
};

}  // namespace fc::worker
