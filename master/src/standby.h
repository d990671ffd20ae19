// Internal header: the standby worker. A dead worker's replacement used to
// fork and then open the segment, the served root and the logs, start its
// loaders and its loops: a few milliseconds of work that, on a machine whose
// CPUs are saturated, was preempted again and again (kill -> serving 40-70 ms
// measured under load). The master keeps one worker forked and prepared ahead
// of need (worker.h, WorkerHandOff::standby_fd); a death hands it the free slot
// and the position's socket through a pipe, and it only attaches and starts
// its loops. Another standby is then forked in the background. A standby runs
// the configuration it was forked with: a reload replaces it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <vector>

#include "fc/base/unique_fd.h"
#include "fc/worker/worker.h"

namespace fc::master {

class Standby {
 public:
  // Forks a standby for `config`, with what start-up `made`. It keeps
  // `listeners` open (it will serve one of them) and closes `close_in_child`.
  // False if the fork failed (logged).
  bool Start(const worker::WorkerConfig& config, const worker::WorkerHandOff& made,
             const std::vector<int>& listeners, const std::vector<int>& close_in_child);
  bool ready() const { return pid_ != 0; }
  // Makes the standby the worker of `slot` on `listen_fd`; returns its pid, or
  // 0 if there is none (or it is gone). Either way there is none afterwards.
  pid_t Activate(uint32_t slot, int listen_fd, int tls_listen_fd);
  // Tells the standby to go (closing its pipe; it exits) and forgets it; its
  // pid is kept in exiting() until reaped.
  void Dismiss();
  // A child was reaped: true if it was the standby (now gone) or a dismissed one.
  bool OnExit(pid_t pid);
  const std::vector<pid_t>& exiting() const { return exiting_; }
  pid_t pid() const { return pid_; }
  int activate_fd() const { return activate_.get(); }  // -1 without a standby; other children close it

 private:
  pid_t pid_ = 0;
  UniqueFd activate_;  // the write end of its pipe
  std::vector<pid_t> exiting_;
};

}  // namespace fc::master
