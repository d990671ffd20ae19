// Internal header: the segment's one lock, a robust process-shared pthread mutex.
//
// Boost 1.74's interprocess_mutex is not robust: a holder killed inside it hangs
// every other process. A robust mutex instead hands the next locker EOWNERDEAD;
// RobustLock then runs the repair callback (which rebuilds the derived state,
// see RebuildLocked) and marks the mutex consistent before returning.
#pragma once

#include <pthread.h>

#include <functional>
#include <utility>

#include "fc/base/mutex.h"
#include "fc/base/status.h"

namespace fc::shm_cache {

// Initialises `mutex` in place as robust and process-shared.
Status InitRobustMutex(pthread_mutex_t* mutex);

// The segment's mutex as this process sees it, and as clang's thread-safety
// analysis sees it: a capability that functions REQUIRE (the ...Locked()
// ones) and that Lock / TryLockFor acquire. If the previous holder died
// holding it, the repair callback runs under the lock first (and only then
// does the lock count as taken). Bind it before use.
class FC_CAPABILITY("segment mutex") RobustMutex {
 public:
  void Bind(pthread_mutex_t* mutex, std::function<void()> repair) {
    mutex_ = mutex;
    repair_ = std::move(repair);
  }
  // Waits as long as it takes.
  void Lock() FC_ACQUIRE();
  // Waits at most `timeout_ms` (< 0: forever); false when it stayed busy.
  bool TryLockFor(int timeout_ms) FC_TRY_ACQUIRE(true);
  void Unlock() FC_RELEASE();
  // For the repair callback only: it runs inside Lock, under the mutex.
  void AssertHeld() const FC_ASSERT_CAPABILITY(this) {}

 private:
  pthread_mutex_t* mutex_ = nullptr;
  std::function<void()> repair_;
};

// Holds a RobustMutex for a scope: takes it (waiting as long as it takes), or
// adopts one that TryLockFor took.
class FC_SCOPED_CAPABILITY RobustLock {
 public:
  struct Adopt {};
  explicit RobustLock(RobustMutex& mutex) FC_ACQUIRE(mutex) : mutex_(mutex) { mutex_.Lock(); }
  RobustLock(RobustMutex& mutex, Adopt) FC_REQUIRES(mutex) : mutex_(mutex) {}
  ~RobustLock() FC_RELEASE() { mutex_.Unlock(); }
  RobustLock(const RobustLock&) = delete;
  RobustLock& operator=(const RobustLock&) = delete;

 private:
  RobustMutex& mutex_;
};

}  // namespace fc::shm_cache
