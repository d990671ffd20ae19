// Named crash points: a seam for fault-injection tests. A worker armed with
// FC_CRASH_AT=<point>[:<nth>] kills itself with SIGKILL (or, with
// FC_CRASH_ACTION=stop, stops itself with SIGSTOP; with FC_CRASH_ACTION=error,
// makes the operation there fail as an unexpected system error would, where
// the code checks TakeInjectedError()) the nth time (default 1st) it reaches
// <point>. Disarmed, a point costs one relaxed atomic load.
// Thread-safe.
#pragma once

#include <string>

namespace fc::crash {

enum class Point {
  kNone = 0,
  kAfterLock,      // "after_lock": right after taking the shared lock
  kMidEvict,       // "mid_evict": an entry out of the index, still queued and holding its packets
  kMidInsert,      // "mid_insert": entry and packets allocated, not yet committed
  kAfterPin,       // "after_pin": the pin recorded, the reader count not yet raised
  kMidLoad,        // "mid_load": half of a file's packets written
  kBeforePublish,  // "before_publish": loaded, about to become visible
  kBeforeUnpin,    // "before_unpin": about to drop a pin (lock held)
  kMidSend,        // "mid_send": part of a cached body sent
};

// Reads FC_CRASH_AT / FC_CRASH_ACTION. Returns false (and sets *error) if the
// variable names no known point.
bool ArmFromEnvironment(std::string* error);
void Disarm();
// True once after a point armed with FC_CRASH_ACTION=error was reached on this thread.
bool TakeInjectedError();
// All point names, for --help and tests.
const char* const* PointNames();

namespace internal {
extern int armed_point;  // a Point; read relaxed on every pass
void Reached(Point point);
}  // namespace internal

inline void At(Point point) {
  if (__builtin_expect(__atomic_load_n(&internal::armed_point, __ATOMIC_RELAXED) ==
                           static_cast<int>(point), 0)) {
    internal::Reached(point);
  }
}

}  // namespace fc::crash
