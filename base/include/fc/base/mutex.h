// A mutex the compiler can reason about: clang's thread-safety analysis
// (-Wthread-safety, the FC_THREAD_SAFETY build) checks, from these
// annotations, that every field marked FC_GUARDED_BY(mu) is touched only with
// mu held and that every function marked FC_REQUIRES(mu) is called so. The
// idea and the macro names follow LevelDB's and Abseil's; with other
// compilers the macros are empty and Mutex is a std::mutex.
#pragma once

#include <mutex>

#if defined(__clang__)
#define FC_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define FC_THREAD_ANNOTATION(x)
#endif

#define FC_CAPABILITY(name) FC_THREAD_ANNOTATION(capability(name))
#define FC_SCOPED_CAPABILITY FC_THREAD_ANNOTATION(scoped_lockable)
#define FC_GUARDED_BY(mu) FC_THREAD_ANNOTATION(guarded_by(mu))
#define FC_PT_GUARDED_BY(mu) FC_THREAD_ANNOTATION(pt_guarded_by(mu))
#define FC_REQUIRES(...) FC_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define FC_EXCLUDES(...) FC_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define FC_ACQUIRE(...) FC_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define FC_RELEASE(...) FC_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define FC_TRY_ACQUIRE(...) FC_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define FC_ASSERT_CAPABILITY(x) FC_THREAD_ANNOTATION(assert_capability(x))
#define FC_NO_THREAD_SAFETY_ANALYSIS FC_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace fc {

class FC_CAPABILITY("mutex") Mutex {
 public:
  void Lock() FC_ACQUIRE() { mu_.lock(); }
  void Unlock() FC_RELEASE() { mu_.unlock(); }
  // BasicLockable, for std::condition_variable_any.
  void lock() FC_ACQUIRE() { mu_.lock(); }
  void unlock() FC_RELEASE() { mu_.unlock(); }

 private:
  std::mutex mu_;
};

class FC_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex* mu) FC_ACQUIRE(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() FC_RELEASE() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* mu_;
};

}  // namespace fc
