// The fc protocol on a connection: parse requests, answer GET and LIST, and
// format error replies. See PROTOCOL.md.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "event_loop.h"

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

}  // namespace

void EventLoop::ProcessInput(Connection& c) {
  while (c.state == Connection::State::kReading && !c.close_after) {
    const size_t avail = c.in.size() - c.in_pos;
    const auto* p = reinterpret_cast<const uint8_t*>(c.in.data() + c.in_pos);
    if (avail == 0) break;
    c.started_ns = MonotonicNs();
    c.name.clear();
    c.op = "?";
    if (!protocol::LooksLikeFcRequest(p, avail)) {
      return ReplyError(c, Code::kBadRequest, "not an fc request", /*close_after=*/true);
    }
    if (avail < protocol::kRequestHeaderSize) break;
    protocol::RequestHeader h;
    const protocol::DecodeError err = protocol::DecodeRequestHeader(p, &h);
    if (err != protocol::DecodeError::kNone) {
      return ReplyError(c, DecodeErrorCode(err), DecodeErrorText(err), /*close_after=*/true);
    }
    const size_t total = protocol::kRequestHeaderSize + h.name_length + h.token_length;
    if (avail < total) break;
    std::string name(reinterpret_cast<const char*>(p) + protocol::kRequestHeaderSize,
                     h.name_length);
    c.in_pos += total;
    switch (h.op) {
      case protocol::Op::kList:
        c.op = "LIST";
        HandleList(c);
        break;
      case protocol::Op::kGet:
        c.op = "GET";
        HandleGet(c, std::move(name), h);
        break;
      case protocol::Op::kPut:
        c.op = "PUT";
        c.name = std::move(name);
        // The upload body follows the header; without upload support the
        // stream cannot be resynchronised, so the connection ends here.
        ReplyError(c, Code::kUnsupported, "uploads are not enabled on this server",
                   /*close_after=*/true);
        break;
    }
  }
  if (c.in_pos == c.in.size()) {
    c.in.clear();
    c.in_pos = 0;
  }
}

void EventLoop::HandleList(Connection& c) {
  protocol::ReplyHeader h;
  c.body = protocol::EncodeListBody(ctx_.cache.List());
  h.body_length = c.body.size();
  c.how = "list";
  StartReply(c, h);
}

void EventLoop::HandleGet(Connection& c, std::string name, const protocol::RequestHeader& h) {
  c.name = std::move(name);
  c.offset = h.offset;
  c.length = h.length;
  Refusal refusal = FileSource::CheckName(c.name);
  OpenedFile file;
  if (refusal.code != Code::kOk || !ctx_.files.OpenFile(c.name, &file, &refusal)) {
    return ReplyError(c, refusal.code, "\"" + Printable(c.name) + "\": " + refusal.message,
                      /*close_after=*/false);
  }
  if (c.offset > file.identity.size) {
    return ReplyError(c, Code::kBadRange,
                      "offset " + std::to_string(c.offset) + " is beyond the end of \"" +
                          Printable(c.name) + "\" (" + std::to_string(file.identity.size) +
                          " bytes)",
                      /*close_after=*/false);
  }
  shm_cache::PinnedEntry pin = ctx_.cache.Lookup(c.name, file.identity);
  if (pin.valid()) return StartCached(c, std::move(pin), "hit");
  // A miss: the disk work happens on a loader thread; this loop moves on.
  c.state = Connection::State::kWaiting;
  SetInterest(c, 0);
  const uint64_t serial = c.serial;
  LoadTask task;
  task.name = c.name;
  task.fd = std::move(file.fd);
  task.identity = file.identity;
  task.done = [this, serial](LoadResult result) { PostLoaded(serial, std::move(result)); };
  ctx_.loaders->Submit(std::move(task));
}

void EventLoop::OnLoaded(Connection& c, LoadResult result) {
  c.state = Connection::State::kReading;
  switch (result.kind) {
    case LoadResult::Kind::kCached:
      return StartCached(c, std::move(result.pin), result.how);
    case LoadResult::Kind::kStream: {
      return StartStream(c, std::move(result.fd), 0, result.checksum, result.how);
    }
    case LoadResult::Kind::kError:
      return ReplyError(c, result.code, result.message, /*close_after=*/false);
  }
}

void EventLoop::StartCached(Connection& c, shm_cache::PinnedEntry pin, const char* how) {
  const uint64_t size = pin.size();
  protocol::ReplyHeader h;
  h.flags = protocol::kFlagFromCache;
  h.file_size = size;
  h.offset = c.offset;
  h.body_length = c.length == 0 ? size - c.offset : std::min(c.length, size - c.offset);
  h.checksum = pin.checksum();
  c.pin = std::move(pin);
  c.reader.emplace(ctx_.cache, c.pin, c.offset);
  c.body_left = h.body_length;
  c.how = how;
  StartReply(c, h);
}

void EventLoop::StartStream(Connection& c, UniqueFd file, uint64_t, uint64_t checksum,
                            const char* how) {
  struct stat st;
  const uint64_t size = ::fstat(file.get(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  if (c.offset > size) {
    return ReplyError(c, Code::kBadRange, "offset beyond the end of the file", false);
  }
  protocol::ReplyHeader h;
  h.file_size = size;
  h.offset = c.offset;
  h.body_length = c.length == 0 ? size - c.offset : std::min(c.length, size - c.offset);
  h.checksum = checksum;
  c.file = std::move(file);
  c.file_offset = static_cast<off_t>(c.offset);
  c.body_left = h.body_length;
  c.how = how;
  StartReply(c, h);
}

void EventLoop::ReplyError(Connection& c, Code code, const std::string& message,
                           bool close_after) {
  protocol::ReplyHeader h;
  h.code = code;
  c.body = message;
  h.body_length = c.body.size();
  c.how = "refused";
  c.close_after = c.close_after || close_after;
  if (close_after) c.in_pos = c.in.size();  // the rest of the stream is not trusted
  StartReply(c, h);
}

void EventLoop::StartReply(Connection& c, const protocol::ReplyHeader& h) {
  c.code = h.code;
  protocol::EncodeReplyHeader(h, c.head);
  c.head_sent = 0;
  c.body_sent = 0;
  c.bytes_sent = 0;
  c.state = Connection::State::kWriting;
}

void EventLoop::LogRequest(const Connection& c) {
  if (!ctx_.config.log_requests) return;
  const double ms = static_cast<double>(MonotonicNs() - c.started_ns) / 1e6;
  char line[512];
  std::string code = protocol::CodeName(c.code);
  const int n = std::snprintf(line, sizeof(line), "fc-worker[%d] %s %s \"%s\" %s %s %lluB %.3fms\n",
                              ::getpid(), c.peer.c_str(), c.op, Printable(c.name).c_str(), c.how,
                              code.c_str(), static_cast<unsigned long long>(c.bytes_sent), ms);
  (void)!::write(2, line, static_cast<size_t>(std::min<int>(n, sizeof(line) - 1)));
}

}  // namespace fc::worker
