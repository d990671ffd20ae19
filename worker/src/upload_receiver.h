// Internal header: UploadReceiver, PUT for both protocols: admission before
// the body (enabled, token, size, name), the body into an Upload chunk by
// chunk on loader threads, then the commit (fsync, verify, rename) and the
// cache's copies dropped. The session writes the replies. Loop thread only.
#pragma once

#include <cstdint>
#include <string_view>

#include "connection.h"
#include "loader.h"

namespace fc::worker {

class EventLoop;
struct ServeContext;

class UploadReceiver {
 public:
  explicit UploadReceiver(EventLoop& loop);

  // Checks an upload of `length` bytes to c.ex.name before its body is read;
  // false: refused (and the connection closes after the reply: the body is
  // not read, so what follows is no request boundary).
  bool Admit(Connection& c, std::string_view token, uint64_t length);
  // Starts receiving the body (`checksum` verified at the end when `verify`).
  void Begin(Connection& c, uint64_t length, bool verify, uint64_t checksum);
  // Hands buffered body bytes to a write; commits once all are written.
  void Consume(Connection& c);
  // A loader wrote a chunk, or committed the upload.
  void OnWritten(Connection& c, LoadResult result);

 private:
  void OnCommitted(Connection& c, LoadResult result);

  EventLoop& loop_;
  ServeContext& ctx_;
};

}  // namespace fc::worker
