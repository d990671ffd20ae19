// HTTP/1.1 on the fc port: GET and HEAD of /path with keep-alive, a single
// byte Range, ETag / Last-Modified with If-None-Match / If-Modified-Since, and
// 400/403/404/405/414/416/431/505 replies. The same confinement and cache as
// the fc protocol (request.cc) serve the file.
#include <sys/socket.h>

#include <cinttypes>
#include <cstdio>
#include <string_view>

#include "event_loop.h"
#include "fc/protocol/http.h"

namespace fc::worker {
namespace {

const char* StatusText(int status) {
  switch (status) {
    case 200: return "200 OK";
    case 201: return "201 Created";
    case 206: return "206 Partial Content";
    case 304: return "304 Not Modified";
    case 400: return "400 Bad Request";
    case 403: return "403 Forbidden";
    case 404: return "404 Not Found";
    case 405: return "405 Method Not Allowed";
    case 413: return "413 Content Too Large";
    case 414: return "414 URI Too Long";
    case 416: return "416 Range Not Satisfiable";
    case 431: return "431 Request Header Fields Too Large";
    case 503: return "503 Service Unavailable";
    case 505: return "505 HTTP Version Not Supported";
    case 507: return "507 Insufficient Storage";
    default: return "500 Internal Server Error";
  }
}

const char* ContentType(std::string_view name) {
  const size_t dot = name.rfind('.');
  if (dot == std::string_view::npos || name.find('/', dot) != std::string_view::npos) {
    return "application/octet-stream";
  }
  const std::string_view ext = name.substr(dot + 1);
  if (ext == "html" || ext == "htm") return "text/html; charset=utf-8";
  if (ext == "txt") return "text/plain; charset=utf-8";
  if (ext == "css") return "text/css";
  if (ext == "js") return "text/javascript";
  if (ext == "json") return "application/json";
  if (ext == "png") return "image/png";
  if (ext == "jpg" || ext == "jpeg") return "image/jpeg";
  if (ext == "gif") return "image/gif";
  if (ext == "svg") return "image/svg+xml";
  if (ext == "pdf") return "application/pdf";
  return "application/octet-stream";
}

// A strong validator from the file's identity: changes whenever fc would
// consider a cached copy stale.
std::string ETag(const shm_cache::FileIdentity& id) {
  char buf[80];
  std::snprintf(buf, sizeof(buf), "\"%" PRIx64 "-%" PRIx64 "-%" PRIx64 "\"", id.ino, id.size,
                static_cast<uint64_t>(id.mtime_ns));
  return buf;
}

bool IfNoneMatchMatches(std::string_view header, const std::string& etag) {
  if (header == "*") return true;
  // A list of (possibly weak) tags; weak comparison, as RFC 9110 asks for here.
  for (size_t pos = 0; (pos = header.find(std::string_view(etag).substr(1, etag.size() - 2), pos)) !=
                       std::string_view::npos;
       ++pos) {
    if (pos > 0 && header[pos - 1] == '"' && pos + etag.size() - 2 < header.size() &&
        header[pos + etag.size() - 2] == '"') {
      return true;
    }
  }
  return false;
}

}  // namespace

const std::string& EventLoop::DateHeader() {
  const time_t now = ::time(nullptr);
  if (now != date_second_) {
    date_second_ = now;
    date_ = "Date: " + http::FormatHttpDate(now) + "\r\n";
  }
  return date_;
}

const std::string& EventLoop::Validators(const shm_cache::FileIdentity& id) {
  ValidatorMemo& memo = validators_[(id.ino * 31 + static_cast<uint64_t>(id.mtime_ns)) % 64];
  if (!(memo.id == id) || memo.text.empty()) {
    memo.id = id;
    memo.text = "ETag: " + ETag(id) + "\r\nLast-Modified: " +
                http::FormatHttpDate(static_cast<time_t>(id.mtime_ns / 1000000000LL)) + "\r\n";
  }
  return memo.text;
}

bool EventLoop::ProcessHttpRequest(Connection& c) {
  const std::string_view avail(c.in.data() + c.in_pos, c.in.size() - c.in_pos);
  http::Request req;
  c.op = "?";
  switch (http::Parse(avail, &req)) {
    case http::ParseStatus::kNeedMore:
      return false;
    case http::ParseStatus::kHeaderTooLarge:
      HttpError(c, 431, "request header larger than 8192 bytes", true);
      return true;
    case http::ParseStatus::kUriTooLong:
      HttpError(c, 414, "path longer than 4096 bytes", true);
      return true;
    case http::ParseStatus::kVersion:
      HttpError(c, 505, "only HTTP/1.0 and HTTP/1.1 are served", true);
      return true;
    case http::ParseStatus::kBadRequest:
      HttpError(c, 400, "malformed HTTP request", true);
      return true;
    case http::ParseStatus::kOk:
      break;
  }
  c.in_pos += req.header_bytes;
  c.http_keep_alive = req.keep_alive;
  c.name = std::move(req.path);
  if (req.method == http::Method::kPut && ctx_.config.allow_upload) {
    c.op = "PUT";
    if (!req.has_content_length) {
      HttpError(c, 400, "PUT needs a Content-Length", true);
      return true;
    }
    std::string_view token = req.authorization;
    if (token.substr(0, 7) == "Bearer ") token.remove_prefix(7);
    if (AdmitUpload(c, token, req.content_length)) {
      if (req.expect_continue) {
        static const char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
        (void)!::send(c.fd.get(), kContinue, sizeof(kContinue) - 1, MSG_NOSIGNAL);
      }
      BeginUpload(c, req.content_length, req.has_checksum, req.checksum);
    }
    return true;
  }
  if (req.method != http::Method::kGet && req.method != http::Method::kHead) {
    c.op = req.method == http::Method::kPut ? "PUT" : "OTHER";
    // A body we will not read makes the rest of the stream untrustworthy.
    HttpError(c, 405,
              req.method == http::Method::kPut ? "uploads are not enabled on this server"
                                               : "only GET and HEAD are served",
              req.content_length > 0);
    return true;
  }
  c.op = req.method == http::Method::kHead ? "HEAD" : "GET";
  c.head_only = req.method == http::Method::kHead;
  if (c.name.empty()) {
    HttpError(c, 403, "directory listings are not served", false);
    return true;
  }
  c.if_none_match = std::move(req.if_none_match);
  c.has_if_modified_since = req.has_if_modified_since;
  c.if_modified_since = req.if_modified_since;
  c.http_range = req.range.present;
  if (req.range.present) {
    c.offset = req.range.suffix ? UINT64_MAX : req.range.first;  // resolved in PlanHttpBody
    c.length = req.range.last;
  }
  HandleGet(c);
  return true;
}

bool EventLoop::PlanHttpBody(Connection& c) {
  const uint64_t size = c.identity.size;
  bool not_modified = false;
  if (!c.if_none_match.empty()) {
    not_modified = IfNoneMatchMatches(c.if_none_match, ETag(c.identity));
  } else if (c.has_if_modified_since) {
    not_modified = c.identity.mtime_ns / 1000000000LL <= static_cast<int64_t>(c.if_modified_since);
  }
  if (not_modified) {
    c.head_only = true;
    c.http_range = false;
    c.how = "not-modified";
    HttpHead(c, 304, 0, false);
    return false;
  }
  if (!c.http_range) {
    c.offset = 0;
    c.length = size;
    return true;
  }
  uint64_t first, last;
  if (c.offset == UINT64_MAX) {  // suffix: the last N bytes
    const uint64_t n = std::min<uint64_t>(c.length, size);
    first = size - n;
    last = size == 0 ? 0 : size - 1;
    if (n == 0) first = size;
  } else {
    first = c.offset;
    last = std::min<uint64_t>(c.length, size == 0 ? 0 : size - 1);
  }
  if (first >= size) {
    c.offset = 0;
    HttpError(c, 416, "range not satisfiable for a file of " + std::to_string(size) + " bytes",
              false);
    return false;
  }
  c.offset = first;
  c.length = last - first + 1;
  return true;
}

void EventLoop::HttpHead(Connection& c, int status, uint64_t body_length, bool from_cache) {
  c.status = status;
  std::string& h = c.head;
  h.clear();
  h.reserve(320);
  h += "HTTP/1.1 ";
  h += StatusText(status);
  h += "\r\nServer: fc\r\n";
  h += DateHeader();
  if (status != 304) {
    h += "Content-Type: ";
    h += ContentType(c.name);
    h += "\r\nContent-Length: ";
    h += std::to_string(body_length);
    h += "\r\nAccept-Ranges: bytes\r\n";
  }
  h += Validators(c.identity);
  if (status == 206) {
    h += "Content-Range: bytes " + std::to_string(c.offset) + "-" +
         std::to_string(c.offset + c.length - 1) + "/" + std::to_string(c.identity.size) + "\r\n";
  }
  h += from_cache ? "X-Fc-Served: cache\r\n" : "X-Fc-Served: disk\r\n";
  if (!c.http_keep_alive || draining_) {
    h += "Connection: close\r\n";
    c.close_after = true;
  }
  h += "\r\n";
  BeginReply(c);
}

void EventLoop::HttpError(Connection& c, int status, const std::string& message,
                          bool close_after) {
  c.status = status;
  if (status >= 400) c.how = "refused";
  c.close_after = c.close_after || close_after || !c.http_keep_alive;
  if (close_after) c.in_pos = c.in.size();
  c.pin.Release();
  c.reader.reset();
  c.file.Reset();
  c.body_left = 0;
  c.body = c.head_only ? std::string() : message + "\n";
  std::string& h = c.head;
  h = "HTTP/1.1 ";
  h += StatusText(status);
  h += "\r\nServer: fc\r\n";
  h += DateHeader();
  h += "Content-Type: text/plain; charset=utf-8\r\nContent-Length: ";
  h += std::to_string(message.size() + 1);
  h += "\r\n";
  if (status == 405) h += ctx_.config.allow_upload ? "Allow: GET, HEAD, PUT\r\n" : "Allow: GET, HEAD\r\n";
  if (status == 416) h += "Content-Range: bytes */" + std::to_string(c.identity.size) + "\r\n";
  if (c.close_after) h += "Connection: close\r\n";
  h += "\r\n";
  BeginReply(c);
}

}  // namespace fc::worker
