// HTTP/1.1 on the fc port: framing decisions, method dispatch, the health
// endpoint, and the RFC 9110 preconditions and ranges of a GET or HEAD. The
// same confinement and cache as the fc protocol (serve.cc) serve the file.
#include <sys/socket.h>

#include "event_loop.h"

namespace fc::worker {

using protocol::Code;

namespace {

// A GET, HEAD, OPTIONS or refused request may carry a body fc does not use:
// up to this much is read and dropped, keeping the connection; more is 413.
constexpr uint64_t kMaxSkippedBody = 64 * 1024;

}  // namespace

int EventLoop::HttpStatusFor(const Connection& c, Code code) {
  switch (code) {
    case Code::kOk: return 200;
    case Code::kNotFound: return 404;
    case Code::kForbidden: return 403;
    case Code::kTooLarge: return c.is_upload ? 413 : 414;
    case Code::kBusy: return 503;
    case Code::kBadRequest: return 400;
    case Code::kBadVersion: return 505;
    case Code::kBadRange: return 416;
    case Code::kUnsupported: return 405;
    case Code::kBadChecksum: return 400;
    case Code::kNoSpace: return 507;
    case Code::kInternal: break;
  }
  return 500;
}

bool EventLoop::ProcessHttpRequest(Connection& c) {
  const std::string_view avail(c.in.data() + c.in_pos, c.in.size() - c.in_pos);
  if (!c.http) c.http = std::make_unique<http::Request>();
  http::Request& req = *c.http;
  c.http_keep_alive = true;
  switch (http::Parse(avail, &req)) {
    case http::ParseStatus::kNeedMore:
      return false;
    case http::ParseStatus::kHeaderTooLarge:
      HttpText(c, 431, "request head larger than 8192 bytes", true);
      return true;
    case http::ParseStatus::kUriTooLong:
      HttpText(c, 414, "path longer than 4096 bytes", true);
      return true;
    case http::ParseStatus::kVersion:
      HttpText(c, 505, "only HTTP/1.0 and HTTP/1.1 are served", true);
      return true;
    case http::ParseStatus::kBadRequest:
      HttpText(c, 400, "malformed or ambiguous HTTP request", true);
      return true;
    case http::ParseStatus::kOk:
      break;
  }
  c.in_pos += req.header_bytes;
  c.http_keep_alive = req.keep_alive;
  c.op = http::MethodName(req.method);
  c.name = req.path;
  // Every message's body is read or the connection closes after the reply:
  // otherwise the body would be read as the next request (smuggling).
  bool body_skippable = !req.chunked && req.content_length <= kMaxSkippedBody;
  if (req.method == http::Method::kPut && ctx_.config.allow_upload) {
    HandleHttpPut(c);
    return true;
  }
  if (body_skippable) c.discard_left = req.content_length;
  DispatchHttp(c, body_skippable);
  return true;
}

void EventLoop::DispatchHttp(Connection& c, bool body_skippable) {
  const http::Request& req = *c.http;
  const bool uploads = ctx_.config.allow_upload;
  switch (req.method) {
    case http::Method::kGet:
    case http::Method::kHead:
    case http::Method::kOptions:
      break;
    case http::Method::kPut:
      return HttpText(c, 405, "uploads are not enabled on this server", !body_skippable);
    case http::Method::kUnknown:
      return HttpText(c, 501, "method not implemented", !body_skippable);
    default:
      return HttpText(c, 405, std::string(http::MethodName(req.method)) + " is not served here",
                       !body_skippable);
  }
  if (!body_skippable) {
    return HttpText(c, 413, "request body over 64 KiB on a request that takes none", true);
  }
  if (req.method == http::Method::kOptions) {
    c.how = Outcome::kOptions;
    return HttpText(c, 200, uploads ? "GET, HEAD, OPTIONS, PUT" : "GET, HEAD, OPTIONS", false);
  }
  c.head_only = req.method == http::Method::kHead;
  const std::string& health = ctx_.config.health_path;
  if (!health.empty() && c.name == std::string_view(health).substr(1)) {
    const bool serving = notice_until_ns_ == 0 && !draining_;
    HttpText(c, serving ? 200 : 503, serving ? "ok" : "draining", false);
    c.how = Outcome::kHealth;
    return;
  }
  // Merge leading slashes ("//a" is "/a", as nginx's merge_slashes does).
  const size_t first = c.name.find_first_not_of('/');
  c.name.erase(0, first == std::string::npos ? c.name.size() : first);
  if (c.name == ".fc/cache") return HandleCachePage(c);
  if (req.slash_ended) return HandleHttpDirectory(c);
  HandleGet(c);
}

void EventLoop::HandleHttpPut(Connection& c) {
  const http::Request& req = *c.http;
  c.is_upload = true;
  if (req.chunked || !req.has_content_length) {
    return HttpText(c, 411,
                     "PUT needs a Content-Length (chunked uploads are not supported; "
                     "curl: use -T FILE rather than -T -)",
                     true);
  }
  std::string_view token = req.authorization;
  if (token.size() >= 7 && http::IEquals(token.substr(0, 7), "bearer ")) token.remove_prefix(7);
  const size_t first = c.name.find_first_not_of('/');
  c.name.erase(0, first == std::string::npos ? c.name.size() : first);
  if (!AdmitUpload(c, token, req.content_length)) return;
  if (req.expect_continue && !req.http10) {
    static const char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
    (void)!::send(c.fd.get(), kContinue, sizeof(kContinue) - 1, MSG_NOSIGNAL);
  }
  BeginUpload(c, req.content_length, req.has_checksum, req.checksum);
}

bool EventLoop::PlanHttpBody(Connection& c) {
  const http::Request& req = *c.http;
  const uint64_t size = c.identity.size;
  // Formatted only when a precondition needs it (most requests have none).
  const bool needs_etag = !req.if_match.empty() || !req.if_none_match.empty() || !req.if_range.empty();
  const std::string etag = needs_etag ? ETag(c.identity, EtagTag(c)) : std::string();
  const time_t modified = static_cast<time_t>(c.identity.mtime_ns / 1000000000LL);
  // RFC 9110 §13.2.2: If-Match, else If-Unmodified-Since; then If-None-Match,
  // else If-Modified-Since; then If-Range.
  if (!req.if_match.empty() ? !http::ListMatches(req.if_match, etag, /*weak=*/false)
                            : req.has_if_unmodified_since && modified > req.if_unmodified_since) {
    HttpText(c, 412, "precondition failed: the file has changed", false);
    return false;
  }
  const bool not_modified = !req.if_none_match.empty()
                                ? http::ListMatches(req.if_none_match, etag, /*weak=*/true)
                                : req.has_if_modified_since && modified <= req.if_modified_since;
  if (not_modified) {
    c.head_only = true;
    c.how = Outcome::kNotModified;
    HttpHead(c, 304, 0, false);
    return false;
  }
  c.offset = 0;
  c.length = size;
  c.multipart.reset();
  if (req.range.empty()) return true;
  if (!req.if_range.empty()) {
    // A resumed download after the file changed must get the whole new file.
    time_t date;
    const bool same = req.if_range.front() == '"' || req.if_range.front() == 'W'
                          ? http::StrongMatch(req.if_range, etag)
                          : http::ParseHttpDate(req.if_range, &date) && date == modified;
    if (!same) return true;
  }
  std::vector<http::ByteSpan> spans;
  switch (http::ResolveRanges(req.range, size, &spans)) {
    case http::RangeOutcome::kIgnore:
      return true;
    case http::RangeOutcome::kUnsatisfiable:
      HttpText(c, 416, "range not satisfiable for a file of " + std::to_string(size) + " bytes",
                false);
      return false;
    case http::RangeOutcome::kRanges:
      break;
  }
  c.http_range = true;
  c.offset = spans[0].first;
  c.length = spans[0].length();
  if (spans.size() > 1) {
    c.multipart = std::make_unique<Multipart>();
    c.multipart->spans = std::move(spans);
  }
  return true;
}

}  // namespace fc::worker
