// Internal header: the structures that live inside the shared segment.
//
// Everything here is position-independent: indices instead of pointers, fixed
// arrays sized once when the segment is created, so nothing is allocated from
// the segment after creation. Fields are split in two kinds:
//   canonical - the truth; each change is committed by one aligned store
//               (Entry::state, a pin counter, a packet link of a LOADING entry);
//   derived   - indexes and counters that RebuildLocked() recomputes from the
//               canonical fields after a process died holding the lock.
// See ARCHITECTURE.md, "Crash recovery".
#pragma once

#include <pthread.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>

#include "fc/shm_cache/counters.h"

namespace fc::shm_cache {

constexpr uint64_t kMagic = 0x6663'6361'6368'6531ULL;  // "fccache1"
// 4: per-worker counters; 5: stream checksums; 6: streamed bytes, ctime in identities
constexpr uint32_t kLayoutVersion = 7;
constexpr uint32_t kGhostSlots = 4096;  // capacity of the ghost ring (recently refused / evicted)
constexpr uint32_t kNil = UINT32_MAX;
constexpr uint32_t kMaxStoredName = 4096;  // longest name an entry stores (the wire limit)

enum EntryState : uint32_t {
  kFree = 0,
  kLoading = 1,  // reserved by a loader; invisible to readers
  kReady = 2,    // published, in the index
  kOrphan = 3,   // dropped from the index while pinned; freed by the last unpin
};

struct Entry {
  // Canonical.
  std::atomic<uint32_t> state;  // the commit point of every transition
  uint32_t owner_slot;          // kLoading: the worker slot loading it
  uint64_t owner_epoch;         // kLoading: that slot's epoch
  uint64_t name_hash;
  uint32_t name_length;
  uint32_t first_packet;  // chain head; the name bytes come first, then the file
  uint32_t packet_count;
  uint32_t readers;  // derived: sum of pins over all worker slots
  uint8_t queue;     // kQueueNone / kQueueSmall / kQueueMain (which eviction queue)
  uint8_t freq;      // hits since last considered by the policy (capped; a hint)
  uint16_t reserved;
  uint64_t size;
  int64_t mtime_ns;
  uint64_t ino;
  uint64_t dev;
  int64_t ctime_ns;
  uint64_t checksum;
  uint64_t hits;
  uint64_t queue_seq;     // when it entered (or was moved to the tail of) its queue
  int64_t loaded_at_ns;   // CLOCK_REALTIME, for "age"
  // Derived.
  uint32_t hash_next;
  uint32_t list_prev;
  uint32_t list_next;
};

enum QueueId : uint8_t { kQueueNone = 0, kQueueSmall = 1, kQueueMain = 2 };

enum SlotState : uint32_t { kSlotEmpty = 0, kSlotAttached = 1, kSlotServing = 2 };

struct WorkerSlot {
  std::atomic<int32_t> pid;
  std::atomic<uint32_t> state;
  std::atomic<uint64_t> epoch;  // bumped on every attach, against pid reuse
};

// The checksum of a file streamed from disk (too large for the cache, or not
// admitted yet), by the file's identity, so that one worker's hashing serves
// them all. A hint: the identity is compared in full; a lost slot costs a re-hash.
constexpr uint32_t kStreamSums = 1024;  // direct-mapped by identity hash
struct StreamSum {
  uint64_t size;
  int64_t mtime_ns;
  uint64_t ino;
  uint64_t dev;
  int64_t ctime_ns;
  uint64_t checksum;  // an empty slot is all zeros, which no file's identity is (inode 0)
};

struct Stats {
  uint64_t hits;
  uint64_t misses;
  uint64_t loads;
  uint64_t evictions;
  uint64_t evicted_bytes;   // file bytes of evicted entries
  uint64_t admitted_bytes;  // file bytes of published entries
  uint64_t not_admitted;    // misses the admission gate sent to disk
  uint64_t stale_drops;
  uint64_t repairs;
  uint64_t reclaimed_pins;
  uint64_t lock_timeouts;  // serving-path waits for the lock that gave up (then streamed)
};

struct Header {
  uint64_t magic;
  uint32_t layout_version;
  uint32_t policy;
  uint64_t generation;
  uint64_t segment_size;
  uint32_t packet_size;
  uint32_t packet_count;
  uint32_t entry_capacity;
  uint32_t bucket_count;  // power of two
  uint32_t slot_count;
  int32_t master_pid;
  int64_t master_start;  // the master's start time (process_start.h): pid + start survive pid reuse
  char lock_dir[512];    // the master's load lock directory (NUL-terminated; for fc-shmdump --gc)
  // Offsets (from the segment base) of the arrays below.
  uint64_t entries_offset;     // Entry[entry_capacity]
  uint64_t buckets_offset;     // uint32_t[bucket_count]        (derived)
  uint64_t links_offset;       // uint32_t[packet_count]        packet -> next packet
  uint64_t bitmap_offset;      // uint64_t[(packet_count+63)/64] 1 = in use (derived)
  uint64_t slots_offset;       // WorkerSlot[slot_count]
  uint64_t pins_offset;        // uint32_t[slot_count * entry_capacity]
  uint64_t packets_offset;     // char[packet_count * packet_size], page aligned
  uint64_t counters_offset;    // WorkerCounters[slot_count * kCounterLanes] (counters.h)

  // The one lock. Robust and process-shared. Everything below it is guarded by it.
  pthread_mutex_t mutex;

  uint64_t seq;             // ordering clock for queue_seq
  uint32_t used_packets;    // derived
  uint32_t used_entries;    // derived
  uint32_t alloc_cursor;    // derived: next-fit position in the bitmap
  uint32_t free_entry_head; // derived: free entries, chained through hash_next
  uint32_t list_head;       // derived: main queue, oldest first
  uint32_t list_tail;       // derived
  uint32_t small_head;      // derived: probation queue (S3-FIFO, fc), oldest first
  uint32_t small_tail;      // derived
  uint32_t small_used;      // derived: packets in the probation queue
  uint32_t hand;            // derived: SIEVE hand in the main queue (kNil: from the head)
  uint32_t ghost_window;    // ghost ring slots in use (scales with the cache)
  uint32_t ghost_next;      // next ghost slot to overwrite
  uint64_t ghost[kGhostSlots];  // name hashes recently refused or evicted: a hint only
  StreamSum stream_sums[kStreamSums];  // cleared by a repair (a dead writer may have torn one)
  Stats stats;
};

}  // namespace fc::shm_cache
