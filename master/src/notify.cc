// systemd's notify protocol; see notify.h. Written against the documented
// datagram protocol rather than libsystemd: it is a dozen lines, and fc then
// needs no library for it.
#include "notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>

#include "fc/base/clock.h"
#include "fc/base/unique_fd.h"

namespace fc::master {

bool Notify(const std::string& state) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (path == nullptr || path[0] == '\0') return true;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const size_t length = std::strlen(path);
  if ((path[0] != '/' && path[0] != '@') || length >= sizeof(addr.sun_path)) return false;
  std::memcpy(addr.sun_path, path, length);
  if (path[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace
  UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return false;
  const socklen_t addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + length);
  return ::sendto(fd.get(), state.data(), state.size(), MSG_NOSIGNAL,
                  reinterpret_cast<const sockaddr*>(&addr), addr_len) ==
         static_cast<ssize_t>(state.size());
}

std::string ReloadingState() {
  return "RELOADING=1\nMONOTONIC_USEC=" + std::to_string(MonotonicNowNs() / 1000);
}

}  // namespace fc::master
