// Scheduler hints; see sched.h.
#include "fc/base/sched.h"

#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>

namespace fc::sched {
namespace {

// The kernel's struct sched_attr (SCHED_ATTR_SIZE_VER0); glibc 2.36 has none.
struct SchedAttr {
  uint32_t size;
  uint32_t policy;
  uint64_t flags;
  int32_t nice;
  uint32_t priority;
  uint64_t runtime;  // for SCHED_OTHER/BATCH: the slice asked for (0: the default)
  uint64_t deadline;
  uint64_t period;
};
constexpr uint64_t kResetOnFork = 0x01;  // SCHED_FLAG_RESET_ON_FORK
constexpr uint64_t kShortSliceNs = 100'000;

}  // namespace

bool PromptWakeups(bool prompt, bool reset_on_fork, int tid) {
  SchedAttr attr{};
  if (::syscall(SYS_sched_getattr, tid, &attr, sizeof(attr), 0) != 0) return false;
  if (attr.policy != SCHED_OTHER && attr.policy != SCHED_BATCH) return false;  // not EEVDF's
  attr.size = sizeof(attr);
  attr.flags = reset_on_fork ? kResetOnFork : 0;
  attr.runtime = prompt ? kShortSliceNs : 0;
  attr.priority = 0;
  attr.deadline = attr.period = 0;
  return ::syscall(SYS_sched_setattr, tid, &attr, 0) == 0;
}

}  // namespace fc::sched
