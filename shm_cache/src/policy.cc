// Eviction policies, all inside the segment and all rebuilt from per-entry
// fields after a crash (queue, freq, queue_seq; see RebuildLocked):
//
//   lru     one queue; a hit moves the entry to the tail; evict from the head.
//   fifo    one queue in insertion order (the seeds' FIFO).
//   sieve   one queue in insertion order, a visited bit per entry and a hand
//           that walks from old to new, clearing bits and evicting the first
//           unvisited entry (SIEVE, NSDI 2024). A hit only sets a bit.
//   s3fifo  a small probationary FIFO (10 % of the packets) and a main FIFO
//           with 2-bit frequencies and reinsertion, plus a ghost list of
//           recently evicted names (S3-FIFO, SOSP 2023). Adapted to whole files:
//           a file larger than the small queue goes straight to main instead
//           of being refused.
//   fc      (the default) probation FIFO of 5 % + a SIEVE main queue with 2-bit
//           frequencies + a short ghost list, and an admission gate: a file
//           over 8 KiB is cached on its second request within the ghost
//           window, its first is streamed from disk. One-hit wonders then cost
//           a ghost slot instead of evicting files that are wanted.
//
// Every policy steps over pinned entries without changing their state, makes
// one bounded pass, and reports failure (the caller streams) rather than wait.
#include "cache_impl.h"
#include "fc/base/crash_point.h"

namespace fc::shm_cache {
namespace {
// fc: bigger files pass the gate on a ghost hit. 8 KiB, not 16: fewer requests
// missed on every fc-cachesim workload and 30 % fewer loads (docs/cache.md).
constexpr uint64_t kGateBytes = 8 * 1024;
}  // namespace

bool ShmCache::Impl::HasProbation() const {
  const Policy p = static_cast<Policy>(header->policy);
  return p == Policy::kS3Fifo || p == Policy::kFc;
}

uint8_t ShmCache::Impl::FreqCap() const {
  switch (static_cast<Policy>(header->policy)) {
    case Policy::kSieve: return 1;
    case Policy::kS3Fifo:
    case Policy::kFc: return 3;
    default: return 0;
  }
}

uint32_t ShmCache::Impl::SmallCapacity() const {
  const Policy p = static_cast<Policy>(header->policy);
  return p == Policy::kS3Fifo ? header->packet_count / 10 : header->packet_count / 20;
}

// ---- queues ---------------------------------------------------------------------

void ShmCache::Impl::QueueAppendLocked(uint32_t e, uint8_t queue) {
  Entry& entry = entries[e];
  uint32_t& head = queue == kQueueSmall ? header->small_head : header->list_head;
  uint32_t& tail = queue == kQueueSmall ? header->small_tail : header->list_tail;
  entry.queue = queue;
  entry.queue_seq = ++header->seq;
  entry.list_next = kNil;
  entry.list_prev = tail;
  if (tail != kNil) {
    entries[tail].list_next = e;
  } else {
    head = e;
  }
  tail = e;
  if (queue == kQueueSmall) header->small_used += entry.packet_count;
}

void ShmCache::Impl::QueueRemoveLocked(uint32_t e) {
  Entry& entry = entries[e];
  if (entry.queue == kQueueNone) return;
  const bool small = entry.queue == kQueueSmall;
  uint32_t& head = small ? header->small_head : header->list_head;
  uint32_t& tail = small ? header->small_tail : header->list_tail;
  if (!small && header->hand == e) header->hand = entry.list_next;
  if (entry.list_prev != kNil) {
    entries[entry.list_prev].list_next = entry.list_next;
  } else if (head == e) {
    head = entry.list_next;
  }
  if (entry.list_next != kNil) {
    entries[entry.list_next].list_prev = entry.list_prev;
  } else if (tail == e) {
    tail = entry.list_prev;
  }
  if (small) header->small_used -= std::min(header->small_used, entry.packet_count);
  entry.list_prev = entry.list_next = kNil;
  entry.queue = kQueueNone;
}

// ---- the ghost ring -------------------------------------------------------------

bool ShmCache::Impl::GhostContains(uint64_t hash) const {
  for (uint32_t i = 0; i < header->ghost_window; ++i) {
    if (header->ghost[i] == hash) return true;
  }
  return false;
}

void ShmCache::Impl::GhostAddLocked(uint64_t hash) {
  if (header->ghost_window == 0) return;
  header->ghost[header->ghost_next] = hash;
  header->ghost_next = (header->ghost_next + 1) % header->ghost_window;
}

// ---- policy hooks ---------------------------------------------------------------

void ShmCache::Impl::TouchLocked(uint32_t e) {
  // Besides the entry, a hit writes only its pin counter and the hits
  // statistic: no sequence bump, and queue links change only for LRU.
  Entry& entry = entries[e];
  const Policy p = static_cast<Policy>(header->policy);
  if (p == Policy::kLru) {
    if (header->list_tail != e) {
      QueueRemoveLocked(e);
      QueueAppendLocked(e, kQueueMain);
    }
  } else if (entry.freq < FreqCap()) {
    ++entry.freq;  // a hit writes one byte, and only until the cap
  }
}

bool ShmCache::Impl::AdmitLocked(uint64_t hash, uint64_t bytes) {
  if (static_cast<Policy>(header->policy) != Policy::kFc || bytes <= kGateBytes) return true;
  if (GhostContains(hash)) return true;
  GhostAddLocked(hash);
  ++header->stats.not_admitted;
  return false;
}

void ShmCache::Impl::InsertLocked(uint32_t e) {
  Entry& entry = entries[e];
  entry.freq = 0;
  if (!HasProbation()) return QueueAppendLocked(e, kQueueMain);
  const bool known = GhostContains(entry.name_hash);
  QueueAppendLocked(e, known || entry.packet_count > SmallCapacity() ? kQueueMain : kQueueSmall);
}

void ShmCache::Impl::EvictLocked(uint32_t e) {
  IndexRemoveLocked(e);
  crash::At(crash::Point::kMidEvict);  // out of the index, still queued and holding packets
  QueueRemoveLocked(e);
  header->stats.evicted_bytes += entries[e].size;
  if (HasProbation()) GhostAddLocked(entries[e].name_hash);
  FreeEntryLocked(e);
  ++header->stats.evictions;
}

// ---- making room ----------------------------------------------------------------

bool ShmCache::Impl::RoomFor(uint32_t needed) const {
  return header->packet_count - header->used_packets >= needed &&
         header->used_entries < header->entry_capacity;
}

bool ShmCache::Impl::MakeRoomLocked(uint32_t needed) {
  if (RoomFor(needed)) return true;
  // Read-only pass: could evicting every unpinned entry make room? If not,
  // change nothing (no bits cleared, nothing evicted) and let the caller stream.
  // It stops as soon as enough is found, so it is short unless most is pinned.
  uint64_t freeable = 0;
  uint32_t entries_freeable = 0;
  const auto enough = [&] {
    return header->packet_count - header->used_packets + freeable >= needed &&
           header->used_entries - entries_freeable < header->entry_capacity;
  };
  for (uint32_t q : {header->small_head, header->list_head}) {
    for (uint32_t e = q; e != kNil && !enough(); e = entries[e].list_next) {
      if (entries[e].readers != 0) continue;
      freeable += entries[e].packet_count;
      ++entries_freeable;
    }
  }
  if (!enough()) return false;
  // Bounded: each step evicts, promotes or clears a frequency; frequencies are
  // at most 3, so 8 steps per entry always suffice.
  uint64_t budget = 8ull * header->used_entries + 16;
  while (!RoomFor(needed) && budget-- > 0) {
    if (!EvictOneLocked()) return false;
  }
  return RoomFor(needed);
}

// One step of the policy's eviction. False when nothing unpinned is left.
bool ShmCache::Impl::EvictOneLocked() {
  const Policy p = static_cast<Policy>(header->policy);
  if (p == Policy::kLru || p == Policy::kFifo) {
    for (uint32_t e = header->list_head; e != kNil; e = entries[e].list_next) {
      if (entries[e].readers == 0) {
        EvictLocked(e);
        return true;
      }
    }
    return false;
  }
  if (HasProbation() && header->small_head != kNil &&
      (header->small_used >= SmallCapacity() || header->list_head == kNil)) {
    for (uint32_t e = header->small_head; e != kNil; e = entries[e].list_next) {
      if (entries[e].readers != 0) continue;  // pinned: step over, state kept
      if (entries[e].freq > 0) {              // re-used while on probation: promote
        QueueRemoveLocked(e);
        entries[e].freq = 0;
        QueueAppendLocked(e, kQueueMain);
      } else {
        EvictLocked(e);
      }
      return true;
    }
  }
  if (p == Policy::kS3Fifo) {  // main: FIFO with reinsertion
    for (uint32_t e = header->list_head; e != kNil; e = entries[e].list_next) {
      if (entries[e].readers != 0) continue;
      if (entries[e].freq > 0) {
        --entries[e].freq;
        QueueRemoveLocked(e);
        QueueAppendLocked(e, kQueueMain);
      } else {
        EvictLocked(e);
      }
      return true;
    }
  } else {  // sieve, fc: the hand walks old to new and wraps
    const uint32_t start = header->hand != kNil ? header->hand : header->list_head;
    if (start == kNil) return EvictFromSmallLocked();
    uint32_t e = start;
    do {
      const uint32_t next = entries[e].list_next != kNil ? entries[e].list_next : header->list_head;
      if (entries[e].readers == 0) {
        header->hand = next == e ? kNil : next;
        if (entries[e].freq > 0) {
          --entries[e].freq;
        } else {
          EvictLocked(e);
        }
        return true;
      }
      e = next;
    } while (e != start);
  }
  return EvictFromSmallLocked();  // main is all pinned: take from probation
}

bool ShmCache::Impl::EvictFromSmallLocked() {
  for (uint32_t e = header->small_head; e != kNil; e = entries[e].list_next) {
    if (entries[e].readers == 0) {
      EvictLocked(e);
      return true;
    }
  }
  return false;
}

}  // namespace fc::shm_cache
