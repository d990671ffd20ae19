// A strict, allocation-light HTTP/1.1 request parser for the subset fc serves:
// GET and HEAD (PUT is recognised so it can be refused), keep-alive, a single
// byte Range, If-None-Match and If-Modified-Since. Pure functions over bytes,
// safe from any thread; shared by the worker and the fuzz targets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

namespace fc::http {

constexpr size_t kMaxHeaderBytes = 8192;  // request line + headers

enum class Method { kGet, kHead, kPut, kOther };

struct Range {
  bool present = false;
  bool suffix = false;  // "bytes=-N": the last N bytes
  uint64_t first = 0;
  uint64_t last = UINT64_MAX;  // inclusive; UINT64_MAX = to the end
};

struct Request {
  Method method = Method::kOther;
  std::string path;     // percent-decoded, without the leading '/' and the query
  bool keep_alive = true;
  bool http10 = false;
  Range range;
  bool range_invalid = false;  // a Range header fc cannot honour (ignored, per RFC 9110)
  std::string if_none_match;
  bool has_if_modified_since = false;
  time_t if_modified_since = 0;
  uint64_t content_length = 0;
  bool has_content_length = false;
  std::string authorization;     // the Authorization header, verbatim
  bool has_checksum = false;     // X-Fc-Checksum: 16 hex digits of xxHash64
  uint64_t checksum = 0;
  bool expect_continue = false;  // Expect: 100-continue
  size_t header_bytes = 0;  // bytes consumed by the request line and headers
};

enum class ParseStatus {
  kOk,
  kNeedMore,
  kBadRequest,       // 400
  kHeaderTooLarge,   // 431 (sent as 413 by some; fc sends 431)
  kUriTooLong,       // 414
  kVersion,          // 505
};

// Parses one request from the start of `data`. On kOk, *out is filled and
// out->header_bytes says how much was consumed (the body, if any, follows).
ParseStatus Parse(std::string_view data, Request* out);

// Percent-decodes `in` into *out; false on a malformed escape.
bool PercentDecode(std::string_view in, std::string* out);

// RFC 9110 IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), and its parser.
std::string FormatHttpDate(time_t t);
bool ParseHttpDate(std::string_view text, time_t* out);

// True if `data` can be the start of an HTTP request ("GET ", "HEAD ", ...).
bool LooksLikeHttp(std::string_view data);

}  // namespace fc::http
