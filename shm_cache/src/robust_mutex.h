// Internal header: the segment's one lock, a robust process-shared pthread mutex.
//
// Boost 1.74's interprocess_mutex is not robust: a holder killed inside it hangs
// every other process. A robust mutex instead hands the next locker EOWNERDEAD;
// RobustLock then runs the repair callback (which rebuilds the derived state,
// see RebuildLocked) and marks the mutex consistent before returning.
#pragma once

#include <pthread.h>

#include <functional>

#include "fc/base/status.h"

namespace fc::shm_cache {

// Initialises `mutex` in place as robust and process-shared.
Status InitRobustMutex(pthread_mutex_t* mutex);

// Scoped lock. If the previous holder died, `repair` runs under the lock first.
// With timeout_ms < 0 it waits forever; otherwise owns() may be false on timeout.
class RobustLock {
 public:
  RobustLock(pthread_mutex_t* mutex, const std::function<void()>& repair, int timeout_ms = -1);
  ~RobustLock();
  RobustLock(const RobustLock&) = delete;
  RobustLock& operator=(const RobustLock&) = delete;
  bool owns() const { return owns_; }

 private:
  pthread_mutex_t* mutex_;
  bool owns_ = false;
};

}  // namespace fc::shm_cache
