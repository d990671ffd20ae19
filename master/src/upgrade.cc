// The binary upgrade; see upgrade.h.
#include "fc/base/status.h"
#include "upgrade.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace fc::master {
namespace {

constexpr int kFirstFd = 3;  // SD_LISTEN_FDS_START

long EnvNumber(const char* name, long fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  return *end == '\0' ? value : fallback;
}

// In the forked child, before exec: lays the descriptors out as the new
// master expects them, sets the environment, and execs. Never returns.
[[noreturn]] void ExecNewMaster(const UpgradeHandover& h, int ready_write, int tls_state_read) {
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  // Move everything out of the way first (above any target number), then
  // into place: dup2 onto 3, 4, ... must not clobber a source still needed.
  std::vector<int> sources = h.listeners;
  if (h.metrics_fd >= 0) sources.push_back(h.metrics_fd);
  // HTTPS descriptors, each named by its variable below.
  std::vector<std::pair<const char*, int>> named;
  if (!h.tls_fds.empty()) {
    ::setenv("FC_UPGRADE_TLS_FD", std::to_string(kFirstFd + static_cast<int>(sources.size())).c_str(), 1);
    ::setenv("FC_UPGRADE_TLS_COUNT", std::to_string(h.tls_fds.size()).c_str(), 1);
    for (int fd : h.tls_fds) sources.push_back(fd);
  }
  if (h.keys_fd >= 0) named.emplace_back("FC_UPGRADE_KEYS_FD", h.keys_fd);
  if (tls_state_read >= 0) named.emplace_back("FC_UPGRADE_TLS_STATE_FD", tls_state_read);
  for (const auto& [name, fd] : named) {
    ::setenv(name, std::to_string(kFirstFd + static_cast<int>(sources.size())).c_str(), 1);
    sources.push_back(fd);
  }
  sources.push_back(ready_write);
  const int high = kFirstFd + static_cast<int>(sources.size()) + 16;
  for (int& fd : sources) fd = ::fcntl(fd, F_DUPFD_CLOEXEC, high);
  for (size_t i = 0; i < sources.size(); ++i) {
    if (sources[i] < 0 || ::dup2(sources[i], kFirstFd + static_cast<int>(i)) < 0) {
      std::fprintf(stderr, "fc-master: upgrade: cannot pass descriptors: %s\n", ErrnoText(errno).c_str());
      ::_exit(127);
    }
  }
  const int listeners = static_cast<int>(h.listeners.size());
  ::setenv("LISTEN_PID", std::to_string(::getpid()).c_str(), 1);
  ::setenv("LISTEN_FDS", std::to_string(listeners).c_str(), 1);
  ::unsetenv("LISTEN_FDNAMES");
  ::setenv("FC_UPGRADE_FROM", std::to_string(::getppid()).c_str(), 1);
  ::setenv("FC_UPGRADE_READY_FD", std::to_string(kFirstFd + static_cast<int>(sources.size()) - 1).c_str(), 1);
  if (h.metrics_fd >= 0) {
    ::setenv("FC_UPGRADE_METRICS_FD", std::to_string(kFirstFd + listeners).c_str(), 1);
  }
  ::setenv("FC_UPGRADE_LOCK_DIR", h.lock_dir.c_str(), 1);
  char salt[32];
  std::snprintf(salt, sizeof(salt), "%016" PRIx64, h.lock_salt);
  ::setenv("FC_UPGRADE_LOCK_SALT", salt, 1);
  std::vector<char*> argv;
  std::string program = h.binary;
  argv.push_back(program.data());
  std::vector<std::string> rest(h.argv.begin() + (h.argv.empty() ? 0 : 1), h.argv.end());
  for (std::string& a : rest) argv.push_back(a.data());
  argv.push_back(nullptr);
  ::execv(h.binary.c_str(), argv.data());
  std::fprintf(stderr, "fc-master: upgrade: cannot run \"%s\": %s\n", h.binary.c_str(), ErrnoText(errno).c_str());
  ::_exit(127);
}

}  // namespace

std::string SelfExecutable() {
  static const std::string path = [] {
    char buf[PATH_MAX];
    const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
    if (n <= 0) return std::string();
    std::string p(buf, static_cast<size_t>(n));
    const std::string deleted = " (deleted)";
    if (p.size() > deleted.size() && p.compare(p.size() - deleted.size(), deleted.size(), deleted) == 0) {
      p.resize(p.size() - deleted.size());
    }
    return p;
  }();
  return path;
}

Result<UpgradeChild> StartNewMaster(const UpgradeHandover& h) {
  if (h.binary.empty() || ::access(h.binary.c_str(), X_OK) != 0) {
    return Status::FromErrno(errno == 0 ? ENOENT : errno, "access", "new binary \"" + h.binary + "\"");
  }
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return Status::FromErrno(errno, "pipe2", "upgrade");
  UniqueFd read_end(pipe_fds[0]);
  UniqueFd write_end(pipe_fds[1]);
  UniqueFd state_read;
  if (!h.tls_state.empty()) {
    // The ticket keys go through a pipe of their own, written whole before
    // the fork (they fit its buffer): never a file, never the environment.
    int state[2];
    if (::pipe2(state, O_CLOEXEC) != 0) return Status::FromErrno(errno, "pipe2", "upgrade");
    state_read.Reset(state[0]);
    UniqueFd state_write(state[1]);
    if (::write(state_write.get(), h.tls_state.data(), h.tls_state.size()) !=
        static_cast<ssize_t>(h.tls_state.size())) {
      return Status::FromErrno(errno, "write", "the upgrade's ticket-key pipe");
    }
  }
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = ::fork();
  if (pid < 0) return Status::FromErrno(errno, "fork", "upgrade");
  if (pid == 0) {
    // Its own process group: a new binary that never serves is given up on
    // with everything it started (a wrapper's children that inherited the
    // listening sockets included), by one kill of the group.
    ::setpgid(0, 0);
    ExecNewMaster(h, write_end.get(), state_read.valid() ? state_read.get() : -1);
  }
  ::setpgid(pid, pid);  // also here, so that no kill can come before the child's own call
  ::fcntl(read_end.get(), F_SETFL, O_NONBLOCK);
  UpgradeChild child;
  child.pid = pid;
  child.ready = std::move(read_end);
  return child;
}

UpgradeInheritance TakeUpgradeInheritance() {
  UpgradeInheritance in;
  in.from = static_cast<pid_t>(EnvNumber("FC_UPGRADE_FROM", 0));
  in.ready_fd = static_cast<int>(EnvNumber("FC_UPGRADE_READY_FD", -1));
  in.metrics_fd = static_cast<int>(EnvNumber("FC_UPGRADE_METRICS_FD", -1));
  if (const char* dir = std::getenv("FC_UPGRADE_LOCK_DIR")) in.lock_dir = dir;
  if (const char* salt = std::getenv("FC_UPGRADE_LOCK_SALT")) in.lock_salt = std::strtoull(salt, nullptr, 16);
  const int tls_first = static_cast<int>(EnvNumber("FC_UPGRADE_TLS_FD", -1));
  const long tls_count = EnvNumber("FC_UPGRADE_TLS_COUNT", 0);
  for (long i = 0; tls_first >= 0 && i < tls_count && i < 1024; ++i) in.tls_fds.push_back(tls_first + static_cast<int>(i));
  in.keys_fd = static_cast<int>(EnvNumber("FC_UPGRADE_KEYS_FD", -1));
  const int state_fd = static_cast<int>(EnvNumber("FC_UPGRADE_TLS_STATE_FD", -1));
  for (const char* name : {"FC_UPGRADE_FROM", "FC_UPGRADE_READY_FD", "FC_UPGRADE_METRICS_FD",
                           "FC_UPGRADE_LOCK_DIR", "FC_UPGRADE_LOCK_SALT", "FC_UPGRADE_TLS_FD",
                           "FC_UPGRADE_KEYS_FD", "FC_UPGRADE_TLS_STATE_FD", "FC_UPGRADE_TLS_COUNT"}) {
    ::unsetenv(name);
  }
  if (in.from != 0 && in.from == ::getppid() && state_fd >= 0) {
    char buf[512];
    for (;;) {
      const ssize_t n = ::read(state_fd, buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      in.tls_state.append(buf, static_cast<size_t>(n));
    }
    ::close(state_fd);
  }
  if (in.from != 0 && in.from != ::getppid()) in.from = 0;  // not from our parent: ignore
  if (in.from == 0) {
    in.ready_fd = -1;
    in.metrics_fd = -1;
    in.tls_fds.clear();
    in.keys_fd = -1;
    in.tls_state.clear();
  } else {
    for (int fd : {in.ready_fd, in.metrics_fd, in.keys_fd}) {
      if (fd >= 0) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    for (int fd : in.tls_fds) {
      ::fcntl(fd, F_SETFD, FD_CLOEXEC);
      ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    }
  }
  return in;
}

}  // namespace fc::master
