// HTTP/1.1 request-head parsing; see http.h. Every rule that decides where a
// message ends is here, and each ambiguity is refused rather than guessed.
#include "fc/protocol/http.h"

#include <cctype>

namespace fc::http {
namespace {

// RFC 9110 §5.6.2 tchar.
bool IsTokenChar(unsigned char c) {
  if (std::isalnum(c)) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsTokenChar(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// A field value may hold VCHAR, obs-text, SP and HTAB; any other control byte
// (NUL, CR, LF, DEL, ...) is refused.
bool IsFieldValue(std::string_view s) {
  for (char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool ParseDecimal(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 19) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = v;
  return true;
}

bool ParseHex64(std::string_view s, uint64_t* out) {
  if (s.size() != 16) return false;
  uint64_t v = 0;
  for (char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (!std::isxdigit(c)) return false;
    v = (v << 4) | static_cast<uint64_t>(std::isdigit(c) ? c - '0' : std::tolower(c) - 'a' + 10);
  }
  *out = v;
  return true;
}

Method MethodFromToken(std::string_view m) {
  // Methods are case-sensitive (RFC 9110 §9.1): "get" is an unknown method.
  static const struct { std::string_view name; Method method; } kMethods[] = {
      {"GET", Method::kGet},         {"HEAD", Method::kHead},     {"PUT", Method::kPut},
      {"OPTIONS", Method::kOptions}, {"POST", Method::kPost},     {"DELETE", Method::kDelete},
      {"PATCH", Method::kPatch},     {"TRACE", Method::kTrace},   {"CONNECT", Method::kConnect},
  };
  for (const auto& k : kMethods) {
    if (k.name == m) return k.method;
  }
  return Method::kUnknown;
}

// Splits the next line off `*rest`. A line ends in LF, optionally preceded by
// CR; a CR anywhere else makes the line invalid. False when no LF is there yet.
bool NextLine(std::string_view* rest, std::string_view* line, bool* valid) {
  const size_t lf = rest->find('\n');
  if (lf == std::string_view::npos) return false;
  *line = rest->substr(0, lf);
  rest->remove_prefix(lf + 1);
  if (!line->empty() && line->back() == '\r') line->remove_suffix(1);
  *valid = line->find('\r') == std::string_view::npos;
  return true;
}

// The request target: origin-form ("/path?query"), absolute-form
// ("http://host/path", RFC 9112 §3.2.2: a server must accept it; fc serves
// the same tree whatever the host) or "*" for OPTIONS.
ParseStatus ParseTarget(std::string_view target, Request* out) {
  if (target.size() > 3 * 4096) return ParseStatus::kUriTooLong;
  for (char ch : target) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7f) return ParseStatus::kBadRequest;  // targets are visible ASCII
  }
  out->target.assign(target);
  if (target == "*") {
    if (out->method != Method::kOptions) return ParseStatus::kBadRequest;
    out->asterisk = true;
    return ParseStatus::kOk;
  }
  if (target.front() != '/') {
    const size_t scheme_end = target.find("://");
    if (scheme_end == std::string_view::npos ||
        !(IEquals(target.substr(0, scheme_end), "http") ||
          IEquals(target.substr(0, scheme_end), "https"))) {
      return ParseStatus::kBadRequest;
    }
    const size_t path_start = target.find('/', scheme_end + 3);
    if (path_start == scheme_end + 3) return ParseStatus::kBadRequest;  // no host
    target = path_start == std::string_view::npos ? std::string_view("/") : target.substr(path_start);
  }
  std::string_view path = target.substr(1);
  if (const size_t q = path.find('?'); q != std::string_view::npos) {
    out->query = std::string(path.substr(q + 1));
    path = path.substr(0, q);
  }
  out->slash_ended = path.empty() || path.back() == '/';
  if (path.find('#') != std::string_view::npos) return ParseStatus::kBadRequest;
  if (!PercentDecode(path, &out->path)) return ParseStatus::kBadRequest;
  if (out->path.size() > 4096) return ParseStatus::kUriTooLong;
  return ParseStatus::kOk;
}

ParseStatus ParseRequestLine(std::string_view line, Request* out) {
  // method SP request-target SP HTTP-version, single spaces (RFC 9112 §3).
  const size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return ParseStatus::kBadRequest;
  const size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return ParseStatus::kBadRequest;
  }
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!IsToken(method) || target.empty()) return ParseStatus::kBadRequest;
  out->method = MethodFromToken(method);
  if (version == "HTTP/1.1") {
    out->http10 = false;
  } else if (version == "HTTP/1.0") {
    out->http10 = true;
    out->keep_alive = false;
  } else if (version.substr(0, 5) == "HTTP/" && version.size() >= 6 &&
             version.find_first_not_of("0123456789.", 5) == std::string_view::npos) {
    return ParseStatus::kVersion;
  } else {
    return ParseStatus::kBadRequest;
  }
  return ParseTarget(target, out);
}

// Fields seen so far, for the rules that span several of them.
struct FieldState {
  int hosts = 0;
  int content_lengths = 0;
  int transfer_encodings = 0;
  int ranges = 0, if_ranges = 0, authorizations = 0;
  bool connection_close = false;
  bool connection_keep_alive = false;
};

// A field fc reads one value of: a second one is refused rather than guessed at.
bool SetOnce(int* seen, std::string* field, std::string_view value) {
  if ((*seen)++ > 0) return false;
  *field = std::string(value);
  return true;
}

// Repeated list fields combine into one comma-separated value (RFC 9110 §5.3);
// empty ones add nothing.
void AppendListMember(std::string* list, std::string_view value) {
  if (value.empty()) return;
  if (!list->empty()) *list += ", ";
  list->append(value);
}

// What a group of fields made of one field line.
enum class FieldUse { kNotMine, kOk, kBad };

FieldUse Use(bool ok) { return ok ? FieldUse::kOk : FieldUse::kBad; }

// Host, Content-Length, Transfer-Encoding, Connection: how the message is framed.
FieldUse ApplyFramingField(std::string_view name, std::string_view value, Request* out, FieldState* st) {
  if (IEquals(name, "host")) {
    ++st->hosts;
    out->host = std::string(value);
  } else if (IEquals(name, "content-length")) {
    ++st->content_lengths;
    out->has_content_length = ParseDecimal(value, &out->content_length);
    return Use(out->has_content_length);
  } else if (IEquals(name, "transfer-encoding")) {
    ++st->transfer_encodings;
    out->chunked = IEquals(value, "chunked");
    return Use(out->chunked);
  } else if (IEquals(name, "connection")) {
    st->connection_close |= HasToken(value, "close");
    st->connection_keep_alive |= HasToken(value, "keep-alive");
  } else {
    return FieldUse::kNotMine;
  }
  return FieldUse::kOk;
}

// Range and the preconditions.
FieldUse ApplyConditionalField(std::string_view name, std::string_view value, Request* out, FieldState* st) {
  if (IEquals(name, "range")) return Use(SetOnce(&st->ranges, &out->range, value));
  if (IEquals(name, "if-range")) return Use(SetOnce(&st->if_ranges, &out->if_range, value));
  if (IEquals(name, "if-match")) {
    AppendListMember(&out->if_match, value);
  } else if (IEquals(name, "if-none-match")) {
    AppendListMember(&out->if_none_match, value);
  } else if (IEquals(name, "if-modified-since")) {
    out->has_if_modified_since = ParseHttpDate(value, &out->if_modified_since);
  } else if (IEquals(name, "if-unmodified-since")) {
    out->has_if_unmodified_since = ParseHttpDate(value, &out->if_unmodified_since);
  } else {
    return FieldUse::kNotMine;
  }
  return FieldUse::kOk;
}

// The rest fc reads: credentials, checksums, negotiation, what the log keeps.
FieldUse ApplyOtherField(std::string_view name, std::string_view value, Request* out, FieldState* st) {
  if (IEquals(name, "authorization")) return Use(SetOnce(&st->authorizations, &out->authorization, value));
  if (IEquals(name, "x-fc-checksum")) {
    if (out->has_checksum) return FieldUse::kBad;
    out->has_checksum = ParseHex64(value, &out->checksum);
    return Use(out->has_checksum);
  }
  if (IEquals(name, "x-fc-want-checksum")) {
    out->want_checksum = true;
  } else if (IEquals(name, "expect")) {
    out->expect_continue = IEquals(value, "100-continue");
  } else if (IEquals(name, "accept-encoding")) {
    out->has_accept_encoding = true;
    AppendListMember(&out->accept_encoding, value);
  } else if (IEquals(name, "accept")) {
    AppendListMember(&out->accept, value);
  } else if (IEquals(name, "user-agent")) {
    out->user_agent = std::string(value);
  } else if (IEquals(name, "referer")) {
    out->referer = std::string(value);
  }
  return FieldUse::kOk;  // a field fc does not read is ignored
}

ParseStatus ParseField(std::string_view line, Request* out, FieldState* st) {
  if (line.front() == ' ' || line.front() == '\t') return ParseStatus::kBadRequest;  // obs-fold
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return ParseStatus::kBadRequest;
  const std::string_view name = line.substr(0, colon);
  // A name is a token: this also refuses whitespace before the colon.
  if (!IsToken(name)) return ParseStatus::kBadRequest;
  const std::string_view raw = line.substr(colon + 1);
  if (!IsFieldValue(raw)) return ParseStatus::kBadRequest;
  const std::string_view value = Trim(raw);
  FieldUse use = ApplyFramingField(name, value, out, st);
  if (use == FieldUse::kNotMine) use = ApplyConditionalField(name, value, out, st);
  if (use == FieldUse::kNotMine) use = ApplyOtherField(name, value, out, st);
  return use == FieldUse::kBad ? ParseStatus::kBadRequest : ParseStatus::kOk;
}

// RFC 9112 §6: exactly one way to find the body's end, or none at all.
ParseStatus CheckFraming(Request* out, const FieldState& st) {
  if (st.hosts > 1 || (!out->http10 && st.hosts == 0)) return ParseStatus::kBadRequest;
  if (st.content_lengths > 1 || st.transfer_encodings > 1) return ParseStatus::kBadRequest;
  if (out->chunked) {
    if (out->has_content_length || out->http10) return ParseStatus::kBadRequest;
    if (out->method == Method::kGet || out->method == Method::kHead) return ParseStatus::kBadRequest;
  }
  // "close" wins over "keep-alive" (RFC 9112 §9.3, §9.6).
  if (st.connection_close) {
    out->keep_alive = false;
  } else if (st.connection_keep_alive) {
    out->keep_alive = true;
  }
  return ParseStatus::kOk;
}

}  // namespace

const char* MethodName(Method m) {
  switch (m) {
    case Method::kGet: return "GET";
    case Method::kHead: return "HEAD";
    case Method::kPut: return "PUT";
    case Method::kOptions: return "OPTIONS";
    case Method::kPost: return "POST";
    case Method::kDelete: return "DELETE";
    case Method::kPatch: return "PATCH";
    case Method::kTrace: return "TRACE";
    case Method::kConnect: return "CONNECT";
    case Method::kUnknown: break;
  }
  return "OTHER";
}

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

bool HasToken(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    const size_t comma = list.find(',');
    if (IEquals(Trim(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

bool PercentDecode(std::string_view in, std::string* out) {
  out->clear();
  out->reserve(in.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    const int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

ParseStatus Parse(std::string_view data, Request* out) {
  *out = Request();
  std::string_view rest = data;
  std::string_view line;
  bool valid = true;
  // Skip empty lines before the request line (RFC 9112 §2.2).
  for (;;) {
    if (data.size() - rest.size() > kMaxHeaderBytes) return ParseStatus::kHeaderTooLarge;
    if (!NextLine(&rest, &line, &valid)) {
      return data.size() > kMaxHeaderBytes ? ParseStatus::kHeaderTooLarge : ParseStatus::kNeedMore;
    }
    if (!valid) return ParseStatus::kBadRequest;
    if (!line.empty()) break;
  }
  ParseStatus status = ParseRequestLine(line, out);
  if (status != ParseStatus::kOk) return status;
  FieldState st;
  for (;;) {
    if (!NextLine(&rest, &line, &valid)) {
      return data.size() > kMaxHeaderBytes ? ParseStatus::kHeaderTooLarge : ParseStatus::kNeedMore;
    }
    if (data.size() - rest.size() > kMaxHeaderBytes) return ParseStatus::kHeaderTooLarge;
    if (!valid) return ParseStatus::kBadRequest;
    if (line.empty()) break;
    status = ParseField(line, out, &st);
    if (status != ParseStatus::kOk) return status;
  }
  out->header_bytes = data.size() - rest.size();
  return CheckFraming(out, st);
}

}  // namespace fc::http
