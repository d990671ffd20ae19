// Test helper shared by the shm_cache suites: the names a cache lists.
#pragma once

#include <set>
#include <string>

#include "fc/shm_cache/cache.h"

namespace fc::shm_cache {

inline std::set<std::string> CachedNames(ShmCache& cache) {
  std::set<std::string> names;
  const std::vector<shm_cache::CachedFile> files = cache.List().value().files;
  for (const auto& item : files) names.insert(item.name);
  return names;
}

}  // namespace fc::shm_cache
