// Internal header: OpenFiles, the descriptors a worker keeps open between
// misses of a file (nginx's open_file_cache). A miss that finds the file's
// descriptor here, for the identity its statx just read, skips the confined
// open and its fstat, and the reply's close: three system calls, one of them
// a path walk. The descriptor is shared with the replies and loads using it
// (SharedFd), so dropping it here never cuts a reply short.
//
// Safe to reuse: the descriptor was opened through FileSource's confined
// open, and it is used only while device, inode, size, mtime and ctime all
// match a fresh statx of the name, as a cache hit is. A changed file (new
// bytes, new mode: ctime) is opened afresh, and its old descriptor closed.
// A descriptor unused for the idle time is closed, so a removed file's space
// is freed within that time, whoever asks for it. Thread-safe: a mutex per
// worker, held for a hash lookup and never across a system call (descriptors
// are closed after it is released).
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>

#include "fc/base/mutex.h"
#include "file_source.h"

namespace fc::worker {

class OpenFiles {
 public:
  // Closed after this long unused (nginx's open_file_cache inactive=60s).
  static constexpr int64_t kIdleNs = 60'000'000'000LL;

  // Keeps at most `capacity` descriptors (0: none; Find never finds one).
  explicit OpenFiles(size_t capacity, int64_t idle_ns = kIdleNs);
  OpenFiles(const OpenFiles&) = delete;
  OpenFiles& operator=(const OpenFiles&) = delete;

  // The capacity a worker can afford under the open-file limit `nofile`: at
  // most `wanted`, and at most half of what is left beside 1,024 for the
  // listening sockets, the lock pool, logs and replies in flight. The other
  // half is for connections; when a worker still runs out (accept or open
  // fails with EMFILE), it closes the older half of these (Shrink).
  static size_t Affordable(uint64_t nofile, size_t wanted);

  // *out shares the kept descriptor of `name` if it is still the file `id`
  // says; a kept one for another identity is dropped. False: open it.
  bool Find(const std::string& name, const shm_cache::FileIdentity& id, int64_t now_ns, OpenedFile* out)
      FC_EXCLUDES(mu_);
  // Keeps `file`'s descriptor for the next miss of `name` (the least recently
  // used one goes when full).
  void Keep(const std::string& name, const OpenedFile& file, int64_t now_ns) FC_EXCLUDES(mu_);
  // Drops `name`'s descriptor, if kept (its open failed, or it was replaced).
  void Forget(const std::string& name) FC_EXCLUDES(mu_);
  // Closes the descriptors unused for the idle time.
  void CloseIdle(int64_t now_ns) FC_EXCLUDES(mu_);
  // Out of descriptors (accept failed with EMFILE): closes the older half.
  void Shrink() FC_EXCLUDES(mu_);

  size_t capacity() const { return capacity_; }
  size_t size() const FC_EXCLUDES(mu_);

 private:
  struct Kept {
    std::string name;
    OpenedFile file;
    int64_t used_ns = 0;
  };
  using List = std::list<Kept>;  // most recently used first
  // Moves the `count` least recently used into *dropped (closed by its
  // owner once the mutex is released).
  void DropBack(size_t count, List* dropped) FC_REQUIRES(mu_);

  const size_t capacity_;
  const int64_t idle_ns_;
  mutable Mutex mu_;
  List lru_ FC_GUARDED_BY(mu_);
  std::unordered_map<std::string_view, List::iterator> index_ FC_GUARDED_BY(mu_);  // views of Kept::name
};

}  // namespace fc::worker
