// Internal header: Session, a protocol behind one small interface. A loop has
// one FcSession and one HttpSession; a connection points at one of them once
// its first bytes tell which (the per-request state is in Connection::ex).
// A session decodes requests (OnInput) and writes its protocol's heads and
// refusals; the file itself is served by the FileResponder and uploads by the
// UploadReceiver, both protocol-independent, which call back through this
// interface for what differs. Loop thread only.
#pragma once

#include <cstdint>
#include <string>

#include "connection.h"
#include "file_source.h"
#include "loader.h"

namespace fc::worker {

class Session {
 public:
  virtual ~Session() = default;

  // Input: decodes the next request at c.in[c.in_pos] and answers or starts
  // it. False: the request is not all here yet.
  virtual bool OnInput(Connection& c) = 0;

  // A file's identity is known (c.ex.identity): checks the range and the
  // preconditions and sets c.ex.offset/length. False: already answered
  // (a bad range, 304, 412).
  virtual bool PlanBody(Connection& c) = 0;
  // Writes the head of a file reply; the body source is in c.response.
  // `checksum`: the whole file's (0 for a stream nobody hashed, which is
  // the case only where ReplyCarriesChecksum is false).
  virtual void StartHead(Connection& c, uint64_t checksum, bool from_cache) = 0;
  // Whether this request's reply carries the whole file's checksum (so a
  // streamed file must be hashed before its first byte).
  virtual bool ReplyCarriesChecksum(const Connection& c) const = 0;
  // An upload is stored (result: its length and checksum).
  virtual void ReplyStored(Connection& c, const LoadResult& result) = 0;

  // A refusal in the protocol's form. `close_after`: the rest of the input
  // is not trusted.
  virtual void ReplyError(Connection& c, protocol::Code code, const std::string& message,
                          bool close_after) = 0;
  // The file could not be opened (HTTP: a directory's URL without its '/'
  // is redirected instead).
  virtual void RefuseOpen(Connection& c, const Refusal& refusal) { Refuse(c, refusal, false); }
  // ReplyError with the request's name in front of the refusal's message.
  void Refuse(Connection& c, const Refusal& refusal, bool close_after);

  // The status the access log and the metrics count for the finished reply.
  virtual int LogStatus(const Connection& c) const = 0;

 protected:
  // What every refusal does first: records the code, logs an internal
  // error's details (the client gets a sentence without them, returned), and
  // with `close_after` skips the rest of the input.
  static std::string BeginRefusal(Connection& c, protocol::Code code, const std::string& message,
                                  bool close_after);
};

}  // namespace fc::worker
