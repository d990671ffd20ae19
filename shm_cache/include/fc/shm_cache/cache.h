// ShmCache: fc's file cache in ONE Boost.Interprocess managed shared-memory
// segment, shared by every worker process.
//
// The segment holds the name -> entry index, the file bytes as fixed-size
// packets from a pool, the eviction order and a pin table (per worker slot,
// per entry) from which every entry's reader count is derived. One robust,
// process-shared mutex guards all of it; a process killed while holding it
// leaves the next locker to rebuild the derived state (ARCHITECTURE.md).
//
// Who calls it: fc-master creates and removes the segment and reclaims the
// slot of a worker it reaped; workers attach to a slot and serve from it;
// fc-shmdump and the tests read snapshots. An object is safe to use from many
// threads of one process at once. Boost exceptions never leave this API.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fc/base/status.h"
#include "fc/shm_cache/counters.h"

namespace fc::shm_cache {

// Eviction policies (policy.cc explains each). kFc is fc's default.
enum class Policy : uint32_t { kLru = 0, kFifo = 1, kSieve = 2, kS3Fifo = 3, kFc = 4 };
const char* PolicyName(Policy policy);
Result<Policy> ParsePolicy(const std::string& text);

constexpr uint32_t kDefaultPacketSize = 1024;
constexpr uint64_t kDefaultSegmentSize = 64ull << 20;
constexpr uint32_t kMaxWorkerSlots = 256;

struct CacheOptions {
  std::string shm_name;
  uint64_t segment_size = kDefaultSegmentSize;  // the whole segment, metadata included
  uint32_t packet_size = kDefaultPacketSize;
  uint32_t worker_slots = 4;
  Policy policy = Policy::kFc;
  uint32_t mode = 0600;  // the segment holds every cached file's bytes: owner only
  std::string lock_dir;  // recorded in the header, so fc-shmdump --gc can clean it up
};

// One ready entry, as List() reports it (the storage layer's own type; the fc
// protocol's LIST reply is built from it at the edge, in the worker).
struct CachedFile {
  std::string name;
  uint64_t size = 0;
  uint32_t readers = 0;  // transfers reading it right now
  uint64_t hits = 0;
  int64_t loaded_at_ns = 0;  // CLOCK_REALTIME, when it was loaded
};

struct SegmentCreator {
  int32_t pid = 0;
  int64_t start = -1;    // ProcessStartTime(pid) when it created the segment
  std::string lock_dir;  // the master's load lock directory
};

// What makes a cached copy fresh: it is served only while all of these match.
struct FileIdentity {
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  uint64_t ino = 0;
  uint64_t dev = 0;
  // The inode's change time: every write and every utimes() moves it and no
  // caller can set it, so a file rewritten in place with its old size and
  // its old mtime restored (touch -d) still has another identity.
  int64_t ctime_ns = 0;
  bool operator==(const FileIdentity& o) const {
    return size == o.size && mtime_ns == o.mtime_ns && ino == o.ino && dev == o.dev && ctime_ns == o.ctime_ns;
  }
};

class ShmCache;

// A reader's pin on a ready entry: while it lives the entry is never evicted and
// its packets never change, so they can be read without the lock. Move-only;
// unpins (taking the lock briefly) when destroyed.
class PinnedEntry {
 public:
  PinnedEntry() = default;
  ~PinnedEntry() { Release(); }
  PinnedEntry(PinnedEntry&& o) noexcept { *this = std::move(o); }
  PinnedEntry& operator=(PinnedEntry&& o) noexcept;
  PinnedEntry(const PinnedEntry&) = delete;
  PinnedEntry& operator=(const PinnedEntry&) = delete;

  bool valid() const { return cache_ != nullptr; }
  uint64_t size() const { return size_; }
  uint64_t checksum() const { return checksum_; }
  void Release();

 private:
  friend class ShmCache;
  friend class PacketReader;
  ShmCache* cache_ = nullptr;
  uint32_t entry_ = 0;
  uint32_t first_packet_ = 0;
  uint32_t name_length_ = 0;
  uint64_t size_ = 0;
  uint64_t checksum_ = 0;
};

// Streams a pinned entry's bytes as iovecs pointing into the segment (no copy).
// Not thread-safe; one per transfer. The PinnedEntry must outlive it.
class PacketReader {
 public:
  // Positions at byte `offset` of the file. REQUIRES: offset <= pin.size().
  PacketReader(const ShmCache& cache, const PinnedEntry& pin, uint64_t offset);
  uint64_t remaining() const { return remaining_; }
  // Fills up to `max_iov` iovecs covering at most `max_bytes`, merging packets
  // that lie next to each other. Returns how many were filled.
  int Fill(iovec* iov, int max_iov, size_t max_bytes) const;
  // Moves forward by `bytes` (what the socket took). REQUIRES: bytes <= remaining().
  void Advance(uint64_t bytes);

 private:
  const ShmCache* cache_;
  uint32_t packet_;
  uint32_t offset_in_packet_;
  uint64_t remaining_;
};

// A LOADING entry owned by this process: its packets are writable without the
// lock, and nobody else can see it. Publish() or drop it (destruction aborts).
class Reservation {
 public:
  Reservation() = default;
  ~Reservation() { Abort(); }
  Reservation(Reservation&& o) noexcept { *this = std::move(o); }
  Reservation& operator=(Reservation&& o) noexcept;
  Reservation(const Reservation&) = delete;
  Reservation& operator=(const Reservation&) = delete;

  bool valid() const { return cache_ != nullptr; }
  // The writable spans for file bytes [offset, offset+length), at most max_iov of them.
  int Spans(uint64_t offset, uint64_t length, iovec* iov, int max_iov) const;
  void Abort();

 private:
  friend class ShmCache;
  ShmCache* cache_ = nullptr;
  uint32_t entry_ = 0;
  // Which reservation this is: Publish and Abort act only if the entry is still
  // LOADING for this slot's epoch in this generation (a reclaim may have freed
  // it, and the slot may hold a newer worker).
  uint64_t epoch_ = 0;
  uint64_t generation_ = 0;
  uint32_t first_packet_ = 0;
  uint32_t name_length_ = 0;
  uint64_t size_ = 0;
};

// The outcome of Admit(): the cache either already has the file (a pin), has
// reserved room for it (a reservation), or cannot hold it right now.
struct Admission {
  // kNotAdmitted: the policy's admission gate keeps it out for now (stream it).
  // kBusy: the shared lock stayed held past the lock wait (stream it).
  enum class Kind { kHit, kReserved, kTooLarge, kNoRoom, kNotAdmitted, kBusy };
  Kind kind = Kind::kNoRoom;
  PinnedEntry pin;          // kHit
  Reservation reservation;  // kReserved
};

struct EntryInfo {
  // The entry's state as the snapshot saw it (kCorrupt: a value no state
  // has, possible only in a torn unlocked view or a damaged segment).
  enum class State : uint8_t { kFree, kLoading, kReady, kOrphan, kCorrupt };
  std::string name;
  uint64_t size = 0;
  State state = State::kFree;
  uint32_t readers = 0;
  uint64_t hits = 0;
  uint32_t packets = 0;
  double age_seconds = 0;
  int32_t loader_pid = 0;  // for kLoading
};

// "free", "loading", "ready", "orphan", "corrupt": for tools' output.
const char* EntryStateName(EntryInfo::State state);

struct WorkerInfo {
  uint32_t slot = 0;
  int32_t pid = 0;
  bool alive = false;
  bool serving = false;  // its event loops are running
  uint64_t pins = 0;
  uint64_t epoch = 0;
};

struct Snapshot {
  bool locked = false;  // false: taken without the lock (it was busy); may be torn
  uint64_t segment_size = 0;
  uint64_t capacity = 0;  // data bytes: packet_count * packet_size
  uint64_t used = 0;
  uint64_t free = 0;
  uint32_t packet_size = 0;
  uint32_t packet_count = 0;
  uint32_t entry_capacity = 0;
  uint64_t generation = 0;
  uint32_t layout_version = 0;
  std::string policy;
  int32_t master_pid = 0;
  uint64_t hits = 0, misses = 0, loads = 0, evictions = 0, stale_drops = 0, repairs = 0,
           reclaimed_pins = 0, evicted_bytes = 0, admitted_bytes = 0, not_admitted = 0,
           lock_timeouts = 0;
  std::vector<EntryInfo> entries;  // oldest first in eviction order, then the rest
  std::vector<WorkerInfo> workers;
};

// Totals read without the lock (for metrics): each value is current, but they
// are not one consistent snapshot.
struct CacheTotals {
  uint32_t layout_version = 0;
  uint64_t generation = 0;  // bumped by every repair after a crash under the lock
  uint64_t capacity = 0, used = 0, free = 0;  // data bytes
  uint32_t entries = 0;
  uint64_t pins = 0;  // readers of all entries
  uint64_t hits = 0, misses = 0, loads = 0, evictions = 0, evicted_bytes = 0, stale_drops = 0,
           repairs = 0, reclaimed_pins = 0, not_admitted = 0, lock_timeouts = 0, loaded_bytes = 0;
};

// List(): the ready entries and the totals, read under one hold of the lock.
struct CacheListing {
  std::vector<CachedFile> files;
  CacheTotals totals;
};

// The layout version this binary builds and opens (recorded in each segment's
// header; a binary upgrade keeps the cache only if they match).
uint32_t BinaryLayoutVersion();

class ShmCache {
 public:
  // Creates the segment `options.shm_name`; fails if it exists.
  static Result<std::unique_ptr<ShmCache>> Create(const CacheOptions& options);
  // Opens an existing segment read-write.
  static Result<std::unique_ptr<ShmCache>> Open(const std::string& shm_name);
  // Removes the segment's name (mappings stay valid). Missing is not an error.
  static Status Remove(const std::string& shm_name);
  // The master that created the segment (pid and start time, process_start.h).
  static Result<SegmentCreator> CreatorOf(const std::string& shm_name);
  // OK if there is no segment by that name or it belongs to this user.
  static Status CheckOwnership(const std::string& shm_name);

  ~ShmCache();
  ShmCache(const ShmCache&) = delete;
  ShmCache& operator=(const ShmCache&) = delete;

  uint32_t packet_size() const;
  uint32_t packet_count() const;
  // Bytes of file data (names included) the cache can hold at most.
  uint64_t data_capacity() const;
  // Where the packets (data_capacity() bytes) start in the segment's file.
  uint64_t packets_offset() const;
  uint32_t worker_slots() const;
  Policy policy() const;
  uint32_t layout_version() const;

  // Records this process as the segment's master (a binary upgrade's new
  // master, once it serves): CreatorOf() then names it.
  void TakeOver();

  // This worker's counters for event-loop thread `lane`. REQUIRES: AttachWorker().
  WorkerCounters& Counters(uint32_t lane);
  // Adds every slot's and lane's counters to *out (value-initialise it: zeros).
  void SumCounters(WorkerCounters* out) const;
  // Totals read without the lock (fields the lock holder writes, read
  // atomically): for another process (metrics, the tools). A worker that
  // holds the lock anyway gets them from List(), race-free for its threads.
  CacheTotals PeekTotals() const;

  // Binds this process to `slot`, first reclaiming anything a previous occupant
  // left (pins, half-loaded entries). Pins taken from now on are recorded there.
  Status AttachWorker(uint32_t slot);
  // Marks this process's slot as serving (its event loops run). Lock-free.
  void MarkServing();
  // The worker slots, read without the lock (pins are not filled in): for
  // watchers that poll often, like the chaos tool.
  std::vector<WorkerInfo> PeekWorkers() const;
  // For the master, after reaping `pid`: releases the pins and LOADING entries of
  // `slot` if that worker (pid and epoch, from PeekWorkers: a pid alone may have
  // been reused by its replacement) still occupies it. Waits at most timeout_ms
  // for the lock.
  Status ReclaimWorker(uint32_t slot, int32_t pid, uint64_t epoch, int timeout_ms);

  // Bounds every later wait of this process for the shared lock to `ms` (the
  // serving path: a holder that is stopped, not dead, must not stop the
  // service). Past it, Lookup and List return kBusy, Admit kBusy, Publish an invalid
  // pin, and unpins and aborts are deferred to the next time this process
  // holds the lock; each counts in Snapshot::lock_timeouts. -1: wait forever.
  void SetLockWait(int ms);
  // Entries are keyed by (salt, name): this handle finds only entries that
  // handles with the same salt loaded. A worker sets it from its served
  // root, so that after a reload to another root (whose names may reach the
  // old root's files through a symlink) it never serves what was loaded,
  // confined, beneath the old one. 0 (the default) for tools and tests.
  void SetNameSalt(uint64_t salt);

  // Pins `name` if cached and fresh (an invalid pin: a miss). A stale copy
  // is dropped from the index. A lock timeout is a kBusy status.
  // REQUIRES: AttachWorker() was called.
  Result<PinnedEntry> Lookup(std::string_view name, const FileIdentity& identity);
  // Lookup (not counted as a second miss), and on a miss makes room (evicting unpinned entries in policy order,
  // one bounded pass) and reserves a LOADING entry for the caller to fill.
  Admission Admit(std::string_view name, const FileIdentity& identity);
  // After a Lookup miss, before any load lock: whether the file will be
  // streamed however the load goes, because it is larger than the cache
  // (kTooLarge) or the policy's gate keeps its first request out
  // (kNotAdmitted, remembered in the gate's ghost as Admit would). kReserved
  // means "load it" (nothing is reserved yet); kBusy, the lock stayed held.
  Admission::Kind RouteMiss(std::string_view name, const FileIdentity& identity);
  // Copies: an entry derived from a file (its compressed bytes, --compress)
  // under a name of its own. It carries its source's identity but its own
  // size, so it is fresh while the source's mtime, ctime, inode and device
  // match (any write to the source moves its ctime), and is dropped as stale
  // otherwise. Each copy is an entry of its own to the policy: it and its
  // source are evicted independently. An empty copy is a valid entry (a
  // caller's marker, e.g. "compression does not pay for this file").
  // `count_miss`: false for a second look after a caller's own counted one.
  Result<PinnedEntry> LookupCopy(std::string_view name, const FileIdentity& source, bool count_miss = true);
  Admission AdmitCopy(std::string_view name, const FileIdentity& source, uint64_t stored_size);
  // Makes a filled reservation visible and returns a pin on it.
  PinnedEntry Publish(Reservation reservation, uint64_t checksum);

  // The xxHash64 of a file streamed from disk, remembered by its identity for
  // every worker (a small direct-mapped table; a hint). False when unknown or
  // the lock wait ran out.
  bool FindStreamChecksum(const FileIdentity& identity, uint64_t* checksum);
  void RememberStreamChecksum(const FileIdentity& identity, uint64_t checksum);

  // Drops `name` from the cache (freed now, or by its last reader's unpin).
  void Invalidate(std::string_view name);

  // The ready entries in eviction order (next to go first) and the cache's
  // totals, both read under one hold of the lock; kBusy when the lock wait
  // ran out.
  Result<CacheListing> List();
  Snapshot TakeSnapshot(int timeout_ms);
  // Consistency check (free + used = total, readers = live pins, index agrees,
  // no LOADING entry of a dead worker). Empty when consistent.
  std::vector<std::string> Check(int timeout_ms);

 private:
  friend class PinnedEntry;
  friend class PacketReader;
  friend class Reservation;
  struct Impl;
  explicit ShmCache(std::unique_ptr<Impl> impl);
  // Lookup and Admit, for a file (match_size) or a copy (cache.h, LookupCopy).
  Result<PinnedEntry> LookupMatching(std::string_view name, const FileIdentity& identity, bool count_miss,
                                     bool match_size);
  Admission AdmitMatching(std::string_view name, const FileIdentity& identity, bool match_size);
  void FillPin(uint32_t entry, PinnedEntry* pin);
  void Unpin(uint32_t entry);
  void AbortReservation(const Reservation& reservation);
  // REQUIRES: the mutex. True if `r` still names a LOADING entry of this worker.
  bool ReservationLiveLocked(const Reservation& r) const;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fc::shm_cache
