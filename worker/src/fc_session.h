// Internal header: FcSession, fc's binary protocol (PROTOCOL.md): GET with
// offset and length, PUT, LIST; replies are a fixed header and a body, every
// file reply with the whole file's checksum. Loop thread only.
#pragma once

#include "session.h"

namespace fc::worker {

class EventLoop;
struct ServeContext;

class FcSession : public Session {
 public:
  explicit FcSession(EventLoop& loop);

  // One request header (and its name and token) at a time; a malformed one
  // is refused and the connection closed after the reply.
  bool OnInput(Connection& c) override;
  // The GET's offset against the file's size (BAD_RANGE past the end, with
  // the size, so that a client can resume); length 0 means to the end.
  bool PlanBody(Connection& c) override;
  // The fixed reply header: code, sizes, the from-cache flag, the checksum.
  void StartHead(Connection& c, uint64_t checksum, bool from_cache) override;
  // Every fc reply carries the whole file's checksum (PROTOCOL.md).
  bool ReplyCarriesChecksum(const Connection&) const override { return true; }
  void ReplyStored(Connection& c, const LoadResult& result) override;
  void ReplyError(Connection& c, protocol::Code code, const std::string& message, bool close_after) override;
  int LogStatus(const Connection& c) const override;

 private:
  void HandleList(Connection& c);

  EventLoop& loop_;
  ServeContext& ctx_;
};

}  // namespace fc::worker
