// Trace replay through the real shared cache; see replay.h.
#include "replay.h"

#include <time.h>
#include <unistd.h>

#include <string>

namespace fc::cachesim {
namespace {
double Now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}
}  // namespace

Result<ReplayResult> Replay(const std::vector<Request>& trace, shm_cache::CacheOptions options) {
  static int counter = 0;
  options.shm_name = "fc-cachesim-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  options.worker_slots = 1;
  auto created = shm_cache::ShmCache::Create(options);
  if (!created.ok()) return created.status();
  struct RemoveAtEnd {
    std::string name;
    ~RemoveAtEnd() { shm_cache::ShmCache::Remove(name); }
  } remove{options.shm_name};
  shm_cache::ShmCache& cache = *created.value();
  Status st = cache.AttachWorker(0);
  if (!st.ok()) return st;

  ReplayResult r;
  const double start = Now();
  std::string name;
  for (const Request& req : trace) {
    name = "o";
    name += std::to_string(req.id);
    const shm_cache::FileIdentity id{req.size, 1, req.id + 1, 1};
    ++r.requests;
    r.requested_bytes += req.size;
    if (cache.Lookup(name, id).value().valid()) continue;  // a hit: pinned, then unpinned
    ++r.misses;
    r.missed_bytes += req.size;
    shm_cache::Admission a = cache.Admit(name, id);
    switch (a.kind) {
      case shm_cache::Admission::Kind::kReserved:
        cache.Publish(std::move(a.reservation), 0);
        break;
      case shm_cache::Admission::Kind::kTooLarge:
        ++r.streamed_too_large;
        break;
      case shm_cache::Admission::Kind::kNoRoom:
        ++r.streamed_pinned;
        break;
      case shm_cache::Admission::Kind::kNotAdmitted:
        ++r.not_admitted;
        break;
      case shm_cache::Admission::Kind::kHit:
      case shm_cache::Admission::Kind::kBusy:  // single-threaded: never
        break;
    }
  }
  r.seconds = Now() - start;
  const shm_cache::Snapshot snap = cache.TakeSnapshot(1000);
  r.admitted_bytes = snap.admitted_bytes;
  r.evicted_bytes = snap.evicted_bytes;
  uint64_t file_bytes = 0;
  for (const auto& e : snap.entries) file_bytes += e.size;
  r.rounding_waste = snap.used ? 1.0 - double(file_bytes) / double(snap.used) : 0;
  return r;
}

}  // namespace fc::cachesim
