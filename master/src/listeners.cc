// The listening sockets; see listeners.h.
#include "listeners.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace fc::master {
namespace {

constexpr int kListenFdsStart = 3;  // SD_LISTEN_FDS_START

Result<UniqueFd> BindOne(const sockaddr* addr, socklen_t len, const std::string& where) {
  UniqueFd fd(::socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Status::FromErrno(errno, "socket", where);
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  // Accept only once the client has sent something: a worker then reads the
  // request right away instead of waiting for another epoll round.
  int defer_seconds = 5;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer_seconds, sizeof(defer_seconds));
  if (::bind(fd.get(), addr, len) != 0) return Status::FromErrno(errno, "bind", where);
  if (::listen(fd.get(), 4096) != 0) return Status::FromErrno(errno, "listen", where);
  return fd;
}

uint16_t PortOf(const sockaddr_storage& addr) {
  return ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port
                                          : reinterpret_cast<const sockaddr_in*>(&addr)->sin_port);
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
    auto first = BindOne(ai->ai_addr, ai->ai_addrlen, where);
    if (!first.ok()) {
      last = first.status();
      continue;
    }
    fds.push_back(std::move(first.value()));
    // The others join the bound address (the real port, when 0 was asked for).
    bool joined = true;
    for (int i = 1; i < count; ++i) {
      auto more = JoinListeners(fds.front().get());
      if (!more.ok()) {
        last = more.status();
        joined = false;
        break;
      }
      fds.push_back(std::move(more.value()));
    }
    if (!joined) continue;
    LocalAddress(fds.front().get(), bound_port);
    ::freeaddrinfo(list);
    return fds;
  }
  ::freeaddrinfo(list);
  return last;
}

Result<UniqueFd> JoinListeners(int existing) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (::getsockname(existing, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return Status::FromErrno(errno, "getsockname", "listening socket");
  }
  uint16_t port = 0;
  return BindOne(reinterpret_cast<sockaddr*>(&addr), len, LocalAddress(existing, &port));
}

std::string LocalAddress(int fd, uint16_t* port) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  *port = 0;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "?";
  char host[INET6_ADDRSTRLEN] = "?";
  if (addr.ss_family == AF_INET6) {
    ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&addr)->sin6_addr, host, sizeof(host));
  } else {
    ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&addr)->sin_addr, host, sizeof(host));
  }
  *port = PortOf(addr);
  return addr.ss_family == AF_INET6 ? "[" + std::string(host) + "]:" + std::to_string(*port)
                                    : std::string(host) + ":" + std::to_string(*port);
}

Result<std::vector<UniqueFd>> InheritListeners() {
  std::vector<UniqueFd> fds;
  const char* pid_text = std::getenv("LISTEN_PID");
  const char* count_text = std::getenv("LISTEN_FDS");
  if (pid_text == nullptr || count_text == nullptr) return fds;
  const long pid = std::strtol(pid_text, nullptr, 10);
  const long count = std::strtol(count_text, nullptr, 10);
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  if (pid != ::getpid()) return fds;  // meant for another process
  if (count < 1 || count > 1024) {
    return Status::Error("LISTEN_FDS=" + std::string(count_text) + ": expected 1 to 1024 sockets");
  }
  for (int fd = kListenFdsStart; fd < kListenFdsStart + count; ++fd) {
    fds.emplace_back(fd);
    int listening = 0, type = 0;
    socklen_t listening_len = sizeof(listening), type_len = sizeof(type);
    sockaddr_storage addr{};
    socklen_t addr_len = sizeof(addr);
    const bool tcp_listener =
        ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &listening_len) == 0 && listening &&
        ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_len) == 0 && type == SOCK_STREAM &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &addr_len) == 0 &&
        (addr.ss_family == AF_INET || addr.ss_family == AF_INET6);
    if (!tcp_listener) {
      return Status::Error("inherited descriptor " + std::to_string(fd) +
                           " (LISTEN_FDS) is not a listening TCP socket");
    }
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  }
  return fds;
}

Status SteerListeners(int any_member, uint32_t active, uint32_t count) {
  // Every socket active again: the same program over all of them (a random
  // choice, as good as the kernel's own hash for spreading connections).
  active = std::min(active, count);
  // Classic BPF run by the kernel on each new connection: a random index in
  // [0, active). Sockets are numbered in listen(2) order, and retiring ones are
  // the last, so the first `active` keep their numbers.
  sock_filter code[] = {
      {BPF_LD | BPF_W | BPF_ABS, 0, 0, static_cast<uint32_t>(SKF_AD_OFF + SKF_AD_RANDOM)},
      {BPF_ALU | BPF_MOD | BPF_K, 0, 0, active},
      {BPF_RET | BPF_A, 0, 0, 0},
  };
  sock_fprog program{static_cast<unsigned short>(sizeof(code) / sizeof(code[0])), code};
  if (::setsockopt(any_member, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &program, sizeof(program)) != 0) {
    return Status::FromErrno(errno, "setsockopt(SO_ATTACH_REUSEPORT_CBPF)", "listening sockets");
  }
  return Status::Ok();
}

}  // namespace fc::master
