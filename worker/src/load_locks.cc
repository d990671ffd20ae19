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

void LoadLocks::Held::Release() {
  if (!fd_.valid()) return;
  fd_.Reset();  // closing the descriptor drops the flock; the file stays for the next load
  dir_.reset();
}

uint32_t LoadLocks::PoolIndex(const std::string& name) const {
  Checksum64 hash;
  hash.Update(&salt_, sizeof(salt_));
  hash.Update(name.data(), name.size());
  return static_cast<uint32_t>(hash.Digest() % kPoolSize);
}

std::string LoadLocks::FileName(const std::string& name) const {
  char file[24];
  std::snprintf(file, sizeof(file), "%03u.lock", PoolIndex(name));
  return file;
}

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

LoadLocks::Outcome LoadLocks::Acquire(const std::string& name, int64_t deadline_ns, Held* held,
                                      std::string* error) {
  const std::string file = FileName(name);
  std::shared_ptr<UniqueFd> dir = Dir();
  int64_t pause_us = 200;
  for (int reopened = 0;;) {
    if (!dir || !dir->valid()) {
      dir = ReopenDir(dir);
      if (!dir) {
        *error = "lock directory " + dir_ + " is unusable";
        return Outcome::kError;
      }
    }
    UniqueFd fd(::openat(dir->get(), file.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd.valid()) {
      if (errno == EINTR) continue;
      if (errno == ENOENT && reopened++ < 3) {  // the directory itself is gone
        dir = ReopenDir(dir);
        continue;
      }
      *error = Status::FromErrno(errno, "open", dir_ + "/" + file).message();
      return Outcome::kError;
    }
    while (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
      if (errno != EWOULDBLOCK && errno != EINTR) {
        *error = Status::FromErrno(errno, "flock", dir_ + "/" + file).message();
        return Outcome::kError;
      }
      const int64_t now = MonotonicNowNs();
      if (now >= deadline_ns) return Outcome::kTimedOut;
      // A load takes milliseconds to seconds: poll gently, never past the deadline.
      const int64_t sleep_ns = std::min<int64_t>(pause_us * 1000, deadline_ns - now);
      timespec ts{static_cast<time_t>(sleep_ns / 1000000000LL), static_cast<long>(sleep_ns % 1000000000LL)};
      ::nanosleep(&ts, nullptr);
      pause_us = std::min<int64_t>(pause_us * 2, 10'000);
    }
    // Locked. Is it still the file the directory names? Only a directory
    // removed and recreated under fc (a /tmp cleaner) makes it another: then
    // the file there now is the lock, so try again.
    struct stat mine, named;
    if (::fstat(fd.get(), &mine) == 0 && ::fstatat(dir->get(), file.c_str(), &named, AT_SYMLINK_NOFOLLOW) == 0 &&
        mine.st_ino == named.st_ino && mine.st_dev == named.st_dev) {
      held->Release();
      held->fd_ = std::move(fd);
      held->dir_ = dir;
      return Outcome::kHeld;
    }
    if (MonotonicNowNs() >= deadline_ns) return Outcome::kTimedOut;
  }
}

}  // namespace fc::worker
