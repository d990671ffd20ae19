// Every eviction policy: pinned entries survive, churn never leaks, a worker
// killed at random moments never wedges or corrupts the cache; and the
// behaviour that tells the policies apart.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <random>
#include <set>

#include "cached_names.h"
#include "fc/shm_cache/cache.h"

namespace fc::shm_cache {
namespace {

FileIdentity Id(uint64_t size, uint64_t ino = 1) { return FileIdentity{size, 100, ino, 7}; }

class PolicyTest : public ::testing::TestWithParam<Policy> {
 protected:
  void SetUp() override {
    name_ = "fc-test-policy-" + std::to_string(::getpid()) + "-" + PolicyName(GetParam());
    ShmCache::Remove(name_);
    CacheOptions o;
    o.shm_name = name_;
    o.segment_size = 1 << 20;
    o.packet_size = 512;
    o.policy = GetParam();
    o.worker_slots = 2;
    auto r = ShmCache::Create(o);
    ASSERT_TRUE(r.ok()) << r.status().message();
    cache_ = std::move(r.value());
    ASSERT_TRUE(cache_->AttachWorker(0).ok());
  }
  void TearDown() override {
    EXPECT_EQ(cache_->Check(1000), std::vector<std::string>{});
    cache_.reset();
    ShmCache::Remove(name_);
  }
  // Admits (twice if the policy's gate asks for a second request) and publishes.
  PinnedEntry Load(const std::string& name, uint64_t size) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (PinnedEntry hit = cache_->Lookup(name, Id(size)).value(); hit.valid()) return hit;
      Admission a = cache_->Admit(name, Id(size));
      if (a.kind == Admission::Kind::kReserved) return cache_->Publish(std::move(a.reservation), 0);
      if (a.kind != Admission::Kind::kNotAdmitted) return {};
    }
    return {};
  }
  std::set<std::string> Cached() { return CachedNames(*cache_); }
  std::string name_;
  std::unique_ptr<ShmCache> cache_;
};

TEST_P(PolicyTest, PinnedEntriesAreNeverEvicted) {
  const uint64_t quarter = cache_->data_capacity() / 4;
  PinnedEntry pinned = Load("pinned", quarter);
  ASSERT_TRUE(pinned.valid());
  for (int i = 0; i < 40; ++i) Load("f" + std::to_string(i), quarter / 2).Release();
  EXPECT_EQ(Cached().count("pinned"), 1u);
  // With everything else pinned too, there is no room and nothing changes.
  std::vector<PinnedEntry> all;
  for (const auto& name : Cached()) {
    if (name != "pinned") all.push_back(cache_->Lookup(name, Id(quarter / 2)).value());
  }
  const auto before = Cached();
  Admission big = cache_->Admit("big", Id(cache_->data_capacity() / 2));
  if (big.kind == Admission::Kind::kNotAdmitted) big = cache_->Admit("big", Id(cache_->data_capacity() / 2));
  EXPECT_EQ(big.kind, Admission::Kind::kNoRoom);
  EXPECT_EQ(Cached(), before);
}

TEST_P(PolicyTest, ChurnWithPinsNeverLeaks) {
  std::mt19937 rng(static_cast<unsigned>(GetParam()) + 1);
  std::vector<PinnedEntry> held;
  for (int i = 0; i < 4000; ++i) {
    const std::string name = "f" + std::to_string(rng() % 300);
    PinnedEntry pin = Load(name, rng() % 40'000);
    if (pin.valid() && rng() % 5 == 0) held.push_back(std::move(pin));
    if (held.size() > 6) held.erase(held.begin());
  }
  held.clear();
  EXPECT_EQ(cache_->Check(1000), std::vector<std::string>{});
  const Snapshot snap = cache_->TakeSnapshot(1000);
  EXPECT_GT(snap.evictions, 0u);
}

TEST_P(PolicyTest, AWorkerKilledAtRandomMomentsNeverCorruptsTheQueues) {
  std::mt19937 rng(11);
  for (int round = 0; round < 12; ++round) {
    const pid_t child = ::fork();
    if (child == 0) {
      auto c = ShmCache::Open(name_);
      if (!c.ok() || !c.value()->AttachWorker(1).ok()) _exit(3);
      std::mt19937 r(static_cast<unsigned>(round));
      for (;;) {
        const std::string name = "f" + std::to_string(r() % 80);
        const FileIdentity id = Id(r() % 60'000);
        if (c.value()->Lookup(name, id).value().valid()) continue;
        Admission a = c.value()->Admit(name, id);
        if (a.kind == Admission::Kind::kReserved) c.value()->Publish(std::move(a.reservation), 0);
      }
    }
    ::usleep(1000 + rng() % 15000);
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
    ASSERT_TRUE(cache_->ReclaimWorker(1, child, cache_->PeekWorkers()[1].epoch, 2000).ok());
    ASSERT_EQ(cache_->Check(2000), std::vector<std::string>{}) << "round " << round;
    Load("probe", 700).Release();
  }
}

INSTANTIATE_TEST_SUITE_P(AllPolicies, PolicyTest,
                         ::testing::Values(Policy::kLru, Policy::kFifo, Policy::kSieve,
                                           Policy::kS3Fifo, Policy::kFc),
                         [](const ::testing::TestParamInfo<Policy>& p) {
                           return std::string(PolicyName(p.param));
                         });

class PolicyBehaviourTest : public ::testing::Test {
 protected:
  std::unique_ptr<ShmCache> Make(Policy policy) {
    name_ = std::string("fc-test-behaviour-") + std::to_string(::getpid());
    ShmCache::Remove(name_);
    CacheOptions o;
    o.shm_name = name_;
    o.segment_size = 1 << 20;
    o.packet_size = 1024;
    o.policy = policy;
    o.worker_slots = 1;
    auto r = ShmCache::Create(o);
    EXPECT_TRUE(r.ok());
    EXPECT_TRUE(r.value()->AttachWorker(0).ok());
    return std::move(r.value());
  }
  void TearDown() override { ShmCache::Remove(name_); }
  std::string name_;
};

TEST_F(PolicyBehaviourTest, SieveKeepsAVisitedEntryThatLruWouldAlsoKeepButNotAFifo) {
  auto cache = Make(Policy::kSieve);
  const uint64_t third = cache->data_capacity() / 3 - 1024;
  auto load = [&](const std::string& n) {
    Admission a = cache->Admit(n, Id(third));
    if (a.kind == Admission::Kind::kReserved) cache->Publish(std::move(a.reservation), 0).Release();
  };
  load("a");
  load("b");
  load("c");
  cache->Lookup("a", Id(third)).value().Release();  // visited
  load("d");                                // the hand clears a's bit and evicts b
  std::set<std::string> names;
  const std::vector<CachedFile> files = cache->List().value().files;
  for (const auto& item : files) names.insert(item.name);
  EXPECT_EQ(names, (std::set<std::string>{"a", "c", "d"}));
}

TEST_F(PolicyBehaviourTest, FcCachesABigFileOnItsSecondRequestAndASmallOneAtOnce) {
  auto cache = Make(Policy::kFc);
  EXPECT_EQ(cache->Admit("small", Id(4'000)).kind, Admission::Kind::kReserved);
  EXPECT_EQ(cache->Admit("big", Id(200'000)).kind, Admission::Kind::kNotAdmitted);
  EXPECT_EQ(cache->Admit("big", Id(200'000)).kind, Admission::Kind::kReserved);
  EXPECT_EQ(cache->TakeSnapshot(1000).not_admitted, 1u);
}

}  // namespace
}  // namespace fc::shm_cache
