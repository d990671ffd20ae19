// Internal header: the master's process mechanism — the signal fd, forking a worker, and describing how a child ended. No policy here.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "fc/base/status.h"
#include "fc/base/unique_fd.h"

namespace fc::master {

// Blocks `signals` for the process and returns a signalfd that reads them.
Result<UniqueFd> OpenSignalFd(const sigset_t& signals);

// Forks a child that restores the default signal mask, closes the descriptors
// in `close_in_child`, asks the kernel to SIGTERM it when the master dies, and
// runs `body`, exiting with its return value. Returns the child's pid.
Result<pid_t> SpawnChild(const std::vector<int>& close_in_child, const std::function<int()>& body);

// "exited with status 1", "killed by signal 9 (Killed)".
std::string DescribeExit(int wait_status);

}  // namespace fc::master
