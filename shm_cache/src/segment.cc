// Creating, opening and removing the segment, and carving it into the fixed
// arrays of layout.h. This is the only code that uses the segment's allocator.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <boost/interprocess/shared_memory_object.hpp>
#include <algorithm>
#include <cstdio>
#include <cstring>

#include "fc/base/clock.h"
#include "cache_impl.h"
#include "fc/base/checksum.h"
#include "fc/base/process_start.h"
#include "fc/base/unique_fd.h"
#include "robust_mutex.h"

namespace bip = boost::interprocess;

namespace fc::shm_cache {
namespace {

constexpr uint64_t kFixedReserve = 64 * 1024;  // Boost's own bookkeeping, header, alignment
constexpr uint32_t kPacketsPerEntry = 4;      // entry table = packets / 4

uint32_t NextPowerOfTwo(uint32_t v) {
  uint32_t p = 1;
  while (p < v) p <<= 1;
  return p;
}

// Allocates every array for `packet_count` packets, or returns false (having
// freed what it took) if they do not fit in the segment.
bool Carve(Segment& segment, Header* h, uint32_t packet_count) {
  h->packet_count = packet_count;
  h->entry_capacity = std::max<uint32_t>(16, packet_count / kPacketsPerEntry);
  h->bucket_count = NextPowerOfTwo(h->entry_capacity);
  const uint64_t words = (packet_count + 63) / 64;
  struct Block {
    uint64_t bytes;
    uint64_t align;
    uint64_t* offset;
    bool zero;  // packets are never read before a load writes them: not touched here
  } blocks[] = {
      {uint64_t{h->packet_size} * packet_count, 4096, &h->packets_offset, false},
      {sizeof(Entry) * uint64_t{h->entry_capacity}, 64, &h->entries_offset, true},
      {sizeof(uint32_t) * uint64_t{h->bucket_count}, 64, &h->buckets_offset, true},
      {sizeof(uint32_t) * uint64_t{packet_count}, 64, &h->links_offset, true},
      {sizeof(uint64_t) * words, 64, &h->bitmap_offset, true},
      {sizeof(WorkerSlot) * uint64_t{h->slot_count}, 64, &h->slots_offset, true},
      {sizeof(uint32_t) * uint64_t{h->slot_count} * h->entry_capacity, 64, &h->pins_offset, true},
      {sizeof(WorkerCounters) * uint64_t{h->slot_count} * kCounterLanes, 64, &h->counters_offset, true},
  };
  std::vector<void*> taken;
  for (const Block& b : blocks) {
    void* p = segment.allocate_aligned(b.bytes, b.align, std::nothrow);
    if (p == nullptr) {
      for (void* q : taken) segment.deallocate(q);
      return false;
    }
    // A fresh segment reads as zeros except where the allocator kept its own
    // bookkeeping; zeroing the packets would fault in every page of a 2 GiB
    // cache at start (7 s measured) for bytes nobody reads.
    if (b.zero) std::memset(p, 0, b.bytes);
    taken.push_back(p);
    *b.offset = static_cast<uint64_t>(static_cast<char*>(p) -
                                      static_cast<char*>(segment.get_address()));
  }
  return true;
}

constexpr const char* kShmDir = "/dev/shm";

std::string Mebibytes(uint64_t bytes) {
  return std::to_string((bytes + (1 << 20) - 1) >> 20) + " MiB";
}

// What a segment of `size` bytes that does not fit should tell the operator.
Status DoesNotFit(const std::string& name, uint64_t size, uint64_t available) {
  return Status::Error("shared memory segment \"" + name + "\" needs " + Mebibytes(size) + ", but " +
                       kShmDir + " has " + Mebibytes(available) +
                       " free; lower --cache-size, or give the machine or container more shared "
                       "memory (docker run --shm-size=..., or a larger /dev/shm mount)");
}

uint64_t ShmAvailable() {
  struct statvfs vfs;
  if (::statvfs(kShmDir, &vfs) != 0) return UINT64_MAX;  // unknown: let the reservation decide
  return uint64_t{vfs.f_bavail} * vfs.f_frsize;
}

// Reserves every page of a freshly created segment now (as PostgreSQL does),
// so a /dev/shm too small for it is an error here rather than a SIGBUS later.
Status ReservePages(const std::string& name, uint64_t size) {
  UniqueFd fd(::shm_open(("/" + name).c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0));
  if (!fd.valid()) return Status::FromErrno(errno, "shm_open", name);
  const int err = ::posix_fallocate(fd.get(), 0, static_cast<off_t>(size));
  if (err == ENOSPC || err == ENOMEM || err == EFBIG) return DoesNotFit(name, size, ShmAvailable());
  if (err != 0 && err != EOPNOTSUPP) return Status::FromErrno(err, "posix_fallocate", name);
  return Status::Ok();
}

// Boost's open waits, without end, for a segment whose creator has not
// finished: a planted zero-filled file would hang fc there. Check first that
// the file is this user's, and that Boost's "initialized" word is set within
// a second. Boost's word values: 0 uninitialized, 1 initializing, 2 initialized.
Status CheckBeforeOpen(const std::string& name) {
  UniqueFd fd(::shm_open(("/" + name).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0));
  if (!fd.valid()) {
    if (errno == ENOENT) {
      return Status::Error("no shared memory segment \"" + name +
                           "\" (is fc-master running with this port or --shm-name?)");
    }
    return Status::FromErrno(errno, "shm_open", name);
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return Status::FromErrno(errno, "fstat", name);
  if (st.st_uid != ::geteuid()) {
    return Status::Error("shared memory segment \"" + name + "\" belongs to uid " +
                         std::to_string(st.st_uid) + ", not to this user (uid " +
                         std::to_string(::geteuid()) + "): it is not this fc's; refusing to use it");
  }
  if (st.st_size < 4096) {
    return Status::Error("shared memory segment \"" + name + "\" is " + std::to_string(st.st_size) +
                         " bytes: not an fc segment");
  }
  void* map = ::mmap(nullptr, 4096, PROT_READ, MAP_SHARED, fd.get(), 0);
  if (map == MAP_FAILED) return Status::FromErrno(errno, "mmap", name);
  const auto* word = static_cast<const uint32_t*>(map);
  uint32_t value = __atomic_load_n(word, __ATOMIC_ACQUIRE);
  for (int i = 0; i < 100 && value < 2; ++i) {  // 1 s at most for a creator still at work
    ::usleep(10'000);
    value = __atomic_load_n(word, __ATOMIC_ACQUIRE);
  }
  ::munmap(map, 4096);
  if (value != 2) {
    return Status::Error("shared memory segment \"" + name +
                         "\" is not an initialized fc segment (planted, or its creator died while "
                         "creating it)");
  }
  return Status::Ok();
}

}  // namespace

uint64_t NameHash(std::string_view name) { return Checksum64::Of(name.data(), name.size()); }

const char* PolicyName(Policy policy) {
  switch (policy) {
    case Policy::kLru: return "lru";
    case Policy::kFifo: return "fifo";
    case Policy::kSieve: return "sieve";
    case Policy::kS3Fifo: return "s3fifo";
    case Policy::kFc: return "fc";
  }
  return "unknown";
}

Result<Policy> ParsePolicy(const std::string& text) {
  for (Policy p : {Policy::kLru, Policy::kFifo, Policy::kSieve, Policy::kS3Fifo, Policy::kFc}) {
    if (text == PolicyName(p)) return p;
  }
  return Status::Error("unknown eviction policy \"" + text +
                       "\": expected fc, lru, fifo, sieve or s3fifo");
}

void ShmCache::Impl::Bind(Header* h) {
  header = h;
  char* base = static_cast<char*>(segment->get_address());
  entries = reinterpret_cast<Entry*>(base + h->entries_offset);
  buckets = reinterpret_cast<uint32_t*>(base + h->buckets_offset);
  links = reinterpret_cast<uint32_t*>(base + h->links_offset);
  bitmap = reinterpret_cast<uint64_t*>(base + h->bitmap_offset);
  slots = reinterpret_cast<WorkerSlot*>(base + h->slots_offset);
  pins = reinterpret_cast<uint32_t*>(base + h->pins_offset);
  counters = reinterpret_cast<WorkerCounters*>(base + h->counters_offset);
  packets = base + h->packets_offset;
  segment_lock.Bind(&h->mutex, [this] {
    segment_lock.AssertHeld();  // the mutex runs it under the lock
    RepairLocked();
  });
}

ShmCache::ShmCache(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ShmCache::~ShmCache() = default;

namespace {

// As many packets as fit after the header, the entries and the counters,
// carved from the segment (fewer if the allocator's overhead needs room).
Status CarvePackets(Segment& segment, Header* h, const CacheOptions& options) {
  const double per_packet = options.packet_size + sizeof(uint32_t) + 0.125 +
                            (sizeof(Entry) + 8.0 + 4.0 * options.worker_slots) / kPacketsPerEntry;
  const uint64_t fixed =
      kFixedReserve + sizeof(WorkerCounters) * uint64_t{options.worker_slots} * kCounterLanes;
  const uint64_t usable = options.segment_size > fixed ? options.segment_size - fixed : 0;
  uint64_t count = static_cast<uint64_t>(usable / per_packet);
  count = std::min<uint64_t>(count, UINT32_MAX - 1);
  bool carved = false;
  while (count >= 16 && !(carved = Carve(segment, h, static_cast<uint32_t>(count)))) {
    count -= std::max<uint64_t>(1, count / 200);
  }
  if (!carved) {
    return Status::Error("cache size " + std::to_string(options.segment_size) +
                         " bytes is too small for packets of " +
                         std::to_string(options.packet_size) + " bytes");
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<ShmCache>> ShmCache::Create(const CacheOptions& options) {
  const std::string& name = options.shm_name;
  if (options.packet_size < 64 || options.packet_size > (1u << 20)) {
    return Status::Error("packet size must be between 64 bytes and 1 MiB");
  }
  if (options.worker_slots == 0 || options.worker_slots > kMaxWorkerSlots) {
    return Status::Error("worker count must be between 1 and " + std::to_string(kMaxWorkerSlots));
  }
  if (const uint64_t available = ShmAvailable(); available < options.segment_size) {
    return DoesNotFit(name, options.segment_size, available);
  }
  auto impl = std::make_unique<Impl>();
  try {
    // Only this user may read it: it holds the bytes of every cached file.
    impl->segment = std::make_unique<Segment>(bip::create_only, name.c_str(), options.segment_size,
                                              nullptr, bip::permissions(options.mode));
  } catch (const bip::interprocess_exception& e) {
    return Status::Error("cannot create shared memory segment \"" + name + "\" of " +
                         std::to_string(options.segment_size) + " bytes: " + e.what());
  }
  if (Status st = ReservePages(name, options.segment_size); !st.ok()) {
    impl.reset();
    Remove(name);
    return st;
  }
  Header* h = impl->segment->construct<Header>(kHeaderObjectName, std::nothrow)();
  if (h == nullptr) {
    Remove(name);
    return Status::Error("shared memory segment \"" + name + "\" is too small for its header");
  }
  h->packet_size = options.packet_size;
  h->slot_count = options.worker_slots;
  h->segment_size = options.segment_size;
  h->policy = static_cast<uint32_t>(options.policy);

  if (Status st = CarvePackets(*impl->segment, h, options); !st.ok()) {
    Remove(name);
    return st;
  }
  impl->Bind(h);
  Status st = InitRobustMutex(&h->mutex);
  if (!st.ok()) {
    Remove(name);
    return st;
  }
  for (uint32_t i = 0; i < h->slot_count; ++i) {
    impl->slots[i].pid.store(0);
    impl->slots[i].state.store(kSlotEmpty);
    impl->slots[i].epoch.store(0);
  }
  // fc's ghost window scales with the cache (about 500 names for 64 MiB);
  // S3-FIFO's is as long as the ring allows.
  h->ghost_window = options.policy == Policy::kS3Fifo
                        ? kGhostSlots
                        : std::clamp<uint32_t>(h->packet_count / 128, 64, kGhostSlots);
  h->generation = 1;
  h->master_pid = static_cast<int32_t>(::getpid());
  h->master_start = ProcessStartTime(::getpid());
  std::snprintf(h->lock_dir, sizeof(h->lock_dir), "%s", options.lock_dir.c_str());
  {
    RobustLock lock(impl->segment_lock);
    impl->RebuildLocked();  // empty lists, free-entry chain, buckets
    h->stats.repairs = 0;
  }
  h->layout_version = kLayoutVersion;
  // Last, with release order: an opener never sees a half-built segment as valid.
  __atomic_store_n(&h->magic, kMagic, __ATOMIC_RELEASE);
  return std::unique_ptr<ShmCache>(new ShmCache(std::move(impl)));
}

Result<std::unique_ptr<ShmCache>> ShmCache::Open(const std::string& name) {
  if (Status st = CheckBeforeOpen(name); !st.ok()) return st;
  auto impl = std::make_unique<Impl>();
  try {
    impl->segment = std::make_unique<Segment>(bip::open_only, name.c_str());
  } catch (const bip::interprocess_exception& e) {
    return Status::Error("cannot open shared memory segment \"" + name + "\": " + e.what() +
                         " (is fc-master running with this port or --shm-name?)");
  }
  Header* h = nullptr;
  try {
    h = impl->segment->find<Header>(kHeaderObjectName).first;
  } catch (const bip::interprocess_exception&) {
    h = nullptr;
  }
  if (h == nullptr || h->magic != kMagic) {
    return Status::Error("shared memory segment \"" + name +
                         "\" is not an fc cache (or is still being created)");
  }
  // magic and layout_version stay first in every version, so this check is
  // safe on a segment of any version.
  if (h->layout_version != kLayoutVersion) {
    return Status::Error("shared memory segment \"" + name + "\" has layout version " +
                         std::to_string(h->layout_version) + "; this fc uses version " +
                         std::to_string(kLayoutVersion));
  }
  impl->Bind(h);
  return std::unique_ptr<ShmCache>(new ShmCache(std::move(impl)));
}

Status ShmCache::Remove(const std::string& name) {
  try {
    bip::shared_memory_object::remove(name.c_str());
  } catch (const bip::interprocess_exception& e) {
    return Status::Error("cannot remove shared memory segment \"" + name + "\": " + e.what());
  }
  return Status::Ok();
}

Result<SegmentCreator> ShmCache::CreatorOf(const std::string& name) {
  auto cache = Open(name);
  if (!cache.ok()) return cache.status();
  const Header* h = cache.value()->impl_->header;
  return SegmentCreator{h->master_pid, h->master_start,
                        std::string(h->lock_dir, strnlen(h->lock_dir, sizeof(h->lock_dir)))};
}

Status ShmCache::CheckOwnership(const std::string& name) {
  UniqueFd fd(::shm_open(("/" + name).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0));
  if (!fd.valid()) {
    if (errno == ENOENT) return Status::Ok();
    return Status::FromErrno(errno, "shm_open", name);
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return Status::FromErrno(errno, "fstat", name);
  if (st.st_uid != ::geteuid()) {
    return Status::Error("shared memory segment \"" + name + "\" (" + kShmDir + "/" + name +
                         ") belongs to uid " + std::to_string(st.st_uid) + ", not to this user (uid " +
                         std::to_string(::geteuid()) + "); fc will not use or remove it: choose "
                         "another --shm-name, or remove it if you know it is stale");
  }
  return Status::Ok();
}

uint32_t ShmCache::packet_size() const { return impl_->header->packet_size; }
uint32_t ShmCache::packet_count() const { return impl_->header->packet_count; }
uint64_t ShmCache::data_capacity() const {
  return uint64_t{impl_->header->packet_size} * impl_->header->packet_count;
}
uint64_t ShmCache::packets_offset() const { return impl_->header->packets_offset; }
uint32_t ShmCache::worker_slots() const { return impl_->header->slot_count; }
Policy ShmCache::policy() const { return static_cast<Policy>(impl_->header->policy); }
uint32_t ShmCache::layout_version() const { return impl_->header->layout_version; }
uint32_t BinaryLayoutVersion() { return kLayoutVersion; }

void ShmCache::TakeOver() {
  Header* h = impl_->header;
  __atomic_store_n(&h->master_start, ProcessStartTime(::getpid()), __ATOMIC_RELAXED);
  __atomic_store_n(&h->master_pid, static_cast<int32_t>(::getpid()), __ATOMIC_RELEASE);
}

}  // namespace fc::shm_cache
