// Internal header: the seeds' `list` for a browser, GET /.fc/cache (docs/web.md):
// the cached entries (name, size, readers, hits, age), the fill level and the hit
// ratio, as JSON or as a small HTML page (no scripts, no external assets).
#pragma once

#include <string>
#include <vector>

#include "fc/shm_cache/cache.h"

namespace fc::worker {

// Rows shown on the HTML page, the most hit first; JSON lists every entry.
constexpr size_t kCachePageRows = 2'000;

// `files`: the entries that may be shown; `hidden`: how many others are
// cached (names with a dot-segment), counted but never named.
std::string RenderCacheJson(const std::vector<shm_cache::CachedFile>& files, size_t hidden,
                            const shm_cache::CacheTotals& totals);
std::string RenderCacheHtml(std::vector<shm_cache::CachedFile> files, size_t hidden,
                            const shm_cache::CacheTotals& totals);

}  // namespace fc::worker
