// HTTP load that checks every byte; see http_load.h.
#include "http_load.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "fc/base/unique_fd.h"
#include "harness.h"

namespace fc::testing {
namespace {

UniqueFd Connect(uint16_t port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  timeval tv{5, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return UniqueFd();
  return fd;
}

enum class Outcome { kOk, kClosedBeforeAnyByte, kFailed };

// One GET on `fd`: the whole response, checked against `expected`.
Outcome Fetch(int fd, const ServedFile& file, bool keep_alive, std::string* why) {
  const std::string request = "GET /" + file.name + " HTTP/1.1\r\nHost: test\r\n" +
                              (keep_alive ? "" : "Connection: close\r\n") + "\r\n";
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
    *why = std::string("send: ") + std::strerror(errno);
    return keep_alive ? Outcome::kClosedBeforeAnyByte : Outcome::kFailed;
  }
  std::string in;
  size_t head_end = std::string::npos;
  uint64_t length = 0;
  char buf[65536];
  for (;;) {
    if (head_end != std::string::npos && in.size() >= head_end + length) break;
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
      *why = n == 0 ? "connection closed" : std::string("recv: ") + std::strerror(errno);
      *why += " after " + std::to_string(in.size()) + " bytes of the response to " + file.name;
      const bool reset_or_eof = n == 0 || errno == ECONNRESET;
      return in.empty() && reset_or_eof ? Outcome::kClosedBeforeAnyByte : Outcome::kFailed;
    }
    in.append(buf, static_cast<size_t>(n));
    if (head_end == std::string::npos && (head_end = in.find("\r\n\r\n")) != std::string::npos) {
      head_end += 4;
      if (in.compare(0, 12, "HTTP/1.1 200") != 0) {
        *why = "status line \"" + in.substr(0, in.find('\r')) + "\" for " + file.name;
        return Outcome::kFailed;
      }
      const size_t at = in.find("Content-Length: ");
      if (at == std::string::npos || at > head_end) {
        *why = "no Content-Length for " + file.name;
        return Outcome::kFailed;
      }
      length = std::stoull(in.substr(at + 16));
    }
  }
  if (in.size() != head_end + length || in.compare(head_end, length, file.bytes) != 0) {
    *why = "wrong bytes for " + file.name;
    return Outcome::kFailed;
  }
  return Outcome::kOk;
}

}  // namespace

HttpLoad::HttpLoad(uint16_t port, std::vector<ServedFile> files, int keep_alive_clients,
                   int one_shot_clients)
    : port_(port), files_(std::move(files)) {
  for (int i = 0; i < keep_alive_clients; ++i) threads_.emplace_back([this, i] { Client(i, true); });
  for (int i = 0; i < one_shot_clients; ++i) {
    threads_.emplace_back([this, i] { Client(1000 + i, false); });
  }
}

HttpLoad::~HttpLoad() { Stop(); }

void HttpLoad::Stop() {
  stop_.store(true);
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

std::string HttpLoad::first_failure() const {
  std::lock_guard<std::mutex> lock(mu_);
  return first_failure_;
}

void HttpLoad::Fail(const std::string& why) {
  failures_.fetch_add(1);
  std::lock_guard<std::mutex> lock(mu_);
  if (first_failure_.empty()) first_failure_ = why;
}

void HttpLoad::Client(int index, bool keep_alive) {
  UniqueFd fd;
  for (uint64_t i = static_cast<uint64_t>(index); !stop_.load(); ++i) {
    const ServedFile& file = files_[i % files_.size()];
    std::string why;
    Outcome outcome = Outcome::kFailed;
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (!fd.valid()) fd = Connect(port_);
      if (!fd.valid()) {
        why = std::string("connect: ") + std::strerror(errno);
        outcome = Outcome::kFailed;
        break;
      }
      outcome = Fetch(fd.get(), file, keep_alive, &why);
      if (outcome != Outcome::kOk || !keep_alive) fd.Reset();
      if (outcome != Outcome::kClosedBeforeAnyByte || !keep_alive) break;
      if (attempt == 0) retries_.fetch_add(1);
    }
    requests_.fetch_add(1);
    if (outcome != Outcome::kOk) Fail(why);
  }
}

std::vector<ServedFile> MakeServedFiles(const std::string& dir, int count, uint64_t base, uint64_t step,
                                        uint32_t seed) {
  std::vector<ServedFile> files;
  for (int i = 0; i < count; ++i) {
    ServedFile f{"f" + std::to_string(i) + ".bin", ""};
    const std::string path = dir + "/" + f.name;
    WriteFile(path, base + step * static_cast<uint64_t>(i), seed + static_cast<uint32_t>(i));
    f.bytes = ReadFileOrEmpty(path);
    files.push_back(std::move(f));
  }
  return files;
}

}  // namespace fc::testing
