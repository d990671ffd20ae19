// Internal header: filling the segment's pages ahead of the first loads.
//
// The segment's pages are reserved at creation (posix_fallocate) but the
// kernel zeroes each one at its first touch, and that touch is a load on a
// request's path (perf: clear_page_erms under shmem_fault, 11 % of all
// samples while a 2 GiB cache fills). After the master serves, it forks one
// short-lived child, `fc-populate`, at SCHED_IDLE, that maps the packet area
// and asks the kernel to fault it in, writable, 32 MiB at a time
// (MADV_POPULATE_WRITE, Linux 5.14+: the bytes are not changed, so it is safe
// beside live workers). It stops early when its memory cgroup comes within
// 64 MiB of its limit (the segment's pages are charged as they are touched),
// when the kernel lacks the call, or when the master stops. Start-up does not
// wait for it. Nothing in it is needed for correctness: killed at any point,
// the rest of the pages are zeroed at first use as before.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace fc::master {

// Forks the child for `length` bytes at `offset` of segment `shm_name`;
// returns its pid, or 0 (logged) when it cannot start.
pid_t StartPopulate(const std::string& shm_name, uint64_t offset, uint64_t length);

}  // namespace fc::master
