// Requests on a connection: telling fc from HTTP, the fc protocol, and the
// file-serving flow both protocols share (confine, stat, hit / load / stream).
// See PROTOCOL.md for the wire format.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdio>

#include "event_loop.h"
#include "fc/protocol/http.h"

namespace fc::worker {

using protocol::Code;

namespace {

// Names are arbitrary bytes: quote them for a log line, escaped and bounded.
std::string Printable(const std::string& name) {
  std::string out;
  for (size_t i = 0; i < name.size() && i < 200; ++i) {
    const unsigned char ch = static_cast<unsigned char>(name[i]);
    if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\') {
      char buf[5];
      std::snprintf(buf, sizeof(buf), "\\x%02x", ch);
      out += buf;
    } else {
      out += static_cast<char>(ch);
    }
  }
  if (name.size() > 200) out += "...";
  return out;
}

const char* DecodeErrorText(protocol::DecodeError e) {
  switch (e) {
    case protocol::DecodeError::kBadMagic: return "not an fc request";
    case protocol::DecodeError::kBadVersion: return "unsupported protocol version (this server speaks 1)";
    case protocol::DecodeError::kBadOp: return "unknown operation";
    case protocol::DecodeError::kNameTooLong: return "file name longer than 4096 bytes";
    case protocol::DecodeError::kEmptyName: return "empty file name";
    case protocol::DecodeError::kTokenTooLong: return "token longer than 256 bytes";
    case protocol::DecodeError::kReserved: return "reserved header bytes are not zero";
    case protocol::DecodeError::kNone: break;
  }
  return "bad request";
}

Code DecodeErrorCode(protocol::DecodeError e) {
  switch (e) {
    case protocol::DecodeError::kBadVersion: return Code::kBadVersion;
    case protocol::DecodeError::kNameTooLong:
    case protocol::DecodeError::kTokenTooLong: return Code::kTooLarge;
    default: return Code::kBadRequest;
  }
}

// A cheap confined stat for the hit path: one statx, no open. Serving cached
// bytes on a match is safe even if a directory on the way was swapped for a
// symlink: the cached bytes were loaded through a confined open, and device +
// inode + size + mtime must all match them. Anything unusual (a symlink as the
// last component, not a regular file) takes the full openat2 path instead.
bool QuickIdentity(int root_fd, const std::string& name, shm_cache::FileIdentity* id) {
  struct statx st;
  if (::statx(root_fd, name.c_str(), AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_STATX_SYNC_AS_STAT,
              STATX_TYPE | STATX_SIZE | STATX_INO | STATX_MTIME, &st) != 0) {
    return false;
  }
  if (!S_ISREG(st.stx_mode)) return false;
  id->size = st.stx_size;
  id->mtime_ns = static_cast<int64_t>(st.stx_mtime.tv_sec) * 1000000000LL + st.stx_mtime.tv_nsec;
  id->ino = st.stx_ino;
  id->dev = makedev(st.stx_dev_major, st.stx_dev_minor);
  return true;
}

}  // namespace

void EventLoop::ProcessInput(Connection& c) {
  while (c.state == Connection::State::kReading && !c.close_after && c.in_pos < c.in.size()) {
    const std::string_view avail(c.in.data() + c.in_pos, c.in.size() - c.in_pos);
    if (c.proto == Connection::Proto::kUnknown) {
      const auto* p = reinterpret_cast<const uint8_t*>(avail.data());
      if (protocol::LooksLikeFcRequest(p, std::min<size_t>(avail.size(), 2))) {
        if (avail.size() < 2) break;
        c.proto = Connection::Proto::kFc;
      } else if (http::LooksLikeHttp(avail)) {
        if (avail.find(' ') == std::string_view::npos && avail.size() < 8) break;
        c.proto = Connection::Proto::kHttp;
      } else {
        c.proto = Connection::Proto::kFc;  // answered as a malformed fc request
      }
    }
    c.started_ns = MonotonicNs();
    c.name.clear();
    c.op = "?";
    c.offset = c.length = 0;
    c.head_only = c.http_range = c.has_if_modified_since = false;
    c.if_none_match.clear();
    const bool progressed =
        c.proto == Connection::Proto::kFc ? ProcessFcRequest(c) : ProcessHttpRequest(c);
    if (!progressed) break;
  }
  if (c.in_pos == c.in.size()) {
    c.in.clear();
    c.in_pos = 0;
  }
  // A request that has started to arrive must arrive whole within
  // --request-timeout (a client sending a byte a second is dropped).
  if (c.state == Connection::State::kReading && c.in_pos < c.in.size()) {
    if (c.request_started_ns == 0) c.request_started_ns = MonotonicNs();
  } else {
    c.request_started_ns = 0;
  }
}

size_t EventLoop::CountQueued(const Connection& c) const {
  const std::string_view rest(c.in.data() + c.in_pos, c.in.size() - c.in_pos);
  size_t count = 0;
  if (c.proto == Connection::Proto::kHttp) {
    for (size_t p = rest.find("\r\n\r\n"); p != std::string_view::npos;
         p = rest.find("\r\n\r\n", p + 4)) {
      ++count;
    }
    return count;
  }
  size_t pos = 0;
  while (rest.size() - pos >= protocol::kRequestHeaderSize) {
    const auto* h = reinterpret_cast<const uint8_t*>(rest.data() + pos);
    pos += protocol::kRequestHeaderSize + protocol::GetU32(h + 4) + protocol::GetU32(h + 32);
    if (pos > rest.size()) break;
    ++count;
  }
  return count;
}

bool EventLoop::ProcessFcRequest(Connection& c) {
  const size_t avail = c.in.size() - c.in_pos;
  const auto* p = reinterpret_cast<const uint8_t*>(c.in.data() + c.in_pos);
  if (!protocol::LooksLikeFcRequest(p, avail)) {
    ReplyError(c, Code::kBadRequest, "not an fc request", /*close_after=*/true);
    return true;
  }
  if (avail < protocol::kRequestHeaderSize) return false;
  protocol::RequestHeader h;
  const protocol::DecodeError err = protocol::DecodeRequestHeader(p, &h);
  if (err != protocol::DecodeError::kNone) {
    ReplyError(c, DecodeErrorCode(err), DecodeErrorText(err), /*close_after=*/true);
    return true;
  }
  const size_t total = protocol::kRequestHeaderSize + h.name_length + h.token_length;
  if (avail < total) return false;
  c.name.assign(reinterpret_cast<const char*>(p) + protocol::kRequestHeaderSize, h.name_length);
  c.in_pos += total;
  switch (h.op) {
    case protocol::Op::kList:
      c.op = "LIST";
      HandleList(c);
      break;
    case protocol::Op::kGet:
      c.op = "GET";
      c.offset = h.offset;
      c.length = h.length;
      HandleGet(c);
      break;
    case protocol::Op::kPut: {
      c.op = "PUT";
      const std::string_view token(
          reinterpret_cast<const char*>(p) + protocol::kRequestHeaderSize + h.name_length,
          h.token_length);
      if (AdmitUpload(c, token, h.length)) BeginUpload(c, h.length, true, h.checksum);
      break;
    }
  }
  return true;
}

namespace {
bool SameSecret(std::string_view a, std::string_view b) {
  // Constant time in the secret's content.
  unsigned diff = a.size() != b.size();
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i]);
  }
  return diff == 0;
}
}  // namespace

bool EventLoop::AdmitUpload(Connection& c, std::string_view token, uint64_t length) {
  // A refused upload closes the connection: its body cannot be skipped safely.
  const WorkerConfig& cfg = ctx_.config;
  if (!cfg.allow_upload) {
    ReplyError(c, Code::kUnsupported, "uploads are not enabled on this server", true);
    return false;
  }
  if (!cfg.upload_token.empty() && !SameSecret(token, cfg.upload_token)) {
    ReplyError(c, Code::kForbidden, "upload token missing or wrong", true);
    return false;
  }
  if (length > cfg.max_upload) {
    ReplyError(c, Code::kTooLarge,
               "upload of " + std::to_string(length) + " bytes is over the server's limit of " +
                   std::to_string(cfg.max_upload) + " bytes",
               true);
    return false;
  }
  const Refusal refusal = FileSource::CheckName(c.name);
  if (refusal.code != Code::kOk) {
    ReplyError(c, refusal.code, "\"" + Printable(c.name) + "\": " + refusal.message, true);
    return false;
  }
  return true;
}

void EventLoop::BeginUpload(Connection& c, uint64_t length, bool verify, uint64_t checksum) {
  Refusal refusal;
  c.upload = Upload::Begin(ctx_.files, c.name, length, &refusal);
  if (!c.upload) {
    return ReplyError(c, refusal.code, "\"" + Printable(c.name) + "\": " + refusal.message, true);
  }
  c.upload_verify = verify;
  c.upload_expected = checksum;
  c.upload_length = length;
  c.state = Connection::State::kUploading;
  ConsumeUpload(c);
}

void EventLoop::ConsumeUpload(Connection& c) {
  const size_t take = static_cast<size_t>(
      std::min<uint64_t>(c.in.size() - c.in_pos, c.upload->left()));
  if (take > 0) {
    Refusal refusal;
    if (!c.upload->Append(c.in.data() + c.in_pos, take, &refusal)) {
      c.upload.reset();  // the unnamed file vanishes
      c.state = Connection::State::kReading;
      return ReplyError(c, refusal.code, refusal.message, true);
    }
    c.in_pos += take;
    if (c.in_pos == c.in.size()) {
      c.in.clear();
      c.in_pos = 0;
    }
  }
  if (c.upload->left() > 0) return;  // more to come
  // All bytes here: fsync, verify and rename on a loader thread.
  c.state = Connection::State::kWaiting;
  SetInterest(c, 0);
  std::shared_ptr<Upload> upload(std::move(c.upload));
  const uint64_t serial = c.serial;
  const bool verify = c.upload_verify;
  const uint64_t expected = c.upload_expected;
  const std::string name = c.name;
  ctx_.loaders->Post([this, upload, serial, verify, expected, name] {
    LoadResult r;
    Refusal refusal;
    if (upload->Commit(verify, expected, &refusal)) {
      ctx_.cache.Invalidate(name);
      r.kind = LoadResult::Kind::kUploaded;
      r.checksum = upload->checksum();
      r.how = "stored";
    } else {
      r.code = refusal.code;
      r.message = refusal.message;
    }
    PostLoaded(serial, std::move(r));
  });
}

void EventLoop::HandleList(Connection& c) {
  c.body = protocol::EncodeListBody(ctx_.cache.List());
  protocol::ReplyHeader h;
  h.body_length = c.body.size();
  c.how = "list";
  c.code = Code::kOk;
  c.head.resize(protocol::kReplyHeaderSize);
  protocol::EncodeReplyHeader(h, reinterpret_cast<uint8_t*>(c.head.data()));
  BeginReply(c);
}

void EventLoop::HandleGet(Connection& c) {
  Refusal refusal = FileSource::CheckName(c.name);
  if (refusal.code != Code::kOk) {
    return ReplyError(c, refusal.code, "\"" + Printable(c.name) + "\": " + refusal.message, false);
  }
  // Hit path: one statx and the cache; no open.
  bool looked_up = false;
  shm_cache::FileIdentity quick;
  if (QuickIdentity(ctx_.files.root_fd(), c.name, &quick)) {
    c.identity = quick;
    shm_cache::PinnedEntry pin = ctx_.cache.Lookup(c.name, c.identity);
    if (pin.valid()) {
      if (!PlanBody(c)) return;
      return StartCached(c, std::move(pin), "hit");
    }
    looked_up = true;
  }
  OpenedFile file;
  if (!ctx_.files.OpenFile(c.name, &file, &refusal)) {
    return ReplyError(c, refusal.code, "\"" + Printable(c.name) + "\": " + refusal.message, false);
  }
  c.identity = file.identity;
  if (!PlanBody(c)) return;
  // Ask the cache again only if the open found another file than statx did
  // (a symlink followed, or a change in between).
  if (!looked_up || !(quick == file.identity)) {
    shm_cache::PinnedEntry pin = ctx_.cache.Lookup(c.name, file.identity);
    if (pin.valid()) return StartCached(c, std::move(pin), "hit");
  }
  // A miss: the disk work happens on a loader thread; this loop moves on.
  c.state = Connection::State::kWaiting;
  SetInterest(c, 0);
  const uint64_t serial = c.serial;
  LoadTask task;
  task.name = c.name;
  task.fd = std::move(file.fd);
  task.identity = file.identity;
  task.need_checksum = c.proto == Connection::Proto::kFc;
  task.done = [this, serial](LoadResult result) { PostLoaded(serial, std::move(result)); };
  ctx_.loaders->Submit(std::move(task));
}

bool EventLoop::PlanBody(Connection& c) {
  const uint64_t size = c.identity.size;
  if (c.proto == Connection::Proto::kFc) {
    if (c.offset > size) {
      ReplyError(c, Code::kBadRange,
                 "offset " + std::to_string(c.offset) + " is beyond the end of \"" +
                     Printable(c.name) + "\" (" + std::to_string(size) + " bytes)",
                 false);
      return false;
    }
    c.length = c.length == 0 ? size - c.offset : std::min(c.length, size - c.offset);
    return true;
  }
  return PlanHttpBody(c);
}

void EventLoop::OnLoaded(Connection& c, LoadResult result) {
  c.state = Connection::State::kReading;
  switch (result.kind) {
    case LoadResult::Kind::kCached:
      return StartCached(c, std::move(result.pin), result.how);
    case LoadResult::Kind::kStream:
      return StartStream(c, std::move(result.fd), result.checksum, result.how);
    case LoadResult::Kind::kError:
      return ReplyError(c, result.code, result.message, /*close_after=*/false);
    case LoadResult::Kind::kUploaded: {
      c.how = result.how;
      c.code = Code::kOk;
      c.identity.size = c.upload_length;
      if (c.proto == Connection::Proto::kHttp) {
        return HttpError(c, 201, "stored \"" + Printable(c.name) + "\"", false);
      }
      protocol::ReplyHeader h;
      h.file_size = c.upload_length;
      h.checksum = result.checksum;
      c.head.resize(protocol::kReplyHeaderSize);
      protocol::EncodeReplyHeader(h, reinterpret_cast<uint8_t*>(c.head.data()));
      return BeginReply(c);
    }
  }
}

void EventLoop::StartCached(Connection& c, shm_cache::PinnedEntry pin, const char* how) {
  const uint64_t checksum = pin.checksum();
  c.how = how;
  if (!c.head_only) {
    c.pin = std::move(pin);
    c.reader.emplace(ctx_.cache, c.pin, c.offset);
    c.body_left = c.length;
  }
  StartHead(c, checksum, /*from_cache=*/true);
}

void EventLoop::StartStream(Connection& c, UniqueFd file, uint64_t checksum, const char* how) {
  c.how = how;
  if (!c.head_only) {
    c.file = std::move(file);
    c.file_offset = static_cast<off_t>(c.offset);
    c.body_left = c.length;
  }
  StartHead(c, checksum, /*from_cache=*/false);
}

void EventLoop::StartHead(Connection& c, uint64_t checksum, bool from_cache) {
  c.code = Code::kOk;
  if (c.proto == Connection::Proto::kHttp) {
    return HttpHead(c, c.http_range ? 206 : 200, c.length, from_cache);
  }
  protocol::ReplyHeader h;
  h.flags = from_cache ? protocol::kFlagFromCache : 0;
  h.file_size = c.identity.size;
  h.offset = c.offset;
  h.body_length = c.length;
  h.checksum = checksum;
  c.head.resize(protocol::kReplyHeaderSize);
  protocol::EncodeReplyHeader(h, reinterpret_cast<uint8_t*>(c.head.data()));
  BeginReply(c);
}

void EventLoop::ReplyError(Connection& c, Code code, const std::string& message,
                           bool close_after) {
  c.code = code;
  c.how = "refused";
  if (close_after) c.in_pos = c.in.size();  // the rest of the stream is not trusted
  if (c.proto == Connection::Proto::kHttp) {
    int status = 500;
    switch (code) {
      case Code::kNotFound: status = 404; break;
      case Code::kForbidden: status = 403; break;
      case Code::kTooLarge: status = std::string_view(c.op) == "PUT" ? 413 : 414; break;
      case Code::kBusy: status = 503; break;
      case Code::kBadRequest: status = 400; break;
      case Code::kBadRange: status = 416; break;
      case Code::kUnsupported: status = 405; break;
      case Code::kBadChecksum: status = 400; break;
      case Code::kNoSpace: status = 507; break;
      default: break;
    }
    return HttpError(c, status, message, close_after);
  }
  c.close_after = c.close_after || close_after;
  c.body = message;
  protocol::ReplyHeader h;
  h.code = code;
  h.body_length = c.body.size();
  c.head.resize(protocol::kReplyHeaderSize);
  protocol::EncodeReplyHeader(h, reinterpret_cast<uint8_t*>(c.head.data()));
  BeginReply(c);
}

void EventLoop::BeginReply(Connection& c) {
  c.head_sent = 0;
  c.body_sent = 0;
  c.bytes_sent = 0;
  c.state = Connection::State::kWriting;
}

void EventLoop::LogRequest(const Connection& c) {
  if (!ctx_.config.log_requests) return;
  const double ms = static_cast<double>(MonotonicNs() - c.started_ns) / 1e6;
  char line[512];
  const bool http = c.proto == Connection::Proto::kHttp;
  const std::string result = http ? std::to_string(c.status) : protocol::CodeName(c.code);
  const int n = std::snprintf(line, sizeof(line), "fc-worker[%d] %s %s%s \"%s\" %s %s %lluB %.3fms\n",
                              ::getpid(), c.peer.c_str(), http ? "HTTP " : "", c.op,
                              Printable(c.name).c_str(), c.how, result.c_str(),
                              static_cast<unsigned long long>(c.bytes_sent), ms);
  (void)!::write(2, line, static_cast<size_t>(std::min<int>(n, sizeof(line) - 1)));
}

}  // namespace fc::worker
