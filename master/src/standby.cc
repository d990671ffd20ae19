// The standby worker; see standby.h.
#include "standby.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "fc/base/log.h"
#include "process.h"

namespace fc::master {

bool Standby::Start(const worker::WorkerConfig& config, const worker::WorkerHandOff& made,
                    const std::vector<int>& listeners, const std::vector<int>& close_in_child) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    log::Line(Status::FromErrno(errno, "pipe2", "standby worker").message());
    return false;
  }
  UniqueFd read_end(pipe_fds[0]), write_end(pipe_fds[1]);
  worker::WorkerHandOff hand_off = made;
  hand_off.arm_crash_points = false;
  hand_off.standby_fd = read_end.get();
  hand_off.standby_listeners = listeners;
  std::vector<int> close = close_in_child;
  close.push_back(write_end.get());
  // The read end stays open in the child across the fork (O_CLOEXEC only
  // matters for exec); the worker closes it once activated.
  // The child is named fc-standby from its first instruction (a process's
  // name is its parent's at fork), so nothing ever counts it as a worker: the
  // master takes the name for the fork and gives it back at once.
  char name[16] = "fc-standby", own[16] = {};
  ::prctl(PR_GET_NAME, own);
  ::prctl(PR_SET_NAME, name);
  auto pid = SpawnChild(close, [&config, &hand_off] { return worker::RunWorker(config, hand_off); });
  ::prctl(PR_SET_NAME, own);
  if (!pid.ok()) {
    log::Line(pid.status().message(), "; no standby worker for now");
    return false;
  }
  pid_ = pid.value();
  activate_ = std::move(write_end);
  return true;
}

pid_t Standby::Activate(uint32_t slot, int listen_fd, int tls_listen_fd) {
  if (pid_ == 0) return 0;
  const worker::StandbyActivation a{slot, listen_fd, tls_listen_fd};
  const pid_t pid = pid_;
  const bool sent = ::write(activate_.get(), &a, sizeof(a)) == static_cast<ssize_t>(sizeof(a));
  pid_ = 0;
  activate_.Reset();
  if (!sent) {  // it died just now (EPIPE): it is reaped as any child
    exiting_.push_back(pid);
    return 0;
  }
  return pid;
}

void Standby::Dismiss() {
  if (pid_ == 0) return;
  activate_.Reset();  // EOF: the standby exits
  ::kill(pid_, SIGTERM);
  exiting_.push_back(pid_);
  pid_ = 0;
}

bool Standby::OnExit(pid_t pid) {
  if (pid == pid_) {
    pid_ = 0;
    activate_.Reset();
    return true;
  }
  auto it = std::find(exiting_.begin(), exiting_.end(), pid);
  if (it == exiting_.end()) return false;
  exiting_.erase(it);
  return true;
}

}  // namespace fc::master
