// The production LRU and FIFO (inside shm_cache) must agree exactly, request
// by request, with a short reference implementation written apart from them.
#include <unistd.h>

#include <gtest/gtest.h>

#include <list>
#include <map>
#include <random>
#include <string>

#include "fc/shm_cache/cache.h"

namespace fc::shm_cache {
namespace {

struct Req {
  uint64_t id;
  uint64_t size;
};

// Whole-object cache over packets and entry slots, LRU or FIFO.
class ReferenceCache {
 public:
  ReferenceCache(bool lru, uint64_t packets, uint64_t packet_size, uint64_t entries)
      : lru_(lru), capacity_(packets), ps_(packet_size), entry_capacity_(entries) {}

  bool Request(const std::string& name, uint64_t size) {
    auto it = where_.find(name);
    if (it != where_.end()) {
      if (lru_) order_.splice(order_.end(), order_, it->second);
      return true;
    }
    const uint64_t need = (name.size() + size + ps_ - 1) / ps_;
    if (need > capacity_) return false;
    while (used_ + need > capacity_ || order_.size() + 1 > entry_capacity_) {
      const auto& victim = order_.front();
      used_ -= victim.second;
      where_.erase(victim.first);
      order_.pop_front();
    }
    order_.emplace_back(name, need);
    where_[name] = std::prev(order_.end());
    used_ += need;
    return false;
  }

 private:
  bool lru_;
  uint64_t capacity_, ps_, entry_capacity_, used_ = 0;
  std::list<std::pair<std::string, uint64_t>> order_;
  std::map<std::string, std::list<std::pair<std::string, uint64_t>>::iterator> where_;
};

std::vector<Req> FixedTrace(unsigned seed, int requests, int objects, uint64_t max_size) {
  std::mt19937 rng(seed);
  std::vector<uint64_t> sizes(objects);
  for (auto& s : sizes) s = 1 + rng() % max_size;
  std::vector<Req> trace;
  for (int i = 0; i < requests; ++i) {
    // Skewed: squaring a uniform favours low ids.
    const double u = std::uniform_real_distribution<double>(0, 1)(rng);
    const uint64_t id = static_cast<uint64_t>(u * u * objects);
    trace.push_back({id, sizes[id]});
  }
  return trace;
}

void ExpectAgreement(Policy policy, const std::vector<Req>& trace, uint32_t packet_size) {
  CacheOptions o;
  o.shm_name = "fc-test-ref-" + std::to_string(::getpid()) + "-" + PolicyName(policy);
  o.segment_size = 2 << 20;
  o.packet_size = packet_size;
  o.policy = policy;
  o.worker_slots = 1;
  ShmCache::Remove(o.shm_name);
  auto cache = ShmCache::Create(o);
  ASSERT_TRUE(cache.ok()) << cache.status().message();
  ASSERT_TRUE(cache.value()->AttachWorker(0).ok());
  const Snapshot geometry = cache.value()->TakeSnapshot(1000);
  ReferenceCache reference(policy == Policy::kLru, geometry.packet_count, geometry.packet_size,
                           geometry.entry_capacity);
  int hits = 0;
  for (size_t i = 0; i < trace.size(); ++i) {
    const std::string name = "object-" + std::to_string(trace[i].id);
    const FileIdentity id{trace[i].size, 1, trace[i].id + 1, 1};
    bool hit = cache.value()->Lookup(name, id).value().valid();
    if (!hit) {
      Admission a = cache.value()->Admit(name, id);
      if (a.kind == Admission::Kind::kReserved) cache.value()->Publish(std::move(a.reservation), 0);
    }
    const bool expected = reference.Request(name, trace[i].size);
    ASSERT_EQ(hit, expected) << PolicyName(policy) << " disagrees at request " << i;
    hits += hit;
  }
  EXPECT_GT(hits, 0);
  EXPECT_LT(hits, static_cast<int>(trace.size()));  // the trace really exercises eviction
  EXPECT_EQ(cache.value()->Check(1000), std::vector<std::string>{});
  cache.value().reset();
  ShmCache::Remove(o.shm_name);
}

TEST(PolicyReferenceTest, LruMatchesTheReferenceExactly) {
  ExpectAgreement(Policy::kLru, FixedTrace(1, 20'000, 400, 40'000), 1024);
  ExpectAgreement(Policy::kLru, FixedTrace(2, 20'000, 3'000, 100), 256);  // entry slots bind
}

TEST(PolicyReferenceTest, FifoMatchesTheReferenceExactly) {
  ExpectAgreement(Policy::kFifo, FixedTrace(3, 20'000, 400, 40'000), 1024);
  ExpectAgreement(Policy::kFifo, FixedTrace(4, 20'000, 3'000, 100), 256);
}

}  // namespace
}  // namespace fc::shm_cache
