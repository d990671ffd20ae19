// The harness's client side (harness.h): raw fc-protocol and HTTP
// connections, reading HTTP responses, and the small JSON and log readers the
// tests share.
#include "harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "fc/base/checksum.h"
#include "fc/base/temp_dir.h"

extern char** environ;

namespace fc::testing {

RawConnection::RawConnection(uint16_t port) {
  fd_.Reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    fd_.Reset();
    return;
  }
  timeval tv{10, 0};
  ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd_.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

bool RawConnection::Send(const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::send(fd_.get(), bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

std::string RawConnection::GetRequest(const std::string& name, uint64_t offset, uint64_t length) {
  protocol::RequestHeader h;
  h.op = protocol::Op::kGet;
  h.name_length = static_cast<uint32_t>(name.size());
  h.offset = offset;
  h.length = length;
  std::string out(protocol::kRequestHeaderSize, '\0');
  protocol::EncodeRequestHeader(h, reinterpret_cast<uint8_t*>(out.data()));
  return out + name;
}

std::string RawConnection::ListRequest() {
  protocol::RequestHeader h;
  h.op = protocol::Op::kList;
  std::string out(protocol::kRequestHeaderSize, '\0');
  protocol::EncodeRequestHeader(h, reinterpret_cast<uint8_t*>(out.data()));
  return out;
}

bool RawConnection::ReadExactly(size_t n, std::string* out) {
  out->resize(n);
  size_t done = 0;
  while (done < n) {
    const ssize_t got = ::recv(fd_.get(), out->data() + done, n - done, 0);
    if (got <= 0) {
      out->resize(done);
      return false;
    }
    done += static_cast<size_t>(got);
  }
  return true;
}

bool RawConnection::ReadReply(protocol::ReplyHeader* header, std::string* body) {
  std::string head;
  if (!ReadExactly(protocol::kReplyHeaderSize, &head)) return false;
  if (!protocol::DecodeReplyHeader(reinterpret_cast<const uint8_t*>(head.data()), header)) {
    return false;
  }
  return ReadExactly(header->body_length, body);
}

bool RawConnection::ClosedByPeer() {
  char c;
  const ssize_t n = ::recv(fd_.get(), &c, 1, 0);
  return n == 0 || (n < 0 && errno == ECONNRESET);
}

void RawConnection::SetReceiveTimeout(int ms) {
  timeval tv{ms / 1000, (ms % 1000) * 1000};
  ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

std::string HttpResponse::Header(const std::string& name) const {
  size_t pos = head.find("\r\n");
  while (pos != std::string::npos && pos + 2 < head.size()) {
    const size_t start = pos + 2;
    const size_t end = head.find("\r\n", start);
    const std::string line = head.substr(start, end == std::string::npos ? std::string::npos : end - start);
    const size_t colon = line.find(':');
    if (colon == name.size() && ::strncasecmp(line.c_str(), name.c_str(), colon) == 0) {
      const size_t v = line.find_first_not_of(' ', colon + 1);
      return v == std::string::npos ? "" : line.substr(v);
    }
    pos = end;
  }
  return "";
}

namespace {
// Parses one response from the front of `data`; returns bytes used, 0 if incomplete.
size_t SplitResponse(const std::string& data, bool head_only, HttpResponse* r) {
  const size_t end = data.find("\r\n\r\n");
  if (end == std::string::npos) return 0;
  r->head = data.substr(0, end + 2);
  r->status = data.size() > 12 ? std::atoi(data.c_str() + 9) : 0;
  const std::string length = r->Header("Content-Length");
  const size_t body = head_only || r->status == 304 || r->status < 200 || length.empty()
                          ? 0
                          : std::stoull(length);
  if (data.size() < end + 4 + body) return 0;
  r->body = data.substr(end + 4, body);
  return end + 4 + body;
}
}  // namespace

bool ReadHttpResponse(RawConnection& conn, HttpResponse* r, bool head_only) {
  std::string data, byte;
  while (data.size() < 65536 && data.find("\r\n\r\n") == std::string::npos) {
    if (!conn.ReadExactly(1, &byte)) return false;
    data += byte;
  }
  const size_t end = data.find("\r\n\r\n");
  if (end == std::string::npos) return false;
  r->head = data.substr(0, end + 2);
  r->status = std::atoi(data.c_str() + 9);
  r->body.clear();
  const std::string length = r->Header("Content-Length");
  if (head_only || r->status == 304 || r->status < 200 || length.empty()) return true;
  return conn.ReadExactly(std::stoull(length), &r->body);
}

std::vector<HttpResponse> ReadHttpResponses(RawConnection& conn, size_t max_count, int idle_ms,
                                            bool* closed) {
  std::vector<HttpResponse> out;
  std::string data;
  *closed = false;
  char buf[65536];
  while (out.size() < max_count) {
    pollfd p{conn.fd(), POLLIN, 0};
    if (::poll(&p, 1, idle_ms) <= 0) break;
    const ssize_t n = ::recv(conn.fd(), buf, sizeof(buf), 0);
    if (n <= 0) {
      *closed = true;
      break;
    }
    data.append(buf, static_cast<size_t>(n));
    for (;;) {
      HttpResponse r;
      const size_t used = SplitResponse(data, false, &r);
      if (used == 0) break;
      out.push_back(std::move(r));
      data.erase(0, used);
    }
  }
  if (!data.empty() && out.size() < max_count) {
    HttpResponse partial;  // a response cut short still counts as one
    partial.head = data;
    partial.status = data.size() > 12 ? std::atoi(data.c_str() + 9) : -1;
    out.push_back(partial);
  }
  return out;
}

std::vector<std::string> JsonValues(const std::string& json, const std::string& key) {
  std::vector<std::string> values;
  const std::string needle = "\"" + key + "\":";
  for (size_t pos = json.find(needle); pos != std::string::npos;
       pos = json.find(needle, pos + 1)) {
    size_t start = pos + needle.size();
    while (start < json.size() && json[start] == ' ') ++start;
    if (json[start] == '"') {
      const size_t end = json.find('"', start + 1);
      values.push_back(json.substr(start + 1, end - start - 1));
    } else {
      const size_t end = json.find_first_of(",}\n]", start);
      values.push_back(json.substr(start, end - start));
    }
  }
  return values;
}

uint64_t JsonNumber(const std::string& json, const std::string& key) {
  auto values = JsonValues(json, key);
  return values.empty() ? 0 : std::strtoull(values[0].c_str(), nullptr, 10);
}

HttpResponse SendHttp(uint16_t port, const std::string& raw) {
  RawConnection conn(port);
  HttpResponse r;
  if (!conn.connected() || !conn.Send(raw) || !ReadHttpResponse(conn, &r)) r.status = 0;
  return r;
}

long NumberAfter(const std::string& text, const std::string& prefix, size_t from) {
  const size_t at = text.find(prefix, from);
  return at == std::string::npos ? 0 : std::atol(text.c_str() + at + prefix.size());
}

}  // namespace fc::testing
