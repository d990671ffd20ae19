// Clocks, in nanoseconds: the monotonic one for deadlines and durations, the
// real-time one for ages shown to people. Thread-safe.
#pragma once

#include <time.h>

#include <cstdint>

namespace fc {

inline int64_t MonotonicNowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

}  // namespace fc
