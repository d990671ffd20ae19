// Worker slots: a worker registers in one (pid, epoch, state) to pin and load;
// a dead worker's slot gives back its pins and its unfinished loads. The
// master reclaims by (pid, epoch), so a reused pid never wipes a live
// worker's pins (ARCHITECTURE.md, crash recovery).
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <string>

#include "cache_impl.h"
#include "fc/base/mutex.h"
#include "robust_mutex.h"

namespace fc::shm_cache {

bool ShmCache::Impl::SlotAlive(uint32_t s) const {
  const int32_t pid = slots[s].pid.load();
  if (slots[s].state.load() == kSlotEmpty || pid <= 0) return false;
  return ::kill(pid, 0) == 0 || errno == EPERM;
}

void ShmCache::Impl::ReclaimSlotLocked(uint32_t s, int32_t dead_pid) {
  ReleaseLeftoversLocked(s, /*keep_epoch=*/0);
  // Unregister the dead worker only if it is still the one registered: a
  // replacement may have registered without the lock meanwhile (AttachWorker,
  // when the lock stayed busy), and its registration must survive. pid 0 is
  // what marks a slot dead (the state word is only ever written by the slot's
  // own worker).
  int32_t expected = dead_pid;
  slots[s].pid.compare_exchange_strong(expected, 0);
}

void ShmCache::Impl::ReleaseLeftoversLocked(uint32_t s, uint64_t keep_epoch) {
  for (uint32_t e = 0; e < header->entry_capacity; ++e) {
    Entry& entry = entries[e];
    uint32_t& pins_here = PinCount(s, e);
    if (pins_here != 0) {
      header->stats.reclaimed_pins += pins_here;
      entry.readers = entry.readers >= pins_here ? entry.readers - pins_here : 0;
      pins_here = 0;
      if (entry.state.load() == kOrphan && entry.readers == 0) FreeEntryLocked(e);
    }
    if (entry.state.load() == kLoading && entry.owner_slot == s &&
        (keep_epoch == 0 || entry.owner_epoch != keep_epoch)) {
      FreeEntryLocked(e);
    }
  }
}

Status ShmCache::AttachWorker(uint32_t slot) {
  Impl& m = *impl_;
  if (slot >= m.header->slot_count) {
    return Status::Error("worker slot " + std::to_string(slot) + " out of range");
  }
  const int32_t me = static_cast<int32_t>(::getpid());
  auto take_slot = [&m, slot, me] {
    m.epoch = m.slots[slot].epoch.fetch_add(1) + 1;
    m.slots[slot].pid.store(me);
    m.slots[slot].state.store(kSlotAttached);
    m.slot = slot;
  };
  if (m.segment_lock.TryLockFor(m.lock_wait_ms)) {
    RobustLock lock(m.segment_lock, RobustLock::Adopt{});
    const int32_t previous = m.slots[slot].pid.load();
    if (previous != 0) m.ReclaimSlotLocked(slot, previous);  // whoever was there (even this pid, reused) is gone
    take_slot();
    return Status::Ok();
  }
  // A holder is stopped: attach anyway (the slot's fields are atomics) and
  // release the previous occupant's leftovers the first time this process
  // holds the lock, which is before any pin or reservation of its own.
  take_slot();
  m.CountLockTimeout();
  MutexLock guard(&m.deferred_mu);
  m.leftovers_pending = true;
  m.has_deferred.store(true, std::memory_order_release);
  return Status::Ok();
}

void ShmCache::MarkServing() {
  Impl& m = *impl_;
  if (m.slot != kNil) m.slots[m.slot].state.store(kSlotServing);
}

std::vector<WorkerInfo> ShmCache::PeekWorkers() const {
  const Impl& m = *impl_;
  std::vector<WorkerInfo> out;
  for (uint32_t s = 0; s < m.header->slot_count; ++s) {
    WorkerInfo w;
    w.slot = s;
    w.pid = m.slots[s].pid.load();
    w.serving = m.slots[s].state.load() == kSlotServing;
    w.alive = w.pid > 0 && m.slots[s].state.load() != kSlotEmpty;
    w.epoch = m.slots[s].epoch.load();
    out.push_back(w);
  }
  return out;
}

Status ShmCache::ReclaimWorker(uint32_t slot, int32_t pid, uint64_t epoch, int timeout_ms) {
  Impl& m = *impl_;
  if (slot >= m.header->slot_count) return Status::Error("worker slot out of range");
  if (!m.segment_lock.TryLockFor(timeout_ms)) {
    return Status::Busy("shared cache lock busy for " + std::to_string(timeout_ms) +
                         " ms; will retry reclaiming worker slot " + std::to_string(slot));
  }
  RobustLock lock(m.segment_lock, RobustLock::Adopt{});
  if (m.slots[slot].pid.load() == pid && m.slots[slot].epoch.load() == epoch) m.ReclaimSlotLocked(slot, pid);
  return Status::Ok();
}

}  // namespace fc::shm_cache
