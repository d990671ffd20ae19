// Internal header: ShmCache::Impl, the process-local view of the segment, and the
// helpers that operate on it. A name ending in Locked() requires the segment mutex.
#pragma once

#include <boost/interprocess/indexes/iset_index.hpp>
#include <boost/interprocess/managed_shared_memory.hpp>
#include <boost/interprocess/mem_algo/rbtree_best_fit.hpp>
#include <boost/interprocess/sync/mutex_family.hpp>

#include <sys/uio.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fc/base/clock.h"
#include "fc/base/mutex.h"
#include "fc/shm_cache/cache.h"
#include "layout.h"
#include "robust_mutex.h"

namespace fc::shm_cache {

// The segment's own allocator runs under null_mutex_family: it has no hidden
// lock a crash could leave held. It is only used while the segment is created.
using Segment = boost::interprocess::basic_managed_shared_memory<
    char, boost::interprocess::rbtree_best_fit<boost::interprocess::null_mutex_family>,
    boost::interprocess::iset_index>;

constexpr const char* kHeaderObjectName = "fc.header";

struct ShmCache::Impl {
  std::unique_ptr<Segment> segment;
  Header* header = nullptr;
  Entry* entries = nullptr;
  uint32_t* buckets = nullptr;
  uint32_t* links = nullptr;
  uint64_t* bitmap = nullptr;
  WorkerSlot* slots = nullptr;
  uint32_t* pins = nullptr;
  WorkerCounters* counters = nullptr;
  char* packets = nullptr;

  uint32_t slot = kNil;  // this process's worker slot, once attached
  uint64_t epoch = 0;    // that slot's epoch when this process attached

  // The serving-path bound on the shared lock (SetLockWait); -1: forever.
  int lock_wait_ms = -1;
  uint64_t name_salt = 0;  // SetNameSalt
  // The index key of `name` for this handle: its hash, salted.
  uint64_t KeyHash(std::string_view name) const;
  // What could not take the lock in time, done the next time this process
  // holds it: a stopped holder delays these, never the requests.
  struct DeferredAbort {
    uint32_t entry;
    uint64_t epoch;
    uint64_t generation;
  };
  Mutex deferred_mu;
  std::vector<uint32_t> deferred_unpins FC_GUARDED_BY(deferred_mu);
  std::vector<DeferredAbort> deferred_aborts FC_GUARDED_BY(deferred_mu);
  bool leftovers_pending FC_GUARDED_BY(deferred_mu) = false;  // attached without the lock
  std::atomic<bool> has_deferred{false};
  // Counted without the lock (it was not to be had): an atomic add on the
  // shared counter, which readers under the lock see as a plain value.
  void CountLockTimeout() { __atomic_fetch_add(&header->stats.lock_timeouts, 1, __ATOMIC_RELAXED); }
  // REQUIRES: the mutex.
  void UnpinLocked(uint32_t e) FC_REQUIRES(segment_lock);
  // Pins a fresh cached copy of `name` into *pin (through cache.FillPin),
  // dropping a stale one. False on a miss.
  bool LookupLocked(ShmCache& cache, std::string_view name, uint64_t hash, const FileIdentity& identity,
                    PinnedEntry* pin, bool count_miss, bool match_size) FC_REQUIRES(segment_lock);
  void DrainDeferredLocked() FC_REQUIRES(segment_lock);
  // Takes the mutex within lock_wait_ms and does deferred work; false
  // (counted) when it stayed busy. The caller adopts it into a RobustLock:
  //   if (!m.TakeLock()) return busy;
  //   RobustLock lock(m.segment_lock, RobustLock::Adopt{});
  bool TakeLock() FC_TRY_ACQUIRE(true, segment_lock);

  // An impossible state: say what, and abort (never corrupt silently). A
  // holder of the mutex that dies is repaired by the next locker.
  [[noreturn]] static void Die(const char* what);
  // REQUIRES: AttachWorker() was called (a worker slot to record pins in).
  void RequireSlot() const {
    if (slot == kNil) Die("a cache operation that pins ran before AttachWorker()");
  }

  // The segment mutex (header->mutex), the capability every ...Locked()
  // function requires. Bound to the header by Bind, with RepairLocked as
  // what runs first when a holder died.
  RobustMutex segment_lock;

  // Wires the pointers above from the header's offsets, and the mutex.
  void Bind(Header* h);

  char* Packet(uint32_t index) const {
    return packets + static_cast<uint64_t>(index) * header->packet_size;
  }
  uint32_t& PinCount(uint32_t slot_index, uint32_t entry) const {
    return pins[static_cast<uint64_t>(slot_index) * header->entry_capacity + entry];
  }
  uint32_t PacketsFor(uint64_t bytes) const {
    return static_cast<uint32_t>((bytes + header->packet_size - 1) / header->packet_size);
  }

  // chain.cc: the packet pool and chain walking.
  bool AllocChainLocked(uint32_t count, uint32_t* first) FC_REQUIRES(segment_lock);
  void FreeChainLocked(uint32_t first, uint32_t count) FC_REQUIRES(segment_lock);
  // The one chain walk: a position in a chain is a packet and an offset in
  // it. Seek moves `bytes` forward (whole packets by their links); ForEachPiece
  // visits [at, at + length) one packet's piece at a time; Iovecs describes
  // it as iovecs, merging packets that lie next to each other. All are
  // bounds-checked (a link out of range, or more hops than packets, ends the
  // walk with false / fewer bytes), so they are safe on a torn, unlocked view.
  struct ChainAt {
    uint32_t packet;
    uint64_t offset;  // < packet_size after Seek
  };
  bool Seek(ChainAt* at, uint64_t bytes) const;
  template <typename Piece>  // bool piece(char* data, size_t n): false stops
  bool ForEachPiece(ChainAt at, uint64_t length, Piece piece) const {
    for (uint32_t hops = 0; length > 0; ++hops) {
      if (at.packet >= header->packet_count || hops > header->packet_count) return false;
      const uint64_t n = std::min<uint64_t>(length, header->packet_size - at.offset);
      if (!piece(Packet(at.packet) + at.offset, static_cast<size_t>(n))) return false;
      length -= n;
      at = {links[at.packet], 0};
    }
    return true;
  }
  int Iovecs(ChainAt at, uint64_t length, iovec* iov, int max_iov) const;
  // Visits the first `count` packets of a chain (bool visit(uint32_t packet):
  // false stops); false if a link leaves the pool first.
  template <typename Visit>
  bool ForEachPacket(uint32_t first, uint32_t count, Visit visit) const {
    uint32_t packet = first;
    for (uint32_t i = 0; i < count; ++i) {
      if (packet >= header->packet_count || !visit(packet)) return false;
      packet = links[packet];
    }
    return true;
  }
  // Copies `length` bytes from byte `offset` of a chain. False if the chain is broken.
  bool ReadChain(uint32_t first, uint64_t offset, uint64_t length, char* out) const;
  bool WriteChain(uint32_t first, uint64_t offset, const char* data, uint64_t length);
  std::string EntryName(uint32_t entry) const;

  // cache.cc: index, eviction order, pins.
  uint32_t FindLocked(std::string_view name, uint64_t hash) const FC_REQUIRES(segment_lock);
  void IndexInsertLocked(uint32_t entry) FC_REQUIRES(segment_lock);
  void IndexRemoveLocked(uint32_t entry) FC_REQUIRES(segment_lock);
  // policy.cc: queues and the eviction policies.
  bool HasProbation() const;
  uint8_t FreqCap() const;
  uint32_t SmallCapacity() const;
  void QueueAppendLocked(uint32_t entry, uint8_t queue) FC_REQUIRES(segment_lock);
  void QueueRemoveLocked(uint32_t entry) FC_REQUIRES(segment_lock);
  bool GhostContains(uint64_t hash) const;
  void GhostAddLocked(uint64_t hash) FC_REQUIRES(segment_lock);
  void TouchLocked(uint32_t entry) FC_REQUIRES(segment_lock);
  bool AdmitLocked(uint64_t hash, uint64_t bytes) FC_REQUIRES(segment_lock);  // false: stream this one, do not cache
  void InsertLocked(uint32_t entry) FC_REQUIRES(segment_lock);                // a published entry joins its queue
  void EvictLocked(uint32_t entry) FC_REQUIRES(segment_lock);
  bool RoomFor(uint32_t packets_needed) const;
  bool EvictOneLocked() FC_REQUIRES(segment_lock);
  bool EvictFromSmallLocked() FC_REQUIRES(segment_lock);
  uint32_t AllocEntryLocked() FC_REQUIRES(segment_lock);
  void FreeEntryLocked(uint32_t entry) FC_REQUIRES(segment_lock);
  void DropLocked(uint32_t entry) FC_REQUIRES(segment_lock);  // out of index and list; freed now or at last unpin
  bool MakeRoomLocked(uint32_t packets_needed) FC_REQUIRES(segment_lock);
  void ReclaimSlotLocked(uint32_t slot_index, int32_t dead_pid) FC_REQUIRES(segment_lock);
  // REQUIRES: the mutex. Releases slot `s`'s pins and its LOADING entries of
  // any epoch but `keep_epoch` (0: all), leaving the slot registered.
  void ReleaseLeftoversLocked(uint32_t s, uint64_t keep_epoch) FC_REQUIRES(segment_lock);
  bool SlotAlive(uint32_t slot_index) const;

  // repair.cc
  // Walks an entry's chain into `out`; false if it leaves the pool, loops, has
  // the wrong length, or touches a packet already claimed in `claimed`.
  bool CollectChain(const Entry& entry, const std::vector<bool>& claimed,
                    std::vector<uint32_t>* out) const;
  // After EOWNERDEAD: rebuild; if the result still fails the structural check,
  // start a fresh generation (ResetLocked).
  void RepairLocked() FC_REQUIRES(segment_lock);
  void RebuildLocked() FC_REQUIRES(segment_lock);
  // Drops every entry nobody reads (pinned ones become orphans, freed by their
  // last unpin) and bumps the generation: nothing is served from a structure
  // that may be corrupt, while transfers in flight finish from their pins.
  void ResetLocked() FC_REQUIRES(segment_lock);
  // Structural invariants; with `liveness` also that no dead worker holds pins
  // or LOADING entries (false right after a crash, until the slot is reclaimed).
  std::vector<std::string> CheckLocked(bool liveness) const FC_REQUIRES(segment_lock);
  // CheckLocked's parts: one entry (returns the packets it holds; marks them
  // in *claimed), and the eviction queues. Each problem goes to `report`.
  using Reporter = std::function<void(std::string)>;
  uint64_t CheckEntryLocked(uint32_t e, const std::vector<bool>& alive, bool liveness, std::vector<bool>* claimed,
                            const Reporter& report) const FC_REQUIRES(segment_lock);
  void CheckQueuesLocked(const Reporter& report) const FC_REQUIRES(segment_lock);
  // The snapshot's fields (TakeSnapshot): under the lock, or without it as a
  // hint where the lock stayed busy (every walk is bounded).
  void ReadSnapshot(Snapshot* snap) const;
};

uint64_t NameHash(std::string_view name);

}  // namespace fc::shm_cache
