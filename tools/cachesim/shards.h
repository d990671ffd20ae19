// Internal header of fc-cachesim: how a balancer spreads names over N shards.
//   consistent - HAProxy's `balance uri path-only` with `hash-type consistent
//                sdbm avalanche` and every server at weight 16, as in
//                deploy/haproxy.cfg: the path's sdbm hash, avalanched, looked
//                up on a ring where server k (id k+1) has 16 x 16 points.
//   random     - each request to any shard (what round robin amounts to for a
//                cache: every shard ends up holding the same hot names).
#pragma once

#include <cstdint>
#include <random>
#include <string_view>
#include <vector>

namespace fc::cachesim {

uint32_t Sdbm(std::string_view text);
// HAProxy's full_hash(): Bob Jenkins' 32-bit integer mix, then a multiply by
// a large prime. Checked against HAProxy 2.6 itself: --which-shard agrees with
// the X-Served-By of a running fleet on every name tried (60 of 60).
uint32_t Avalanche(uint32_t value);

class ConsistentRing {
 public:
  // `weight` as in HAProxy's server line; each server gets weight x 16 points.
  ConsistentRing(int shards, int weight = 16);
  // The shard (0-based) of a request path such as "/o42", or -1 if `down` has
  // every shard. `down`: shards taken out (a failure).
  int ShardOf(std::string_view path, const std::vector<bool>& down = {}) const;
  size_t points() const { return points_.size(); }

 private:
  struct Point {
    uint32_t key;
    int shard;
  };
  std::vector<Point> points_;  // sorted by key
};

}  // namespace fc::cachesim
