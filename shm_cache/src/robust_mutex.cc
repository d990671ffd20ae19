// Robust mutex: lock, repair on EOWNERDEAD, unlock.
#include "robust_mutex.h"

#include "fc/protocol/crash_point.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>

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
    timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += static_cast<long>(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
      deadline.tv_sec += 1;
      deadline.tv_nsec -= 1000000000L;
    }
    rc = pthread_mutex_timedlock(mutex_, &deadline);
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
