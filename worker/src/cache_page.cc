// GET /.fc/cache; see cache_page.h.
#include "cache_page.h"

#include <algorithm>
#include <cstdio>

#include "directory_listing.h"
#include "fc/base/clock.h"
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

// Whole seconds since `loaded_at_ns` (CLOCK_REALTIME), never negative.
int64_t AgeSeconds(int64_t loaded_at_ns, int64_t now_ns) {
  return loaded_at_ns <= 0 || now_ns < loaded_at_ns ? 0 : (now_ns - loaded_at_ns) / 1'000'000'000;
}

// "42 s", "7 min", "3 h", "2 d".
std::string HumanAge(int64_t seconds) {
  if (seconds < 120) return std::to_string(seconds) + " s";
  if (seconds < 2 * 3600) return std::to_string(seconds / 60) + " min";
  if (seconds < 2 * 86400) return std::to_string(seconds / 3600) + " h";
  return std::to_string(seconds / 86400) + " d";
}

}  // namespace

std::string RenderCacheJson(const std::vector<shm_cache::CachedFile>& files, size_t hidden,
                            const shm_cache::CacheTotals& t) {
  const int64_t now = RealtimeNowNs();
  std::string j = "{\"entries\":" + std::to_string(files.size()) + ",\"hidden\":" + std::to_string(hidden) +
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
         ",\"readers\":" + std::to_string(f.readers) + ",\"hits\":" + std::to_string(f.hits) +
         ",\"age_s\":" + std::to_string(AgeSeconds(f.loaded_at_ns, now)) + "}";
  }
  j += "]}\n";
  return j;
}

std::string RenderCacheHtml(std::vector<shm_cache::CachedFile> files, size_t hidden,
                            const shm_cache::CacheTotals& t) {
  const int64_t now = RealtimeNowNs();
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
      "td{white-space:nowrap}td:first-child{white-space:normal;overflow-wrap:anywhere}"
      "td.n{text-align:right;font-variant-numeric:tabular-nums}tr:nth-child(even){background:#f4f4f4}"
      "meter{width:16em}</style></head><body>\n<h1>fc cache</h1>\n<p>";
  h += std::to_string(files.size()) + " entries";
  if (hidden > 0) h += " (and " + std::to_string(hidden) + " not shown: names beginning with '.')";
  h += "; <span title=\"" + std::to_string(t.used) + " of " + std::to_string(t.capacity) + " bytes\">" +
       HumanSize(t.used) + " of " + HumanSize(t.capacity) + "</span> used <meter id=\"fill\" min=\"0\" max=\"1\" value=\"" +
       Fixed(fill, 4) + "\"></meter> " + Fixed(100 * fill, 1) + " %</p>\n<p>hit ratio <b id=\"hit-ratio\">" +
       Fixed(hit_ratio, 3) + "</b> (" + std::to_string(t.hits) + " hits, " + std::to_string(t.misses) +
       " misses)</p>\n<table>\n<tr><th>Name</th><th>Size</th><th>Readers</th><th>Hits</th><th>Age</th></tr>\n";
  const size_t rows = std::min(files.size(), kCachePageRows);
  for (size_t i = 0; i < rows; ++i) {
    const shm_cache::CachedFile& f = files[i];
    // A compressed copy (".fc/CODING/NAME", --compress) is no URL of its own.
    const bool copy = f.name.compare(0, 4, ".fc/") == 0;
    const std::string shown = HtmlEscape(VisibleName(f.name));
    h += copy ? "<tr><td>" + shown
              : "<tr><td><a href=\"/" + HtmlEscape(UrlEncode(f.name, true)) + "\">" + shown + "</a>";
    h += "</td><td class=\"n\" title=\"" + std::to_string(f.size) + " bytes\">" + HumanSize(f.size) +
         "</td><td class=\"n\">" + std::to_string(f.readers) + "</td><td class=\"n\">" + std::to_string(f.hits) +
         "</td><td class=\"n\">" + HumanAge(AgeSeconds(f.loaded_at_ns, now)) + "</td></tr>\n";
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
