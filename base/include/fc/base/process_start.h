// A process's identity over time: its pid and its start time (field 22 of
// /proc/PID/stat, in clock ticks since boot). A pid can be reused by another
// process; the pair cannot, so checks of "is this process still alive" that
// must not be fooled by pid reuse compare both. Thread-safe.
#pragma once

#include <sys/types.h>

#include <cstdint>

namespace fc {

// The start time of `pid`, or -1 if there is no such process.
int64_t ProcessStartTime(pid_t pid);

// True if `pid` runs and started at `start` (a value from ProcessStartTime).
inline bool SameProcessAlive(pid_t pid, int64_t start) {
  return pid > 0 && start >= 0 && ProcessStartTime(pid) == start;
}

}  // namespace fc
