// Load lock files; see load_locks.h.
#include "load_locks.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "fc/base/checksum.h"
#include "fc/base/clock.h"
#include "fc/base/log.h"
#include "fc/base/private_dir.h"

namespace fc::worker {
LoadLocks::LoadLocks(std::string dir, uint64_t salt) : dir_(std::move(dir)), salt_(salt) {}

LoadLocks::Held::~Held() { Release(); }

LoadLocks::Held& LoadLocks::Held::operator=(Held&& o) noexcept {
  if (this != &o) {
    Release();
    owner_ = o.owner_;
    slot_ = o.slot_;
    fd_ = o.fd_;
    o.owner_ = nullptr;
  }
  return *this;
}

void LoadLocks::Held::Release() {
  if (owner_ == nullptr) return;
  owner_->Unlock(slot_, fd_);  // the file and its descriptor stay for the next load
  owner_ = nullptr;
}

uint32_t LoadLocks::PoolIndex(const std::string& name) const {
  Checksum64 hash;
  hash.Update(&salt_, sizeof(salt_));
  hash.Update(name.data(), name.size());
  return static_cast<uint32_t>(hash.Digest() % kPoolSize);
}

namespace {
std::string SlotFileName(uint32_t slot) {
  char file[24];
  std::snprintf(file, sizeof(file), "%03u.lock", slot);
  return file;
}
}  // namespace

std::string LoadLocks::FileName(const std::string& name) const { return SlotFileName(PoolIndex(name)); }

std::shared_ptr<UniqueFd> LoadLocks::Dir() {
  MutexLock lock(&mu_);
  if (!dir_fd_ || !dir_fd_->valid()) {
    dir_fd_ = std::make_shared<UniqueFd>(
        ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  }
  return dir_fd_;
}

std::shared_ptr<UniqueFd> LoadLocks::ReopenDir(const std::shared_ptr<UniqueFd>& stale) {
  MutexLock lock(&mu_);
  if (dir_fd_ != stale && dir_fd_ && dir_fd_->valid()) return dir_fd_;  // another thread did it
  const Status st = EnsurePrivateDirectory(dir_);
  if (!st.ok()) {
    log::Line("lock directory: ", st.message());
    return nullptr;
  }
  log::Line("lock directory ", dir_, " had vanished; recreated it");
  dir_fd_ = std::make_shared<UniqueFd>(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  return dir_fd_->valid() ? dir_fd_ : nullptr;
}

namespace {
// Sleeps a poll's pause, never past the deadline; false if the deadline has passed.
bool PauseUntil(int64_t deadline_ns, int64_t* pause_us) {
  const int64_t now = MonotonicNowNs();
  if (now >= deadline_ns) return false;
  // A load takes milliseconds to seconds: poll gently.
  const int64_t sleep_ns = std::min<int64_t>(*pause_us * 1000, deadline_ns - now);
  timespec ts{static_cast<time_t>(sleep_ns / 1000000000LL), static_cast<long>(sleep_ns % 1000000000LL)};
  ::nanosleep(&ts, nullptr);
  *pause_us = std::min<int64_t>(*pause_us * 2, 10'000);
  return true;
}
}  // namespace

bool LoadLocks::Claim(uint32_t slot, int64_t deadline_ns) {
  for (int64_t pause_us = 200;;) {
    {
      MutexLock lock(&mu_);
      if (!slots_[slot].claimed) {
        slots_[slot].claimed = true;
        return true;
      }
    }
    if (!PauseUntil(deadline_ns, &pause_us)) return false;
  }
}

void LoadLocks::ReleaseClaim(uint32_t slot) {
  MutexLock lock(&mu_);
  slots_[slot].claimed = false;
}

void LoadLocks::Unlock(uint32_t slot, int fd) {
  ::flock(fd, LOCK_UN);  // still this claim's descriptor: only the claimer replaces it
  ReleaseClaim(slot);
}

LoadLocks::Outcome LoadLocks::LockClaimed(uint32_t slot, const std::string& file, int64_t deadline_ns,
                                          std::string* error, int* locked) {
  int fd;
  {
    MutexLock lock(&mu_);
    fd = slots_[slot].file.get();  // only this thread (the claimer) changes it now
  }
  std::shared_ptr<UniqueFd> dir;
  int64_t pause_us = 200;
  for (int reopened = 0;;) {
    if (fd < 0) {
      if (!dir) dir = Dir();
      if (!dir || !dir->valid()) {
        dir = ReopenDir(dir);
        if (!dir) {
          *error = "lock directory " + dir_ + " is unusable";
          return Outcome::kError;
        }
      }
      UniqueFd opened(::openat(dir->get(), file.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
      if (!opened.valid()) {
        if (errno == EINTR) continue;
        if (errno == ENOENT && reopened++ < 3) {  // the directory itself is gone
          dir = ReopenDir(dir);
          continue;
        }
        *error = Status::FromErrno(errno, "open", dir_ + "/" + file).message();
        return Outcome::kError;
      }
      fd = opened.get();
      MutexLock lock(&mu_);
      slots_[slot].file = std::move(opened);
    }
    while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      if (errno != EWOULDBLOCK && errno != EINTR) {
        *error = Status::FromErrno(errno, "flock", dir_ + "/" + file).message();
        return Outcome::kError;
      }
      if (!PauseUntil(deadline_ns, &pause_us)) return Outcome::kTimedOut;
    }
    // Locked. Is the file still in the directory? Only a directory removed
    // under fc (a /tmp cleaner) unlinks it: then the other processes lock
    // the file there now, so drop this one and open that.
    struct stat st;
    if (::fstat(fd, &st) == 0 && st.st_nlink > 0) {
      *locked = fd;
      return Outcome::kHeld;
    }
    {
      MutexLock lock(&mu_);
      slots_[slot].file.Reset();  // closing it drops the flock
    }
    fd = -1;
    if (MonotonicNowNs() >= deadline_ns) return Outcome::kTimedOut;
  }
}

LoadLocks::Outcome LoadLocks::Acquire(const std::string& name, int64_t deadline_ns, Held* held,
                                      std::string* error) {
  held->Release();
  const uint32_t slot = PoolIndex(name);
  if (!Claim(slot, deadline_ns)) return Outcome::kTimedOut;
  int fd = -1;
  const Outcome outcome = LockClaimed(slot, SlotFileName(slot), deadline_ns, error, &fd);
  if (outcome != Outcome::kHeld) {
    ReleaseClaim(slot);
    return outcome;
  }
  held->owner_ = this;
  held->slot_ = slot;
  held->fd_ = fd;
  return Outcome::kHeld;
}

}  // namespace fc::worker
