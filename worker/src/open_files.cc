// OpenFiles: the worker's kept descriptors; see open_files.h.
#include "open_files.h"

#include <algorithm>

namespace fc::worker {

OpenFiles::OpenFiles(size_t capacity, int64_t idle_ns) : capacity_(capacity), idle_ns_(idle_ns) {}

size_t OpenFiles::Affordable(uint64_t nofile, size_t wanted) {
  constexpr uint64_t kReserved = 1024;
  if (nofile <= kReserved) return 0;
  return static_cast<size_t>(std::min<uint64_t>(wanted, (nofile - kReserved) / 2));
}

bool OpenFiles::Find(const std::string& name, const shm_cache::FileIdentity& id, int64_t now_ns,
                     OpenedFile* out) {
  if (capacity_ == 0) return false;
  List stale;
  {
    MutexLock lock(&mu_);
    auto it = index_.find(name);
    if (it == index_.end()) return false;
    List::iterator kept = it->second;
    if (kept->file.identity == id) {
      kept->used_ns = now_ns;
      lru_.splice(lru_.begin(), lru_, kept);
      *out = kept->file;
      return true;
    }
    index_.erase(it);  // another file under the name now
    stale.splice(stale.end(), lru_, kept);
  }
  return false;  // `stale` closes here, unlocked
}

void OpenFiles::Keep(const std::string& name, const OpenedFile& file, int64_t now_ns) {
  if (capacity_ == 0 || !file.fd.valid()) return;
  List dropped;
  {
    MutexLock lock(&mu_);
    auto it = index_.find(name);
    if (it != index_.end()) {
      List::iterator kept = it->second;
      index_.erase(it);
      dropped.splice(dropped.end(), lru_, kept);
    } else if (lru_.size() >= capacity_) {
      DropBack(lru_.size() - capacity_ + 1, &dropped);
    }
    lru_.push_front(Kept{name, file, now_ns});
    index_.emplace(lru_.front().name, lru_.begin());
  }
}

void OpenFiles::Forget(const std::string& name) {
  if (capacity_ == 0) return;
  List dropped;
  {
    MutexLock lock(&mu_);
    auto it = index_.find(name);
    if (it == index_.end()) return;
    List::iterator kept = it->second;
    index_.erase(it);
    dropped.splice(dropped.end(), lru_, kept);
  }
}

void OpenFiles::CloseIdle(int64_t now_ns) {
  if (capacity_ == 0) return;
  List dropped;
  {
    MutexLock lock(&mu_);
    size_t idle = 0;
    for (auto it = lru_.rbegin(); it != lru_.rend() && now_ns - it->used_ns > idle_ns_; ++it) ++idle;
    DropBack(idle, &dropped);
  }
}

void OpenFiles::Shrink() {
  List dropped;
  {
    MutexLock lock(&mu_);
    DropBack((lru_.size() + 1) / 2, &dropped);
  }
}

size_t OpenFiles::size() const {
  MutexLock lock(&mu_);
  return lru_.size();
}

void OpenFiles::DropBack(size_t count, List* dropped) {
  for (; count > 0 && !lru_.empty(); --count) {
    index_.erase(lru_.back().name);
    dropped->splice(dropped->begin(), lru_, std::prev(lru_.end()));
  }
}

}  // namespace fc::worker
