// Internal header: a client connection as its loop holds it, and the exchange
// (one request and what is decided about its reply) under way on it. A
// Connection is the socket, its buffers and times, the session that speaks its
// protocol, the exchange and the Response being written. Loop thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fc/base/unique_fd.h"
#include "fc/protocol/http.h"
#include "fc/protocol/content_coding.h"
#include "fc/protocol/wire.h"
#include "fc/shm_cache/cache.h"
#include "fc/tls/stream.h"
#include "outcome.h"
#include "response.h"
#include "upload.h"

namespace fc::worker {

class Session;

// An HTTP request for more than one range: the spans, and the boundary of
// its multipart/byteranges reply.
struct Multipart {
  std::vector<http::ByteSpan> spans;
  char boundary[17] = {};
};

// A PUT whose body is arriving (the Upload is shared with the loader thread
// that writes a chunk).
struct PutState {
  std::shared_ptr<Upload> file;
  bool verify = false;    // the client sent a checksum
  uint64_t expected = 0;
  uint64_t length = 0;
  uint64_t queued = 0;    // body bytes handed to writes so far
  bool writing = false;   // a write of this upload runs on a loader
  int64_t started_ns = 0;
};

// One request and its reply's plan, for either protocol. Reset field by field
// as each request starts (Reset), so that buffers are kept.
struct Exchange {
  std::string name;  // the file (canonical once the responder has it)
  Verb verb = Verb::kUnknown;
  uint64_t offset = 0;  // first byte of the body within the file
  uint64_t length = 0;  // fc: requested length (0 = to the end); set to the body length
  bool head_only = false;  // HTTP HEAD, 304: no body
  bool is_upload = false;  // the request is a PUT
  // HTTP: the parsed request head; allocated on a connection's first HTTP
  // request, so an idle or fc-protocol connection does not pay for it.
  std::unique_ptr<http::Request> http;
  bool http_keep_alive = true;
  bool http_range = false;  // HTTP: answer 206
  std::unique_ptr<Multipart> multipart;  // HTTP: more than one range asked
  shm_cache::FileIdentity identity;  // of the file being answered
  std::unique_ptr<PutState> put;     // PUT in progress
  int64_t started_ns = 0;
  Outcome how = Outcome::kNone;  // named only in the access log
  protocol::Code code = protocol::Code::kOk;
  int status = 0;  // HTTP status, for the log
  // HTTP: the content coding of the variant being sent (name is the
  // variant's), or of the compressed copy (`copy`: name stays the file's).
  std::optional<http::Coding> coding;
  bool copy = false;
  // Precompressed variants whose open failed (bit: 1 << Coding): the next
  // coding, or the file itself, is tried instead.
  uint8_t failed_variants = 0;
  // A load that may come back as a compressed copy: the body (ranges,
  // preconditions) is planned once its size is known (OnLoaded).
  bool plan_after_load = false;

  void Reset(int64_t now_ns) {
    started_ns = now_ns;
    name.clear();
    verb = Verb::kUnknown;
    offset = length = 0;
    head_only = http_range = is_upload = false;
    coding.reset();
    copy = plan_after_load = false;
    failed_variants = 0;
    how = Outcome::kNone;
    code = protocol::Code::kOk;
    status = 0;
    identity = shm_cache::FileIdentity();
  }
};

struct Connection {
  // kHandshake: a TLS connection before its first byte of HTTP.
  enum class State { kHandshake, kReading, kUploading, kWaiting, kWriting };
  enum class Proto { kUnknown, kFc, kHttp };  // told apart by a connection's first bytes
  UniqueFd fd;
  std::unique_ptr<tls::TlsStream> tls;  // accepted on the TLS listener
  uint64_t serial = 0;
  std::string peer;
  State state = State::kReading;
  Proto proto = Proto::kUnknown;
  Session* session = nullptr;  // the loop's session for `proto`, once known
  uint32_t interest = 0;       // current epoll event mask
  std::string in;
  size_t in_pos = 0;
  uint64_t discard_left = 0;  // body bytes of an answered request still to skip
  int64_t last_activity_ns = 0;
  int64_t accepted_ns = 0;
  int64_t request_started_ns = 0;  // first byte of a request not yet whole (0: none)
  bool close_after = false;
  uint32_t served = 0;  // responses finished on this connection
  Exchange ex;          // the request being answered
  Response response;    // what is being written
};

}  // namespace fc::worker
