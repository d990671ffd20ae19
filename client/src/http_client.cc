// fc-client over HTTP (http://HOST:PORT/NAME): the same verified, resumable
// download and checked upload as the fc protocol, through anything that
// speaks HTTP/1.1 (a load balancer routing by URL, a cache). See client.h.
#include <fcntl.h>
#include <poll.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "fc/client/client.h"
#include "fc/base/checksum.h"
#include "fc/protocol/http.h"
#include "fc/base/net.h"
#include "fc/base/unique_fd.h"
#include "fc/tls/client_tls.h"
#include "retry.h"

namespace fc::client {
namespace {

constexpr size_t kChunk = 256 * 1024;
constexpr size_t kMaxHead = 64 * 1024;
constexpr uint64_t kMaxErrorBody = 4096;

struct Response {
  int status = 0;
  std::string head;  // status line and fields
  std::string rest;  // body bytes read with the head
  uint64_t content_length = 0;
  bool has_length = false;

  // A field's value (first occurrence, case-insensitive name), "" if absent.
  std::string Field(std::string_view name) const {
    size_t at = head.find("\r\n");
    while (at != std::string::npos && at + 2 < head.size()) {
      const size_t start = at + 2;
      const size_t end = head.find("\r\n", start);
      const std::string_view line(head.data() + start, (end == std::string::npos ? head.size() : end) - start);
      const size_t colon = line.find(':');
      if (colon != std::string_view::npos && http::IEquals(line.substr(0, colon), name)) {
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
        while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
        return std::string(value);
      }
      at = end;
    }
    return "";
  }
};

// "docs/a b.txt" -> "/docs/a%20b.txt": everything but unreserved characters
// and '/' is percent-encoded.
std::string Target(const std::string& name) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out = "/";
  for (const char c : name) {
    const auto ch = static_cast<unsigned char>(c);
    if (std::isalnum(ch) || c == '-' || c == '.' || c == '_' || c == '~' || c == '/') {
      out += c;
    } else {
      out += '%';
      out += kHex[ch >> 4];
      out += kHex[ch & 15];
    }
  }
  return out;
}

// One connection to the server: the socket, and TLS over it for https://.
struct Channel {
  UniqueFd fd;
  std::unique_ptr<tls::ClientTls> tls;

  Result<size_t> ReadSome(void* data, size_t length, const Endpoint& server) {
    return tls ? tls->ReadSome(data, length) : net::ReadSome(fd.get(), data, length, server.Describe());
  }
  Status WriteAll(const void* data, size_t length, const Endpoint& server) {
    return tls ? tls->WriteAll(data, length) : net::WriteAll(fd.get(), data, length, server.Describe());
  }
};

Status Open(const Endpoint& server, Channel* ch) {
  if (!ch->fd.valid()) {
    auto conn = net::ConnectTcp(server.host, server.port, server.timeout_ms);
    if (!conn.ok()) return conn.status();
    ch->fd = std::move(conn.value());
  }
  if (!server.tls) return Status::Ok();
  auto tls = tls::ClientTls::Connect(ch->fd.get(), server.host, server.cacert, server.Describe());
  if (!tls.ok()) return tls.status();
  ch->tls = std::move(tls.value());
  return Status::Ok();
}

Status ReadHead(Channel& fd, const Endpoint& server, Response* r) {
  char buf[16384];
  size_t end = std::string::npos;
  std::string in;
  while ((end = in.find("\r\n\r\n")) == std::string::npos) {
    if (in.size() > kMaxHead) return Status::Error(server.Describe() + " sent a response head over 64 KiB");
    auto n = fd.ReadSome(buf, sizeof(buf), server);
    if (!n.ok()) return n.status();
    if (n.value() == 0) {
      return Status::Error("connection closed by " + server.Describe() +
                           (in.empty() ? " before any response" : " inside the response head"));
    }
    in.append(buf, n.value());
  }
  r->head = in.substr(0, end);
  r->rest = in.substr(end + 4);
  if (r->head.compare(0, 5, "HTTP/") != 0 || r->head.size() < 12) {
    return Status::Error(server.Describe() + " did not answer in HTTP");
  }
  r->status = std::atoi(r->head.c_str() + 9);
  const std::string length = r->Field("Content-Length");
  if (!length.empty()) {
    char* stop = nullptr;
    r->content_length = std::strtoull(length.c_str(), &stop, 10);
    r->has_length = stop != length.c_str() && *stop == '\0';
    if (!r->has_length) return Status::Error(server.Describe() + " sent a bad Content-Length");
  }
  return Status::Ok();
}

// The start of an error response's body, for the message.
std::string ErrorText(Channel& fd, const Endpoint& server, const Response& r) {
  std::string body = r.rest;
  const uint64_t want = std::min<uint64_t>(r.has_length ? r.content_length : 0, kMaxErrorBody);
  char buf[4096];
  while (body.size() < want) {
    auto n = fd.ReadSome(buf, std::min<uint64_t>(sizeof(buf), want - body.size()), server);
    if (!n.ok() || n.value() == 0) break;
    body.append(buf, n.value());
  }
  body.resize(std::min<size_t>(body.size(), want));
  while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
  std::string status_line = r.head.substr(0, r.head.find("\r\n"));
  return status_line.substr(std::min<size_t>(9, status_line.size())) + (body.empty() ? "" : ": " + body);
}

bool ParseChecksum(const std::string& text, uint64_t* out) {
  if (text.size() != 16) return false;
  char* end = nullptr;
  *out = std::strtoull(text.c_str(), &end, 16);
  return end == text.c_str() + 16;
}

Status SendAll(Channel& fd, const std::string& bytes, const Endpoint& server) {
  return fd.WriteAll(bytes.data(), bytes.size(), server);
}

}  // namespace

Result<HttpTarget> ParseHttpUrl(const std::string& url) {
  const bool tls = url.compare(0, 8, "https://") == 0;
  const std::string scheme = tls ? "https://" : "http://";
  if (url.compare(0, scheme.size(), scheme) != 0) {
    return Status::Error("\"" + url + "\" is not an http:// or https:// URL");
  }
  const size_t slash = url.find('/', scheme.size());
  if (slash == std::string::npos || slash + 1 >= url.size()) {
    return Status::Error("\"" + url + "\" names no file: expected " + scheme + "HOST:PORT/NAME");
  }
  std::string authority = url.substr(scheme.size(), slash - scheme.size());
  HttpTarget t;
  t.server.port = tls ? 443 : 80;
  t.server.tls = tls;
  const size_t colon = authority.rfind(':');
  if (colon != std::string::npos && authority.find(']', colon) == std::string::npos) {
    auto port = net::ParsePort(authority.substr(colon + 1));
    if (!port.ok()) return Status::Error("\"" + url + "\": " + port.status().message());
    t.server.port = port.value();
    authority.resize(colon);
  }
  if (authority.size() >= 2 && authority.front() == '[' && authority.back() == ']') {
    authority = authority.substr(1, authority.size() - 2);
  }
  if (authority.empty()) return Status::Error("\"" + url + "\" names no host");
  t.server.host = authority;
  std::string path = url.substr(slash + 1);
  path = path.substr(0, path.find_first_of("?#"));
  if (!http::PercentDecode(path, &t.name) || t.name.empty()) {
    return Status::Error("\"" + url + "\": bad percent-encoding in the name");
  }
  return t;
}

namespace {

// One download over HTTP, across its attempts.
struct Transfer {
  FetchSummary summary;
  Checksum64 hash;
  uint64_t received = 0;
  bool known = false;  // a 200 told the size, checksum and ETag
  bool has_checksum = false;
  std::string etag;
};

std::string FetchRequest(const Endpoint& server, const std::string& name, const Transfer& t) {
  std::string request = "GET " + Target(name) + " HTTP/1.1\r\nHost: " + server.Describe() +
                        "\r\nUser-Agent: fc-client\r\nConnection: close\r\n"
                        "X-Fc-Want-Checksum: xxh64\r\n";  // verify what is saved, cached or not
  // Resume where the cut left off, if the file is still the same one.
  if (t.known && t.received > 0) {
    request += "Range: bytes=" + std::to_string(t.received) + "-\r\n";
    if (!t.etag.empty()) request += "If-Range: " + t.etag + "\r\n";
  }
  return request + "\r\n";
}

// A 200 (the whole file: start over if a resume was asked) or a 206 that
// continues exactly where the transfer stands; anything else is final.
Status AcceptHead(const Response& r, const std::string& what, Transfer* t, Sink& sink) {
  if (!r.has_length) return Status::Error(what + ": the response has no Content-Length");
  if (r.status == 200) {
    if (t->received > 0) {  // a full answer to a resume: the file changed, start over
      t->received = 0;
      t->hash.Reset();
      if (Status st = sink.Restart(); !st.ok()) return st;
    }
    t->summary.size = r.content_length;
    t->has_checksum = ParseChecksum(r.Field("X-Fc-Checksum"), &t->summary.checksum);
    t->etag = r.Field("ETag");
    t->known = true;
  } else {
    const std::string range = r.Field("Content-Range");
    const std::string expected = "bytes " + std::to_string(t->received) + "-";
    if (!t->known || range.compare(0, expected.size(), expected) != 0 ||
        range.substr(range.find('/') + 1) != std::to_string(t->summary.size)) {
      return Status::Error(what + ": unexpected Content-Range \"" + range + "\" when resuming at byte " +
                           std::to_string(t->received));
    }
  }
  t->summary.from_cache = r.Field("X-Fc-Served") == "cache";
  return Status::Ok();
}

// The body into the sink and the hash. *sink_failed: the sink refused (final);
// otherwise a failure is the connection's (worth another attempt).
Status ReadBody(Channel& fd, const Endpoint& server, Response& r, Transfer* t, Sink& sink, char* buffer,
                const std::function<void(uint64_t, uint64_t)>& progress, bool* sink_failed) {
  uint64_t body_left = r.content_length;
  std::string pending = std::move(r.rest);
  while (body_left > 0) {
    size_t n = 0;
    const char* data = buffer;
    if (!pending.empty()) {
      n = std::min<size_t>(pending.size(), body_left);
      data = pending.data();
    } else {
      auto got = fd.ReadSome(buffer, std::min<uint64_t>(kChunk, body_left), server);
      if (!got.ok()) return got.status();
      if (got.value() == 0) {
        return Status::Error("connection closed by " + server.Describe() + " after " +
                             std::to_string(t->received) + " of " + std::to_string(t->summary.size) + " bytes");
      }
      n = got.value();
    }
    if (Status st = sink.Write(t->received, data, n); !st.ok()) {
      *sink_failed = true;
      return st;
    }
    t->hash.Update(data, n);
    t->received += n;
    body_left -= n;
    if (!pending.empty()) pending.erase(0, n);
    if (progress) progress(t->received, t->summary.size);
  }
  return t->received == t->summary.size ? Status::Ok() : Status::Error("short body");
}

}  // namespace

Result<FetchSummary> FetchHttp(const Endpoint& server, const std::string& name, Sink& sink, int retries,
                               const std::function<void(uint64_t, uint64_t)>& progress) {
  const std::string what = std::string("GET ") + (server.tls ? "https://" : "http://") + server.Describe() + Target(name);
  Transfer t;
  std::unique_ptr<char[]> buffer(new char[kChunk]);
  Status last;
  for (int attempt = 0; attempt <= retries; ++attempt) {
    Channel fd;
    if (!(last = StartAttempt(server, attempt, &t.summary, &fd.fd)).ok()) continue;
    if (!(last = Open(server, &fd)).ok()) {
      // A certificate that does not verify stays so: no retry.
      if (last.message().find("does not verify") != std::string::npos) return last;
      continue;
    }
    Response r;
    if (!(last = SendAll(fd, FetchRequest(server, name, t), server)).ok() ||
        !(last = ReadHead(fd, server, &r)).ok()) {
      continue;
    }
    if (r.status == 502 || r.status == 503 || r.status == 504) {  // a balancer between servers, a busy fc
      last = Status::Error(ErrorText(fd, server, r));
      continue;
    }
    if (r.status != 200 && r.status != 206) return Status::Error(what + ": " + ErrorText(fd, server, r));
    if (Status head = AcceptHead(r, what, &t, sink); !head.ok()) return head;
    bool sink_failed = false;
    last = ReadBody(fd, server, r, &t, sink, buffer.get(), progress, &sink_failed);
    if (sink_failed) return last;
    if (last.ok()) break;
  }
  if (!last.ok()) {
    return Status::Error(what + " failed after " + std::to_string(t.summary.attempts) + " attempts: " +
                         last.message());
  }
  if (!t.has_checksum) {
    return Status::Error(what + ": the server sent no X-Fc-Checksum, so the bytes cannot be verified; "
                         "nothing was saved");
  }
  if (t.hash.Digest() != t.summary.checksum) {
    return Status::Error(what + ": checksum mismatch (the file changed during the transfer?); nothing was saved");
  }
  return t.summary;
}

Result<PutSummary> PutHttp(const Endpoint& server, const std::string& local_path, const std::string& name,
                           const std::string& token) {
  auto file = OpenForUpload(local_path);
  if (!file.ok()) return file.status();
  const PutSummary summary = file->summary;
  const std::string what = std::string("PUT ") + (server.tls ? "https://" : "http://") + server.Describe() + Target(name);
  Channel fd;
  if (Status opened = Open(server, &fd); !opened.ok()) return opened;
  char checksum[17];
  std::snprintf(checksum, sizeof(checksum), "%016" PRIx64, summary.checksum);
  std::string head = "PUT " + Target(name) + " HTTP/1.1\r\nHost: " + server.Describe() +
                     "\r\nUser-Agent: fc-client\r\nConnection: close\r\nContent-Length: " +
                     std::to_string(summary.size) + "\r\nX-Fc-Checksum: " + checksum +
                     "\r\nExpect: 100-continue\r\n";
  if (!token.empty()) head += "Authorization: Bearer " + token + "\r\n";
  head += "\r\n";
  Status sent = SendAll(fd, head, server);
  // Wait (briefly) for 100 Continue or an early refusal before sending the body.
  pollfd readable{fd.fd.get(), POLLIN, 0};
  Response r;
  bool answered = false;
  if (sent.ok() && ::poll(&readable, 1, 1000) > 0) {
    if (Status st = ReadHead(fd, server, &r); !st.ok()) return st;
    answered = r.status != 100;
  }
  off_t offset = 0;
  while (sent.ok() && !answered && static_cast<uint64_t>(offset) < summary.size) {
    if (::poll(&readable, 1, 0) > 0) break;  // refused mid-body: read why
    const uint64_t chunk = std::min<uint64_t>(summary.size - static_cast<uint64_t>(offset), 1 << 20);
    if (fd.tls) {  // TLS: read and write (no kernel TLS here: docs/tls.md)
      std::string block(std::min<uint64_t>(chunk, 256 * 1024), '\0');
      const ssize_t got = ::pread(file->fd.get(), block.data(), block.size(), offset);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        sent = Status::FromErrno(got < 0 ? errno : EIO, "read", local_path);
        break;
      }
      sent = fd.WriteAll(block.data(), static_cast<size_t>(got), server);
      offset += got;
      continue;
    }
    const ssize_t n = ::sendfile(fd.fd.get(), file->fd.get(), &offset, chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) sent = Status::FromErrno(n < 0 ? errno : EIO, "send", server.Describe());
  }
  if (!answered || r.status == 100) {
    r = Response();
    if (Status st = ReadHead(fd, server, &r); !st.ok()) return sent.ok() ? st : sent;
  }
  if (r.status != 201 && r.status != 200 && r.status != 204) {
    return Status::Error(what + ": " + ErrorText(fd, server, r));
  }
  return summary;
}

}  // namespace fc::client
