// Internal header: --cache-size auto, the shared segment sized from the
// memory the master may use (its cgroup's limit, v1 or v2, else the machine's
// memory), leaving headroom for what is not the segment.
#pragma once

#include <cstdint>
#include <string>

#include "fc/base/status.h"

namespace fc::master {

// The memory limit of this process's cgroup: the tightest of its own and its
// ancestors' (cgroup v2 memory.max; v1 hierarchical_memory_limit). 0: none
// set, or no memory controller mounted.
uint64_t CgroupMemoryLimit();
// The memory this process's own cgroup uses now (v2 memory.current, v1
// memory.usage_in_bytes); 0 where there is none to read.
uint64_t CgroupMemoryUsage();

struct AutoSize {
  uint64_t bytes = 0;
  std::string how;  // for the log: "cgroup limit 512 MiB - headroom 128 MiB"
};

// The segment for a budget of `limit` bytes (0: no cgroup limit, so a
// quarter of the machine's memory): limit - max(64 MiB, limit / 4), at least
// 16 MiB. The headroom holds the processes themselves (about 10 MiB per
// worker at 10,000 connections) and the page cache of files streamed from
// disk (those larger than the cache); docs/operating.md.
AutoSize AutoCacheSize(uint64_t limit, uint64_t machine_memory);

// Reads the limit and /proc/meminfo and applies AutoCacheSize.
Result<AutoSize> ResolveAutoCacheSize();

}  // namespace fc::master
