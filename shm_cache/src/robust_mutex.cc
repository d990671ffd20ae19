// Robust mutex: lock, repair on EOWNERDEAD, unlock.
#include "robust_mutex.h"

#include "fc/protocol/crash_point.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>

#include <unistd.h>

namespace fc::shm_cache {

Status InitRobustMutex(pthread_mutex_t* mutex) {
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  int rc = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  if (rc == 0) rc = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  if (rc == 0) rc = pthread_mutex_init(mutex, &attr);
  pthread_mutexattr_destroy(&attr);
  if (rc != 0) return Status::FromErrno(rc, "pthread_mutex_init", "robust shared mutex");
  return Status::Ok();
}

RobustLock::RobustLock(pthread_mutex_t* mutex, const std::function<void()>& repair,
                       int timeout_ms)
    : mutex_(mutex) {
  int rc;
  if (timeout_ms < 0) {
    rc = pthread_mutex_lock(mutex_);
  } else {
    // Polled trylock rather than pthread_mutex_timedlock: ThreadSanitizer
    // models EOWNERDEAD for trylock but not for timedlock. The lock is held for
    // microseconds, so a poll that finds it busy is the exception.
    // Short bounds (the serving path's few milliseconds) poll finely.
    const int step_us = timeout_ms <= 20 ? 100 : 500;
    for (int waited_us = 0;; waited_us += step_us) {
      rc = pthread_mutex_trylock(mutex_);
      if (rc != EBUSY) break;
      if (waited_us >= timeout_ms * 1000) {
        rc = ETIMEDOUT;
        break;
      }
      ::usleep(static_cast<useconds_t>(step_us));
    }
  }
  if (rc == EOWNERDEAD) {
    // The holder died with the lock held: the derived state may be half-changed.
    if (repair) repair();
    pthread_mutex_consistent(mutex_);
    rc = 0;
  }
  if (rc == 0) {
    owns_ = true;
    crash::At(crash::Point::kAfterLock);
  } else if (rc != ETIMEDOUT) {
    // ENOTRECOVERABLE cannot happen (we always mark it consistent); anything else
    // is a broken segment. Serving on would risk wrong bytes, so stop loudly.
    std::fprintf(stderr, "fc: shared cache mutex failed: error %d; aborting\n", rc);
    std::abort();
  }
}

RobustLock::~RobustLock() {
  if (owns_) pthread_mutex_unlock(mutex_);
}

}  // namespace fc::shm_cache
