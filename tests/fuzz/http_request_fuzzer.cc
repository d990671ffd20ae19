// libFuzzer target: the HTTP/1.1 request parser, ranges, dates, entity-tags.
//
// Besides "nothing crashes", a framing oracle: every request the parser
// accepts is written out again in canonical form (with its body) and parsed
// again; the second parse must accept it, read the same request, and end the
// message exactly where the re-serialisation ends. A parser whose idea of a
// message's length depends on anything but what it reported fails here.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "fc/protocol/http.h"

namespace {

using fc::http::Method;
using fc::http::Request;

std::string EncodePath(const std::string& path) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out = "/";
  for (unsigned char c : path) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '/') {
      out.push_back(static_cast<char>(c));
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string Serialise(const Request& r) {
  std::string s = r.method == Method::kUnknown ? "XUNKNOWN" : fc::http::MethodName(r.method);
  s += " ";
  s += r.asterisk ? "*" : EncodePath(r.path);
  s += r.http10 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\nHost: h\r\n";
  if (r.has_content_length) s += "Content-Length: " + std::to_string(r.content_length) + "\r\n";
  if (r.chunked) s += "Transfer-Encoding: chunked\r\n";
  s += r.keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  if (!r.range.empty()) s += "Range: " + r.range + "\r\n";
  if (!r.if_range.empty()) s += "If-Range: " + r.if_range + "\r\n";
  if (!r.if_match.empty()) s += "If-Match: " + r.if_match + "\r\n";
  if (!r.if_none_match.empty()) s += "If-None-Match: " + r.if_none_match + "\r\n";
  if (!r.authorization.empty()) s += "Authorization: " + r.authorization + "\r\n";
  if (r.has_checksum) {
    char buf[40];
    std::snprintf(buf, sizeof(buf), "X-Fc-Checksum: %016llx\r\n", static_cast<unsigned long long>(r.checksum));
    s += buf;
  }
  return s + "\r\n";
}

void CheckRoundTrip(const Request& first) {
  if (first.content_length > (1 << 16)) return;  // the body is written out below
  const std::string head = Serialise(first);
  if (head.size() > fc::http::kMaxHeaderBytes) return;
  const std::string message = head + std::string(first.content_length, 'b') + "NEXT";
  Request again;
  if (fc::http::Parse(message, &again) != fc::http::ParseStatus::kOk) __builtin_trap();
  if (again.header_bytes != head.size()) __builtin_trap();
  if (again.header_bytes + again.content_length != message.size() - 4) __builtin_trap();
  if (again.method != first.method || again.path != first.path || again.chunked != first.chunked ||
      again.has_content_length != first.has_content_length || again.keep_alive != first.keep_alive ||
      again.range != first.range || again.if_match != first.if_match ||
      again.if_none_match != first.if_none_match || again.checksum != first.checksum) {
    __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  Request request;
  std::string_view rest = text;
  // Several pipelined requests, as a connection would see them.
  for (int i = 0; i < 8; ++i) {
    if (fc::http::Parse(rest, &request) != fc::http::ParseStatus::kOk) break;
    if (request.header_bytes == 0 || request.header_bytes > rest.size()) __builtin_trap();
    CheckRoundTrip(request);
    rest.remove_prefix(request.header_bytes);
    if (request.chunked || request.content_length > rest.size()) break;
    rest.remove_prefix(request.content_length);
  }
  std::string decoded;
  (void)fc::http::PercentDecode(text, &decoded);
  time_t t;
  if (fc::http::ParseHttpDate(text, &t)) (void)fc::http::FormatHttpDate(t);
  std::vector<fc::http::ByteSpan> spans;
  if (fc::http::ResolveRanges(text, size * 7, &spans) == fc::http::RangeOutcome::kRanges) {
    // Sorted, disjoint, within the file, at most kMaxRanges.
    if (spans.empty() || spans.size() > fc::http::kMaxRanges) __builtin_trap();
    for (size_t i = 0; i < spans.size(); ++i) {
      if (spans[i].first > spans[i].last || spans[i].last >= size * 7) __builtin_trap();
      if (i > 0 && spans[i].first <= spans[i - 1].last) __builtin_trap();
    }
  }
  (void)fc::http::ListMatches(text, "\"abc\"", true);
  return 0;
}
