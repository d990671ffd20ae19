// Per-worker request counters, kept in the shared segment so that fc-master
// can serve metrics without asking the workers (and so they survive a worker's
// death and a binary upgrade). Each worker slot has kCounterLanes lanes, one
// per event-loop thread (threads beyond that share one), so the hot path adds
// to a cache line no other core writes. Every field only grows: a reader sums
// all slots and lanes, without a lock.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace fc::shm_cache {

constexpr uint32_t kCounterLanes = 4;

enum class CountedProto : uint8_t { kHttp = 0, kFc = 1 };
constexpr int kCountedProtos = 2;
enum class CountedOp : uint8_t { kGet, kHead, kPut, kList, kOptions, kOther };
constexpr int kCountedOps = 6;
// The statuses fc answers with; anything else counts as the last ("other").
constexpr int kCountedStatuses[] = {200, 201, 204, 206, 304, 400, 403, 404, 405, 408, 411,
                                    412, 413, 414, 416, 431, 500, 501, 503, 505, 507};
constexpr int kStatusKinds = sizeof(kCountedStatuses) / sizeof(kCountedStatuses[0]) + 1;
// Latency histogram bounds, in microseconds (Prometheus "le", the last is +Inf).
constexpr uint64_t kLatencyBoundsUs[] = {100,   250,   500,    1000,   2500,   5000,    10000, 25000,
                                         50000, 100000, 250000, 500000, 1000000, 2500000, 10000000};
constexpr int kLatencyBuckets = sizeof(kLatencyBoundsUs) / sizeof(kLatencyBoundsUs[0]) + 1;

struct Histogram {
  std::atomic<uint64_t> buckets[kLatencyBuckets];  // not cumulative; the last is +Inf
  std::atomic<uint64_t> sum_ns;
  std::atomic<uint64_t> count;
};

// TLS handshakes: done in full, resumed (a ticket), and failed by reason
// (tls::Failure, 1..9).
constexpr int kTlsOutcomes = 11;
constexpr int kTlsFull = 0;
constexpr int kTlsResumed = 1;  // failures are kTlsResumed + tls::Failure

struct alignas(64) WorkerCounters {
  std::atomic<uint64_t> requests[kCountedProtos][kCountedOps][kStatusKinds];
  std::atomic<uint64_t> bytes_sent;  // body bytes
  std::atomic<uint64_t> streams;     // responses sent from disk rather than from the cache
  std::atomic<uint64_t> streamed_bytes;  // body bytes of those: 1 - streamed/sent is the byte-hit ratio
  Histogram request_latency;         // first byte of the request to last byte of the reply
  Histogram load_latency;            // loading a file into the cache (loader threads)
  std::atomic<uint64_t> tls_handshakes[kTlsOutcomes];
};

int StatusKind(int status);
int LatencyBucket(uint64_t ns);

inline void Observe(Histogram& h, uint64_t ns) {
  h.buckets[LatencyBucket(ns)].fetch_add(1, std::memory_order_relaxed);
  h.sum_ns.fetch_add(ns, std::memory_order_relaxed);
  h.count.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace fc::shm_cache
