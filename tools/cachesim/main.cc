// fc-cachesim: replays a request trace through the real shm_cache code, once
// per eviction policy, in one process and one run, and prints miss ratios,
// byte miss ratios and their change against LRU, and fragmentation figures.
//
//   fc-cachesim                          # the default synthetic workload
//   fc-cachesim --trace requests.csv     # time,object id,size per line
//   fc-cachesim --alpha 1.2 --drift 0.01 --one-hit 0.2 --seed 7
#include <cstdio>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "fc/protocol/cli.h"
#include "fc/protocol/net.h"
#include "replay.h"
#include "trace.h"

namespace po = boost::program_options;
using namespace fc::cachesim;

int main(int argc, char** argv) {
  SyntheticSpec spec;
  std::string trace_path, cache_size = "64M", packet_size = "1K",
              policies = "lru,fifo,sieve,s3fifo,fc";
  std::string size_median = "16K", fixed_size = "0";
  po::options_description opts(
      "Usage: fc-cachesim [--trace FILE | synthetic options] [--policies lru,fifo]\n\n"
      "Replays a trace through the real shared cache for each policy and prints the\n"
      "miss ratio, the byte miss ratio, the change against LRU, bytes evicted per byte\n"
      "admitted, packet-rounding waste and requests streamed uncached.\n\nOptions");
  opts.add_options()("help,h", "print this help and exit")
      ("trace", po::value(&trace_path)->value_name("FILE"), "CSV trace: time,object id,size")
      ("policies", po::value(&policies)->value_name("LIST"),
       "comma-separated (default lru,fifo,sieve,s3fifo,fc)")
      ("cache-size", po::value(&cache_size)->value_name("SIZE"), "segment size (default 64M)")
      ("packet-size", po::value(&packet_size)->value_name("SIZE"), "packet size (default 1K)")
      ("objects", po::value(&spec.objects)->value_name("N"), "synthetic: objects (20000)")
      ("requests", po::value(&spec.requests)->value_name("N"), "synthetic: requests (2000000)")
      ("alpha", po::value(&spec.alpha)->value_name("A"), "synthetic: Zipf alpha (0.9)")
      ("size-median", po::value(&size_median)->value_name("SIZE"), "synthetic: lognormal median (16K)")
      ("size-sigma", po::value(&spec.size_sigma)->value_name("S"), "synthetic: lognormal sigma (2)")
      ("fixed-size", po::value(&fixed_size)->value_name("SIZE"), "synthetic: every object this size")
      ("drift", po::value(&spec.drift)->value_name("F"),
       "synthetic: share of ranks rotated every 1% of the trace (0)")
      ("one-hit", po::value(&spec.one_hit_wonders)->value_name("F"),
       "synthetic: share of requests for never-seen objects (0)")
      ("seed", po::value(&spec.seed)->value_name("N"), "synthetic: random seed (1)");
  po::variables_map vm;
  if (int rc = fc::cli::Parse("fc-cachesim", argc, argv, opts, opts, nullptr, &vm); rc >= 0) return rc;
  auto segment = fc::net::ParseByteSize(cache_size, "--cache-size");
  auto packet = fc::net::ParseByteSize(packet_size, "--packet-size");
  auto median = fc::net::ParseByteSize(size_median, "--size-median");
  auto fixed = fc::net::ParseByteSize(fixed_size, "--fixed-size");
  for (const auto* r : {&segment, &packet, &median, &fixed}) {
    if (!r->ok()) return fc::cli::UsageError("fc-cachesim", r->status().message());
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
    o.segment_size = segment.value();
    o.packet_size = static_cast<uint32_t>(packet.value());
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
