// Trace generation and CSV reading for fc-cachesim.
#include "trace.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <sstream>

namespace fc::cachesim {

std::vector<Request> Generate(const SyntheticSpec& spec) {
  std::mt19937_64 rng(spec.seed);
  // Sizes per object, fixed for the whole trace.
  std::vector<uint64_t> sizes(spec.objects);
  std::lognormal_distribution<double> lognormal(std::log(spec.size_median), spec.size_sigma);
  for (auto& s : sizes) {
    s = spec.fixed_size ? spec.fixed_size
                        : std::clamp<uint64_t>(static_cast<uint64_t>(lognormal(rng)), spec.size_min,
                                               spec.size_max);
  }
  // Zipf CDF over ranks 1..objects.
  std::vector<double> cdf(spec.objects);
  double total = 0;
  for (uint64_t r = 0; r < spec.objects; ++r) cdf[r] = total += 1.0 / std::pow(r + 1.0, spec.alpha);
  for (auto& c : cdf) c /= total;
  // rank -> object, shuffled so popularity is independent of id.
  std::vector<uint64_t> object_of_rank(spec.objects);
  for (uint64_t i = 0; i < spec.objects; ++i) object_of_rank[i] = i;
  std::shuffle(object_of_rank.begin(), object_of_rank.end(), rng);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<Request> trace;
  trace.reserve(spec.requests);
  const uint64_t period = std::max<uint64_t>(1, spec.requests / 100);
  const uint64_t shift = static_cast<uint64_t>(spec.drift * static_cast<double>(spec.objects));
  uint64_t next_new = spec.objects;
  for (uint64_t i = 0; i < spec.requests; ++i) {
    if (shift > 0 && i > 0 && i % period == 0) {
      std::rotate(object_of_rank.begin(), object_of_rank.begin() + static_cast<long>(shift),
                  object_of_rank.end());
    }
    if (spec.one_hit_wonders > 0 && u(rng) < spec.one_hit_wonders) {
      const uint64_t size = spec.fixed_size ? spec.fixed_size
                                            : std::clamp<uint64_t>(static_cast<uint64_t>(lognormal(rng)),
                                                                   spec.size_min, spec.size_max);
      trace.push_back({next_new++, size});
      continue;
    }
    const double x = u(rng);
    const uint64_t rank =
        static_cast<uint64_t>(std::lower_bound(cdf.begin(), cdf.end(), x) - cdf.begin());
    const uint64_t object = object_of_rank[std::min(rank, spec.objects - 1)];
    trace.push_back({object, sizes[object]});
  }
  return trace;
}

Result<std::vector<Request>> ReadCsv(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::Error("cannot open trace \"" + path + "\"");
  std::vector<Request> trace;
  std::string line;
  uint64_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string time, id, size;
    if (!std::getline(fields, time, ',') || !std::getline(fields, id, ',') ||
        !std::getline(fields, size, ',')) {
      return Status::Error(path + ":" + std::to_string(number) + ": expected time,id,size");
    }
    try {
      trace.push_back({std::stoull(id), std::stoull(size)});
    } catch (const std::exception&) {
      if (number == 1) continue;  // a header line
      return Status::Error(path + ":" + std::to_string(number) + ": not a number");
    }
  }
  return trace;
}

}  // namespace fc::cachesim
