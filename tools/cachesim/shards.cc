// Spreading names over shards; see shards.h.
#include "shards.h"

#include <algorithm>

namespace fc::cachesim {

uint32_t Sdbm(std::string_view text) {
  uint32_t hash = 0;
  for (const char c : text) hash = static_cast<unsigned char>(c) + (hash << 6) + (hash << 16) - hash;
  return hash;
}

uint32_t Avalanche(uint32_t a) {
  a = (a + 0x7ed55d16) + (a << 12);
  a = (a ^ 0xc761c23c) ^ (a >> 19);
  a = (a + 0x165667b1) + (a << 5);
  a = (a + 0xd3a2646c) ^ (a << 9);
  a = (a + 0xfd7046c5) + (a << 3);
  a = (a ^ 0xb55a4f09) ^ (a >> 16);
  return a * 3221225473u;  // HAProxy spreads the result with a prime near 3/4 of 2^32
}

ConsistentRing::ConsistentRing(int shards, int weight) {
  constexpr uint32_t kWeightScale = 16;        // points per unit of weight
  constexpr uint32_t kIdStride = 256 * kWeightScale;  // ids are spaced by the largest point count
  for (int s = 0; s < shards; ++s) {
    const uint32_t id = static_cast<uint32_t>(s + 1);
    for (uint32_t p = 0; p < static_cast<uint32_t>(weight) * kWeightScale; ++p) {
      points_.push_back({Avalanche(id * kIdStride + p), s});
    }
  }
  std::sort(points_.begin(), points_.end(), [](const Point& a, const Point& b) { return a.key < b.key; });
}

int ConsistentRing::ShardOf(std::string_view path, const std::vector<bool>& down) const {
  const uint32_t hash = Avalanche(Sdbm(path));
  auto live = [&](const Point& p) { return down.empty() || !down[static_cast<size_t>(p.shard)]; };
  // The first live point at or after the hash (wrapping), and the last live
  // one before it; the nearer of the two wins (HAProxy's rule).
  const size_t n = points_.size();
  const size_t start = static_cast<size_t>(
      std::lower_bound(points_.begin(), points_.end(), hash, [](const Point& p, uint32_t h) { return p.key < h; }) -
      points_.begin());
  size_t next = n, prev = n;
  for (size_t i = 0; i < n; ++i) {
    if (live(points_[(start + i) % n])) {
      next = (start + i) % n;
      break;
    }
  }
  if (next == n) return -1;
  for (size_t i = 1; i <= n; ++i) {
    const size_t j = (start + n - i) % n;
    if (live(points_[j])) {
      prev = j;
      break;
    }
  }
  if (points_[prev].shard == points_[next].shard) return points_[next].shard;
  const uint32_t dp = hash - points_[prev].key;
  const uint32_t dn = points_[next].key - hash;
  return dp <= dn ? points_[prev].shard : points_[next].shard;
}

}  // namespace fc::cachesim
