// The exchanges on a connection, protocol-independent: telling fc from HTTP
// by the first bytes and handing input to that Session, the pacing of
// pipelined requests, what every refusal does first, and the record of a
// finished reply (metrics and the access log). The protocols are in
// fc_session.cc and http_session.cc; the file in file_responder.cc.
#include <unistd.h>

#include <cstdio>

#include "access_log.h"
#include "event_loop.h"
#include "fc/base/log.h"

namespace fc::worker {

using protocol::Code;

namespace {

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
      c.session = sniff == Sniff::kFc ? static_cast<Session*>(&fc_session_) : &http_session_;
    }
    c.ex.Reset(now_ns_);
    if (!c.session->OnInput(c)) break;
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

void EncodeReply(const protocol::ReplyHeader& header, Response* response) {
  std::string& head = response->head();
  head.resize(protocol::kReplyHeaderSize);
  protocol::EncodeReplyHeader(header, reinterpret_cast<uint8_t*>(head.data()));
}

void Session::Refuse(Connection& c, const Refusal& refusal, bool close_after) {
  ReplyError(c, refusal.code, "\"" + Printable(c.ex.name) + "\": " + refusal.message, close_after);
}

std::string Session::BeginRefusal(Connection& c, protocol::Code code, const std::string& message,
                                  bool close_after) {
  c.ex.code = code;
  c.ex.how = Outcome::kRefused;
  if (close_after) c.in_pos = c.in.size();  // the rest of the stream is not trusted
  if (code != protocol::Code::kInternal) return message;
  // The details (paths, errno) go to the log, not to the client.
  log::Line(c.peer, ": internal error serving \"", Printable(c.ex.name), "\": ", message);
  return "internal server error; the server's log has the details";
}

namespace {

shm_cache::CountedOp CountedOpOf(Verb verb) {
  using shm_cache::CountedOp;
  switch (verb) {
    case Verb::kGet: return CountedOp::kGet;
    case Verb::kHead: return CountedOp::kHead;
    case Verb::kPut: return CountedOp::kPut;
    case Verb::kList: return CountedOp::kList;
    case Verb::kOptions: return CountedOp::kOptions;
    case Verb::kUnknown:
    case Verb::kOther: break;
  }
  return CountedOp::kOther;
}

}  // namespace

void EventLoop::RecordRequest(const Connection& c) {
  const bool http = c.proto == Connection::Proto::kHttp;
  const int status = c.session != nullptr ? c.session->LogStatus(c) : 400;
  const uint64_t ns = static_cast<uint64_t>(MonotonicNowNs() - c.ex.started_ns);
  const auto proto = static_cast<int>(http ? shm_cache::CountedProto::kHttp : shm_cache::CountedProto::kFc);
  counters_.requests[proto][static_cast<int>(CountedOpOf(c.ex.verb))][shm_cache::StatusKind(status)]
      .fetch_add(1, std::memory_order_relaxed);
  counters_.bytes_sent.fetch_add(c.response.body_bytes_sent(), std::memory_order_relaxed);
  if (IsStream(c.ex.how)) {
    counters_.streams.fetch_add(1, std::memory_order_relaxed);
    counters_.streamed_bytes.fetch_add(c.response.body_bytes_sent(), std::memory_order_relaxed);
  }
  shm_cache::Observe(counters_.request_latency, ns);
  if (ctx_.access_log == nullptr) return;
  AccessRecord r;
  r.peer = c.peer;
  r.method = c.ex.verb == Verb::kOther && c.ex.http ? http::MethodName(c.ex.http->method) : VerbName(c.ex.verb);
  r.name = c.ex.name;
  r.outcome = OutcomeName(c.ex.how);
  r.bytes = c.response.body_bytes_sent();
  r.ms = static_cast<double>(ns) / 1e6;
  r.status = status;
  if (http) {
    r.protocol = c.ex.http && c.ex.http->http10 ? "HTTP/1.0" : "HTTP/1.1";
    if (c.tls) {
      r.tls_protocol = c.tls->protocol();
      r.tls_cipher = c.tls->cipher();
    }
    if (c.ex.http) {
      r.target = c.ex.http->target;
      r.referer = c.ex.http->referer;
      r.user_agent = c.ex.http->user_agent;
    }
  } else {
    r.protocol = "FC/1";
    r.fc_code = protocol::CodeName(c.ex.code);
  }
  ctx_.access_log->Add(r);
}

}  // namespace fc::worker
