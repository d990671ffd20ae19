// Internal header of fc-cachesim: replaying a trace through the real shm_cache.
#pragma once

#include <cstdint>
#include <vector>

#include "fc/shm_cache/cache.h"
#include "trace.h"

namespace fc::cachesim {

struct ReplayResult {
  uint64_t requests = 0;
  uint64_t misses = 0;
  uint64_t requested_bytes = 0;
  uint64_t missed_bytes = 0;
  uint64_t streamed_too_large = 0;  // larger than the whole cache
  uint64_t streamed_pinned = 0;     // no room because what was in the way was pinned
  uint64_t not_admitted = 0;        // kept out by the policy's admission gate (streamed)
  uint64_t admitted_bytes = 0;
  uint64_t evicted_bytes = 0;
  double rounding_waste = 0;        // of the packets in use at the end, the share not file bytes
  double seconds = 0;

  double miss_ratio() const { return requests ? double(misses) / double(requests) : 0; }
  double byte_miss_ratio() const {
    return requested_bytes ? double(missed_bytes) / double(requested_bytes) : 0;
  }
};

// Replays `trace` through a fresh segment of `options` (its shm_name is made
// unique and removed afterwards): each request is a Lookup (pin, then unpin
// at once on a hit); a miss is admitted, "loaded" and published the way a
// worker's loader would, without copying bytes.
Result<ReplayResult> Replay(const std::vector<Request>& trace, shm_cache::CacheOptions options);

}  // namespace fc::cachesim
