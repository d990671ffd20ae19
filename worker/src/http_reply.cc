// HTTP replies: the status line and fields of a file reply (200, 206 single or
// multipart/byteranges, 304) and of short text replies (errors, health,
// OPTIONS), with Date, validators, Content-Type and connection handling.
#include <cinttypes>
#include <cstdio>
#include <string_view>

#include "event_loop.h"
#include "http_session.h"

namespace fc::worker {
namespace {

const char* StatusText(int status) {
  switch (status) {
    case 200: return "200 OK";
    case 201: return "201 Created";
    case 206: return "206 Partial Content";
    case 301: return "301 Moved Permanently";
    case 304: return "304 Not Modified";
    case 308: return "308 Permanent Redirect";
    case 400: return "400 Bad Request";
    case 403: return "403 Forbidden";
    case 404: return "404 Not Found";
    case 405: return "405 Method Not Allowed";
    case 411: return "411 Length Required";
    case 412: return "412 Precondition Failed";
    case 413: return "413 Content Too Large";
    case 414: return "414 URI Too Long";
    case 416: return "416 Range Not Satisfiable";
    case 431: return "431 Request Header Fields Too Large";
    case 501: return "501 Not Implemented";
    case 503: return "503 Service Unavailable";
    case 505: return "505 HTTP Version Not Supported";
    case 507: return "507 Insufficient Storage";
    default: return "500 Internal Server Error";
  }
}

}  // namespace

std::string ETag(const shm_cache::FileIdentity& id, std::string_view tag) {
  char buf[80];
  std::snprintf(buf, sizeof(buf), "\"%" PRIx64 "-%" PRIx64 "-%" PRIx64, id.ino, id.size,
                static_cast<uint64_t>(id.mtime_ns));
  std::string etag = buf;
  if (!tag.empty()) etag.append("-").append(tag);
  return etag + "\"";
}

const std::string& HttpSession::DateHeader() {
  const time_t now = ::time(nullptr);
  if (now != date_second_) {
    date_second_ = now;
    date_ = "Date: " + http::FormatHttpDate(now) + "\r\n";
  }
  return date_;
}

const std::string& HttpSession::Validators(const shm_cache::FileIdentity& id, std::string_view tag) {
  ValidatorMemo& memo = validators_[(id.ino * 31 + static_cast<uint64_t>(id.mtime_ns)) % 64];
  if (!(memo.id == id) || memo.tag != tag || memo.text.empty()) {
    memo.id = id;
    memo.tag = tag;
    memo.text = "ETag: " + ETag(id, tag) + "\r\nLast-Modified: " +
                http::FormatHttpDate(static_cast<time_t>(id.mtime_ns / 1000000000LL)) + "\r\n";
  }
  return memo.text;
}

std::string HttpSession::PartHeader(const Connection& c, size_t part) const {
  std::string h = part == 0 ? "--" : "\r\n--";
  h.append(c.ex.multipart->boundary, 16);
  if (part == c.ex.multipart->spans.size()) return h + "--\r\n";
  const http::ByteSpan& s = c.ex.multipart->spans[part];
  h += "\r\nContent-Type: ";
  h += ctx_.media_types.Lookup(loop_.responder().TypeName(c));
  h += "\r\nContent-Range: bytes " + std::to_string(s.first) + "-" + std::to_string(s.last) + "/" +
       std::to_string(c.ex.identity.size) + "\r\n\r\n";
  return h;
}

namespace {
// Connection fields: close when asked, when draining, or after an unread body.
// Over TLS, Strict-Transport-Security too (--hsts; never on plain HTTP,
// RFC 6797 §7.2).
void ConnectionField(Connection& c, bool draining, int hsts_seconds, std::string* h) {
  if (hsts_seconds > 0 && c.tls) {
    *h += "Strict-Transport-Security: max-age=";
    *h += std::to_string(hsts_seconds);
    *h += "\r\n";
  }
  if (!c.ex.http_keep_alive || draining) {
    *h += "Connection: close\r\n";
    c.close_after = true;
  } else if (c.ex.http && c.ex.http->http10) {
    *h += "Connection: keep-alive\r\n";  // an HTTP/1.0 client needs to be told
  }
}
}  // namespace

void HttpSession::Head(Connection& c, int status, uint64_t body_length, bool from_cache,
                         const uint64_t* checksum) {
  c.ex.status = status;
  std::string& h = c.response.head();
  h.clear();
  h.reserve(320);
  h += "HTTP/1.1 ";
  h += StatusText(status);
  h += "\r\nServer: fc\r\n";
  h += DateHeader();
  const bool multipart = status == 206 && c.ex.multipart;
  std::vector<std::string> part_heads;  // multipart: each part's header, then the closing boundary
  if (multipart) {
    std::snprintf(c.ex.multipart->boundary, sizeof(c.ex.multipart->boundary), "%016" PRIx64,
                  static_cast<uint64_t>((c.serial * 0x9E3779B97F4A7C15ull) ^ static_cast<uint64_t>(MonotonicNowNs())));
    body_length = 0;
    const std::vector<http::ByteSpan>& spans = c.ex.multipart->spans;
    part_heads.reserve(spans.size() + 1);
    for (size_t i = 0; i <= spans.size(); ++i) {
      part_heads.push_back(PartHeader(c, i));
      body_length += part_heads.back().size() + (i < spans.size() ? spans[i].length() : 0);
    }
  }
  if (status != 304) {
    h += "Content-Type: ";
    if (multipart) {
      h += "multipart/byteranges; boundary=";
      h.append(c.ex.multipart->boundary, 16);
    } else {
      h += ctx_.media_types.Lookup(loop_.responder().TypeName(c));
    }
    if (c.ex.coding) {
      h += "\r\nContent-Encoding: ";
      h += http::CodingToken(*c.ex.coding);
    }
    h += "\r\nContent-Length: ";
    h += std::to_string(body_length);
    h += "\r\nAccept-Ranges: bytes\r\n";
  }
  h += Validators(c.ex.identity, FileResponder::EtagTag(c));
  // Whenever a variant or a copy could be chosen, every reply for a file varies by it.
  if (!ctx_.config.precompressed.empty() || !ctx_.config.compress.empty()) h += "Vary: Accept-Encoding\r\n";
  if (!ctx_.config.cache_control.empty()) {
    h += "Cache-Control: " + ctx_.config.cache_control + "\r\n";
  }
  if (status == 206 && !multipart) {
    h += "Content-Range: bytes " + std::to_string(c.ex.offset) + "-" +
         std::to_string(c.ex.offset + c.ex.length - 1) + "/" + std::to_string(c.ex.identity.size) + "\r\n";
  }
  h += from_cache ? "X-Fc-Served: cache\r\n" : "X-Fc-Served: disk\r\n";
  if (checksum != nullptr && status == 200) {
    char hex[16];
    for (int i = 0; i < 16; ++i) hex[i] = "0123456789abcdef"[(*checksum >> (60 - 4 * i)) & 0xf];
    h += "X-Fc-Checksum: ";
    h.append(hex, sizeof(hex));
    h += "\r\n";
  }
  ConnectionField(c, loop_.draining(), ctx_.config.hsts_seconds, &h);
  h += "\r\n";
  if (multipart && !c.ex.head_only) {
    h += part_heads[0];
    c.response.SetParts(c.ex.multipart->spans, std::move(part_heads));
  }
  loop_.BeginReply(c);
}

void HttpSession::Text(Connection& c, int status, const std::string& message,
                          bool close_after) {
  Body(c, status, message + "\n", "text/plain; charset=utf-8", {}, close_after);
}

void HttpSession::Body(Connection& c, int status, std::string body, std::string_view content_type,
                         std::string_view fields, bool close_after) {
  c.ex.status = status;
  if (status >= 400 && c.ex.how != Outcome::kHealth) c.ex.how = Outcome::kRefused;
  c.close_after = c.close_after || close_after;
  if (close_after) {
    c.in_pos = c.in.size();
    c.ex.http_keep_alive = false;
  }
  c.response.Clear(c.fd.get());  // whatever was planned before this reply
  c.ex.multipart.reset();
  const size_t length = body.size();
  if (!c.ex.head_only) c.response.SetBytes(std::move(body));
  std::string& h = c.response.head();
  h = "HTTP/1.1 ";
  h += StatusText(status);
  h += "\r\nServer: fc\r\n";
  h += DateHeader();
  h += "Content-Type: ";
  h += content_type;
  h += "\r\nContent-Length: ";
  h += std::to_string(length);
  // A body made here may echo the request's path: never let a browser sniff
  // it into HTML.
  h += "\r\nX-Content-Type-Options: nosniff\r\n";
  h += fields;
  if (status == 405 || status == 501 || (c.ex.http && c.ex.http->method == http::Method::kOptions)) {
    h += ctx_.config.allow_upload ? "Allow: GET, HEAD, OPTIONS, PUT\r\n"
                                  : "Allow: GET, HEAD, OPTIONS\r\n";
  }
  if (status == 503 || c.ex.how == Outcome::kHealth) h += "Cache-Control: no-store\r\n";
  // The validators stay on replies about a file (RFC 9110 §15.4.5, §15.5.13).
  if (c.ex.identity.ino != 0 && (status == 412 || status == 416)) h += Validators(c.ex.identity, FileResponder::EtagTag(c));
  if (status == 416) h += "Content-Range: bytes */" + std::to_string(c.ex.identity.size) + "\r\n";
  ConnectionField(c, loop_.draining(), ctx_.config.hsts_seconds, &h);
  h += "\r\n";
  loop_.BeginReply(c);
}

}  // namespace fc::worker
