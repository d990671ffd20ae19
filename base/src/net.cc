// Blocking socket helpers; see net.h.
#include "fc/base/net.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace fc::net {
namespace {

Status ConnectOne(const addrinfo* ai, int timeout_ms, const std::string& peer, UniqueFd* out) {
  UniqueFd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                       ai->ai_protocol));
  if (!fd.valid()) return Status::FromErrno(errno, "socket", peer);
  if (::connect(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0) {
    if (errno != EINPROGRESS) return Status::FromErrno(errno, "connect", peer);
    pollfd pfd{fd.get(), POLLOUT, 0};
    int rc;
    do {
      rc = ::poll(&pfd, 1, timeout_ms);
    } while (rc < 0 && errno == EINTR);
    if (rc == 0) return Status::FromErrno(ETIMEDOUT, "connect", peer);
    int err = 0;
    socklen_t len = sizeof(err);
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return Status::FromErrno(err, "connect", peer);
  }
  // Back to blocking mode with timeouts: the callers are simple sequential tools.
  int flags = 0;
  ::ioctl(fd.get(), FIONBIO, &flags);
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  *out = std::move(fd);
  return Status::Ok();
}

}  // namespace

Result<UniqueFd> ConnectTcp(const std::string& host, uint16_t port, int timeout_ms) {
  const std::string peer = host + ":" + std::to_string(port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  const std::string service = std::to_string(port);
  int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &list);
  if (rc != 0) {
    return Status::Error("cannot resolve host \"" + host + "\": " + ::gai_strerror(rc));
  }
  Status last = Status::Error("no address for " + peer);
  for (addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    UniqueFd fd;
    last = ConnectOne(ai, timeout_ms, peer, &fd);
    if (last.ok()) {
      ::freeaddrinfo(list);
      return fd;
    }
  }
  ::freeaddrinfo(list);
  return last;
}

Status WriteAll(int fd, const void* data, size_t length, const std::string& peer) {
  const char* p = static_cast<const char*>(data);
  while (length > 0) {
    ssize_t n = ::send(fd, p, length, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return Status::FromErrno(ETIMEDOUT, "send", peer);
      return Status::FromErrno(errno, "send", peer);
    }
    p += n;
    length -= static_cast<size_t>(n);
  }
  return Status::Ok();
}

Result<size_t> ReadSome(int fd, void* data, size_t length, const std::string& peer) {
  for (;;) {
    ssize_t n = ::recv(fd, data, length, 0);
    if (n >= 0) return static_cast<size_t>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN) return Status::FromErrno(ETIMEDOUT, "recv", peer);
    return Status::FromErrno(errno, "recv", peer);
  }
}

Status ReadFull(int fd, void* data, size_t length, const std::string& peer) {
  char* p = static_cast<char*>(data);
  while (length > 0) {
    auto n = ReadSome(fd, p, length, peer);
    if (!n.ok()) return n.status();
    if (n.value() == 0) return Status::Error("connection closed early by " + peer);
    p += n.value();
    length -= n.value();
  }
  return Status::Ok();
}

Result<uint64_t> ParseByteSize(const std::string& text, const std::string& what) {
  const auto bad = [&] {
    return Status::Error("invalid " + what + " \"" + text +
                         "\": expected a number with an optional K, M or G suffix");
  };
  if (text.empty() || text[0] < '0' || text[0] > '9') return bad();
  size_t pos = 0;
  uint64_t value = 0;
  while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
    if (value > (UINT64_MAX - 9) / 10) return bad();
    value = value * 10 + static_cast<uint64_t>(text[pos++] - '0');
  }
  std::string suffix = text.substr(pos);
  for (char& c : suffix) c = static_cast<char>(::toupper(static_cast<unsigned char>(c)));
  if (suffix == "IB" || suffix == "B") suffix.clear();
  if (suffix.size() >= 2 && suffix.substr(1) == "IB") suffix.resize(1);
  if (suffix.size() == 2 && suffix[1] == 'B') suffix.resize(1);
  int shift = 0;
  if (suffix.empty()) shift = 0;
  else if (suffix == "K") shift = 10;
  else if (suffix == "M") shift = 20;
  else if (suffix == "G") shift = 30;
  else return bad();
  if (shift > 0 && value > (UINT64_MAX >> shift)) return bad();
  return value << shift;
}

Result<uint16_t> ParsePort(const std::string& text) {
  auto value = ParseByteSize(text, "port");
  if (!value.ok() || value.value() > 65535 || text.find_first_not_of("0123456789") != std::string::npos) {
    return Status::Error("invalid port \"" + text + "\": expected a number from 0 to 65535");
  }
  return static_cast<uint16_t>(value.value());
}

Result<HostPort> ParseHostPort(const std::string& text, const std::string& what) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return Status::Error(what + " \"" + text + "\": expected HOST:PORT");
  }
  HostPort out;
  out.host = text.substr(0, colon);
  if (out.host.size() >= 2 && out.host.front() == '[' && out.host.back() == ']') {
    out.host = out.host.substr(1, out.host.size() - 2);
  }
  auto port = ParsePort(text.substr(colon + 1));
  if (!port.ok()) return Status::Error(what + " \"" + text + "\": " + port.status().message());
  out.port = port.value();
  return out;
}

namespace {

// `text` as 16 bytes of IPv6 (IPv4 mapped); *v4: it was IPv4.
bool AddressBytes(const std::string& text, uint8_t out[16], bool* v4) {
  in_addr a4;
  if (::inet_pton(AF_INET, text.c_str(), &a4) == 1) {
    std::memset(out, 0, 10);
    out[10] = out[11] = 0xff;
    std::memcpy(out + 12, &a4, 4);
    *v4 = true;
    return true;
  }
  *v4 = false;
  return ::inet_pton(AF_INET6, text.c_str(), out) == 1;
}

}  // namespace

Result<std::vector<AddressRange>> ParseAddressRanges(const std::string& text, const std::string& what) {
  std::vector<AddressRange> out;
  for (size_t start = 0; start < text.size();) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    std::string item = text.substr(start, comma - start);
    start = comma + 1;
    while (!item.empty() && item.front() == ' ') item.erase(0, 1);
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (item == "any") {
      out.push_back(AddressRange{{}, 0});
      continue;
    }
    AddressRange range;
    const size_t slash = item.find('/');
    bool v4 = false;
    if (!AddressBytes(item.substr(0, slash), range.bytes, &v4)) {
      return Status::Error(what + ": \"" + item + "\" is not an address or ADDRESS/BITS prefix");
    }
    range.bits = 128;
    if (slash != std::string::npos) {
      const std::string bits = item.substr(slash + 1);
      const int most = v4 ? 32 : 128;
      if (bits.empty() || bits.size() > 3 || bits.find_first_not_of("0123456789") != std::string::npos ||
          std::stoi(bits) > most) {
        return Status::Error(what + ": \"" + item + "\" has a prefix length that is not 0.." + std::to_string(most));
      }
      range.bits = std::stoi(bits) + (v4 ? 96 : 0);
    }
    out.push_back(range);
  }
  return out;
}

bool InAddressRanges(const std::vector<AddressRange>& ranges, const std::string& host) {
  uint8_t bytes[16];
  bool v4 = false;
  if (!AddressBytes(host, bytes, &v4)) return false;
  for (const AddressRange& r : ranges) {
    const int whole = r.bits / 8, rest = r.bits % 8;
    if (std::memcmp(bytes, r.bytes, static_cast<size_t>(whole)) != 0) continue;
    if (rest != 0 && ((bytes[whole] ^ r.bytes[whole]) & (0xff << (8 - rest)) & 0xff) != 0) continue;
    return true;
  }
  return false;
}

}  // namespace fc::net
