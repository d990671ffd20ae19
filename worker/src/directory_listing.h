// Internal header: a directory's listing for --autoindex (docs/web.md).
//
// Names are confined exactly as files are: the directory is opened beneath
// the root (openat2 RESOLVE_BENEATH), a symlink is listed only if a confined
// open of it succeeds (one that leads outside the root is left out), names
// that begin with '.' are left out (this hides the reserved ".fc" and every
// dotfile, as nginx's autoindex does), and only regular files and directories
// are listed. The work is bounded: at most kMaxEntries names are read (the
// rest are left out, and the page says so); a page holds kPageSize of them;
// only the shown page's entries are stat'ed when sorting by name.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "file_source.h"

namespace fc::worker {

struct ListingQuery {
  enum class Key { kName, kSize, kTime };
  Key key = Key::kName;
  bool descending = false;
  size_t page = 1;  // 1-based
};
// Reads "sort=name|size|time&order=asc|desc&page=N" (other keys ignored,
// malformed values fall back to the defaults).
ListingQuery ParseListingQuery(std::string_view query);

struct ListedEntry {
  std::string name;
  bool directory = false;
  uint64_t size = 0;
  int64_t mtime_s = 0;
};

struct ListingPage {
  std::string path;  // the URL path, "/docs/"
  ListingQuery query;
  std::vector<ListedEntry> entries;  // this page's
  size_t total = 0;                  // listed names in the directory (up to kMaxEntries)
  bool truncated = false;            // the directory holds more than kMaxEntries names
  size_t pages = 1;
};

constexpr size_t kMaxEntries = 100'000;
constexpr size_t kPageSize = 1'000;

// Lists `dir` (canonical, "" for the root) beneath `files`' root.
Refusal ListDirectory(const FileSource& files, const std::string& dir, const ListingQuery& query,
                      ListingPage* out);

// The page as a small self-contained HTML document (no scripts, no external
// assets; sortable through links), or as JSON (schema in docs/web.md).
std::string RenderListingHtml(const ListingPage& page);
std::string RenderListingJson(const ListingPage& page);

// Percent-encodes every byte of `name` but the unreserved ones (and '/' when
// `keep_slash`): a relative link or a Location that means exactly `name`.
std::string UrlEncode(std::string_view name, bool keep_slash);
// "512 B", "4.0 KiB", "1.5 MiB": a size for people (listings, /.fc/cache).
std::string HumanSize(uint64_t bytes);
// A name as text that shows what it is: controls, bidi overrides and
// isolates and zero-width characters as \u202E, bytes that are not UTF-8 as
// \xFF ("invoice\u202Efdp.exe" cannot pass for "invoiceexe.pdf").
std::string VisibleName(std::string_view name);
// Escapes & < > " ' for HTML text and attribute values.
std::string HtmlEscape(std::string_view text);

}  // namespace fc::worker
