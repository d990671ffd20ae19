// The segment's pages faulted in off the request path; see populate.h.
#include "populate.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "fc/base/clock.h"
#include "fc/base/log.h"
#include "memory_budget.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

namespace fc::master {
namespace {

constexpr uint64_t kChunk = 32ull << 20;
constexpr uint64_t kMargin = 64ull << 20;

[[noreturn]] void Populate(const std::string& shm_name, uint64_t offset, uint64_t length, int named_fd) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  ::prctl(PR_SET_NAME, "fc-populate");
  (void)!::write(named_fd, "n", 1);  // named: nobody counts it as a worker now
  ::close(named_fd);
  sched_param idle{};
  ::sched_setscheduler(0, SCHED_IDLE, &idle);
  const int64_t started = MonotonicNowNs();
  const int fd = ::open(("/dev/shm/" + shm_name).c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    log::Line("fc-populate: open /dev/shm/", shm_name, " failed: ", std::strerror(errno));
    ::_exit(1);
  }
  const long page = ::sysconf(_SC_PAGESIZE);
  const uint64_t start = offset / static_cast<uint64_t>(page) * static_cast<uint64_t>(page);
  const uint64_t span = offset + length - start;
  void* map = ::mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_SHARED, fd, static_cast<off_t>(start));
  ::close(fd);
  if (map == MAP_FAILED) {
    log::Line("fc-populate: mmap of ", span, " bytes failed: ", std::strerror(errno));
    ::_exit(1);
  }
  const uint64_t limit = CgroupMemoryLimit();
  uint64_t done = 0;
  const char* why = "done";
  while (done < span) {
    const uint64_t n = std::min(kChunk, span - done);
    if (limit != 0 && CgroupMemoryUsage() + n + kMargin > limit) {
      why = "stopped near the memory cgroup's limit";
      break;
    }
    if (::madvise(static_cast<char*>(map) + done, n, MADV_POPULATE_WRITE) != 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      why = errno == EINVAL ? "this kernel has no MADV_POPULATE_WRITE (Linux 5.14+)" : std::strerror(errno);
      break;
    }
    done += n;
  }
  log::Line("fc-populate: ", done >> 20, " of ", span >> 20, " MiB of the cache's pages faulted in, ",
            (MonotonicNowNs() - started) / 1'000'000, " ms at idle priority; ", why);
  ::_exit(0);
}

}  // namespace

pid_t StartPopulate(const std::string& shm_name, uint64_t offset, uint64_t length) {
  if (length == 0) return 0;
  int named[2];
  if (::pipe2(named, O_CLOEXEC) != 0) return 0;
  const pid_t pid = ::fork();
  if (pid < 0) {
    log::Line("fork() failed while starting \"fc-populate\": ", std::strerror(errno),
              "; the cache's pages are zeroed at first use instead");
    ::close(named[0]);
    ::close(named[1]);
    return 0;
  }
  if (pid == 0) {
    ::close(named[0]);
    Populate(shm_name, offset, length, named[1]);
  }
  // Until it has its name it looks like a worker (a forked master) to
  // anyone reading the process list: wait for that, a few microseconds.
  ::close(named[1]);
  pollfd wait{named[0], POLLIN, 0};
  ::poll(&wait, 1, 1000);
  ::close(named[0]);
  return pid;
}

}  // namespace fc::master
