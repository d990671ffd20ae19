// Google Benchmark of the policy code under the shared lock: a hit (lookup,
// pin, touch, unpin) and a miss that has to evict (admit, evict, publish,
// unpin), for every policy, on a full 64 MiB segment of 4 KiB files.
//
//   build/fc-policy-benchmark [--benchmark_filter=...]
#include <unistd.h>

#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "fc/shm_cache/cache.h"

namespace {

using fc::shm_cache::Admission;
using fc::shm_cache::CacheOptions;
using fc::shm_cache::FileIdentity;
using fc::shm_cache::Policy;
using fc::shm_cache::ShmCache;

constexpr uint64_t kFileSize = 4096;

struct Fixture {
  std::unique_ptr<ShmCache> cache;
  std::string shm_name;
  std::vector<std::string> names;
  explicit Fixture(Policy policy) {
    shm_name = "fc-bench-" + std::to_string(::getpid()) + "-" + fc::shm_cache::PolicyName(policy);
    ShmCache::Remove(shm_name);
    CacheOptions o;
    o.shm_name = shm_name;
    o.policy = policy;
    o.worker_slots = 1;
    cache = std::move(ShmCache::Create(o).value());
    (void)cache->AttachWorker(0);
    // Fill it: ~12,000 files of 4 KiB.
    for (int i = 0; i < 20'000; ++i) {
      names.push_back("file-" + std::to_string(i));
      Admission a = cache->Admit(names.back(), Id(i));
      if (a.kind == Admission::Kind::kReserved) cache->Publish(std::move(a.reservation), 0).Release();
    }
  }
  ~Fixture() {
    cache.reset();
    ShmCache::Remove(shm_name);
  }
  static FileIdentity Id(uint64_t i) { return FileIdentity{kFileSize, 1, i + 1, 1}; }
};

void BM_Hit(benchmark::State& state) {
  Fixture f(static_cast<Policy>(state.range(0)));
  std::vector<size_t> cached;
  for (size_t i = 0; i < f.names.size(); ++i) {
    if (f.cache->Lookup(f.names[i], Fixture::Id(i)).value().valid()) cached.push_back(i);
  }
  size_t k = 0;
  for (auto _ : state) {
    const size_t i = cached[k++ % cached.size()];
    benchmark::DoNotOptimize(f.cache->Lookup(f.names[i], Fixture::Id(i)).value().valid());
  }
  state.SetLabel(fc::shm_cache::PolicyName(static_cast<Policy>(state.range(0))));
}

void BM_MissWithEviction(benchmark::State& state) {
  Fixture f(static_cast<Policy>(state.range(0)));
  uint64_t next = 1'000'000;
  std::string name;
  for (auto _ : state) {
    name = "new-" + std::to_string(next);
    Admission a = f.cache->Admit(name, Fixture::Id(next++));
    if (a.kind == Admission::Kind::kReserved) f.cache->Publish(std::move(a.reservation), 0).Release();
  }
  state.SetLabel(fc::shm_cache::PolicyName(static_cast<Policy>(state.range(0))));
}

void Policies(benchmark::internal::Benchmark* b) {
  for (Policy p : {Policy::kLru, Policy::kFifo, Policy::kSieve, Policy::kS3Fifo, Policy::kFc}) {
    b->Arg(static_cast<int>(p));
  }
}

BENCHMARK(BM_Hit)->Apply(Policies);
BENCHMARK(BM_MissWithEviction)->Apply(Policies);

}  // namespace

BENCHMARK_MAIN();
