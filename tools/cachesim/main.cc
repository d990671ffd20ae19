// fc-cachesim: replays a request trace through the real shm_cache code, once
// per eviction policy, in one process and one run, and prints miss ratios,
// byte miss ratios and their change against LRU, and fragmentation figures.
//
//   fc-cachesim                          # the default synthetic workload
//   fc-cachesim --trace requests.csv     # time,object id,size per line
//   fc-cachesim --alpha 1.2 --drift 0.01 --one-hit 0.2 --seed 7
//   fc-cachesim --shards 4 [--hash consistent|random|both]   # a sharded fleet
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "fc/base/cli.h"
#include "fc/base/net.h"
#include "replay.h"
#include "shards.h"
#include "trace.h"

namespace po = boost::program_options;
using namespace fc::cachesim;

namespace {

struct Totals {
  uint64_t requests = 0, misses = 0, bytes = 0, missed_bytes = 0;
  void Add(const ReplayResult& r) {
    requests += r.requests;
    misses += r.misses;
    bytes += r.requested_bytes;
    missed_bytes += r.missed_bytes;
  }
  double miss() const { return requests ? double(misses) / double(requests) : 0; }
  double byte_miss() const { return bytes ? double(missed_bytes) / double(bytes) : 0; }
};

// N caches of `options` each, fed by `route` (request index -> shard).
fc::Result<Totals> ReplaySharded(const std::vector<Request>& trace, const fc::shm_cache::CacheOptions& options,
                             int shards, const std::function<int(size_t)>& route) {
  std::vector<std::vector<Request>> parts(static_cast<size_t>(shards));
  for (size_t i = 0; i < trace.size(); ++i) parts[static_cast<size_t>(route(i))].push_back(trace[i]);
  Totals t;
  for (const auto& part : parts) {
    auto r = Replay(part, options);
    if (!r.ok()) return r.status();
    t.Add(r.value());
  }
  return t;
}

int RunShards(const std::vector<Request>& trace, fc::shm_cache::CacheOptions options, int shards,
              const std::string& hash) {
  if (shards < 1 || shards > 256) return fc::cli::UsageError("fc-cachesim", "--shards must be 1 to 256");
  if (hash != "consistent" && hash != "random" && hash != "both") {
    return fc::cli::UsageError("fc-cachesim", "--hash takes consistent, random or both");
  }
  const ConsistentRing ring(shards);
  std::printf("%d shards of %llu bytes, policy %s; consistent: HAProxy's ring (sdbm + avalanche, %zu points)\n",
              shards, static_cast<unsigned long long>(options.segment_size),
              fc::shm_cache::PolicyName(options.policy), ring.points());
  std::printf("%-34s %11s %11s\n", "how names reach the caches", "miss ratio", "byte miss");
  auto print = [](const std::string& what, const Totals& t) {
    std::printf("%-34s %11.4f %11.4f\n", what.c_str(), t.miss(), t.byte_miss());
  };
  if (hash != "random") {
    // One shard per object (its name is its path), as HAProxy routes it.
    std::vector<int> shard_of;
    auto r = ReplaySharded(trace, options, shards, [&](size_t i) {
      const uint64_t id = trace[i].id;
      if (id >= shard_of.size()) shard_of.resize(id + 1, -1);
      if (shard_of[id] < 0) shard_of[id] = ring.ShardOf("/o" + std::to_string(id));
      return shard_of[id];
    });
    if (!r.ok()) return std::fprintf(stderr, "fc-cachesim: %s\n", r.status().message().c_str()), 1;
    print("consistent hash (HAProxy)", r.value());
  }
  if (hash != "consistent") {
    std::mt19937_64 rng(12345);
    auto r = ReplaySharded(trace, options, shards, [&](size_t) {
      return static_cast<int>(rng() % static_cast<uint64_t>(shards));
    });
    if (!r.ok()) return std::fprintf(stderr, "fc-cachesim: %s\n", r.status().message().c_str()), 1;
    print("random (round robin)", r.value());
  }
  fc::shm_cache::CacheOptions big = options;
  big.segment_size = options.segment_size * static_cast<uint64_t>(shards);
  auto one = Replay(trace, big);
  if (!one.ok()) return std::fprintf(stderr, "fc-cachesim: %s\n", one.status().message().c_str()), 1;
  Totals t;
  t.Add(one.value());
  print("one cache " + std::to_string(shards) + "x as large", t);
  return 0;
}

// Names per shard on HAProxy's ring, and what one failure moves.
int PrintRingStats(int shards, uint64_t names) {
  const ConsistentRing ring(shards);
  std::vector<bool> down(static_cast<size_t>(shards), false);
  down[0] = true;
  std::vector<uint64_t> per(static_cast<size_t>(shards), 0);
  uint64_t moved = 0;
  for (uint64_t i = 0; i < names; ++i) {
    const std::string path = "/o" + std::to_string(i);
    const int before = ring.ShardOf(path);
    ++per[static_cast<size_t>(before)];
    moved += ring.ShardOf(path, down) != before;
  }
  const double mean = double(names) / shards;
  double var = 0;
  for (uint64_t n : per) var += (double(n) - mean) * (double(n) - mean);
  const auto [lo, hi] = std::minmax_element(per.begin(), per.end());
  std::printf("%d shards, %zu ring points, %llu names: per shard mean %.0f, min %llu (%.2fx), max %llu "
              "(%.2fx), stddev %.1f%% of the mean\n",
              shards, ring.points(), static_cast<unsigned long long>(names), mean,
              static_cast<unsigned long long>(*lo), double(*lo) / mean, static_cast<unsigned long long>(*hi),
              double(*hi) / mean, 100.0 * std::sqrt(var / shards) / mean);
  std::printf("shard 1 fails: %.2f%% of the names move (its own share: %.2f%%), all of them its own\n",
              100.0 * double(moved) / double(names), 100.0 * double(per[0]) / double(names));
  return 0;
}

// One replay per policy of the comma-separated `policies`, a row each, with
// the change against LRU's (when LRU came first).
int ComparePolicies(const std::vector<Request>& trace, uint64_t segment_size, uint64_t packet_size,
                    const std::string& policies) {
  std::printf("%-8s %11s %11s %9s %9s %16s %9s %9s %9s %7s\n", "policy", "miss ratio",
              "byte miss", "vs LRU", "bytes", "evicted/admitted", "rounding", "gated", "pinned",
              "secs");
  double lru_miss = 0, lru_bytes = 0;
  size_t start = 0;
  while (start <= policies.size()) {
    const size_t comma = policies.find(',', start);
    const std::string name = policies.substr(start, comma - start);
    start = comma == std::string::npos ? policies.size() + 1 : comma + 1;
    auto policy = fc::shm_cache::ParsePolicy(name);
    if (!policy.ok()) return fc::cli::UsageError("fc-cachesim", policy.status().message());
    fc::shm_cache::CacheOptions o;
    o.segment_size = segment_size;
    o.packet_size = static_cast<uint32_t>(packet_size);
    o.policy = policy.value();
    auto r = Replay(trace, o);
    if (!r.ok()) {
      std::fprintf(stderr, "fc-cachesim: %s\n", r.status().message().c_str());
      return 1;
    }
    if (name == "lru") {
      lru_miss = r->miss_ratio();
      lru_bytes = r->byte_miss_ratio();
    }
    auto delta = [](double v, double base) { return base > 0 ? 100.0 * (v - base) / base : 0.0; };
    std::printf("%-8s %11.4f %11.4f %+8.1f%% %+8.1f%% %16.3f %8.2f%% %9llu %9llu %7.1f\n",
                name.c_str(), r->miss_ratio(), r->byte_miss_ratio(),
                delta(r->miss_ratio(), lru_miss), delta(r->byte_miss_ratio(), lru_bytes),
                r->admitted_bytes ? double(r->evicted_bytes) / double(r->admitted_bytes) : 0.0,
                100.0 * r->rounding_waste, static_cast<unsigned long long>(r->not_admitted),
                static_cast<unsigned long long>(r->streamed_pinned), r->seconds);
  }
  return 0;
}


// The command line as typed.
struct SimArgs {
  SyntheticSpec spec;
  std::string trace_path, cache_size = "64M", packet_size = "1K", policies = "lru,fifo,sieve,s3fifo,fc";
  std::string size_median = "16K", fixed_size = "0", hash = "both", which;
  int shards = 0;
  uint64_t ring_names = 0;
};

void AddOptions(SimArgs* a, po::options_description* opts) {  // code_metrics: table
  SyntheticSpec& spec = a->spec;
  opts->add_options()("help,h", "print this help and exit")
      ("trace", po::value(&a->trace_path)->value_name("FILE"), "CSV trace: time,object id,size")
      ("policies", po::value(&a->policies)->value_name("LIST"),
       "comma-separated (default lru,fifo,sieve,s3fifo,fc)")
      ("cache-size", po::value(&a->cache_size)->value_name("SIZE"), "segment size (default 64M)")
      ("packet-size", po::value(&a->packet_size)->value_name("SIZE"), "packet size (default 1K)")
      ("objects", po::value(&spec.objects)->value_name("N"), "synthetic: objects (20000)")
      ("requests", po::value(&spec.requests)->value_name("N"), "synthetic: requests (2000000)")
      ("alpha", po::value(&spec.alpha)->value_name("A"), "synthetic: Zipf alpha (0.9)")
      ("size-median", po::value(&a->size_median)->value_name("SIZE"), "synthetic: lognormal median (16K)")
      ("size-sigma", po::value(&spec.size_sigma)->value_name("S"), "synthetic: lognormal sigma (2)")
      ("fixed-size", po::value(&a->fixed_size)->value_name("SIZE"), "synthetic: every object this size")
      ("drift", po::value(&spec.drift)->value_name("F"),
       "synthetic: share of ranks rotated every 1% of the trace (0)")
      ("one-hit", po::value(&spec.one_hit_wonders)->value_name("F"),
       "synthetic: share of requests for never-seen objects (0)")
      ("seed", po::value(&spec.seed)->value_name("N"), "synthetic: random seed (1)")
      ("shards", po::value(&a->shards)->value_name("N"),
       "replay through N caches of --cache-size each, routed by --hash, and one cache N times "
       "as large (policy: the first of --policies, default fc)")
      ("hash", po::value(&a->hash)->value_name("HOW"),
       "with --shards: consistent (HAProxy's ring, as deploy/haproxy.cfg), random (round "
       "robin), or both (default)")
      ("ring-stats", po::value(&a->ring_names)->value_name("NAMES"),
       "with --shards: spread NAMES names /o0, /o1, ... over the ring; print the names per "
       "shard (min, max, spread) and the share that moves when shard 1 fails, and exit")
      ("which-shard", po::value(&a->which)->value_name("PATH"),
       "with --shards: print the shard (1-based, HAProxy's server id) of a request path and exit");
}

}  // namespace

int main(int argc, char** argv) {
  SimArgs a;
  po::options_description opts(
      "Usage: fc-cachesim [--trace FILE | synthetic options] [--policies lru,fifo]\n\n"
      "Replays a trace through the real shared cache for each policy and prints the\n"
      "miss ratio, the byte miss ratio, the change against LRU, bytes evicted per byte\n"
      "admitted, packet-rounding waste and requests streamed uncached.\n\nOptions");
  AddOptions(&a, &opts);
  SyntheticSpec& spec = a.spec;
  const std::string &trace_path = a.trace_path, &cache_size = a.cache_size, &packet_size = a.packet_size,
                    &policies = a.policies, &hash = a.hash, &which = a.which,
                    &size_median = a.size_median, &fixed_size = a.fixed_size;
  const int& shards = a.shards;
  const uint64_t& ring_names = a.ring_names;
  po::variables_map vm;
  if (int rc = fc::cli::Parse("fc-cachesim", argc, argv, opts, opts, nullptr, &vm); rc >= 0) return rc;
  auto segment = fc::net::ParseByteSize(cache_size, "--cache-size");
  auto packet = fc::net::ParseByteSize(packet_size, "--packet-size");
  auto median = fc::net::ParseByteSize(size_median, "--size-median");
  auto fixed = fc::net::ParseByteSize(fixed_size, "--fixed-size");
  for (const auto* r : {&segment, &packet, &median, &fixed}) {
    if (!r->ok()) return fc::cli::UsageError("fc-cachesim", r->status().message());
  }
  if (ring_names > 0) {
    if (shards < 2) return fc::cli::UsageError("fc-cachesim", "--ring-stats needs --shards 2 or more");
    return PrintRingStats(shards, ring_names);
  }
  if (!which.empty()) {
    if (shards < 1) return fc::cli::UsageError("fc-cachesim", "--which-shard needs --shards N");
    std::printf("%d\n", ConsistentRing(shards).ShardOf(which) + 1);
    return 0;
  }
  spec.size_median = static_cast<double>(median.value());
  spec.fixed_size = fixed.value();
  std::vector<Request> trace;
  if (!trace_path.empty()) {
    auto read = ReadCsv(trace_path);
    if (!read.ok()) {
      std::fprintf(stderr, "fc-cachesim: %s\n", read.status().message().c_str());
      return 1;
    }
    trace = std::move(read.value());
  } else {
    trace = Generate(spec);
  }
  std::printf("trace: %zu requests%s; cache %s in %s packets\n", trace.size(),
              trace_path.empty() ? " (synthetic)" : "", cache_size.c_str(), packet_size.c_str());
  if (shards > 0) {
    fc::shm_cache::CacheOptions o;
    o.segment_size = segment.value();
    o.packet_size = static_cast<uint32_t>(packet.value());
    auto policy = fc::shm_cache::ParsePolicy(vm.count("policies") ? policies.substr(0, policies.find(',')) : "fc");
    if (!policy.ok()) return fc::cli::UsageError("fc-cachesim", policy.status().message());
    o.policy = policy.value();
    return RunShards(trace, o, shards, hash);
  }
  return ComparePolicies(trace, segment.value(), packet.value(), policies);
}
