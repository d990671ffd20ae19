// Clocks and time stamps, in nanoseconds: the one home for these conversions.
// MonotonicNowNs for deadlines and durations, RealtimeNowNs for ages shown to
// people, Nanoseconds for a struct's {tv_sec, tv_nsec} (timespec, a stat's
// st_mtim, a statx timestamp). Thread-safe.
#pragma once

#include <time.h>

#include <cstdint>

namespace fc {

template <typename Timestamp>
int64_t Nanoseconds(const Timestamp& t) {
  return static_cast<int64_t>(t.tv_sec) * 1'000'000'000LL + static_cast<int64_t>(t.tv_nsec);
}

inline int64_t MonotonicNowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return Nanoseconds(ts);
}

inline int64_t RealtimeNowNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return Nanoseconds(ts);
}

}  // namespace fc
