// The checksums of files streamed from disk, by identity, so that one
// worker's hashing serves them all (layout.h, StreamSum). A hint: a lost or
// overwritten slot costs a re-hash, never a wrong checksum (the identity is
// compared in full).
#include <optional>

#include "cache_impl.h"
#include "robust_mutex.h"

namespace fc::shm_cache {

namespace {
StreamSum& StreamSlot(Header& h, const FileIdentity& id) {
  const uint64_t mix = (id.ino * 0x9E3779B97F4A7C15ull) ^ (id.dev * 0xC2B2AE3D27D4EB4Full) ^
                       static_cast<uint64_t>(id.mtime_ns) ^ static_cast<uint64_t>(id.ctime_ns) ^ id.size;
  return h.stream_sums[(mix ^ (mix >> 29)) % kStreamSums];
}
bool SameFile(const StreamSum& s, const FileIdentity& id) {
  return FileIdentity{s.size, s.mtime_ns, s.ino, s.dev, s.ctime_ns} == id;  // one definition of "same"
}
}  // namespace

bool ShmCache::FindStreamChecksum(const FileIdentity& identity, uint64_t* checksum) {
  Impl& m = *impl_;
  if (!m.TakeLock()) return false;
  RobustLock lock(m.segment_lock, RobustLock::Adopt{});
  const StreamSum& slot = StreamSlot(*m.header, identity);
  if (!SameFile(slot, identity)) return false;
  *checksum = slot.checksum;
  return true;
}

void ShmCache::RememberStreamChecksum(const FileIdentity& identity, uint64_t checksum) {
  Impl& m = *impl_;
  if (!m.TakeLock()) return;  // a hint: another request hashes it again
  RobustLock lock(m.segment_lock, RobustLock::Adopt{});
  StreamSum& slot = StreamSlot(*m.header, identity);
  slot = StreamSum{identity.size, identity.mtime_ns, identity.ino, identity.dev, identity.ctime_ns, checksum};
}

}  // namespace fc::shm_cache
