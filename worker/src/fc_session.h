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

  bool OnInput(Connection& c) override;
  bool PlanBody(Connection& c) override;
  void StartHead(Connection& c, uint64_t checksum, bool from_cache) override;
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
