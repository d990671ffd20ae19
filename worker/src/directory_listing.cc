// Directory listings for --autoindex; see directory_listing.h.
#include "directory_listing.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <ctime>

#include "fc/base/json.h"

namespace fc::worker {
namespace {

const char* KeyName(ListingQuery::Key k) {
  switch (k) {
    case ListingQuery::Key::kSize: return "size";
    case ListingQuery::Key::kTime: return "time";
    case ListingQuery::Key::kName: break;
  }
  return "name";
}

// "?sort=size&order=desc&page=2": the link to another view of the listing.
std::string QueryLink(ListingQuery::Key key, bool descending, size_t page) {
  return std::string("?sort=") + KeyName(key) + "&order=" + (descending ? "desc" : "asc") +
         "&page=" + std::to_string(page);
}

struct Scanned {
  ListedEntry entry;
  bool stated = false;
};

// Size and mtime of a name in the open directory, not following a symlink (a
// listed symlink was resolved, confined, when it was read).
void StatEntry(int dir_fd, Scanned* s) {
  struct stat st;
  if (::fstatat(dir_fd, s->entry.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    s->entry.size = S_ISREG(st.st_mode) ? static_cast<uint64_t>(st.st_size) : 0;
    s->entry.mtime_s = st.st_mtim.tv_sec;
  }
  s->stated = true;
}

// Classifies one directory entry; false: not listed.
bool Admit(const FileSource& files, const std::string& dir, const dirent& d, Scanned* s) {
  s->entry.name = d.d_name;
  if (d.d_type == DT_DIR || d.d_type == DT_REG) {
    s->entry.directory = d.d_type == DT_DIR;
    return true;
  }
  if (d.d_type != DT_LNK && d.d_type != DT_UNKNOWN) return false;  // FIFOs, sockets, devices
  // A symlink (or a file system that does not say): listed only if the same
  // confined open that serves files reaches a file or directory.
  const int fd = files.OpenBeneath(dir.empty() ? s->entry.name : dir + "/" + s->entry.name,
                                   O_PATH | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st;
  const bool ok = ::fstat(fd, &st) == 0 && (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode));
  ::close(fd);
  if (!ok) return false;
  s->entry.directory = S_ISDIR(st.st_mode);
  s->entry.size = S_ISREG(st.st_mode) ? static_cast<uint64_t>(st.st_size) : 0;
  s->entry.mtime_s = st.st_mtim.tv_sec;
  s->stated = true;
  return true;
}

// Directories first, then by the key (names break ties), in the asked order.
void SortEntries(const ListingQuery& q, std::vector<Scanned>* all) {
  std::sort(all->begin(), all->end(), [&q](const Scanned& a, const Scanned& b) {
    if (a.entry.directory != b.entry.directory) return a.entry.directory;
    int c = 0;
    if (q.key == ListingQuery::Key::kSize && a.entry.size != b.entry.size) {
      c = a.entry.size < b.entry.size ? -1 : 1;
    } else if (q.key == ListingQuery::Key::kTime && a.entry.mtime_s != b.entry.mtime_s) {
      c = a.entry.mtime_s < b.entry.mtime_s ? -1 : 1;
    } else {
      c = a.entry.name.compare(b.entry.name);
    }
    return q.descending ? c > 0 : c < 0;
  });
}

// The code point of the valid UTF-8 sequence of `n` bytes at s[i].
uint32_t CodePoint(std::string_view s, size_t i, size_t n) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  if (n == 1) return b(0);
  uint32_t cp = b(0) & (0xFF >> (n + 1));
  for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (b(k) & 0x3F);
  return cp;
}

// Characters that change how the text around them is shown, or show as
// nothing: controls, bidi embeddings, overrides and isolates, zero-width
// characters, line and paragraph separators, the BOM.
bool Invisible(uint32_t cp) {
  return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x061C || cp == 0x00AD ||
         (cp >= 0x200B && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202E) ||
         (cp >= 0x2060 && cp <= 0x2069) || cp == 0xFEFF;
}

std::string HexBytes(std::string_view bytes) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (const char ch : bytes) {
    out += kHex[static_cast<unsigned char>(ch) >> 4];
    out += kHex[static_cast<unsigned char>(ch) & 15];
  }
  return out;
}

std::string UtcTime(int64_t seconds) {
  const time_t t = static_cast<time_t>(seconds);
  struct tm tm;
  char buf[32];
  if (gmtime_r(&t, &tm) == nullptr || std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M UTC", &tm) == 0) {
    return "-";
  }
  return buf;
}

}  // namespace

std::string HumanSize(uint64_t bytes) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0) {
    std::snprintf(buf, sizeof(buf), "%" PRIu64 " B", bytes);
  } else {
    std::snprintf(buf, sizeof(buf), "%.1f %s", v, kUnits[u]);
  }
  return buf;
}

ListingQuery ParseListingQuery(std::string_view query) {
  ListingQuery q;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const size_t eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    const std::string_view key = pair.substr(0, eq), value = pair.substr(eq + 1);
    if (key == "sort") {
      if (value == "size") q.key = ListingQuery::Key::kSize;
      if (value == "time") q.key = ListingQuery::Key::kTime;
      if (value == "name") q.key = ListingQuery::Key::kName;
    } else if (key == "order") {
      q.descending = value == "desc";
    } else if (key == "page" && !value.empty() && value.size() <= 6 &&
               value.find_first_not_of("0123456789") == std::string_view::npos) {
      q.page = std::max<size_t>(1, std::stoul(std::string(value)));
    }
  }
  return q;
}

Refusal ListDirectory(const FileSource& files, const std::string& dir, const ListingQuery& query,
                      ListingPage* out) {
  const int fd = files.OpenBeneath(dir.empty() ? "." : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return RefusalFromErrno(errno, "openat2", dir, /*writing=*/false);
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) {
    const int err = errno;
    ::close(fd);
    return RefusalFromErrno(err, "fdopendir", dir, false);
  }
  std::vector<Scanned> all;
  out->truncated = false;
  errno = 0;
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;  // ".", "..", dotfiles and the reserved ".fc"
    if (all.size() == kMaxEntries) {
      out->truncated = true;
      break;
    }
    Scanned s;
    if (Admit(files, dir, *e, &s)) all.push_back(std::move(s));
  }
  if (query.key != ListingQuery::Key::kName) {
    for (Scanned& s : all) {
      if (!s.stated) StatEntry(::dirfd(d), &s);
    }
  }
  SortEntries(query, &all);
  out->path = dir.empty() ? "/" : "/" + dir + "/";
  out->query = query;
  out->total = all.size();
  out->pages = std::max<size_t>(1, (all.size() + kPageSize - 1) / kPageSize);
  out->query.page = std::min(query.page, out->pages);
  const size_t first = (out->query.page - 1) * kPageSize;
  const size_t last = std::min(all.size(), first + kPageSize);
  out->entries.clear();
  for (size_t i = first; i < last; ++i) {
    if (!all[i].stated) StatEntry(::dirfd(d), &all[i]);
    out->entries.push_back(std::move(all[i].entry));
  }
  ::closedir(d);
  return {};
}

std::string UrlEncode(std::string_view name, bool keep_slash) {
  std::string out;
  out.reserve(name.size());
  for (const char ch : name) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~' || (keep_slash && c == '/')) {
      out += ch;
    } else {
      char buf[4];
      std::snprintf(buf, sizeof(buf), "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

std::string VisibleName(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  char buf[16];
  for (size_t i = 0; i < name.size();) {
    const size_t n = json::Utf8Length(name, i);
    if (n == 0) {
      std::snprintf(buf, sizeof(buf), "\\x%02X", static_cast<unsigned char>(name[i]));
      out += buf;
      ++i;
      continue;
    }
    const uint32_t cp = CodePoint(name, i, n);
    if (Invisible(cp)) {
      std::snprintf(buf, sizeof(buf), "\\u%04X", cp);
      out += buf;
    } else {
      out.append(name.substr(i, n));
    }
    i += n;
  }
  return out;
}

std::string HtmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char ch : text) {
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += ch;
    }
  }
  return out;
}

std::string RenderListingHtml(const ListingPage& page) {
  const ListingQuery& q = page.query;
  const std::string title = "Index of " + HtmlEscape(page.path);
  std::string h;
  h.reserve(256 + page.entries.size() * 160);
  h += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
       "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>";
  h += title;
  h += "</title><style>body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}"
       "table{border-collapse:collapse}th,td{padding:.15em .9em;text-align:left}"
       "td{white-space:nowrap}td:first-child{white-space:normal;overflow-wrap:anywhere}"
       "td.s{text-align:right;font-variant-numeric:tabular-nums}tr:nth-child(even){background:#f4f4f4}"
       ".b{color:#a00}@media(max-width:600px){body{margin:.6em}th,td{padding:.15em .35em}"
       "td.t,td.s{font-size:.8em}}"
       "a{text-decoration:none}a:hover{text-decoration:underline}</style></head><body>\n<h1>";
  h += title;
  h += "</h1>\n<table>\n<tr>";
  const std::pair<ListingQuery::Key, const char*> columns[] = {
      {ListingQuery::Key::kName, "Name"}, {ListingQuery::Key::kSize, "Size"}, {ListingQuery::Key::kTime, "Modified"}};
  for (const auto& [key, label] : columns) {
    const bool current = q.key == key;
    h += "<th><a href=\"" + HtmlEscape(QueryLink(key, current && !q.descending, 1)) + "\">" + label;
    if (current) h += q.descending ? " &#9660;" : " &#9650;";
    h += "</a></th>";
  }
  h += "</tr>\n";
  if (page.path != "/") h += "<tr><td><a href=\"../\">../</a></td><td></td><td></td></tr>\n";
  for (const ListedEntry& e : page.entries) {
    const std::string slash = e.directory ? "/" : "";
    h += "<tr><td><a href=\"" + HtmlEscape(UrlEncode(e.name, false)) + slash + "\">" +
         HtmlEscape(VisibleName(e.name)) + slash + "</a>";
    if (!json::IsUtf8(e.name)) h += " <small class=\"b\" title=\"the name's bytes are not UTF-8\">(not UTF-8)</small>";
    h += "</td><td class=\"s\"";
    if (!e.directory) h += " title=\"" + std::to_string(e.size) + " bytes\">" + HumanSize(e.size);
    else h += ">-";
    h += "</td><td class=\"t\">" + UtcTime(e.mtime_s) + "</td></tr>\n";
  }
  h += "</table>\n<p>";
  const size_t first = (q.page - 1) * kPageSize;
  h += std::to_string(page.total) + (page.total == 1 ? " entry" : " entries");
  if (page.pages > 1) {
    h += "; page " + std::to_string(q.page) + " of " + std::to_string(page.pages) + " (" +
         std::to_string(page.entries.empty() ? 0 : first + 1) + "&ndash;" +
         std::to_string(first + page.entries.size()) + ")";
    if (q.page > 1) h += " <a href=\"" + HtmlEscape(QueryLink(q.key, q.descending, q.page - 1)) + "\">previous</a>";
    if (q.page < page.pages) h += " <a href=\"" + HtmlEscape(QueryLink(q.key, q.descending, q.page + 1)) + "\">next</a>";
  }
  if (page.truncated) {
    h += ". The directory holds more than " + std::to_string(kMaxEntries) +
         " names: only the first read are listed";
  }
  h += ".</p>\n<p><small>fc</small></p>\n</body></html>\n";
  return h;
}

std::string RenderListingJson(const ListingPage& page) {
  const ListingQuery& q = page.query;
  std::string j = "{\"path\":" + json::Quote(page.path) + ",\"sort\":\"" + KeyName(q.key) +
                  "\",\"order\":\"" + (q.descending ? "desc" : "asc") + "\",\"page\":" +
                  std::to_string(q.page) + ",\"pages\":" + std::to_string(page.pages) +
                  ",\"total\":" + std::to_string(page.total) +
                  ",\"truncated\":" + (page.truncated ? "true" : "false") + ",\"entries\":[";
  bool first = true;
  for (const ListedEntry& e : page.entries) {
    if (!first) j += ',';
    first = false;
    j += "\n{\"name\":" + json::Quote(e.name);
    // Quote turns bytes that are not UTF-8 into U+FFFD, so two such names
    // could read alike: the bytes themselves go beside, in hex.
    if (!json::IsUtf8(e.name)) j += ",\"name_hex\":\"" + HexBytes(e.name) + "\"";
    j += ",\"href\":" +
         json::Quote(UrlEncode(e.name, false) + (e.directory ? "/" : "")) + ",\"type\":\"" +
         (e.directory ? "directory" : "file") + "\",\"size\":" + std::to_string(e.size) +
         ",\"mtime\":" + std::to_string(e.mtime_s) + "}";
  }
  j += "],\"prev\":";
  j += q.page > 1 ? json::Quote(QueryLink(q.key, q.descending, q.page - 1)) : "null";
  j += ",\"next\":";
  j += q.page < page.pages ? json::Quote(QueryLink(q.key, q.descending, q.page + 1)) : "null";
  j += "}\n";
  return j;
}

}  // namespace fc::worker
