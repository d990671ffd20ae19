// Internal header: the earliest sign that a worker is dying, one of its
// threads having exited. A SIGKILLed process is reaped (SIGCHLD) only once
// every one of its threads has been scheduled to run its exit and the last has
// torn down the address space; on CPUs saturated by the load it serves that
// takes milliseconds (traced under bench/respawn.py's load: 2.4-9.6 ms from
// the kill to the SIGCHLD), while the thread that was running when the signal
// came exits within a fraction of one (0.1-0.7 ms). A worker's threads live
// as long as the worker (the loops, the loaders, the log flusher and the main
// thread are made before it serves and joined only when it stops), so the
// first one to exit means the worker is finished: the supervisor replaces it
// at once and reaps it later.
//
// It watches each thread through a pidfd (pidfd_open with PIDFD_THREAD,
// Linux 6.9+), which polls readable when that thread has exited. Where the
// kernel has no thread pidfds, supported() turns false and the supervisor
// waits for the reap, as before.
#pragma once

#include <poll.h>
#include <sys/types.h>

#include <vector>

#include "fc/base/unique_fd.h"

namespace fc::master {

class DeathWatch {
 public:
  bool supported() const { return supported_; }
  bool watching(pid_t pid) const;
  // Watches every thread `pid` has now (call once it serves: all its threads
  // are made). False if it could not (gone already, or no thread pidfds).
  bool Watch(pid_t pid);
  // Stops watching every pid not in `live` (reaped, retired, replaced).
  void KeepOnly(const std::vector<pid_t>& live);
  // Adds the watched threads to a poll set, remembering where they start.
  void AppendPollFds(std::vector<pollfd>* fds);
  // After that poll: the pids a thread of which has exited. They are no
  // longer watched.
  std::vector<pid_t> Exited(const std::vector<pollfd>& fds);

 private:
  struct Watched {
    pid_t pid;
    std::vector<UniqueFd> threads;
  };
  std::vector<Watched> watched_;
  size_t poll_from_ = 0;
  bool supported_ = true;
};

}  // namespace fc::master
