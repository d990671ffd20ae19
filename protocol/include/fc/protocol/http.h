// A strict HTTP/1.1 request-head parser (RFC 9112 framing, RFC 9110 fields)
// for what fc serves, plus the pure helpers its replies need: byte ranges,
// entity-tag comparison and HTTP dates. Pure functions over bytes, safe from
// any thread; shared by the worker, the fuzz targets and the differential test.
//
// Framing is decided here, once: a request either parses with an exact body
// length (Content-Length, or none) or it is refused. Whatever a proxy in front
// could read differently (two Content-Lengths, Content-Length with
// Transfer-Encoding, obs-fold, a space before a colon, control bytes, a bare
// CR) is a kBadRequest, and the worker closes the connection after its 400.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

namespace fc::http {

constexpr size_t kMaxHeaderBytes = 8192;  // request line + fields (+ leading empty lines)
constexpr size_t kMaxRangeSpecs = 64;     // more in one Range header: the header is ignored
constexpr size_t kMaxRanges = 16;         // more after coalescing: the header is ignored

// Known methods are served (GET, HEAD, OPTIONS, PUT) or answered 405 with Allow;
// any other token is kUnknown and answered 501.
enum class Method { kGet, kHead, kPut, kOptions, kPost, kDelete, kPatch, kTrace, kConnect, kUnknown };
const char* MethodName(Method m);

struct Request {
  Method method = Method::kUnknown;
  std::string path;       // percent-decoded target path, without the leading '/' and the query
  std::string query;      // the raw query after '?' (not decoded), without the '?'
  std::string target;     // the request target as received ("/sp%20ace?q=1"), for the access log
  std::string host;       // the Host field (one, or the request is refused), "" when absent
  bool slash_ended = false;  // the target's path ended in '/' (a directory's URL)
  bool asterisk = false;  // the target was "*" (OPTIONS only)
  bool keep_alive = true;
  bool http10 = false;
  // Body framing: at most one of these; neither means no body.
  bool has_content_length = false;
  uint64_t content_length = 0;
  bool chunked = false;  // Transfer-Encoding: chunked (never on GET or HEAD: those are refused)
  // Fields fc acts on, verbatim (trimmed). A repeated one is a kBadRequest.
  std::string range;          // empty: no Range
  std::string if_range;
  std::string if_match;
  std::string if_none_match;
  bool has_if_modified_since = false;  // only when the date parsed
  time_t if_modified_since = 0;
  bool has_if_unmodified_since = false;
  time_t if_unmodified_since = 0;
  std::string authorization;
  bool has_checksum = false;  // X-Fc-Checksum: 16 hex digits of xxHash64
  uint64_t checksum = 0;
  bool want_checksum = false;  // X-Fc-Want-Checksum (any value): a streamed 200 carries X-Fc-Checksum
  bool expect_continue = false;  // Expect: 100-continue
  std::string accept_encoding;   // Accept-Encoding, repeated fields joined; see content_coding.h
  bool has_accept_encoding = false;
  std::string accept;            // Accept: chooses HTML or JSON for listings and /.fc/cache
  std::string referer;           // for the access log only
  std::string user_agent;
  size_t header_bytes = 0;       // bytes of the head, up to and including its empty line
};

enum class ParseStatus {
  kOk,
  kNeedMore,
  kBadRequest,      // 400, and the connection closes
  kHeaderTooLarge,  // 431
  kUriTooLong,      // 414
  kVersion,         // 505
};

// Parses one request head from the start of `data`. On kOk, *out is filled:
// the body (content_length bytes, or chunked) starts at data[out->header_bytes].
// Lines end in CRLF or a bare LF (RFC 9112 §2.2 allows both); a CR anywhere
// else is refused. Empty lines before the request line are skipped.
ParseStatus Parse(std::string_view data, Request* out);

// Percent-decodes `in` into *out; false on a malformed escape.
bool PercentDecode(std::string_view in, std::string* out);

// RFC 9110 IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"); the parser also
// takes the obsolete RFC 850 and asctime forms (§5.6.7).
std::string FormatHttpDate(time_t t);
bool ParseHttpDate(std::string_view text, time_t* out);

// One satisfiable byte range of a file, inclusive.
struct ByteSpan {
  uint64_t first = 0;
  uint64_t last = 0;
  uint64_t length() const { return last - first + 1; }
};
enum class RangeOutcome {
  kIgnore,         // not a valid bytes range set, or too many ranges: send the whole file (200)
  kRanges,         // *spans holds 1..kMaxRanges sorted, disjoint, coalesced spans (206)
  kUnsatisfiable,  // valid, but no range overlaps the file (416)
};
// Resolves a Range field value against a file of `size` bytes (RFC 9110 §14).
// Overlapping ranges, and ranges less than 80 bytes apart, are merged so that
// no request makes the server send a byte twice or many tiny parts.
RangeOutcome ResolveRanges(std::string_view value, uint64_t size, std::vector<ByteSpan>* spans);

// RFC 9110 §8.8.3.2: strong comparison of two entity-tags ("W/" never matches).
bool StrongMatch(std::string_view a, std::string_view b);
// True if the list field `value` (If-Match / If-None-Match) matches `etag`:
// "*", or a member equal to it, compared strongly or weakly.
bool ListMatches(std::string_view value, std::string_view etag, bool weak);

// True if `list` (a comma-separated field such as Connection) has `token`,
// compared case-insensitively.
bool HasToken(std::string_view list, std::string_view token);
bool IEquals(std::string_view a, std::string_view b);

}  // namespace fc::http
