// fork and signals for fc-master.
#include "process.h"

#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace fc::master {

Result<UniqueFd> OpenSignalFd(const sigset_t& signals) {
  if (::sigprocmask(SIG_BLOCK, &signals, nullptr) != 0) {
    return Status::FromErrno(errno, "sigprocmask", "master signals");
  }
  UniqueFd fd(::signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!fd.valid()) return Status::FromErrno(errno, "signalfd", "master signals");
  return fd;
}

Result<pid_t> SpawnChild(const std::vector<int>& close_in_child, const std::function<int()>& body) {
  const pid_t parent = ::getpid();
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = ::fork();
  if (pid < 0) return Status::FromErrno(errno, "fork", "worker");
  if (pid > 0) return pid;
  // Child.
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::signal(SIGCHLD, SIG_DFL);
  for (int fd : close_in_child) ::close(fd);
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (::getppid() != parent) ::_exit(1);  // the master died before prctl took effect
  ::_exit(body());
}

std::string DescribeExit(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    return "killed by signal " + std::to_string(sig) + " (" + ::strsignal(sig) + ")";
  }
  return "ended (status " + std::to_string(status) + ")";
}

}  // namespace fc::master
