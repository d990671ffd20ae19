// Content codings and Accept-Encoding negotiation; see content_coding.h.
#include "fc/protocol/content_coding.h"

#include <algorithm>
#include <utility>

#include "fc/protocol/http.h"

namespace fc::http {
namespace {

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// RFC 9110 §12.4.2 qvalue, in thousandths; -1 when malformed.
int ParseQ(std::string_view v) {
  if (v.empty() || v.size() > 5 || (v[0] != '0' && v[0] != '1')) return -1;
  int q = (v[0] - '0') * 1000;
  if (v.size() == 1) return q;
  if (v[1] != '.') return -1;
  int scale = 100;
  for (size_t i = 2; i < v.size(); ++i, scale /= 10) {
    if (v[i] < '0' || v[i] > '9') return -1;
    q += (v[i] - '0') * scale;
  }
  return q > 1000 ? -1 : q;
}

// One member "token;q=0.5" -> token and weight (1000 without a q); false if malformed.
bool ParseMember(std::string_view member, std::string_view* token, int* q) {
  const size_t semi = member.find(';');
  *token = TrimSpace(member.substr(0, semi));
  *q = 1000;
  if (token->empty()) return false;
  std::string_view params = semi == std::string_view::npos ? std::string_view() : member.substr(semi + 1);
  while (!params.empty()) {
    const size_t next = params.find(';');
    const std::string_view param = TrimSpace(params.substr(0, next));
    params = next == std::string_view::npos ? std::string_view() : params.substr(next + 1);
    if (param.size() >= 2 && (param[0] == 'q' || param[0] == 'Q') && param[1] == '=') {
      *q = ParseQ(param.substr(2));
      if (*q < 0) return false;
    }
  }
  return true;
}

}  // namespace

const char* CodingToken(Coding c) {
  switch (c) {
    case Coding::kBrotli: return "br";
    case Coding::kZstd: return "zstd";
    case Coding::kGzip: return "gzip";
  }
  return "identity";
}

const char* CodingSuffix(Coding c) {
  switch (c) {
    case Coding::kBrotli: return ".br";
    case Coding::kZstd: return ".zst";
    case Coding::kGzip: return ".gz";
  }
  return "";
}

std::optional<Coding> CodingFromToken(std::string_view token) {
  if (IEquals(token, "br")) return Coding::kBrotli;
  if (IEquals(token, "zstd")) return Coding::kZstd;
  if (IEquals(token, "gzip") || IEquals(token, "x-gzip")) return Coding::kGzip;
  return std::nullopt;
}

std::optional<std::vector<Coding>> ParseCodingList(std::string_view text, std::string* bad) {
  std::vector<Coding> list;
  while (!TrimSpace(text).empty()) {
    const size_t comma = text.find(',');
    const std::string_view member = TrimSpace(text.substr(0, comma));
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    const std::optional<Coding> c = CodingFromToken(member);
    bool repeated = false;
    for (Coding seen : list) repeated |= c && seen == *c;
    if (!c || repeated) {
      *bad = std::string(member);
      return std::nullopt;
    }
    list.push_back(*c);
  }
  return list;
}

std::string CodingListText(const std::vector<Coding>& list) {
  std::string out;
  for (Coding c : list) {
    if (!out.empty()) out += ',';
    out += CodingToken(c);
  }
  return out;
}

std::vector<Coding> AcceptableCodings(std::string_view accept_encoding, bool present,
                                      const std::vector<Coding>& offered) {
  if (!present || offered.empty()) return {};
  // q of each offered coding as named, and of "*"; -1: not named.
  std::vector<int> named(offered.size(), -1);
  int star = -1;
  std::string_view rest = accept_encoding;
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    const std::string_view member = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    std::string_view token;
    int q;
    if (!ParseMember(member, &token, &q)) continue;
    if (token == "*") {
      star = q;
      continue;
    }
    const std::optional<Coding> c = CodingFromToken(token);
    for (size_t i = 0; c && i < offered.size(); ++i) {
      if (offered[i] == *c) named[i] = q;
    }
  }
  std::vector<std::pair<int, size_t>> ranked;  // (-q, server position)
  for (size_t i = 0; i < offered.size(); ++i) {
    const int q = named[i] >= 0 ? named[i] : (star >= 0 ? star : 0);
    if (q > 0) ranked.emplace_back(-q, i);
  }
  std::sort(ranked.begin(), ranked.end());
  std::vector<Coding> out;
  out.reserve(ranked.size());
  for (const auto& r : ranked) out.push_back(offered[r.second]);
  return out;
}

std::optional<Coding> Negotiate(std::string_view accept_encoding, bool present,
                                const std::vector<Coding>& offered) {
  const std::vector<Coding> acceptable = AcceptableCodings(accept_encoding, present, offered);
  if (acceptable.empty()) return std::nullopt;
  return acceptable.front();
}

int MediaQuality(std::string_view accept, std::string_view type) {
  const std::string_view major = type.substr(0, type.find('/'));
  int best_rank = -1, quality = 0;
  while (!accept.empty()) {
    const size_t comma = accept.find(',');
    const std::string_view member = accept.substr(0, comma);
    accept = comma == std::string_view::npos ? std::string_view() : accept.substr(comma + 1);
    std::string_view range;
    int q = 0;
    if (!ParseMember(member, &range, &q)) continue;
    const size_t slash = range.find('/');
    if (slash == std::string_view::npos) continue;
    int rank = -1;
    if (IEquals(range, type)) {
      rank = 2;
    } else if (range.substr(slash) == "/*" && IEquals(range.substr(0, slash), major)) {
      rank = 1;
    } else if (range == "*/*") {
      rank = 0;
    }
    if (rank > best_rank) {
      best_rank = rank;
      quality = q;
    }
  }
  return quality;
}

}  // namespace fc::http
