// Robust mutex: lock, repair on EOWNERDEAD, unlock.
#include "fc/base/status.h"
#include "robust_mutex.h"

#include "fc/base/crash_point.h"
#include "fc/base/log.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
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

namespace {

#if defined(__SANITIZE_THREAD__)
#define FC_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define FC_TSAN 1
#endif
#endif

// Waits for a busy mutex until `timeout_ms` from now. A futex wait with a
// deadline (pthread_mutex_clocklock), so a waiter wakes the moment the holder
// lets go. Under ThreadSanitizer, which models EOWNERDEAD for trylock but not
// for timed locks, a polled trylock instead.
int TimedLock(pthread_mutex_t* mutex, int timeout_ms) {
#ifndef FC_TSAN
  timespec deadline;
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  deadline.tv_sec += timeout_ms / 1000;
  deadline.tv_nsec += static_cast<long>(timeout_ms % 1000) * 1'000'000;
  if (deadline.tv_nsec >= 1'000'000'000) {
    deadline.tv_nsec -= 1'000'000'000;
    ++deadline.tv_sec;
  }
  int rc;
  do {
    rc = pthread_mutex_clocklock(mutex, CLOCK_MONOTONIC, &deadline);
  } while (rc == EINTR);
  return rc;
#else
  const int step_us = timeout_ms <= 20 ? 100 : 500;
  for (int waited_us = 0;; waited_us += step_us) {
    ::usleep(static_cast<useconds_t>(step_us));
    const int rc = pthread_mutex_trylock(mutex);
    if (rc != EBUSY) return rc;
    if (waited_us >= timeout_ms * 1000) return ETIMEDOUT;
  }
#endif
}

}  // namespace

void RobustMutex::Lock() FC_NO_THREAD_SAFETY_ANALYSIS { (void)TryLockFor(-1); }

bool RobustMutex::TryLockFor(int timeout_ms) FC_NO_THREAD_SAFETY_ANALYSIS {
  int rc;
  if (timeout_ms < 0) {
    rc = pthread_mutex_lock(mutex_);
  } else {
    rc = pthread_mutex_trylock(mutex_);
    if (rc == EBUSY) rc = TimedLock(mutex_, timeout_ms);
  }
  if (rc == EOWNERDEAD) {
    // The holder died with the lock held: the derived state may be half-changed.
    if (repair_) repair_();
    pthread_mutex_consistent(mutex_);
    rc = 0;
  }
  if (rc == 0) {
    crash::At(crash::Point::kAfterLock);
    return true;
  }
  if (rc != ETIMEDOUT) {
    // ENOTRECOVERABLE cannot happen (we always mark it consistent); anything else
    // is a broken segment. Serving on would risk wrong bytes, so stop loudly.
    log::Line("shared cache mutex failed: error ", rc, " (", ErrnoText(rc), "); aborting");
    std::abort();
  }
  return false;
}

void RobustMutex::Unlock() FC_NO_THREAD_SAFETY_ANALYSIS { pthread_mutex_unlock(mutex_); }

}  // namespace fc::shm_cache
