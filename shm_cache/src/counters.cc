// Per-worker counters in the segment; see counters.h.
#include "fc/shm_cache/counters.h"

#include "cache_impl.h"
#include "fc/shm_cache/cache.h"

namespace fc::shm_cache {

int StatusKind(int status) {
  for (int i = 0; i < kStatusKinds - 1; ++i) {
    if (kCountedStatuses[i] == status) return i;
  }
  return kStatusKinds - 1;
}

int LatencyBucket(uint64_t ns) {
  const uint64_t us = ns / 1000;
  for (int i = 0; i < kLatencyBuckets - 1; ++i) {
    if (us <= kLatencyBoundsUs[i]) return i;
  }
  return kLatencyBuckets - 1;
}

WorkerCounters& ShmCache::Counters(uint32_t lane) {
  const Impl& m = *impl_;
  return m.counters[m.slot * kCounterLanes + lane % kCounterLanes];
}

namespace {

void Add(std::atomic<uint64_t>& to, const std::atomic<uint64_t>& from) {
  to.store(to.load(std::memory_order_relaxed) + from.load(std::memory_order_relaxed),
           std::memory_order_relaxed);
}

void AddHistogram(Histogram& to, const Histogram& from) {
  for (int b = 0; b < kLatencyBuckets; ++b) Add(to.buckets[b], from.buckets[b]);
  Add(to.sum_ns, from.sum_ns);
  Add(to.count, from.count);
}

}  // namespace

void ShmCache::SumCounters(WorkerCounters* out) const {
  const Impl& m = *impl_;
  for (uint32_t i = 0; i < m.header->slot_count * kCounterLanes; ++i) {
    const WorkerCounters& c = m.counters[i];
    for (int p = 0; p < kCountedProtos; ++p) {
      for (int o = 0; o < kCountedOps; ++o) {
        for (int s = 0; s < kStatusKinds; ++s) Add(out->requests[p][o][s], c.requests[p][o][s]);
      }
    }
    Add(out->bytes_sent, c.bytes_sent);
    Add(out->streams, c.streams);
    Add(out->streamed_bytes, c.streamed_bytes);
    AddHistogram(out->request_latency, c.request_latency);
    AddHistogram(out->load_latency, c.load_latency);
    for (int k = 0; k < kTlsOutcomes; ++k) Add(out->tls_handshakes[k], c.tls_handshakes[k]);
  }
}

CacheTotals ShmCache::PeekTotals() const {
  const Impl& m = *impl_;
  const Header* h = m.header;
  auto read = [](const auto& field) { return __atomic_load_n(&field, __ATOMIC_RELAXED); };
  CacheTotals t;
  t.layout_version = h->layout_version;
  t.generation = read(h->generation);
  t.capacity = uint64_t{h->packet_size} * h->packet_count;
  t.used = uint64_t{read(h->used_packets)} * h->packet_size;
  t.free = t.capacity - std::min(t.capacity, t.used);
  t.entries = read(h->used_entries);
  for (uint32_t e = 0; e < h->entry_capacity; ++e) t.pins += read(m.entries[e].readers);
  const Stats& s = h->stats;
  t.hits = read(s.hits);
  t.misses = read(s.misses);
  t.loads = read(s.loads);
  t.evictions = read(s.evictions);
  t.evicted_bytes = read(s.evicted_bytes);
  t.loaded_bytes = read(s.admitted_bytes);
  t.stale_drops = read(s.stale_drops);
  t.repairs = read(s.repairs);
  t.reclaimed_pins = read(s.reclaimed_pins);
  t.not_admitted = read(s.not_admitted);
  t.lock_timeouts = read(s.lock_timeouts);
  return t;
}

}  // namespace fc::shm_cache
