// Disk loads coordinated by lock files; see loader.h.
#include "loader.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "fc/base/checksum.h"
#include "fc/base/clock.h"
#include "fc/base/crash_point.h"
#include "fc/base/log.h"
#include "compressor.h"

namespace fc::worker {
namespace {
// Disk work goes in chunks of this, and a loader thread yields the CPU between
// them: the event loops run SCHED_BATCH, so a loop woken by a request would
// otherwise wait out the loader's time slice (1-3 ms) behind a long load;
// measured, the hot p99 while 60 MB files load rose 4.5x without the yields.
constexpr size_t kReadChunk = 256 << 10;
// Inode times come from a coarse clock (one tick: 1-10 ms); a file whose
// ctime is this close to now is not memoised (Stream).
constexpr int64_t kRacyNs = 100'000'000;
}  // namespace

LoaderPool::LoaderPool(shm_cache::ShmCache& cache, LoadLocks& locks, int lock_wait_ms, int threads,
                       bool drop_loaded_pages)
    : cache_(cache), locks_(locks), lock_wait_ms_(lock_wait_ms), drop_loaded_pages_(drop_loaded_pages) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
}

LoaderPool::~LoaderPool() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  MutexLock lock(&mu_);
  queue_.clear();  // jobs nobody waits for any more: their files close
}

void LoaderPool::Submit(LoadTask task) {
  auto shared = std::make_shared<LoadTask>(std::move(task));
  Post([this, shared] {
    LoadResult result = Load(*shared);
    shared->done(std::move(result));
  });
}

std::optional<LoadResult> LoaderPool::TryLoadNow(LoadTask& task) {
  LoadResult r = Load(task, Waiting::kNoWait);
  if (r.kind == LoadResult::Kind::kWouldBlock) return std::nullopt;
  return r;
}

void LoaderPool::Post(std::function<void()> job) {
  {
    MutexLock lock(&mu_);
    queue_.push_back(std::move(job));
  }
  cv_.notify_one();
}

void LoaderPool::Run() {
  // A job runs at nice 10 (per-thread on Linux), so a cold load of a big
  // file yields to the event loops, and only when the thread may return to
  // nice 0 afterwards (root, or RLIMIT_NICE >= 20, which the master sets
  // before dropping root where it may: not without CAP_SYS_RESOURCE). An idle
  // loader must sit at nice 0: a SIGKILLed worker is reaped only once every
  // thread has run its exit, and a nice-10 thread on a busy machine waits
  // tens of milliseconds for that (measured: kill -> zombie 26-57 ms as
  // nobody with the loaders left at nice 10, 6-16 ms at nice 0). Without the
  // right to return, loaders stay at nice 0; the chunked reads' yields
  // (ReadInto) still let a woken loop in between chunks.
  const id_t tid = static_cast<id_t>(::gettid());
  rlimit nice_limit{};
  const bool can_restore = ::geteuid() == 0 ||
                           (::getrlimit(RLIMIT_NICE, &nice_limit) == 0 && nice_limit.rlim_cur >= 20);
  for (;;) {
    std::function<void()> job;
    {
      MutexLock lock(&mu_);
      while (!stopping_ && queue_.empty()) cv_.wait(mu_);
      if (stopping_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    if (can_restore) ::setpriority(PRIO_PROCESS, tid, 10);
    job();
    if (can_restore) ::setpriority(PRIO_PROCESS, tid, 0);
  }
}

namespace {
LoadResult WouldBlock() {
  LoadResult r;
  r.kind = LoadResult::Kind::kWouldBlock;
  return r;
}
}  // namespace

LoadResult LoaderPool::Load(LoadTask& task, Waiting waiting) {
  const bool nowait = waiting == Waiting::kNoWait;
  if (task.compress) {
    // Compressing takes milliseconds: never on an event loop.
    if (nowait) return WouldBlock();
    LoadResult copy;
    if (LoadCopy(task, &copy)) return copy;
  }
  LoadLocks::Held lock;
  std::string lock_error;
  const int64_t deadline = nowait                 ? 0  // one try
                           : task.deadline_ns != 0 ? task.deadline_ns
                                                   : MonotonicNowNs() + int64_t{lock_wait_ms_} * 1'000'000;
  switch (locks_.Acquire(task.name, deadline, &lock, &lock_error)) {
    case LoadLocks::Outcome::kHeld:
      break;
    case LoadLocks::Outcome::kTimedOut:
      if (nowait) return WouldBlock();
      // Another process is still loading it: serve correct bytes from disk now
      // rather than keep this client waiting.
      return Stream(task, Outcome::kStreamLoadBusy);
    case LoadLocks::Outcome::kError:
      log::Line(lock_error, "; streaming \"", task.name, "\" uncached");
      return Stream(task, Outcome::kStreamNoLock);
  }
  // Holding the lock: nobody else is loading this file. Ask again, since the
  // previous holder may just have published it.
  shm_cache::Admission admission = cache_.Admit(task.name, task.identity);
  switch (admission.kind) {
    case shm_cache::Admission::Kind::kHit: {
      LoadResult r;
      r.kind = LoadResult::Kind::kCached;
      r.pin = std::move(admission.pin);
      r.how = Outcome::kHit;
      return r;
    }
    case shm_cache::Admission::Kind::kTooLarge:
      lock.Release();
      return Stream(task, Outcome::kStream, waiting);
    case shm_cache::Admission::Kind::kNoRoom:
      lock.Release();
      return Stream(task, Outcome::kStreamPinned, waiting);
    case shm_cache::Admission::Kind::kBusy:
      lock.Release();
      return Stream(task, Outcome::kStreamLockBusy, waiting);  // a lock holder is stopped or slow
    case shm_cache::Admission::Kind::kNotAdmitted:
      lock.Release();
      return Stream(task, Outcome::kStreamFirst, waiting);  // the policy caches it if it comes back
    case shm_cache::Admission::Kind::kReserved:
      break;
  }
  return Fill(task, admission.reservation, &lock, waiting);
}

// The load itself, holding the file's load lock and a reservation: the bytes
// read into the reservation and published, or the reason why not.
LoadResult LoaderPool::Fill(LoadTask& task, shm_cache::Reservation& reservation, LoadLocks::Held* lock,
                            Waiting waiting) {
  bool injected = false;
  const int64_t load_started_ns = MonotonicNowNs();
  const Result<uint64_t> checksum = ReadInto(task, reservation, waiting, &injected);
  if (!checksum.ok()) {
    reservation.Abort();
    if (waiting == Waiting::kNoWait && checksum.status().kind() == Status::Kind::kBusy) return WouldBlock();
    LoadResult error;
    error.refusal = {injected ? protocol::Code::kInternal : protocol::Code::kBusy, checksum.status().message()};
    return error;
  }
  LoadResult r;
  r.pin = cache_.Publish(std::move(reservation), checksum.value());
  if (!r.pin.valid()) {
    // Reclaimed meanwhile, or the lock stayed busy: the bytes on disk are
    // still right, so serve them from there.
    lock->Release();
    return Stream(task, Outcome::kStreamLockBusy, waiting);
  }
  r.kind = LoadResult::Kind::kCached;
  r.how = Outcome::kMiss;
  // The bytes live in the segment now: the kernel's copy would only hold
  // memory twice (under a cgroup limit, charged twice). Only clean pages go;
  // a file being written keeps its dirty ones.
  if (drop_loaded_pages_) ::posix_fadvise(task.fd.get(), 0, 0, POSIX_FADV_DONTNEED);
  // Loader threads share the last lane: loads are rare next to requests.
  shm_cache::Observe(cache_.Counters(shm_cache::kCounterLanes - 1).load_latency,
                     static_cast<uint64_t>(MonotonicNowNs() - load_started_ns));
  return r;
}

Result<uint64_t> LoaderPool::ReadInto(const LoadTask& task, const shm_cache::Reservation& reservation,
                                      Waiting waiting, bool* injected) {
  const bool nowait = waiting == Waiting::kNoWait;
  Checksum64 hash;
  const uint64_t size = task.identity.size;
  uint64_t done = 0;
  iovec iov[64];
  while (done < size) {
    const int n = reservation.Spans(done, std::min<uint64_t>(kReadChunk, size - done), iov, 64);
    ssize_t got = ::preadv2(task.fd.get(), iov, n, static_cast<off_t>(done), nowait ? RWF_NOWAIT : 0);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0 && nowait && errno == EAGAIN) {  // not all in the page cache
      return Status::Busy("\"" + task.name + "\" is not all in the page cache");
    }
    if (got < 0) return Status::FromErrno(errno, "preadv", task.name);
    if (got == 0) return Status::Error("\"" + task.name + "\" shrank while loading; retry");
    // Hash exactly what was read, span by span.
    size_t left = static_cast<size_t>(got);
    for (int i = 0; i < n && left > 0; ++i) {
      const size_t take = std::min(left, iov[i].iov_len);
      hash.Update(iov[i].iov_base, take);
      left -= take;
    }
    if (done < size / 2 && done + static_cast<uint64_t>(got) >= size / 2) {
      crash::At(crash::Point::kMidLoad);
      if (crash::TakeInjectedError()) {
        *injected = true;
        return Status::Error("injected failure loading \"" + task.name + "\" (lock directory " +
                             locks_.directory() + ")");
      }
    }
    done += static_cast<uint64_t>(got);
    if (!nowait && done < size) ::sched_yield();
  }
  // Publish only what still matches the file on disk.
  struct stat st;
  if (::fstat(task.fd.get(), &st) != 0) return Status::FromErrno(errno, "fstat", task.name);
  const int64_t mtime = Nanoseconds(st.st_mtim);
  if (static_cast<uint64_t>(st.st_size) != size || mtime != task.identity.mtime_ns ||
      Nanoseconds(st.st_ctim) != task.identity.ctime_ns) {
    return Status::Error("\"" + task.name + "\" changed while loading; retry");
  }
  return hash.Digest();
}

bool LoaderPool::LoadCopy(LoadTask& task, LoadResult* result) {
  const http::Coding coding = *task.compress;
  const std::string name = CopyName(coding, task.name);
  LoadLocks::Held lock;
  std::string lock_error;
  const int64_t deadline =
      task.deadline_ns != 0 ? task.deadline_ns : MonotonicNowNs() + int64_t{lock_wait_ms_} * 1'000'000;
  if (locks_.Acquire(name, deadline, &lock, &lock_error) != LoadLocks::Outcome::kHeld) return false;
  // Another process may have made it while this one waited.
  Result<shm_cache::PinnedEntry> made = cache_.LookupCopy(name, task.identity, /*count_miss=*/false);
  shm_cache::PinnedEntry pin = made.ok() ? std::move(made).value() : shm_cache::PinnedEntry();
  Outcome how = Outcome::kHitAfterWait;
  if (!pin.valid()) {
    const uint64_t size = task.identity.size;
    std::string source(size, '\0');
    for (uint64_t done = 0; done < size;) {
      const ssize_t got = ::pread(task.fd.get(), source.data() + done, size - done, static_cast<off_t>(done));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return false;  // the plain load that follows reports it
      done += static_cast<uint64_t>(got);
    }
    struct stat st;
    if (::fstat(task.fd.get(), &st) != 0 || static_cast<uint64_t>(st.st_size) != size ||
        Nanoseconds(st.st_mtim) != task.identity.mtime_ns || Nanoseconds(st.st_ctim) != task.identity.ctime_ns) {
      return false;  // changed while read: the plain load sorts it out
    }
    std::string compressed, error;
    if (!Compress(coding, source.data(), size, &compressed, &error)) {
      log::Line("compressing \"", task.name, "\" (", http::CodingToken(coding), "): ", error,
                "; serving it uncompressed");
      return false;
    }
    // Not smaller: an empty copy says so to every worker, so nobody tries again.
    if (compressed.size() >= size) compressed.clear();
    shm_cache::Admission admission = cache_.AdmitCopy(name, task.identity, compressed.size());
    if (admission.kind == shm_cache::Admission::Kind::kHit) {
      pin = std::move(admission.pin);
    } else if (admission.kind != shm_cache::Admission::Kind::kReserved) {
      return false;  // no room (all pinned) or the lock busy: the file itself, this time
    } else {
      iovec iov[64];
      for (uint64_t done = 0; done < compressed.size();) {
        const int n = admission.reservation.Spans(done, compressed.size() - done, iov, 64);
        for (int i = 0; i < n; ++i) {
          std::memcpy(iov[i].iov_base, compressed.data() + done, iov[i].iov_len);
          done += iov[i].iov_len;
        }
      }
      Checksum64 hash;
      hash.Update(compressed.data(), compressed.size());
      pin = cache_.Publish(std::move(admission.reservation), hash.Digest());
      how = Outcome::kCompress;
    }
  }
  if (!pin.valid() || pin.size() == 0) return false;
  result->kind = LoadResult::Kind::kCached;
  result->pin = std::move(pin);
  result->coding = coding;
  result->how = how;
  return true;
}

LoadResult LoaderPool::Stream(LoadTask& task, Outcome how, Waiting waiting) {
  const bool nowait = waiting == Waiting::kNoWait;
  LoadResult r;
  r.how = how;
  // Hashed already, by any worker (the segment's table), or not needed.
  if (!task.need_checksum || cache_.FindStreamChecksum(task.identity, &r.checksum)) {
    r.kind = LoadResult::Kind::kStream;
    r.fd = std::move(task.fd);
    return r;
  }
  Checksum64 hash;
  std::unique_ptr<char[]> buffer(new char[std::max<uint64_t>(1, std::min<uint64_t>(kReadChunk, task.identity.size))]);
  uint64_t done = 0;
  while (done < task.identity.size) {
    iovec chunk{buffer.get(), std::min<uint64_t>(kReadChunk, task.identity.size - done)};
    ssize_t got = ::preadv2(task.fd.get(), &chunk, 1, static_cast<off_t>(done), nowait ? RWF_NOWAIT : 0);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0 && nowait && errno == EAGAIN) return WouldBlock();
    if (got <= 0) {
      r.refusal = {protocol::Code::kBusy, got < 0 ? Status::FromErrno(errno, "pread", task.name).message()
                                                  : "\"" + task.name + "\" shrank while reading; retry"};
      return r;
    }
    hash.Update(buffer.get(), static_cast<size_t>(got));
    done += static_cast<uint64_t>(got);
    if (!nowait && done < task.identity.size) ::sched_yield();
  }
  r.kind = LoadResult::Kind::kStream;
  r.checksum = hash.Digest();
  r.fd = std::move(task.fd);
  // A file changed within the clock's granularity of now may change again
  // without its ctime moving (the kernel stamps inodes from a coarse clock):
  // then a remembered checksum could pass for the next version's. Such a
  // "racy" file is hashed per request until its ctime is safely past.
  if (RealtimeNowNs() - task.identity.ctime_ns > kRacyNs) cache_.RememberStreamChecksum(task.identity, r.checksum);
  return r;
}

}  // namespace fc::worker
