// Internal header of fc-cachesim: request traces, read from CSV or generated.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fc/base/status.h"

namespace fc::cachesim {

struct Request {
  uint64_t id = 0;
  uint64_t size = 0;
};

// A seeded synthetic workload: Zipf popularity over `objects` objects with
// lognormal sizes, optionally drifting (popularity ranks rotate over time) and
// with one-hit wonders (requests for objects never seen again).
struct SyntheticSpec {
  uint64_t objects = 20'000;
  uint64_t requests = 2'000'000;
  double alpha = 0.9;
  double size_median = 16 * 1024;
  double size_sigma = 2.0;
  uint64_t size_min = 8;
  uint64_t size_max = 60ull << 20;
  uint64_t fixed_size = 0;         // non-zero: every object has this size
  double drift = 0;                // fraction of the ranks rotated every 1% of the trace
  double one_hit_wonders = 0;      // fraction of requests for brand-new objects
  unsigned seed = 1;
};

std::vector<Request> Generate(const SyntheticSpec& spec);

// CSV lines "time,object id,size" (a header line is skipped); blank lines and
// lines starting with '#' are ignored.
Result<std::vector<Request>> ReadCsv(const std::string& path);

}  // namespace fc::cachesim
