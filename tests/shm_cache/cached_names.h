// Test helper shared by the shm_cache suites: the names a cache lists.
#pragma once

#include <set>
#include <string>

#include "fc/shm_cache/cache.h"

namespace fc::shm_cache {

inline std::set<std::string> CachedNames(ShmCache& cache) {
  std::set<std::string> names;
  for (const auto& item : cache.List()) names.insert(item.name);
  return names;
}

}  // namespace fc::shm_cache
