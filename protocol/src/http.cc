// HTTP/1.1 request parsing; see http.h.
#include "fc/protocol/http.h"

#include <cctype>
#include <cstdio>
#include <cstring>

namespace fc::http {
namespace {

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool ContainsToken(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    const size_t comma = list.find(',');
    if (IEquals(Trim(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

bool ParseU64(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 19) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = v;
  return true;
}

// "bytes=A-B", "bytes=A-", "bytes=-N"; a list of ranges is not supported.
bool ParseRange(std::string_view v, Range* r) {
  v = Trim(v);
  if (v.size() < 7 || !IEquals(v.substr(0, 6), "bytes=")) return false;
  v.remove_prefix(6);
  if (v.find(',') != std::string_view::npos) return false;
  const size_t dash = v.find('-');
  if (dash == std::string_view::npos) return false;
  const std::string_view a = Trim(v.substr(0, dash)), b = Trim(v.substr(dash + 1));
  r->present = true;
  if (a.empty()) {
    r->suffix = true;
    return ParseU64(b, &r->last) && r->last > 0;
  }
  if (!ParseU64(a, &r->first)) return false;
  if (b.empty()) return true;
  return ParseU64(b, &r->last) && r->last >= r->first;
}

const char* const kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                               "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

}  // namespace

bool PercentDecode(std::string_view in, std::string* out) {
  out->clear();
  out->reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    const int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

bool LooksLikeHttp(std::string_view data) {
  static const std::string_view kStarts[] = {"GET ", "HEAD ", "PUT ", "POST ", "DELETE ",
                                             "OPTIONS ", "PATCH ", "TRACE ", "CONNECT "};
  for (std::string_view s : kStarts) {
    const size_t n = std::min(s.size(), data.size());
    if (data.substr(0, n) == s.substr(0, n)) return true;
  }
  return false;
}

ParseStatus Parse(std::string_view data, Request* out) {
  *out = Request();
  const size_t end = data.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    return data.size() > kMaxHeaderBytes ? ParseStatus::kHeaderTooLarge : ParseStatus::kNeedMore;
  }
  if (end + 4 > kMaxHeaderBytes) return ParseStatus::kHeaderTooLarge;
  out->header_bytes = end + 4;
  std::string_view head = data.substr(0, end);
  const size_t line_end = head.find("\r\n");
  std::string_view line = head.substr(0, line_end);
  head = line_end == std::string_view::npos ? std::string_view() : head.substr(line_end + 2);

  // Request line: METHOD SP target SP HTTP/1.x
  const size_t sp1 = line.find(' ');
  const size_t sp2 = line.rfind(' ');
  if (sp1 == std::string_view::npos || sp2 == sp1) return ParseStatus::kBadRequest;
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (method == "GET") out->method = Method::kGet;
  else if (method == "HEAD") out->method = Method::kHead;
  else if (method == "PUT") out->method = Method::kPut;
  else out->method = Method::kOther;
  if (version == "HTTP/1.1") {
    out->http10 = false;
  } else if (version == "HTTP/1.0") {
    out->http10 = true;
    out->keep_alive = false;
  } else if (version.substr(0, 5) == "HTTP/") {
    return ParseStatus::kVersion;
  } else {
    return ParseStatus::kBadRequest;
  }
  if (target.empty() || target.front() != '/') return ParseStatus::kBadRequest;
  if (target.size() > 3 * 4096) return ParseStatus::kUriTooLong;
  for (char c : target) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return ParseStatus::kBadRequest;
  }
  std::string_view path = target.substr(1);
  path = path.substr(0, path.find('?'));
  path = path.substr(0, path.find('#'));
  if (!PercentDecode(path, &out->path)) return ParseStatus::kBadRequest;
  if (out->path.size() > 4096) return ParseStatus::kUriTooLong;

  bool has_host = false;
  while (!head.empty()) {
    const size_t eol = head.find("\r\n");
    std::string_view h = head.substr(0, eol);
    head = eol == std::string_view::npos ? std::string_view() : head.substr(eol + 2);
    const size_t colon = h.find(':');
    if (colon == std::string_view::npos || colon == 0) return ParseStatus::kBadRequest;
    const std::string_view name = h.substr(0, colon);
    if (name.find_first_of(" \t") != std::string_view::npos) return ParseStatus::kBadRequest;
    const std::string_view value = Trim(h.substr(colon + 1));
    if (IEquals(name, "host")) {
      has_host = true;
    } else if (IEquals(name, "connection")) {
      if (ContainsToken(value, "close")) out->keep_alive = false;
      if (ContainsToken(value, "keep-alive")) out->keep_alive = true;
    } else if (IEquals(name, "range")) {
      if (!ParseRange(value, &out->range)) {
        out->range = Range();
        out->range_invalid = true;
      }
    } else if (IEquals(name, "if-none-match")) {
      out->if_none_match = std::string(value);
    } else if (IEquals(name, "if-modified-since")) {
      out->has_if_modified_since = ParseHttpDate(value, &out->if_modified_since);
    } else if (IEquals(name, "content-length")) {
      if (!ParseU64(value, &out->content_length)) return ParseStatus::kBadRequest;
      out->has_content_length = true;
    } else if (IEquals(name, "authorization")) {
      out->authorization = std::string(value);
    } else if (IEquals(name, "x-fc-checksum")) {
      if (value.size() != 16) return ParseStatus::kBadRequest;
      uint64_t v = 0;
      for (char c : value) {
        const int d = std::isxdigit(static_cast<unsigned char>(c))
                          ? (std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : (std::tolower(c) - 'a' + 10))
                          : -1;
        if (d < 0) return ParseStatus::kBadRequest;
        v = (v << 4) | static_cast<uint64_t>(d);
      }
      out->checksum = v;
      out->has_checksum = true;
    } else if (IEquals(name, "expect")) {
      out->expect_continue = IEquals(value, "100-continue");
    } else if (IEquals(name, "transfer-encoding")) {
      return ParseStatus::kBadRequest;  // no chunked request bodies
    }
  }
  if (!out->http10 && !has_host) return ParseStatus::kBadRequest;
  return ParseStatus::kOk;
}

std::string FormatHttpDate(time_t t) {
  tm g;
  gmtime_r(&t, &g);
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[g.tm_wday],
                g.tm_mday, kMonths[g.tm_mon], g.tm_year + 1900, g.tm_hour, g.tm_min, g.tm_sec);
  return buf;
}

bool ParseHttpDate(std::string_view text, time_t* out) {
  // IMF-fixdate only: "Sun, 06 Nov 1994 08:49:37 GMT" (29 bytes).
  if (text.size() != 29 || text.substr(25) != " GMT") return false;
  const std::string s(text);
  tm g{};
  char mon[4] = {};
  if (std::sscanf(s.c_str() + 5, "%2d %3s %4d %2d:%2d:%2d", &g.tm_mday, mon, &g.tm_year,
                  &g.tm_hour, &g.tm_min, &g.tm_sec) != 6) {
    return false;
  }
  g.tm_mon = -1;
  for (int i = 0; i < 12; ++i) {
    if (std::strcmp(mon, kMonths[i]) == 0) g.tm_mon = i;
  }
  if (g.tm_mon < 0 || g.tm_mday < 1 || g.tm_mday > 31 || g.tm_hour > 23 || g.tm_min > 59 ||
      g.tm_sec > 60) {
    return false;
  }
  g.tm_year -= 1900;
  *out = timegm(&g);
  return true;
}

}  // namespace fc::http
