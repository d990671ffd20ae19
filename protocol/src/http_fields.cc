// The values of HTTP fields fc interprets after parsing: dates (RFC 9110
// §5.6.7), byte ranges (§14) and entity-tags (§8.8.3). See http.h.
#include <algorithm>
#include <cstdio>
#include <cstring>

#include "fc/protocol/http.h"

namespace fc::http {
namespace {

const char* const kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
const char* const kLongDays[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                 "Thursday", "Friday", "Saturday"};
const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                               "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Reads exactly `digits` decimal digits (or 1..digits when `exact` is false,
// for asctime's space-padded day) from the front of *s.
bool TakeNumber(std::string_view* s, size_t digits, int* out) {
  if (s->size() < digits) return false;
  int v = 0;
  for (size_t i = 0; i < digits; ++i) {
    const char c = (*s)[i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  s->remove_prefix(digits);
  *out = v;
  return true;
}

bool TakeLiteral(std::string_view* s, std::string_view lit) {
  if (s->substr(0, lit.size()) != lit) return false;
  s->remove_prefix(lit.size());
  return true;
}

bool TakeMonth(std::string_view* s, int* month) {
  for (int i = 0; i < 12; ++i) {
    if (TakeLiteral(s, kMonths[i])) {
      *month = i;
      return true;
    }
  }
  return false;
}

bool TakeDayName(std::string_view* s, const char* const* names) {
  for (int i = 0; i < 7; ++i) {
    if (TakeLiteral(s, names[i])) return true;
  }
  return false;
}

// "08:49:37"
bool TakeTime(std::string_view* s, tm* g) {
  return TakeNumber(s, 2, &g->tm_hour) && TakeLiteral(s, ":") && TakeNumber(s, 2, &g->tm_min) &&
         TakeLiteral(s, ":") && TakeNumber(s, 2, &g->tm_sec);
}

bool Finish(tm* g, std::string_view rest, time_t* out) {
  if (!rest.empty() || g->tm_mday < 1 || g->tm_mday > 31 || g->tm_hour > 23 || g->tm_min > 59 ||
      g->tm_sec > 60) {
    return false;
  }
  g->tm_year -= 1900;
  *out = timegm(g);
  return true;
}

}  // namespace

std::string FormatHttpDate(time_t t) {
  tm g;
  gmtime_r(&t, &g);
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[g.tm_wday],
                g.tm_mday, kMonths[g.tm_mon], g.tm_year + 1900, g.tm_hour, g.tm_min, g.tm_sec);
  return buf;
}

namespace {
// Each date form: kOther when `text` does not start like it, else whether it parsed.
enum class DateForm { kOther, kBad, kOk };

// The two forms that end in GMT: IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT"
// (short day names, ' ' between day, month and a 4-digit year), and RFC 850,
// "Sunday, 06-Nov-94 08:49:37 GMT" (long names, '-', a 2-digit year).
DateForm ParseGmtDate(std::string_view s, bool rfc850, time_t* out) {
  tm g{};
  if (!TakeDayName(&s, rfc850 ? kLongDays : kDays) || !TakeLiteral(&s, ", ")) return DateForm::kOther;
  const std::string_view sep = rfc850 ? "-" : " ";
  const bool ok = TakeNumber(&s, 2, &g.tm_mday) && TakeLiteral(&s, sep) && TakeMonth(&s, &g.tm_mon) &&
                  TakeLiteral(&s, sep) && TakeNumber(&s, rfc850 ? 2 : 4, &g.tm_year) && TakeLiteral(&s, " ") &&
                  TakeTime(&s, &g) && TakeLiteral(&s, " GMT");
  if (!ok) return DateForm::kBad;
  // A two-digit year more than 50 years ahead is in the past century (§5.6.7).
  if (rfc850) g.tm_year += g.tm_year < 70 ? 2000 : 1900;
  return Finish(&g, s, out) ? DateForm::kOk : DateForm::kBad;
}

// asctime: "Sun Nov  6 08:49:37 1994"
bool ParseAsctimeDate(std::string_view s, time_t* out) {
  tm g{};
  if (!TakeDayName(&s, kDays) || !TakeLiteral(&s, " ") || !TakeMonth(&s, &g.tm_mon) ||
      !TakeLiteral(&s, " ")) {
    return false;
  }
  const bool day = TakeLiteral(&s, " ") ? TakeNumber(&s, 1, &g.tm_mday) : TakeNumber(&s, 2, &g.tm_mday);
  return day && TakeLiteral(&s, " ") && TakeTime(&s, &g) && TakeLiteral(&s, " ") &&
         TakeNumber(&s, 4, &g.tm_year) && Finish(&g, s, out);
}

bool ParseDecimal(std::string_view t, uint64_t* v) {
  if (t.empty() || t.size() > 19) return false;
  *v = 0;
  for (char c : t) {
    if (c < '0' || c > '9') return false;
    *v = *v * 10 + static_cast<uint64_t>(c - '0');
  }
  return true;
}

// One range-spec ("a-b", "a-", "-n") against a file of `size` bytes: false if
// malformed; a satisfiable span is appended to *spans.
bool AddRangeSpec(std::string_view spec, uint64_t size, std::vector<ByteSpan>* spans) {
  const size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return false;
  const std::string_view a = spec.substr(0, dash), b = spec.substr(dash + 1);
  uint64_t first = 0, last = 0;
  if (a.empty()) {  // suffix: the last N bytes
    if (!ParseDecimal(b, &last)) return false;
    if (last > 0 && size > 0) spans->push_back({size - std::min(last, size), size - 1});
    return true;
  }
  if (!ParseDecimal(a, &first)) return false;
  if (b.empty()) {
    last = UINT64_MAX;
  } else if (!ParseDecimal(b, &last) || last < first) {
    return false;
  }
  if (first < size) spans->push_back({first, std::min(last, size - 1)});
  return true;
}

// Sorts, then merges overlaps and gaps under a part header's size.
void CoalesceSpans(std::vector<ByteSpan>* spans) {
  std::sort(spans->begin(), spans->end(),
            [](const ByteSpan& x, const ByteSpan& y) { return x.first < y.first; });
  constexpr uint64_t kCoalesceGap = 80;
  size_t kept = 0;
  for (size_t i = 1; i < spans->size(); ++i) {
    ByteSpan& cur = (*spans)[kept];
    const ByteSpan& next = (*spans)[i];
    if (next.first <= cur.last || next.first - cur.last <= kCoalesceGap) {
      cur.last = std::max(cur.last, next.last);
    } else {
      (*spans)[++kept] = next;
    }
  }
  spans->resize(kept + 1);
}
}  // namespace

bool ParseHttpDate(std::string_view text, time_t* out) {
  for (const bool rfc850 : {false, true}) {
    const DateForm form = ParseGmtDate(text, rfc850, out);
    if (form != DateForm::kOther) return form == DateForm::kOk;
  }
  return ParseAsctimeDate(text, out);
}

RangeOutcome ResolveRanges(std::string_view value, uint64_t size, std::vector<ByteSpan>* spans) {
  spans->clear();
  value = Trim(value);
  if (value.size() < 6 || !IEquals(value.substr(0, 6), "bytes=")) return RangeOutcome::kIgnore;
  value.remove_prefix(6);
  size_t specs = 0;
  for (;;) {
    const size_t comma = value.find(',');
    const std::string_view spec = Trim(value.substr(0, comma));
    if (!spec.empty()) {  // empty list elements are allowed (RFC 9110 §5.6.1)
      if (++specs > kMaxRangeSpecs || !AddRangeSpec(spec, size, spans)) {
        spans->clear();
        return RangeOutcome::kIgnore;
      }
    }
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  if (specs == 0) return RangeOutcome::kIgnore;
  if (spans->empty()) return RangeOutcome::kUnsatisfiable;
  CoalesceSpans(spans);
  if (spans->size() > kMaxRanges) {
    spans->clear();
    return RangeOutcome::kIgnore;
  }
  return RangeOutcome::kRanges;
}

namespace {
// The opaque part of an entity-tag, and whether it is weak; false if malformed.
bool SplitTag(std::string_view tag, bool* weak, std::string_view* opaque) {
  tag = Trim(tag);
  *weak = tag.size() >= 2 && tag.substr(0, 2) == "W/";
  if (*weak) tag.remove_prefix(2);
  if (tag.size() < 2 || tag.front() != '"' || tag.back() != '"') return false;
  *opaque = tag.substr(1, tag.size() - 2);
  return opaque->find('"') == std::string_view::npos;
}
}  // namespace

bool StrongMatch(std::string_view a, std::string_view b) {
  bool wa, wb;
  std::string_view oa, ob;
  return SplitTag(a, &wa, &oa) && SplitTag(b, &wb, &ob) && !wa && !wb && oa == ob;
}

bool ListMatches(std::string_view value, std::string_view etag, bool weak) {
  if (Trim(value) == "*") return true;
  bool we;
  std::string_view oe;
  if (!SplitTag(etag, &we, &oe)) return false;
  while (!value.empty()) {
    const size_t comma = value.find(',');
    bool wm;
    std::string_view om;
    if (SplitTag(value.substr(0, comma), &wm, &om) && om == oe && (weak || (!wm && !we))) {
      return true;
    }
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace fc::http
