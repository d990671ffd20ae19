// fc client operations; see client.h.
#include "fc/client/client.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <random>

#include "fc/base/checksum.h"
#include "fc/base/net.h"
#include "fc/base/unique_fd.h"
#include "retry.h"

namespace fc::client {
namespace {

constexpr size_t kChunk = 256 * 1024;
constexpr uint64_t kMaxErrorBody = 64 * 1024;

// A temporary file in the target directory, unlinked unless committed.
class PartFile : public Sink {
 public:
  PartFile(int dir_fd, std::string dir) : dir_fd_(dir_fd), dir_(std::move(dir)) {}
  ~PartFile() {
    if (fd_.valid() && !committed_) ::unlinkat(dir_fd_, name_.c_str(), 0);
  }
  Status Create(const std::string& base) {
    std::random_device rd;
    for (int i = 0; i < 100; ++i) {
      name_ = "." + base.substr(0, 200) + ".fc-" + std::to_string(rd() % 1000000) + ".part";
      fd_.Reset(::openat(dir_fd_, name_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
      if (fd_.valid()) return Status::Ok();
      if (errno != EEXIST) return Status::FromErrno(errno, "create temporary file in", dir_);
    }
    return Status::Error("cannot create a temporary file in " + dir_);
  }
  Status Write(uint64_t offset, const char* data, size_t length) override {
    while (length > 0) {
      ssize_t n = ::pwrite(fd_.get(), data, length, static_cast<off_t>(offset));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Status::FromErrno(errno, "write", dir_ + "/" + name_);
      data += n;
      offset += static_cast<uint64_t>(n);
      length -= static_cast<size_t>(n);
    }
    return Status::Ok();
  }
  Status Restart() override {
    if (::ftruncate(fd_.get(), 0) != 0) return Status::FromErrno(errno, "truncate", dir_ + "/" + name_);
    return Status::Ok();
  }
  Status Commit(const std::string& base) {
    if (::fsync(fd_.get()) != 0) return Status::FromErrno(errno, "fsync", dir_ + "/" + name_);
    if (::renameat(dir_fd_, name_.c_str(), dir_fd_, base.c_str()) != 0) {
      return Status::FromErrno(errno, "rename into", dir_ + "/" + base);
    }
    committed_ = true;
    return Status::Ok();
  }

 private:
  int dir_fd_;
  std::string dir_;
  std::string name_;
  UniqueFd fd_;
  bool committed_ = false;
};

Status SendRequest(int fd, const Endpoint& server, protocol::Op op, const std::string& name,
                   uint64_t offset) {
  protocol::RequestHeader h;
  h.op = op;
  h.name_length = static_cast<uint32_t>(name.size());
  h.offset = offset;
  std::string request(protocol::kRequestHeaderSize, '\0');
  protocol::EncodeRequestHeader(h, reinterpret_cast<uint8_t*>(request.data()));
  request += name;
  return net::WriteAll(fd, request.data(), request.size(), server.Describe());
}

// Reads a reply header; for an error reply also reads its message and returns it
// as the Status (with *refused set, so the caller knows the server answered).
Status ReadReply(int fd, const Endpoint& server, const std::string& what,
                 protocol::ReplyHeader* h, bool* refused) {
  *refused = false;
  uint8_t head[protocol::kReplyHeaderSize];
  Status st = net::ReadFull(fd, head, sizeof(head), server.Describe());
  if (!st.ok()) return st;
  if (!protocol::DecodeReplyHeader(head, h)) {
    return Status::Error(server.Describe() + " did not answer in the fc protocol (version 1)");
  }
  if (h->code == protocol::Code::kOk) return Status::Ok();
  *refused = true;
  std::string message(std::min(h->body_length, kMaxErrorBody), '\0');
  if (!net::ReadFull(fd, message.data(), message.size(), server.Describe()).ok()) message.clear();
  return Status::Error(server.Describe() + " refused " + what + ": " +
                       protocol::CodeName(h->code) + (message.empty() ? "" : ": " + message));
}

}  // namespace

Result<std::string> LocalName(const std::string& name) {
  const size_t slash = name.find_last_of('/');
  std::string base = slash == std::string::npos ? name : name.substr(slash + 1);
  if (base.empty() || base == "." || base == ".." || base.find('\0') != std::string::npos) {
    return Status::Error("cannot save \"" + name + "\": its last path component is not a file name");
  }
  return base;
}

Result<FetchSummary> Fetch(const Endpoint& server, const std::string& name, Sink& sink,
                           int retries, const std::function<void(uint64_t, uint64_t)>& progress) {
  const std::string what = "GET \"" + name + "\"";
  FetchSummary summary;
  Checksum64 hash;
  uint64_t received = 0;
  bool known = false;
  int restarts = 0;
  std::unique_ptr<char[]> buffer(new char[kChunk]);
  Status last;
  Status st;
  for (int attempt = 0; attempt <= retries; ++attempt) {
    UniqueFd conn;
    if (!(last = StartAttempt(server, attempt, &summary, &conn)).ok()) continue;
    const int fd = conn.get();
    last = SendRequest(fd, server, protocol::Op::kGet, name, received);
    protocol::ReplyHeader h;
    bool refused = false;
    if (last.ok()) last = ReadReply(fd, server, what, &h, &refused);
    if (refused) {
      // Busy (e.g. the file changed while the server loaded it) is worth a retry;
      // not found or forbidden is an answer.
      if (h.code == protocol::Code::kBusy) continue;
      return last;
    }
    if (!last.ok()) continue;
    if (known && (h.file_size != summary.size || h.checksum != summary.checksum)) {
      // The file changed between attempts: start over.
      received = 0;
      hash.Reset();
      if (!(last = sink.Restart()).ok()) return last;
      known = false;
      if (++restarts > 3) return Status::Error(what + ": the file keeps changing on the server");
      --attempt;  // a change on the server is not a failure of ours
      continue;
    }
    if (h.offset != received || h.body_length != h.file_size - received) {
      return Status::Error(server.Describe() + " sent an unexpected range for " + what);
    }
    known = true;
    summary.size = h.file_size;
    summary.checksum = h.checksum;
    summary.from_cache = h.flags & protocol::kFlagFromCache;
    while (received < summary.size) {
      auto n = net::ReadSome(fd, buffer.get(), std::min<uint64_t>(kChunk, summary.size - received),
                             server.Describe());
      if (!n.ok() || n.value() == 0) {
        last = n.ok() ? Status::Error("connection closed by " + server.Describe() +
                                      " after " + std::to_string(received) + " of " +
                                      std::to_string(summary.size) + " bytes")
                      : n.status();
        break;
      }
      if (!(st = sink.Write(received, buffer.get(), n.value())).ok()) return st;
      hash.Update(buffer.get(), n.value());
      received += n.value();
      if (progress) progress(received, summary.size);
    }
    if (received == summary.size) {
      last = Status::Ok();
      break;
    }
  }
  if (!last.ok()) {
    return Status::Error(what + " from " + server.Describe() + " failed after " +
                         std::to_string(summary.attempts) + " attempts: " + last.message());
  }
  if (hash.Digest() != summary.checksum) {
    return Status::Error(what + ": checksum mismatch (the file changed during the transfer?); "
                         "nothing was saved");
  }
  return summary;
}

Result<GetSummary> Get(const Endpoint& server, const GetOptions& options) {
  auto base = LocalName(options.name);
  if (!base.ok()) return base.status();
  UniqueFd dir_fd(::open(options.directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd.valid()) return Status::FromErrno(errno, "open directory", options.directory);
  PartFile part(dir_fd.get(), options.directory);
  Status st = part.Create(base.value());
  if (!st.ok()) return st;
  auto fetched = options.http ? FetchHttp(server, options.name, part, options.retries, options.progress)
                              : Fetch(server, options.name, part, options.retries, options.progress);
  if (!fetched.ok()) return fetched.status();
  if (!(st = part.Commit(base.value())).ok()) return st;
  GetSummary summary;
  summary.path = options.directory + "/" + base.value();
  summary.size = fetched->size;
  summary.checksum = fetched->checksum;
  summary.from_cache = fetched->from_cache;
  summary.attempts = fetched->attempts;
  return summary;
}

Result<UploadFile> OpenForUpload(const std::string& local_path) {
  UploadFile upload;
  upload.fd.Reset(::open(local_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!upload.fd.valid()) return Status::FromErrno(errno, "open", local_path);
  struct stat st;
  if (::fstat(upload.fd.get(), &st) != 0) return Status::FromErrno(errno, "fstat", local_path);
  if (!S_ISREG(st.st_mode)) return Status::Error(local_path + " is not a regular file");
  upload.summary.size = static_cast<uint64_t>(st.st_size);
  Checksum64 hash;
  std::unique_ptr<char[]> buffer(new char[kChunk]);
  for (uint64_t done = 0; done < upload.summary.size;) {
    const ssize_t n = ::pread(upload.fd.get(), buffer.get(), kChunk, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status::FromErrno(n < 0 ? errno : EIO, "read", local_path);
    hash.Update(buffer.get(), static_cast<size_t>(n));
    done += static_cast<uint64_t>(n);
  }
  upload.summary.checksum = hash.Digest();
  return upload;
}

Result<PutSummary> Put(const Endpoint& server, const std::string& local_path,
                       const std::string& name, const std::string& token) {
  auto upload = OpenForUpload(local_path);
  if (!upload.ok()) return upload.status();
  const PutSummary summary = upload->summary;
  const UniqueFd& file = upload->fd;
  if (name.empty() || name.size() > protocol::kMaxNameLength) {
    return Status::Error("upload name must be 1 to 4096 bytes");
  }
  if (token.size() > protocol::kMaxTokenLength) return Status::Error("token longer than 256 bytes");

  auto conn = net::ConnectTcp(server.host, server.port, server.timeout_ms);
  if (!conn.ok()) return conn.status();
  const int fd = conn.value().get();
  protocol::RequestHeader h;
  h.op = protocol::Op::kPut;
  h.name_length = static_cast<uint32_t>(name.size());
  h.length = summary.size;
  h.checksum = summary.checksum;
  h.token_length = static_cast<uint32_t>(token.size());
  std::string head(protocol::kRequestHeaderSize, '\0');
  protocol::EncodeRequestHeader(h, reinterpret_cast<uint8_t*>(head.data()));
  head += name;
  head += token;
  Status sent = net::WriteAll(fd, head.data(), head.size(), server.Describe());
  off_t offset = 0;
  while (sent.ok() && static_cast<uint64_t>(offset) < summary.size) {
    // A refusal can come before the body is whole (PROTOCOL.md): stop sending
    // as soon as the server has said something.
    pollfd readable{fd, POLLIN, 0};
    if (::poll(&readable, 1, 0) > 0) break;
    const uint64_t chunk = std::min<uint64_t>(summary.size - static_cast<uint64_t>(offset), 1 << 20);
    const ssize_t n = ::sendfile(fd, file.get(), &offset, chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) sent = Status::FromErrno(n < 0 ? errno : EIO, "send", server.Describe());
  }
  // Even if sending failed, the server may have said why (a refusal closes the
  // connection before it reads the body).
  protocol::ReplyHeader reply;
  bool refused = false;
  const std::string what = "PUT \"" + name + "\"";
  Status answer = ReadReply(fd, server, what, &reply, &refused);
  if (!answer.ok()) return refused || sent.ok() ? answer : sent;
  if (reply.checksum != summary.checksum || reply.file_size != summary.size) {
    return Status::Error(server.Describe() + " acknowledged " + what + " with a different size or checksum");
  }
  return summary;
}

Result<std::vector<protocol::ListItem>> List(const Endpoint& server) {
  auto conn = net::ConnectTcp(server.host, server.port, server.timeout_ms);
  if (!conn.ok()) return conn.status();
  const int fd = conn.value().get();
  Status st = SendRequest(fd, server, protocol::Op::kList, "", 0);
  protocol::ReplyHeader h;
  bool refused = false;
  if (st.ok()) st = ReadReply(fd, server, "LIST", &h, &refused);
  if (!st.ok()) return st;
  if (h.body_length > (256u << 20)) return Status::Error("LIST reply too large");
  std::string body(h.body_length, '\0');
  st = net::ReadFull(fd, body.data(), body.size(), server.Describe());
  if (!st.ok()) return st;
  std::vector<protocol::ListItem> items;
  if (!protocol::DecodeListBody(body, &items)) {
    return Status::Error("malformed LIST reply from " + server.Describe());
  }
  return items;
}

}  // namespace fc::client
