// The request-path operations of the shared cache: lookup and pin, admission
// with eviction, publish, unpin (worker slots: worker_slots.cc; the streamed
// files' checksums: stream_sums.cc). Every function takes
// the segment mutex for a bounded number of steps and never blocks while
// holding it: the only system calls under it are an armed crash point's raise()
// and the log line written before an abort on an impossible state
// (clock_gettime is a vDSO read).
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <cstdio>
#include <cstdlib>

#include "cache_impl.h"
#include "fc/base/crash_point.h"
#include "robust_mutex.h"
#include "fc/base/log.h"

namespace fc::shm_cache {

// ---- index ----------------------------------------------------------------------

uint32_t ShmCache::Impl::FindLocked(std::string_view name, uint64_t hash) const {
  for (uint32_t e = buckets[hash & (header->bucket_count - 1)]; e != kNil;
       e = entries[e].hash_next) {
    const Entry& entry = entries[e];
    if (entry.name_hash != hash || entry.name_length != name.size()) continue;
    // The name sits at the start of the chain; compare piece by piece.
    size_t done = 0;
    const bool equal = ForEachPiece({entry.first_packet, 0}, name.size(), [&](const char* data, size_t n) {
      const bool same = std::memcmp(data, name.data() + done, n) == 0;
      done += n;
      return same;
    });
    if (equal) return e;
  }
  return kNil;
}

void ShmCache::Impl::IndexInsertLocked(uint32_t e) {
  uint32_t& head = buckets[entries[e].name_hash & (header->bucket_count - 1)];
  entries[e].hash_next = head;
  head = e;
}

void ShmCache::Impl::IndexRemoveLocked(uint32_t e) {
  uint32_t* link = &buckets[entries[e].name_hash & (header->bucket_count - 1)];
  while (*link != kNil && *link != e) link = &entries[*link].hash_next;
  if (*link == e) *link = entries[e].hash_next;
  entries[e].hash_next = kNil;
}

void ShmCache::Impl::Die(const char* what) {
  log::Line("shared cache: impossible state: ", what, "; aborting");
  std::abort();
}

// ---- entries --------------------------------------------------------------------
// Free entries are chained through hash_next from header->free_entry_head.

uint32_t ShmCache::Impl::AllocEntryLocked() {
  const uint32_t e = header->free_entry_head;
  if (e == kNil) return kNil;
  header->free_entry_head = entries[e].hash_next;
  entries[e].hash_next = kNil;
  ++header->used_entries;
  return e;
}

void ShmCache::Impl::FreeEntryLocked(uint32_t e) {
  Entry& entry = entries[e];
  const uint32_t first = entry.first_packet;
  const uint32_t count = entry.packet_count;
  // Commit first: from here on the entry is free whatever else happens, and a
  // rebuild would return its packets to the pool.
  entry.state.store(kFree, std::memory_order_release);
  FreeChainLocked(first, count);
  entry.readers = 0;
  for (uint32_t s = 0; s < header->slot_count; ++s) PinCount(s, e) = 0;  // no stale pin rows
  entry.hash_next = header->free_entry_head;
  header->free_entry_head = e;
  --header->used_entries;
}

void ShmCache::Impl::DropLocked(uint32_t e) {
  IndexRemoveLocked(e);
  QueueRemoveLocked(e);
  if (entries[e].readers == 0) {
    FreeEntryLocked(e);
  } else {
    entries[e].state.store(kOrphan, std::memory_order_release);
  }
}

bool ShmCache::Impl::TakeLock() {
  if (!segment_lock.TryLockFor(lock_wait_ms)) {
    CountLockTimeout();
    return false;
  }
  if (has_deferred.load(std::memory_order_acquire)) DrainDeferredLocked();
  return true;
}

void ShmCache::Impl::UnpinLocked(uint32_t e) {
  uint32_t& mine = PinCount(slot, e);
  if (mine == 0) return;  // already reclaimed
  --mine;
  Entry& entry = entries[e];
  if (entry.readers > 0) --entry.readers;
  if (entry.readers == 0 && entry.state.load() == kOrphan) FreeEntryLocked(e);
}

void ShmCache::Impl::DrainDeferredLocked() {
  std::vector<uint32_t> unpins;
  std::vector<DeferredAbort> aborts;
  bool leftovers = false;
  {
    MutexLock guard(&deferred_mu);
    unpins.swap(deferred_unpins);
    aborts.swap(deferred_aborts);
    std::swap(leftovers, leftovers_pending);
    has_deferred.store(false, std::memory_order_release);
  }
  if (leftovers) ReleaseLeftoversLocked(slot, epoch);
  for (uint32_t e : unpins) UnpinLocked(e);
  for (const DeferredAbort& a : aborts) {
    const Entry& entry = entries[a.entry];
    if (entry.state.load() == kLoading && entry.owner_slot == slot && entry.owner_epoch == a.epoch &&
        header->generation == a.generation) {
      FreeEntryLocked(a.entry);
    }
  }
}

// ---- public operations ----------------------------------------------------------

void ShmCache::SetLockWait(int ms) { impl_->lock_wait_ms = ms; }

void ShmCache::SetNameSalt(uint64_t salt) { impl_->name_salt = salt; }

uint64_t ShmCache::Impl::KeyHash(std::string_view name) const { return NameHash(name) ^ name_salt; }

bool ShmCache::Impl::LookupLocked(ShmCache& cache, std::string_view name, uint64_t hash,
                                  const FileIdentity& identity, PinnedEntry* pin, bool count_miss,
                                  bool match_size) {
  const uint32_t e = FindLocked(name, hash);
  if (e != kNil) {
    Entry& entry = entries[e];
    // A copy's size is its own, not its source's (cache.h, LookupCopy).
    const FileIdentity cached{match_size ? entry.size : identity.size, entry.mtime_ns, entry.ino, entry.dev,
                              entry.ctime_ns};
    if (cached == identity) {
      ++PinCount(slot, e);
      crash::At(crash::Point::kAfterPin);  // pinned; the reader count not raised yet
      ++entry.readers;
      ++entry.hits;
      ++header->stats.hits;
      TouchLocked(e);
      cache.FillPin(e, pin);
      return true;
    }
    DropLocked(e);  // stale: the file changed on disk
    ++header->stats.stale_drops;
  }
  if (count_miss) ++header->stats.misses;
  return false;
}

void ShmCache::FillPin(uint32_t e, PinnedEntry* pin) {
  const Entry& entry = impl_->entries[e];
  pin->cache_ = this;
  pin->entry_ = e;
  pin->first_packet_ = entry.first_packet;
  pin->name_length_ = entry.name_length;
  pin->size_ = entry.size;
  pin->checksum_ = entry.checksum;
}

Result<PinnedEntry> ShmCache::Lookup(std::string_view name, const FileIdentity& identity) {
  return LookupMatching(name, identity, /*count_miss=*/true, /*match_size=*/true);
}

Result<PinnedEntry> ShmCache::LookupCopy(std::string_view name, const FileIdentity& source, bool count_miss) {
  return LookupMatching(name, source, count_miss, /*match_size=*/false);
}

namespace {
Status LockBusy() { return Status::Busy("the shared cache lock stayed busy"); }
}  // namespace

Result<PinnedEntry> ShmCache::LookupMatching(std::string_view name, const FileIdentity& identity, bool count_miss,
                                             bool match_size) {
  Impl& m = *impl_;
  m.RequireSlot();
  if (!m.TakeLock()) return LockBusy();
  RobustLock lock(m.segment_lock, RobustLock::Adopt{});
  PinnedEntry pin;
  m.LookupLocked(*this, name, m.KeyHash(name), identity, &pin, count_miss, match_size);
  return pin;
}

Admission ShmCache::AdmitCopy(std::string_view name, const FileIdentity& source, uint64_t stored_size) {
  FileIdentity stored = source;
  stored.size = stored_size;
  return AdmitMatching(name, stored, /*match_size=*/false);
}

Admission::Kind ShmCache::RouteMiss(std::string_view name, const FileIdentity& identity) {
  Impl& m = *impl_;
  m.RequireSlot();
  const uint64_t needed_bytes = name.size() + identity.size;
  if (needed_bytes > data_capacity()) return Admission::Kind::kTooLarge;
  if (!m.TakeLock()) return Admission::Kind::kBusy;
  RobustLock lock(m.segment_lock, RobustLock::Adopt{});
  return m.AdmitLocked(m.KeyHash(name), needed_bytes) ? Admission::Kind::kReserved : Admission::Kind::kNotAdmitted;
}

Admission ShmCache::Admit(std::string_view name, const FileIdentity& identity) {
  return AdmitMatching(name, identity, /*match_size=*/true);
}

Admission ShmCache::AdmitMatching(std::string_view name, const FileIdentity& identity, bool match_size) {
  Impl& m = *impl_;
  m.RequireSlot();
  Admission result;
  const uint64_t needed_bytes = name.size() + identity.size;
  const uint64_t hash = m.KeyHash(name);
  if (!m.TakeLock()) {
    result.kind = Admission::Kind::kBusy;
    return result;
  }
  RobustLock lock(m.segment_lock, RobustLock::Adopt{});
  // The caller's Lookup already counted the miss; a hit here (loaded by another
  // process meanwhile) still counts as a hit.
  if (m.LookupLocked(*this, name, hash, identity, &result.pin, /*count_miss=*/false, match_size)) {
    result.kind = Admission::Kind::kHit;
    return result;
  }
  if (needed_bytes > data_capacity()) {
    result.kind = Admission::Kind::kTooLarge;
    return result;
  }
  const uint32_t needed = m.PacketsFor(needed_bytes);
  // A copy skips the gate: making it cost a compression, which a copy that
  // was turned away would waste (the caller decides which copies to make).
  if (match_size && !m.AdmitLocked(hash, needed_bytes)) {
    result.kind = Admission::Kind::kNotAdmitted;  // the policy's gate: first request streams
    return result;
  }
  if (!m.MakeRoomLocked(needed)) {
    result.kind = Admission::Kind::kNoRoom;  // what is in the way is pinned
    return result;
  }
  const uint32_t e = m.AllocEntryLocked();
  uint32_t first = kNil;
  if (e == kNil || !m.AllocChainLocked(needed, &first)) {
    // MakeRoomLocked promised both: the segment's accounting is broken. Stop
    // here, loudly; the next locker's repair rebuilds it from the entries.
    m.Die("an allocation the feasibility pass promised failed");
  }
  Entry& entry = m.entries[e];
  entry.owner_slot = m.slot;
  entry.owner_epoch = m.epoch;
  entry.name_hash = hash;
  entry.name_length = static_cast<uint32_t>(name.size());
  entry.first_packet = first;
  entry.packet_count = needed;
  entry.readers = 0;
  entry.size = identity.size;
  entry.mtime_ns = identity.mtime_ns;
  entry.ino = identity.ino;
  entry.dev = identity.dev;
  entry.ctime_ns = identity.ctime_ns;
  entry.checksum = 0;
  entry.hits = 0;
  entry.hash_next = entry.list_prev = entry.list_next = kNil;
  entry.queue = kQueueNone;
  entry.freq = 0;
  m.WriteChain(first, 0, name.data(), name.size());
  crash::At(crash::Point::kMidInsert);  // entry and packets taken, nothing committed
  entry.state.store(kLoading, std::memory_order_release);  // commit
  ++m.header->stats.loads;
  result.kind = Admission::Kind::kReserved;
  result.reservation.cache_ = this;
  result.reservation.entry_ = e;
  result.reservation.epoch_ = m.epoch;
  result.reservation.generation_ = m.header->generation;
  result.reservation.first_packet_ = first;
  result.reservation.name_length_ = entry.name_length;
  result.reservation.size_ = identity.size;
  return result;
}

PinnedEntry ShmCache::Publish(Reservation reservation, uint64_t checksum) {
  Impl& m = *impl_;
  PinnedEntry pin;
  const uint32_t e = reservation.entry_;
  reservation.cache_ = nullptr;  // ownership moves into the index
  if (!m.TakeLock()) {
    // Still LOADING: freed the next time this process holds the lock.
    MutexLock guard(&m.deferred_mu);
    m.deferred_aborts.push_back({e, reservation.epoch_, reservation.generation_});
    m.has_deferred.store(true, std::memory_order_release);
    return pin;
  }
  RobustLock lock(m.segment_lock, RobustLock::Adopt{});
  Entry& entry = m.entries[e];
  if (!ReservationLiveLocked(reservation)) return pin;  // reclaimed meanwhile
  // Loads are serialised by lock files, but a copy may still have been published
  // meanwhile (e.g. by a caller that skipped them); the newest copy wins.
  std::string name_copy = m.EntryName(e);
  const uint32_t older = m.FindLocked(name_copy, entry.name_hash);
  if (older != kNil) m.DropLocked(older);
  entry.checksum = checksum;
  m.header->stats.admitted_bytes += entry.size;
  entry.loaded_at_ns = RealtimeNowNs();
  ++m.PinCount(m.slot, e);
  ++entry.readers;
  crash::At(crash::Point::kBeforePublish);
  entry.state.store(kReady, std::memory_order_release);  // commit: visible from here
  m.IndexInsertLocked(e);
  m.InsertLocked(e);
  FillPin(e, &pin);
  return pin;
}

bool ShmCache::ReservationLiveLocked(const Reservation& r) const {
  const Impl& m = *impl_;
  const Entry& entry = m.entries[r.entry_];
  return entry.state.load() == kLoading && entry.owner_slot == m.slot &&
         entry.owner_epoch == r.epoch_ && m.header->generation == r.generation_;
}

void ShmCache::AbortReservation(const Reservation& r) {
  Impl& m = *impl_;
  if (!m.TakeLock()) {
    MutexLock guard(&m.deferred_mu);
    m.deferred_aborts.push_back({r.entry_, r.epoch_, r.generation_});
    m.has_deferred.store(true, std::memory_order_release);
    return;
  }
  RobustLock lock(m.segment_lock, RobustLock::Adopt{});
  if (ReservationLiveLocked(r)) m.FreeEntryLocked(r.entry_);
}

void ShmCache::Unpin(uint32_t e) {
  Impl& m = *impl_;
  if (!m.TakeLock()) {
    // The entry stays pinned (so never evicted) a little longer; no harm.
    MutexLock guard(&m.deferred_mu);
    m.deferred_unpins.push_back(e);
    m.has_deferred.store(true, std::memory_order_release);
    return;
  }
  RobustLock lock(m.segment_lock, RobustLock::Adopt{});
  crash::At(crash::Point::kBeforeUnpin);
  m.UnpinLocked(e);
}

void ShmCache::Invalidate(std::string_view name) {
  Impl& m = *impl_;
  const uint64_t hash = m.KeyHash(name);
  // Best effort: a copy left behind is stale by identity (an upload renames a
  // new inode into place) and is dropped by the next lookup.
  if (!m.TakeLock()) return;
  RobustLock lock(m.segment_lock, RobustLock::Adopt{});
  const uint32_t e = m.FindLocked(name, hash);
  if (e != kNil) {
    m.DropLocked(e);
    ++m.header->stats.stale_drops;
  }
}

Result<CacheListing> ShmCache::List() {
  Impl& m = *impl_;
  if (!m.TakeLock()) return LockBusy();
  RobustLock lock(m.segment_lock, RobustLock::Adopt{});
  CacheListing listing;
  listing.files.reserve(m.header->used_entries);
  for (uint32_t head : {m.header->small_head, m.header->list_head}) {
    for (uint32_t e = head; e != kNil; e = m.entries[e].list_next) {
      const Entry& entry = m.entries[e];
      listing.files.push_back({m.EntryName(e), entry.size, entry.readers, entry.hits, entry.loaded_at_ns});
    }
  }
  listing.totals = PeekTotals();  // under the lock: no racing writer
  return listing;
}

// ---- handles --------------------------------------------------------------------

PinnedEntry& PinnedEntry::operator=(PinnedEntry&& o) noexcept {
  if (this != &o) {
    Release();
    cache_ = o.cache_;
    entry_ = o.entry_;
    first_packet_ = o.first_packet_;
    name_length_ = o.name_length_;
    size_ = o.size_;
    checksum_ = o.checksum_;
    o.cache_ = nullptr;
  }
  return *this;
}

void PinnedEntry::Release() {
  if (cache_ != nullptr) {
    cache_->Unpin(entry_);
    cache_ = nullptr;
  }
}

Reservation& Reservation::operator=(Reservation&& o) noexcept {
  if (this != &o) {
    Abort();
    cache_ = o.cache_;
    entry_ = o.entry_;
    epoch_ = o.epoch_;
    generation_ = o.generation_;
    first_packet_ = o.first_packet_;
    name_length_ = o.name_length_;
    size_ = o.size_;
    o.cache_ = nullptr;
  }
  return *this;
}

void Reservation::Abort() {
  if (cache_ != nullptr) {
    cache_->AbortReservation(*this);
    cache_ = nullptr;
  }
}

}  // namespace fc::shm_cache
