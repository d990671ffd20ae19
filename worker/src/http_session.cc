// HttpSession: HTTP/1.1 on the fc port: framing decisions, method dispatch,
// the health endpoint, and the RFC 9110 preconditions and ranges of a GET or
// HEAD. The FileResponder serves the file, as for the fc protocol.
#include "http_session.h"

#include <sys/socket.h>

#include <cctype>

#include "event_loop.h"

namespace fc::worker {

using protocol::Code;

namespace {

// A GET, HEAD, OPTIONS or refused request may carry a body fc does not use:
// up to this much is read and dropped, keeping the connection; more is 413.
constexpr uint64_t kMaxSkippedBody = 64 * 1024;

// The reply to a request head that could not be parsed.
struct Refused {
  int status;
  const char* message;
};
Refused RefusalOf(http::ParseStatus status) {
  switch (status) {
    case http::ParseStatus::kHeaderTooLarge: return {431, "request head larger than 8192 bytes"};
    case http::ParseStatus::kUriTooLong: return {414, "path longer than 4096 bytes"};
    case http::ParseStatus::kVersion: return {505, "only HTTP/1.0 and HTTP/1.1 are served"};
    default: return {400, "malformed or ambiguous HTTP request"};
  }
}

Verb VerbOf(http::Method method) {
  switch (method) {
    case http::Method::kGet: return Verb::kGet;
    case http::Method::kHead: return Verb::kHead;
    case http::Method::kPut: return Verb::kPut;
    case http::Method::kOptions: return Verb::kOptions;
    default: return Verb::kOther;
  }
}

}  // namespace

int HttpStatusFor(const Connection& c, Code code) {
  switch (code) {
    case Code::kOk: return 200;
    case Code::kNotFound: return 404;
    case Code::kForbidden: return 403;
    case Code::kTooLarge: return c.ex.is_upload ? 413 : 414;
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

HttpSession::HttpSession(EventLoop& loop) : loop_(loop), ctx_(loop.context()) {}

bool HttpSession::OnInput(Connection& c) {
  const std::string_view avail(c.in.data() + c.in_pos, c.in.size() - c.in_pos);
  if (!c.ex.http) c.ex.http = std::make_unique<http::Request>();
  http::Request& req = *c.ex.http;
  c.ex.http_keep_alive = true;
  const http::ParseStatus parsed = http::Parse(avail, &req);
  if (parsed == http::ParseStatus::kNeedMore) return false;
  if (parsed != http::ParseStatus::kOk) {
    const Refused refused = RefusalOf(parsed);
    Text(c, refused.status, refused.message, /*close_after=*/true);
    return true;
  }
  c.in_pos += req.header_bytes;
  c.ex.http_keep_alive = req.keep_alive;
  c.ex.verb = VerbOf(req.method);
  c.ex.name = req.path;
  // Every message's body is read or the connection closes after the reply:
  // otherwise the body would be read as the next request (smuggling).
  bool body_skippable = !req.chunked && req.content_length <= kMaxSkippedBody;
  if (req.method == http::Method::kPut && ctx_.config.allow_upload) {
    HandlePut(c);
    return true;
  }
  if (body_skippable) c.discard_left = req.content_length;
  Dispatch(c, body_skippable);
  return true;
}

void HttpSession::Dispatch(Connection& c, bool body_skippable) {
  const http::Request& req = *c.ex.http;
  const bool uploads = ctx_.config.allow_upload;
  switch (req.method) {
    case http::Method::kGet:
    case http::Method::kHead:
    case http::Method::kOptions:
      break;
    case http::Method::kPut:
      return Text(c, 405, "uploads are not enabled on this server", !body_skippable);
    case http::Method::kUnknown:
      return Text(c, 501, "method not implemented", !body_skippable);
    default:
      return Text(c, 405, std::string(http::MethodName(req.method)) + " is not served here",
                       !body_skippable);
  }
  if (!body_skippable) {
    return Text(c, 413, "request body over 64 KiB on a request that takes none", true);
  }
  if (req.method == http::Method::kOptions) {
    c.ex.how = Outcome::kOptions;
    return Text(c, 200, uploads ? "GET, HEAD, OPTIONS, PUT" : "GET, HEAD, OPTIONS", false);
  }
  c.ex.head_only = req.method == http::Method::kHead;
  const std::string& health = ctx_.config.health_path;
  if (!health.empty() && c.ex.name == std::string_view(health).substr(1)) {
    const bool serving = loop_.serving();
    c.ex.how = Outcome::kHealth;  // before the reply: it says Cache-Control: no-store
    return Text(c, serving ? 200 : 503, serving ? "ok" : "draining", false);
  }
  if (ctx_.config.redirect_https && !c.tls && RedirectToHttps(c)) return;
  // Merge leading slashes ("//a" is "/a", as nginx's merge_slashes does).
  const size_t first = c.ex.name.find_first_not_of('/');
  c.ex.name.erase(0, first == std::string::npos ? c.ex.name.size() : first);
  if (c.ex.name == ".fc/cache") return HandleCachePage(c);
  if (req.slash_ended) return HandleDirectory(c);
  loop_.responder().Serve(c);
}

namespace {
// The host of a Host field worth redirecting to: a DNS name (letters,
// digits, '-', '.'), its port dropped; "" for an IP literal, no Host, or
// anything else (no certificate could name it).
std::string_view RedirectHost(std::string_view host) {
  if (host.empty() || host.front() == '[') return {};
  const size_t colon = host.find(':');
  if (colon != std::string_view::npos) host = host.substr(0, colon);
  bool letter = false;
  for (const char ch : host) {
    const auto u = static_cast<unsigned char>(ch);
    if (std::isalpha(u)) {
      letter = true;
    } else if (!std::isdigit(u) && ch != '-' && ch != '.') {
      return {};
    }
  }
  // All digits and dots is an IPv4 literal; a name has a letter somewhere.
  return letter && host.size() <= 253 ? host : std::string_view();
}
}  // namespace

bool HttpSession::RedirectToHttps(Connection& c) {
  const http::Request& req = *c.ex.http;
  const std::string_view host = RedirectHost(req.host);
  if (host.empty()) return false;
  std::string location = "https://";
  location += host;
  if (ctx_.config.https_port != 443) location += ":" + std::to_string(ctx_.config.https_port);
  location += req.target.empty() || req.target == "*" ? "/" : req.target;
  c.ex.how = Outcome::kRedirect;
  Body(c, 308, "moved to " + location + "\n", "text/plain; charset=utf-8", "Location: " + location + "\r\n", false);
  return true;
}

void HttpSession::HandlePut(Connection& c) {
  const http::Request& req = *c.ex.http;
  c.ex.is_upload = true;
  if (req.chunked || !req.has_content_length) {
    return Text(c, 411,
                     "PUT needs a Content-Length (chunked uploads are not supported; "
                     "curl: use -T FILE rather than -T -)",
                     true);
  }
  std::string_view token = req.authorization;
  if (token.size() >= 7 && http::IEquals(token.substr(0, 7), "bearer ")) token.remove_prefix(7);
  const size_t first = c.ex.name.find_first_not_of('/');
  c.ex.name.erase(0, first == std::string::npos ? c.ex.name.size() : first);
  if (!loop_.uploads().Admit(c, token, req.content_length)) return;
  if (req.expect_continue && !req.http10) {
    // Best effort, as the socket is empty this early: a client that does not
    // see it sends the body after its own wait (RFC 9110 §10.1.1).
    static const char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
    if (c.tls) {
      size_t wrote = 0;
      (void)c.tls->Write(kContinue, sizeof(kContinue) - 1, false, &wrote);
    } else {
      (void)!::send(c.fd.get(), kContinue, sizeof(kContinue) - 1, MSG_NOSIGNAL);
    }
  }
  loop_.uploads().Begin(c, req.content_length, req.has_checksum, req.checksum);
}

bool HttpSession::PlanBody(Connection& c) {
  const http::Request& req = *c.ex.http;
  const uint64_t size = c.ex.identity.size;
  // Formatted only when a precondition needs it (most requests have none).
  const bool needs_etag = !req.if_match.empty() || !req.if_none_match.empty() || !req.if_range.empty();
  const std::string etag = needs_etag ? ETag(c.ex.identity, FileResponder::EtagTag(c)) : std::string();
  const time_t modified = static_cast<time_t>(c.ex.identity.mtime_ns / 1000000000LL);
  // RFC 9110 §13.2.2: If-Match, else If-Unmodified-Since; then If-None-Match,
  // else If-Modified-Since; then If-Range.
  if (!req.if_match.empty() ? !http::ListMatches(req.if_match, etag, /*weak=*/false)
                            : req.has_if_unmodified_since && modified > req.if_unmodified_since) {
    Text(c, 412, "precondition failed: the file has changed", false);
    return false;
  }
  const bool not_modified = !req.if_none_match.empty()
                                ? http::ListMatches(req.if_none_match, etag, /*weak=*/true)
                                : req.has_if_modified_since && modified <= req.if_modified_since;
  if (not_modified) {
    c.ex.head_only = true;
    c.ex.how = Outcome::kNotModified;
    Head(c, 304, 0, false);
    return false;
  }
  c.ex.offset = 0;
  c.ex.length = size;
  c.ex.multipart.reset();
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
      Text(c, 416, "range not satisfiable for a file of " + std::to_string(size) + " bytes",
                false);
      return false;
    case http::RangeOutcome::kRanges:
      break;
  }
  c.ex.http_range = true;
  c.ex.offset = spans[0].first;
  c.ex.length = spans[0].length();
  if (spans.size() > 1) {
    c.ex.multipart = std::make_unique<Multipart>();
    c.ex.multipart->spans = std::move(spans);
  }
  return true;
}

void HttpSession::StartHead(Connection& c, uint64_t checksum, bool from_cache) {
  const bool known = from_cache || ReplyCarriesChecksum(c);
  Head(c, c.ex.http_range ? 206 : 200, c.ex.length, from_cache, known ? &checksum : nullptr);
}

// A reply from the cache carries the checksum whenever it is a 200: it was
// computed at the load; a stream is hashed for it only when asked.
bool HttpSession::ReplyCarriesChecksum(const Connection& c) const {
  return !c.ex.http_range && !c.ex.head_only && c.ex.http && c.ex.http->want_checksum;
}

void HttpSession::ReplyStored(Connection& c, const LoadResult&) {
  Text(c, 201, "stored \"" + Printable(c.ex.name) + "\"", false);
}

void HttpSession::ReplyError(Connection& c, Code code, const std::string& message, bool close_after) {
  const std::string text = BeginRefusal(c, code, message, close_after);
  Text(c, HttpStatusFor(c, code), text, close_after);
}

void HttpSession::RefuseOpen(Connection& c, const Refusal& refusal) {
  if (refusal.code == Code::kForbidden && RedirectDirectory(c)) return;
  Refuse(c, refusal, false);
}

}  // namespace fc::worker
