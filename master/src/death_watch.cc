// A worker's first exited thread; see death_watch.h.
#include "death_watch.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <string>

#include "fc/base/log.h"

namespace fc::master {
namespace {
#ifndef PIDFD_THREAD
constexpr unsigned kPidfdThread = O_EXCL;  // linux/pidfd.h, Linux 6.9
#else
constexpr unsigned kPidfdThread = PIDFD_THREAD;
#endif
}  // namespace

bool DeathWatch::watching(pid_t pid) const {
  return std::any_of(watched_.begin(), watched_.end(), [pid](const Watched& w) { return w.pid == pid; });
}

bool DeathWatch::Watch(pid_t pid) {
  if (!supported_ || watching(pid)) return false;
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* tasks = ::opendir(dir.c_str());
  if (tasks == nullptr) return false;
  Watched w{pid, {}};
  while (dirent* task = ::readdir(tasks)) {
    if (task->d_name[0] == '.') continue;
    const int fd = static_cast<int>(::syscall(SYS_pidfd_open, std::atoi(task->d_name), kPidfdThread));
    if (fd >= 0) {
      w.threads.emplace_back(fd);
    } else if (errno == EINVAL || errno == ENOSYS) {
      supported_ = false;  // no thread pidfds here: deaths are seen at the reap
      log::Line("this kernel has no thread pidfds (Linux 6.9+): a dead worker is replaced once it is reaped");
      break;
    }  // ESRCH: that thread is gone already; the others tell
  }
  ::closedir(tasks);
  if (!supported_ || w.threads.empty()) return false;
  watched_.push_back(std::move(w));
  return true;
}

void DeathWatch::KeepOnly(const std::vector<pid_t>& live) {
  watched_.erase(std::remove_if(watched_.begin(), watched_.end(),
                                [&live](const Watched& w) {
                                  return std::find(live.begin(), live.end(), w.pid) == live.end();
                                }),
                 watched_.end());
}

void DeathWatch::AppendPollFds(std::vector<pollfd>* fds) {
  poll_from_ = fds->size();
  for (const Watched& w : watched_) {
    for (const UniqueFd& fd : w.threads) fds->push_back({fd.get(), POLLIN, 0});
  }
}

std::vector<pid_t> DeathWatch::Exited(const std::vector<pollfd>& fds) {
  std::vector<pid_t> exited;
  size_t i = poll_from_;
  for (const Watched& w : watched_) {
    bool any = false;
    for (size_t t = 0; t < w.threads.size() && i < fds.size(); ++t, ++i) any = any || fds[i].revents != 0;
    if (any) exited.push_back(w.pid);
  }
  watched_.erase(std::remove_if(watched_.begin(), watched_.end(),
                                [&exited](const Watched& w) {
                                  return std::find(exited.begin(), exited.end(), w.pid) != exited.end();
                                }),
                 watched_.end());
  return exited;
}

}  // namespace fc::master
