// Internal header: HttpSession, HTTP/1.1 on the fc port. http_session.cc:
// framing, method dispatch, health, the RFC 9110 preconditions and ranges;
// http_reply.cc: status lines and fields; http_directory.cc: a directory's
// URL (index, 301, listing) and GET /.fc/cache. The file itself is served by
// the FileResponder. Loop thread only.
#pragma once

#include <time.h>

#include <string>
#include <string_view>

#include "session.h"

namespace fc::worker {

class EventLoop;
struct ServeContext;

class HttpSession : public Session {
 public:
  explicit HttpSession(EventLoop& loop);

  bool OnInput(Connection& c) override;
  bool PlanBody(Connection& c) override;  // conditionals, Range, HEAD
  void StartHead(Connection& c, uint64_t checksum, bool from_cache) override;
  // Only when asked (X-Fc-Want-Checksum, which fc-client sends; PROTOCOL.md),
  // on a whole-file 200.
  bool ReplyCarriesChecksum(const Connection& c) const override;
  void ReplyStored(Connection& c, const LoadResult& result) override;
  void ReplyError(Connection& c, protocol::Code code, const std::string& message, bool close_after) override;
  // A directory's URL without its '/': 301 to it (keeping the query).
  void RefuseOpen(Connection& c, const Refusal& refusal) override;
  int LogStatus(const Connection& c) const override { return c.ex.status; }
  // The Lister's page (or refusal) for the listing the connection waits for.
  void OnListed(Connection& c, LoadResult result);

 private:
  void Dispatch(Connection& c, bool body_skippable);
  void HandlePut(Connection& c);
  // http_directory.cc. A URL ending in '/': its index file, else a listing
  // (--autoindex) or 403.
  void HandleDirectory(Connection& c);
  // --redirect-https: a 308 to the TLS port, if the Host names a host (true).
  bool RedirectToHttps(Connection& c);
  // After a refused open of c.ex.name: if it is a directory, answers 301 to
  // its URL with the '/' (keeping the query) and returns true.
  bool RedirectDirectory(Connection& c);
  // GET /.fc/cache: the cache's entries as JSON, or as an HTML page.
  void HandleCachePage(Connection& c);

  // http_reply.cc. `checksum`: the whole file's xxHash64 when known, sent on a 200.
  void Head(Connection& c, int status, uint64_t body_length, bool from_cache, const uint64_t* checksum = nullptr);
  // A reply with a short text body: errors, and also health and OPTIONS.
  void Text(Connection& c, int status, const std::string& message, bool close_after);
  // A reply with a body made in memory (a listing, /.fc/cache, a redirect's
  // note) and extra `fields` ("Name: value\r\n" each).
  void Body(Connection& c, int status, std::string body, std::string_view content_type, std::string_view fields,
            bool close_after);
  // The text before part `part` of a multipart/byteranges body; for
  // part == spans.size(), the closing boundary.
  std::string PartHeader(const Connection& c, size_t part) const;
  const std::string& DateHeader();
  // "ETag: ...\r\nLast-Modified: ...\r\n" for a file, memoised per loop.
  const std::string& Validators(const shm_cache::FileIdentity& id, std::string_view tag);

  EventLoop& loop_;
  ServeContext& ctx_;
  std::string date_;  // "Date: ...\r\n", refreshed once a second
  time_t date_second_ = 0;
  struct ValidatorMemo {
    shm_cache::FileIdentity id;
    std::string tag;
    std::string text;
  };
  ValidatorMemo validators_[64];
};

// The HTTP status for an fc code, in the context of the request.
int HttpStatusFor(const Connection& c, protocol::Code code);

}  // namespace fc::worker
