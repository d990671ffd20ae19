// fork, signals and the listening socket for fc-master.
#include "process.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace fc::master {

namespace {

Result<UniqueFd> BindOne(const addrinfo* ai, const std::string& where) {
  UniqueFd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Status::FromErrno(errno, "socket", where);
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  // Accept only once the client has sent something: a worker then reads the
  // request right away instead of waiting for another epoll round.
  int defer_seconds = 5;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer_seconds, sizeof(defer_seconds));
  if (::bind(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0) return Status::FromErrno(errno, "bind", where);
  if (::listen(fd.get(), 4096) != 0) return Status::FromErrno(errno, "listen", where);
  return fd;
}

}  // namespace

Result<std::vector<UniqueFd>> BindListeners(const std::string& host, uint16_t port, int count,
                                            uint16_t* bound_port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  const std::string where = host + ":" + std::to_string(port);
  addrinfo* list = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &list);
  if (rc != 0) {
    return Status::Error("cannot resolve listen address \"" + host + "\": " + ::gai_strerror(rc));
  }
  Status last = Status::Error("no address to listen on for " + where);
  for (addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    std::vector<UniqueFd> fds;
    auto first = BindOne(ai, where);
    if (!first.ok()) {
      last = first.status();
      continue;
    }
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    ::getsockname(first->get(), reinterpret_cast<sockaddr*>(&addr), &len);
    *bound_port = ntohs(addr.ss_family == AF_INET6
                            ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                            : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
    fds.push_back(std::move(first.value()));
    // The others join the bound address (the real port, when 0 was asked for).
    bool joined = true;
    for (int i = 1; i < count; ++i) {
      addrinfo same = *ai;
      same.ai_addr = reinterpret_cast<sockaddr*>(&addr);
      same.ai_addrlen = len;
      auto more = BindOne(&same, host + ":" + std::to_string(*bound_port));
      if (!more.ok()) {
        last = more.status();
        joined = false;
        break;
      }
      fds.push_back(std::move(more.value()));
    }
    if (!joined) continue;
    ::freeaddrinfo(list);
    return fds;
  }
  ::freeaddrinfo(list);
  return last;
}

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
