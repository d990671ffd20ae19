// Internal header: LoaderPool, the worker's disk threads.
//
// An event loop never blocks on disk or on another process's load: on a cache
// miss it hands a LoadTask here. A loader takes the file's load lock (LoadLocks:
// a flock, so only one process in the whole server loads a given file; the
// kernel drops it if the holder dies; a wait past the deadline streams the file
// instead), then asks the cache again: another process may have
// loaded it meanwhile. Otherwise it reads the file into a reservation and
// publishes it, or, if the cache cannot hold it, checksums it for streaming.
// The result goes back to the loop through `done`. With --compress it may
// instead make (once, for every worker) and return the file's compressed
// copy (compressor.h). Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "fc/base/mutex.h"
#include "fc/base/unique_fd.h"
#include "fc/protocol/content_coding.h"
#include "fc/protocol/wire.h"
#include "fc/shm_cache/cache.h"
#include "file_source.h"
#include "outcome.h"
#include "load_locks.h"

namespace fc::worker {

struct LoadResult {
  // kWouldBlock: a load that may not wait (LoaderPool::TryLoadNow) gave up,
  // leaving nothing to undo.
  // kListed: a directory listing's page, from the Lister (lister.h).
  enum class Kind { kCached, kStream, kError, kUploaded, kWritten, kWouldBlock, kListed } kind = Kind::kError;
  shm_cache::PinnedEntry pin;  // kCached
  SharedFd fd;                 // kStream
  uint64_t checksum = 0;       // kStream, kUploaded
  uint64_t length = 0;         // kUploaded: bytes stored
  Outcome how = Outcome::kNone;  // how the load ended (outcome.h)
  std::optional<http::Coding> coding;  // kCached: the pin is the file's compressed copy in this coding
  Refusal refusal{protocol::Code::kInternal, ""};  // kError: the reply
  std::string body;            // kListed: the rendered page
};

struct LoadTask {
  std::string name;
  SharedFd fd;
  shm_cache::FileIdentity identity;
  bool need_checksum = true;  // a streamed file is hashed first only if the reply carries it
  int64_t deadline_ns = 0;    // monotonic: past it, stop waiting for another load and stream
  // --compress: bring back the file's compressed copy in this coding, made
  // now if need be (under the copy's own load lock); failing that (not
  // smaller, no room, a wait past the deadline), the file itself.
  std::optional<http::Coding> compress;
  std::function<void(LoadResult)> done;  // called on a loader thread
};

class LoaderPool {
 public:
  // A load waits for another process's load of the same file until the task's
  // deadline (or `lock_wait_ms` from its start); past that it streams the file
  // from disk instead (correct, uncached).
  // `drop_loaded_pages`: once a file's bytes are in the segment, drop its pages
  // from the kernel's page cache (POSIX_FADV_DONTNEED), so that memory holds
  // them once, not twice (--page-cache drop; auto under a memory limit).
  LoaderPool(shm_cache::ShmCache& cache, LoadLocks& locks, int lock_wait_ms, int threads,
             bool drop_loaded_pages = true);
  ~LoaderPool();  // stops and joins; jobs not started are dropped (their files close)
  LoaderPool(const LoaderPool&) = delete;
  LoaderPool& operator=(const LoaderPool&) = delete;

  void Submit(LoadTask task);
  // Runs `task` on the calling thread (an event loop) when that needs no
  // waiting: its load lock free at once and its bytes in the page cache
  // (preadv2 RWF_NOWAIT). Returns false, with `task` intact and nothing to
  // undo, when it would wait; the caller then Submits it. Saves a miss the two
  // thread hand-offs (docs/performance.md).
  std::optional<LoadResult> TryLoadNow(LoadTask& task);
  // Runs any disk-bound job (e.g. committing an upload) on a loader thread.
  void Post(std::function<void()> job);

 private:
  void Run();
  // kNoWait: give up (kWouldBlock) rather than wait for the load lock or the
  // disk; kMayWait: wait as the task's deadline allows.
  enum class Waiting { kMayWait, kNoWait };
  LoadResult Load(LoadTask& task, Waiting waiting = Waiting::kMayWait);
  // Reads the file into a reservation made under its load lock and
  // publishes it (Load's second half).
  LoadResult Fill(LoadTask& task, shm_cache::Reservation& reservation, LoadLocks::Held* lock, Waiting waiting);
  // task.compress: the copy's pin into *result (true), or false to serve the
  // file itself.
  bool LoadCopy(LoadTask& task, LoadResult* result);
  // A streamed file's checksum, from the segment's table or hashed (and put there).
  LoadResult Stream(LoadTask& task, Outcome how, Waiting waiting = Waiting::kMayWait);
  // The bytes into the reservation; their checksum, or why not: kBusy when
  // kNoWait met a page not in the page cache. *injected: the failure came
  // from FC_CRASH_ACTION=error (tests).
  Result<uint64_t> ReadInto(const LoadTask& task, const shm_cache::Reservation& reservation, Waiting waiting,
                            bool* injected);

  shm_cache::ShmCache& cache_;
  LoadLocks& locks_;
  const int lock_wait_ms_;
  const bool drop_loaded_pages_;
  Mutex mu_;
  std::condition_variable_any cv_;
  std::deque<std::function<void()>> queue_ FC_GUARDED_BY(mu_);
  bool stopping_ FC_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace fc::worker
