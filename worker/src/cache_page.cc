// GET /.fc/cache; see cache_page.h.
#include "cache_page.h"

#include <algorithm>
#include <cstdio>

#include "directory_listing.h"
#include "fc/base/json.h"

namespace fc::worker {
namespace {

double Ratio(uint64_t part, uint64_t whole) {
  return whole == 0 ? 0.0 : static_cast<double>(part) / static_cast<double>(whole);
}

std::string Fixed(double v, int digits) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

}  // namespace

std::string RenderCacheJson(const std::vector<shm_cache::CachedFile>& files,
                            const shm_cache::CacheTotals& t) {
  std::string j = "{\"entries\":" + std::to_string(files.size()) +
                  ",\"used_bytes\":" + std::to_string(t.used) +
                  ",\"capacity_bytes\":" + std::to_string(t.capacity) +
                  ",\"fill\":" + Fixed(Ratio(t.used, t.capacity), 4) +
                  ",\"hits\":" + std::to_string(t.hits) + ",\"misses\":" + std::to_string(t.misses) +
                  ",\"hit_ratio\":" + Fixed(Ratio(t.hits, t.hits + t.misses), 4) + ",\"files\":[";
  bool first = true;
  for (const shm_cache::CachedFile& f : files) {
    if (!first) j += ',';
    first = false;
    j += "\n{\"name\":" + json::Quote(f.name) + ",\"size\":" + std::to_string(f.size) +
         ",\"readers\":" + std::to_string(f.readers) + ",\"hits\":" + std::to_string(f.hits) + "}";
  }
  j += "]}\n";
  return j;
}

std::string RenderCacheHtml(std::vector<shm_cache::CachedFile> files, const shm_cache::CacheTotals& t) {
  std::sort(files.begin(), files.end(), [](const shm_cache::CachedFile& a, const shm_cache::CachedFile& b) {
    return a.hits != b.hits ? a.hits > b.hits : a.name < b.name;
  });
  const double fill = Ratio(t.used, t.capacity);
  const double hit_ratio = Ratio(t.hits, t.hits + t.misses);
  std::string h =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>fc cache</title>"
      "<style>body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}"
      "table{border-collapse:collapse}th,td{padding:.15em .9em;text-align:left}"
      "td.n{text-align:right;font-variant-numeric:tabular-nums}tr:nth-child(even){background:#f4f4f4}"
      "meter{width:16em}</style></head><body>\n<h1>fc cache</h1>\n<p>";
  h += std::to_string(files.size()) + " entries; " + std::to_string(t.used) + " of " +
       std::to_string(t.capacity) + " bytes used <meter id=\"fill\" min=\"0\" max=\"1\" value=\"" +
       Fixed(fill, 4) + "\"></meter> " + Fixed(100 * fill, 1) + " %</p>\n<p>hit ratio <b id=\"hit-ratio\">" +
       Fixed(hit_ratio, 3) + "</b> (" + std::to_string(t.hits) + " hits, " + std::to_string(t.misses) +
       " misses)</p>\n<table>\n<tr><th>Name</th><th>Size</th><th>Readers</th><th>Hits</th></tr>\n";
  const size_t rows = std::min(files.size(), kCachePageRows);
  for (size_t i = 0; i < rows; ++i) {
    const shm_cache::CachedFile& f = files[i];
    // A compressed copy (".fc/CODING/NAME", --compress) is no URL of its own.
    const bool copy = f.name.compare(0, 4, ".fc/") == 0;
    h += copy ? "<tr><td>" + HtmlEscape(f.name)
              : "<tr><td><a href=\"/" + HtmlEscape(UrlEncode(f.name, true)) + "\">" + HtmlEscape(f.name) + "</a>";
    h += "</td><td class=\"n\">" + std::to_string(f.size) + "</td><td class=\"n\">" +
         std::to_string(f.readers) + "</td><td class=\"n\">" + std::to_string(f.hits) + "</td></tr>\n";
  }
  h += "</table>\n";
  if (rows < files.size()) {
    h += "<p>The " + std::to_string(rows) + " most hit of " + std::to_string(files.size()) +
         " entries are shown; <a href=\"?format=json\">the JSON</a> lists all.</p>\n";
  }
  h += "</body></html>\n";
  return h;
}

}  // namespace fc::worker
