// Requests on a connection: telling fc from HTTP, decoding fc requests, and
// the replies and log line both protocols share. The file-serving flow is in
// serve.cc, uploads in upload_request.cc, HTTP in http_request.cc. See
// PROTOCOL.md for the wire format.
#include <unistd.h>

#include <cstdio>

#include "access_log.h"
#include "event_loop.h"
#include "fc/base/log.h"

namespace fc::worker {

using protocol::Code;

namespace {

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

// Fields an operation does not use must be zero (PROTOCOL.md); a request that
// sets one is refused, so that a future meaning can never be misread.
const char* UnusedFieldSet(const protocol::RequestHeader& h) {
  switch (h.op) {
    case protocol::Op::kList:
      if (h.name_length || h.offset || h.length || h.checksum || h.token_length) {
        return "LIST takes no name, offset, length, checksum or token; those fields must be 0";
      }
      break;
    case protocol::Op::kGet:
      if (h.checksum || h.token_length) return "GET takes no checksum or token; those fields must be 0";
      break;
    case protocol::Op::kPut:
      if (h.offset) return "PUT takes no offset; that field must be 0";
      break;
  }
  return nullptr;
}

// fc's requests start "FC" and a version byte, which is never a printable
// character: anything else is HTTP (or garbage, which HTTP answers with 400).
enum class Sniff { kNeedMore, kFc, kHttp };
Sniff SniffProtocol(std::string_view data) {
  if (data.empty()) return Sniff::kNeedMore;
  if (data[0] != 'F') return Sniff::kHttp;
  if (data.size() < 2) return Sniff::kNeedMore;
  if (data[1] != 'C') return Sniff::kHttp;
  if (data.size() < 3) return Sniff::kNeedMore;
  const unsigned char version = static_cast<unsigned char>(data[2]);
  return version < 0x20 || version >= 0x7f ? Sniff::kFc : Sniff::kHttp;
}

}  // namespace

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

void EventLoop::ProcessInput(Connection& c) {
  while (c.state == Connection::State::kReading && !c.close_after && c.in_pos < c.in.size()) {
    if (c.discard_left > 0) {  // the unused body of an answered HTTP request
      const uint64_t take = std::min<uint64_t>(c.discard_left, c.in.size() - c.in_pos);
      c.in_pos += static_cast<size_t>(take);
      c.discard_left -= take;
      continue;
    }
    const std::string_view avail(c.in.data() + c.in_pos, c.in.size() - c.in_pos);
    if (c.proto == Connection::Proto::kUnknown) {
      const Sniff sniff = SniffProtocol(avail);
      if (sniff == Sniff::kNeedMore) break;
      c.proto = sniff == Sniff::kFc ? Connection::Proto::kFc : Connection::Proto::kHttp;
    }
    c.started_ns = now_ns_;
    c.name.clear();
    c.op = "?";
    c.offset = c.length = 0;
    c.head_only = c.http_range = c.is_upload = false;
    c.coding.reset();
    c.copy = c.plan_after_load = false;
    c.identity = shm_cache::FileIdentity();
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
    if (c.request_started_ns == 0) c.request_started_ns = now_ns_;
  } else {
    c.request_started_ns = 0;
  }
}

size_t EventLoop::CountQueued(const Connection& c) const {
  const std::string_view rest(c.in.data() + c.in_pos, c.in.size() - c.in_pos);
  size_t count = 0;
  if (c.proto == Connection::Proto::kHttp) {
    // An estimate (bodies may hold blank lines): it only paces reading.
    for (size_t p = rest.find("\n\r\n"); p != std::string_view::npos;
         p = rest.find("\n\r\n", p + 3)) {
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
  if (const char* unused = UnusedFieldSet(h)) {
    ReplyError(c, Code::kBadRequest, unused, /*close_after=*/true);
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
      c.is_upload = true;
      const std::string_view token(
          reinterpret_cast<const char*>(p) + protocol::kRequestHeaderSize + h.name_length,
          h.token_length);
      if (AdmitUpload(c, token, h.length)) BeginUpload(c, h.length, true, h.checksum);
      break;
    }
  }
  return true;
}

void EventLoop::HandleList(Connection& c) {
  if (!ctx_.config.allow_list) {
    return ReplyError(c, Code::kForbidden, "LIST is turned off on this server (--list off)", false);
  }
  bool busy = false;
  const std::vector<shm_cache::CachedFile> files = ctx_.cache.List(&busy);
  if (busy) return ReplyError(c, Code::kBusy, "the cache is busy; retry the LIST", false);
  std::vector<protocol::ListItem> items;
  items.reserve(files.size());
  for (const shm_cache::CachedFile& f : files) items.push_back({f.name, f.size, f.readers, f.hits});
  std::string body = protocol::EncodeListBody(items);
  protocol::ReplyHeader h;
  h.body_length = body.size();
  c.how = Outcome::kList;
  c.code = Code::kOk;
  EncodeReply(h, &c.response);
  c.response.SetBytes(std::move(body));
  BeginReply(c);
}

void EventLoop::Refuse(Connection& c, const Refusal& refusal, bool close_after) {
  ReplyError(c, refusal.code, "\"" + Printable(c.name) + "\": " + refusal.message, close_after);
}

void EventLoop::ReplyError(Connection& c, Code code, const std::string& message,
                           bool close_after) {
  c.code = code;
  c.how = Outcome::kRefused;
  if (code == Code::kInternal) {
    // The details (paths, errno) go to the log, not to the client.
    log::Line(c.peer, ": internal error serving \"", Printable(c.name), "\": ", message);
  }
  const std::string& text =
      code == Code::kInternal ? "internal server error; the server's log has the details" : message;
  if (close_after) c.in_pos = c.in.size();  // the rest of the stream is not trusted
  if (c.proto == Connection::Proto::kHttp) return HttpText(c, HttpStatusFor(c, code), text, close_after);
  c.close_after = c.close_after || close_after;
  c.response.Clear(c.fd.get());  // whatever was planned before the refusal
  std::string body = text;
  protocol::ReplyHeader h;
  h.code = code;
  h.body_length = body.size();
  // BAD_RANGE carries the file's current size, so that a client can resume.
  if (code == Code::kBadRange) h.file_size = c.identity.size;
  EncodeReply(h, &c.response);
  c.response.SetBytes(std::move(body));
  BeginReply(c);
}

void EncodeReply(const protocol::ReplyHeader& header, Response* response) {
  std::string& head = response->head();
  head.resize(protocol::kReplyHeaderSize);
  protocol::EncodeReplyHeader(header, reinterpret_cast<uint8_t*>(head.data()));
}

void EventLoop::BeginReply(Connection& c) {
  c.state = Connection::State::kWriting;
}

namespace {

shm_cache::CountedOp CountedOpOf(std::string_view op) {
  using shm_cache::CountedOp;
  if (op == "GET") return CountedOp::kGet;
  if (op == "HEAD") return CountedOp::kHead;
  if (op == "PUT") return CountedOp::kPut;
  if (op == "LIST") return CountedOp::kList;
  if (op == "OPTIONS") return CountedOp::kOptions;
  return CountedOp::kOther;
}

}  // namespace

void EventLoop::RecordRequest(const Connection& c) {
  const bool http = c.proto == Connection::Proto::kHttp;
  const int status = http ? c.status : HttpStatusFor(c, c.code);
  const uint64_t ns = static_cast<uint64_t>(MonotonicNowNs() - c.started_ns);
  const auto proto = static_cast<int>(http ? shm_cache::CountedProto::kHttp : shm_cache::CountedProto::kFc);
  counters_.requests[proto][static_cast<int>(CountedOpOf(c.op))][shm_cache::StatusKind(status)]
      .fetch_add(1, std::memory_order_relaxed);
  counters_.bytes_sent.fetch_add(c.response.body_bytes_sent(), std::memory_order_relaxed);
  if (IsStream(c.how)) {
    counters_.streams.fetch_add(1, std::memory_order_relaxed);
    counters_.streamed_bytes.fetch_add(c.response.body_bytes_sent(), std::memory_order_relaxed);
  }
  shm_cache::Observe(counters_.request_latency, ns);
  if (ctx_.access_log == nullptr) return;
  AccessRecord r;
  r.peer = c.peer;
  r.method = c.op;
  r.name = c.name;
  r.outcome = OutcomeName(c.how);
  r.bytes = c.response.body_bytes_sent();
  r.ms = static_cast<double>(ns) / 1e6;
  r.status = status;
  if (http) {
    r.protocol = c.http && c.http->http10 ? "HTTP/1.0" : "HTTP/1.1";
    if (c.http) {
      r.referer = c.http->referer;
      r.user_agent = c.http->user_agent;
    }
  } else {
    r.protocol = "FC/1";
    r.fc_code = protocol::CodeName(c.code);
  }
  ctx_.access_log->Add(r);
}

}  // namespace fc::worker
