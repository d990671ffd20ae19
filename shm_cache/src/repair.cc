// Crash repair, the consistency check, and snapshots for fc-shmdump.
//
// RebuildLocked() runs when the robust mutex reports EOWNERDEAD: a process died
// holding it, so any derived structure may be half-changed. It recomputes all of
// them from the canonical fields (entry states, chains, pins), each of which is
// changed by a single committed store, so the result is exact:
//   readers      = sum of the pin table over all slots;
//   bitmap/used  = the packets reachable from non-free entries with valid chains
//                  (an entry whose chain is broken or overlaps another is freed);
//   index, list  = the READY entries, ordered by their sequence numbers;
//   free entries = the rest.
// LOADING entries are kept: their loader may be alive. A dead loader's entries
// and pins are released by ReclaimSlotLocked when its slot is reclaimed.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <cerrno>

#include "cache_impl.h"
#include "robust_mutex.h"
#include "fc/base/log.h"

namespace fc::shm_cache {
bool ShmCache::Impl::CollectChain(const Entry& entry, const std::vector<bool>& claimed,
                                  std::vector<uint32_t>* out) const {
  const Impl& m = *this;
  out->clear();
  const uint64_t expected = m.PacketsFor(uint64_t{entry.name_length} + entry.size);
  if (expected != entry.packet_count || expected == 0) return false;
  const bool whole = m.ForEachPacket(entry.first_packet, entry.packet_count, [&](uint32_t packet) {
    if (claimed[packet]) return false;
    out->push_back(packet);
    return true;
  });
  if (!whole) return false;
  // No duplicates within the chain itself.
  std::vector<uint32_t> sorted(*out);
  std::sort(sorted.begin(), sorted.end());
  return std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end();
}

void ShmCache::Impl::RebuildLocked() {
  Header& h = *header;
  // Stream checksums are hints, but a dead writer may have torn one: forget them all.
  std::memset(h.stream_sums, 0, sizeof(h.stream_sums));
  const uint32_t n = h.entry_capacity;
  // Readers from pins.
  for (uint32_t e = 0; e < n; ++e) {
    uint64_t sum = 0;
    for (uint32_t s = 0; s < h.slot_count; ++s) sum += PinCount(s, e);
    entries[e].readers = static_cast<uint32_t>(std::min<uint64_t>(sum, UINT32_MAX));
  }
  // Packets from valid chains.
  std::vector<bool> claimed(h.packet_count, false);
  std::vector<uint32_t> chain;
  std::vector<uint32_t> ready;
  const uint32_t words = (h.packet_count + 63) / 64;
  std::fill(bitmap, bitmap + words, 0);
  h.used_packets = 0;
  h.used_entries = 0;
  h.free_entry_head = kNil;
  for (uint32_t e = n; e-- > 0;) {
    Entry& entry = entries[e];
    uint32_t state = entry.state.load();
    if (state == kOrphan && entry.readers == 0) state = kFree;
    if (state != kFree && !CollectChain(entry, claimed, &chain)) state = kFree;
    if (state != kReady) entry.queue = kQueueNone;
    if (state == kFree) {
      entry.state.store(kFree);
      entry.hash_next = h.free_entry_head;
      h.free_entry_head = e;
      continue;
    }
    for (uint32_t p : chain) {
      claimed[p] = true;
      bitmap[p / 64] |= 1ULL << (p % 64);
    }
    h.used_packets += entry.packet_count;
    ++h.used_entries;
    if (state == kReady) ready.push_back(e);
  }
  // Index and eviction order from the READY entries, oldest first.
  std::fill(buckets, buckets + h.bucket_count, kNil);
  h.list_head = h.list_tail = h.small_head = h.small_tail = kNil;
  h.small_used = 0;
  h.hand = kNil;
  // Each queue in the order its entries joined it (queue_seq is committed with
  // every move); the SIEVE hand restarts from the oldest.
  std::sort(ready.begin(), ready.end(),
            [&](uint32_t a, uint32_t b) { return entries[a].queue_seq < entries[b].queue_seq; });
  for (uint32_t e : ready) {
    entries[e].hash_next = entries[e].list_prev = entries[e].list_next = kNil;
    const uint8_t queue = entries[e].queue == kQueueSmall && HasProbation() ? kQueueSmall : kQueueMain;
    entries[e].queue = kQueueNone;
    // Two READY copies of one name cannot be made by the code, but if found the
    // one seen later in the order (the newer) wins.
    const std::string name = EntryName(e);
    const uint32_t dup = FindLocked(name, entries[e].name_hash);
    if (dup != kNil) DropLocked(dup);
    IndexInsertLocked(e);
    const uint64_t seq = entries[e].queue_seq;
    QueueAppendLocked(e, queue);
    entries[e].queue_seq = seq;  // keep the order a second rebuild will see
  }
  h.alloc_cursor = 0;
  ++h.stats.repairs;
}

void ShmCache::Impl::RepairLocked() {
  RebuildLocked();
  const auto problems = CheckLocked(/*liveness=*/false);
  log::Line("shared cache: a process died holding the lock; rebuilt the index",
            problems.empty() ? "" : ", which still failed its check: new generation");
  if (!problems.empty()) ResetLocked();
}

void ShmCache::Impl::ResetLocked() {
  for (uint32_t e = 0; e < header->entry_capacity; ++e) {
    Entry& entry = entries[e];
    const uint32_t state = entry.state.load();
    if (state == kReady || state == kOrphan) {
      entry.state.store(entry.readers > 0 ? kOrphan : kFree);
    }
  }
  RebuildLocked();
  ++header->generation;
}

// One live entry: its pins, its chain (marked in *claimed), its state against
// the index. Returns the packets it holds.
uint64_t ShmCache::Impl::CheckEntryLocked(uint32_t e, const std::vector<bool>& alive, bool liveness,
                                          std::vector<bool>* claimed, const Reporter& report) const {
  const Entry& entry = entries[e];
  const uint32_t state = entry.state.load();
  const std::string label = "entry " + std::to_string(e) + " (" + EntryName(e) + ")";
  uint64_t pinned = 0;
  for (uint32_t s = 0; s < header->slot_count; ++s) {
    const uint32_t p = PinCount(s, e);
    if (p != 0 && !alive[s]) {
      report("entry " + std::to_string(e) + " has " + std::to_string(p) + " pins from dead worker slot " +
                 std::to_string(s));
    }
    pinned += p;
  }
  if (entry.readers != pinned) {
    report(label + ": reader count " + std::to_string(entry.readers) + " != pins " + std::to_string(pinned));
  }
  std::vector<uint32_t> chain;
  uint64_t chained = 0;
  if (!CollectChain(entry, *claimed, &chain)) {
    report(label + ": packet chain broken or shared");
  } else {
    for (uint32_t p : chain) {
      (*claimed)[p] = true;
      if (!(bitmap[p / 64] & (1ULL << (p % 64)))) report(label + ": packet marked free");
    }
    chained = chain.size();
  }
  const uint32_t owner = entry.owner_slot;
  if (liveness && state == kLoading &&
      (owner >= header->slot_count || !alive[owner] || slots[owner].epoch.load() != entry.owner_epoch)) {
    report(label + ": left loading by a dead worker");
  }
  if (state == kOrphan && entry.readers == 0) report(label + ": unpinned orphan not freed");
  const uint32_t found = FindLocked(EntryName(e), entry.name_hash);
  if (state == kReady && found != e) report(label + ": ready but not in the index");
  if (state != kReady && found == e) report(label + ": in the index but not ready");
  return chained;
}

// The eviction queues against the entry states.
void ShmCache::Impl::CheckQueuesLocked(const Reporter& report) const {
  const Header& h = *header;
  uint32_t listed = 0;
  uint64_t small_packets = 0;
  for (uint32_t head : {h.small_head, h.list_head}) {
    for (uint32_t e = head; e != kNil && listed <= h.entry_capacity; e = entries[e].list_next) {
      if (entries[e].state.load() != kReady) report("eviction queue holds a non-ready entry");
      if (head == h.small_head) small_packets += entries[e].packet_count;
      ++listed;
    }
  }
  if (small_packets != h.small_used) report("probation queue size disagrees with its entries");
  uint32_t ready = 0;
  for (uint32_t e = 0; e < h.entry_capacity; ++e) ready += entries[e].state.load() == kReady;
  if (listed != ready) report("eviction list length disagrees with ready entries");
}

std::vector<std::string> ShmCache::Impl::CheckLocked(bool liveness) const {
  std::vector<std::string> problems;
  const Reporter report = [&problems](std::string text) {
    if (problems.size() < 100) problems.push_back(std::move(text));
  };
  const Header& h = *header;
  std::vector<bool> claimed(h.packet_count, false);
  uint64_t chained = 0;
  uint32_t live_entries = 0;
  std::vector<bool> alive(h.slot_count);
  for (uint32_t s = 0; s < h.slot_count; ++s) alive[s] = !liveness || SlotAlive(s);
  for (uint32_t e = 0; e < h.entry_capacity; ++e) {
    if (entries[e].state.load() == kFree) {
      for (uint32_t s = 0; s < h.slot_count; ++s) {
        if (PinCount(s, e) != 0) {
          report("free entry " + std::to_string(e) + " has pins");
          break;
        }
      }
      continue;
    }
    ++live_entries;
    chained += CheckEntryLocked(e, alive, liveness, &claimed, report);
  }
  uint64_t marked = 0;
  for (uint32_t w = 0; w < (h.packet_count + 63) / 64; ++w) marked += __builtin_popcountll(bitmap[w]);
  if (marked != h.used_packets) {
    report("bitmap marks " + std::to_string(marked) + " packets, used count says " +
               std::to_string(h.used_packets));
  }
  if (chained != h.used_packets) {
    report("entries hold " + std::to_string(chained) + " packets, used count says " +
               std::to_string(h.used_packets) + " (free + used != total)");
  }
  if (live_entries != h.used_entries) report("used entry count disagrees with entry states");
  CheckQueuesLocked(report);
  return problems;
}

std::vector<std::string> ShmCache::Check(int timeout_ms) {
  Impl& m = *impl_;
  if (!m.segment_lock.TryLockFor(timeout_ms)) {
    return {"shared cache lock busy for " + std::to_string(timeout_ms) +
            " ms (a worker stopped while holding it?)"};
  }
  RobustLock lock(m.segment_lock, RobustLock::Adopt{});
  return m.CheckLocked(/*liveness=*/true);
}

const char* EntryStateName(EntryInfo::State state) {
  switch (state) {
    case EntryInfo::State::kFree: return "free";
    case EntryInfo::State::kLoading: return "loading";
    case EntryInfo::State::kReady: return "ready";
    case EntryInfo::State::kOrphan: return "orphan";
    case EntryInfo::State::kCorrupt: break;
  }
  return "corrupt";
}

Snapshot ShmCache::TakeSnapshot(int timeout_ms) {
  Impl& m = *impl_;
  Snapshot snap;
  if (m.segment_lock.TryLockFor(timeout_ms)) {
    RobustLock lock(m.segment_lock, RobustLock::Adopt{});
    snap.locked = true;
    m.ReadSnapshot(&snap);
  } else {
    m.ReadSnapshot(&snap);  // a possibly torn view; snap.locked says so
  }
  return snap;
}

void ShmCache::Impl::ReadSnapshot(Snapshot* out) const {
  const Impl& m = *this;
  Snapshot& snap = *out;
  const Header& h = *m.header;
  snap.segment_size = h.segment_size;
  snap.packet_size = h.packet_size;
  snap.packet_count = h.packet_count;
  snap.entry_capacity = h.entry_capacity;
  snap.capacity = uint64_t{h.packet_size} * h.packet_count;
  snap.used = uint64_t{h.packet_size} * std::min(h.used_packets, h.packet_count);
  snap.free = snap.capacity - snap.used;
  snap.generation = h.generation;
  snap.layout_version = h.layout_version;
  snap.policy = PolicyName(static_cast<Policy>(h.policy));
  snap.master_pid = h.master_pid;
  snap.hits = h.stats.hits;
  snap.misses = h.stats.misses;
  snap.loads = h.stats.loads;
  snap.evictions = h.stats.evictions;
  snap.evicted_bytes = h.stats.evicted_bytes;
  snap.admitted_bytes = h.stats.admitted_bytes;
  snap.not_admitted = h.stats.not_admitted;
  snap.stale_drops = h.stats.stale_drops;
  snap.repairs = h.stats.repairs;
  snap.reclaimed_pins = h.stats.reclaimed_pins;
  snap.lock_timeouts = h.stats.lock_timeouts;
  const int64_t now = RealtimeNowNs();
  std::vector<uint32_t> order;
  std::vector<bool> listed(h.entry_capacity, false);
  for (uint32_t head : {h.small_head, h.list_head}) {
    for (uint32_t e = head; e < h.entry_capacity && order.size() < h.entry_capacity;
         e = m.entries[e].list_next) {
      if (listed[e]) break;  // a torn unlocked view can loop
      listed[e] = true;
      order.push_back(e);
    }
  }
  for (uint32_t e = 0; e < h.entry_capacity; ++e) {
    if (!listed[e] && m.entries[e].state.load() != kFree) order.push_back(e);
  }
  for (uint32_t e : order) {
    const Entry& entry = m.entries[e];
    const uint32_t state = entry.state.load();
    EntryInfo info;
    info.name = m.EntryName(e);
    info.size = entry.size;
    info.state = state <= kOrphan ? static_cast<EntryInfo::State>(state) : EntryInfo::State::kCorrupt;
    info.readers = entry.readers;
    info.hits = entry.hits;
    info.packets = entry.packet_count;
    info.age_seconds = state == kReady ? static_cast<double>(now - entry.loaded_at_ns) / 1e9 : 0;
    if (state == kLoading && entry.owner_slot < h.slot_count) {
      info.loader_pid = m.slots[entry.owner_slot].pid.load();
    }
    snap.entries.push_back(std::move(info));
  }
  for (uint32_t s = 0; s < h.slot_count; ++s) {
    WorkerInfo w;
    w.slot = s;
    w.pid = m.slots[s].pid.load();
    w.alive = m.SlotAlive(s);
    w.serving = m.slots[s].state.load() == kSlotServing;
    w.epoch = m.slots[s].epoch.load();
    for (uint32_t e = 0; e < h.entry_capacity; ++e) w.pins += m.PinCount(s, e);
    snap.workers.push_back(w);
  }
}

}  // namespace fc::shm_cache
