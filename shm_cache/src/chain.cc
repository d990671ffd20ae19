// The packet pool: a bitmap of packets in use, allocated next-fit so that an
// entry's packets tend to be neighbours (PacketReader then merges them into one
// iovec), and per-packet links that chain an entry's packets in order. An
// entry's chain holds its name first, then the file bytes.
#include <cstring>

#include "cache_impl.h"

namespace fc::shm_cache {

bool ShmCache::Impl::AllocChainLocked(uint32_t count, uint32_t* first) {
  Header& h = *header;
  if (count == 0 || h.used_packets + count > h.packet_count) return false;
  const uint32_t words = (h.packet_count + 63) / 64;
  uint32_t word = (h.alloc_cursor / 64) % words;
  uint32_t taken = 0;
  uint32_t prev = kNil;
  for (uint32_t scanned = 0; taken < count && scanned <= words; ++scanned) {
    uint64_t free_bits = ~bitmap[word];
    if (word == words - 1 && h.packet_count % 64 != 0) {
      free_bits &= (1ULL << (h.packet_count % 64)) - 1;  // bits past the end are not packets
    }
    while (free_bits != 0 && taken < count) {
      const uint32_t bit = static_cast<uint32_t>(__builtin_ctzll(free_bits));
      free_bits &= free_bits - 1;
      const uint32_t packet = word * 64 + bit;
      bitmap[word] |= 1ULL << bit;
      if (prev == kNil) {
        *first = packet;
      } else {
        links[prev] = packet;
      }
      prev = packet;
      ++taken;
    }
    if (taken < count) word = (word + 1) % words;
  }
  links[prev] = kNil;
  h.used_packets += taken;
  h.alloc_cursor = prev + 1 < h.packet_count ? prev + 1 : 0;
  return taken == count;  // always true: used_packets said there was room
}

void ShmCache::Impl::FreeChainLocked(uint32_t first, uint32_t count) {
  ForEachPacket(first, count, [this](uint32_t packet) {
    uint64_t& word = bitmap[packet / 64];
    const uint64_t bit = 1ULL << (packet % 64);
    if (word & bit) {
      word &= ~bit;
      --header->used_packets;
    }
    return true;
  });
}

bool ShmCache::Impl::Seek(ChainAt* at, uint64_t bytes) const {
  const uint32_t ps = header->packet_size;
  bytes += at->offset;
  for (uint32_t hops = 0; bytes >= ps; ++hops) {
    if (at->packet >= header->packet_count || hops > header->packet_count) return false;
    at->packet = links[at->packet];
    bytes -= ps;
  }
  at->offset = bytes;
  return true;
}

int ShmCache::Impl::Iovecs(ChainAt at, uint64_t length, iovec* iov, int max_iov) const {
  int n = 0;
  ForEachPiece(at, length, [&](char* data, size_t size) {
    if (n > 0 && static_cast<char*>(iov[n - 1].iov_base) + iov[n - 1].iov_len == data) {
      iov[n - 1].iov_len += size;  // the next packet lies right after: one iovec
      return true;
    }
    if (n == max_iov) return false;
    iov[n++] = {data, size};
    return true;
  });
  return n;
}

bool ShmCache::Impl::ReadChain(uint32_t first, uint64_t offset, uint64_t length, char* out) const {
  ChainAt at{first, 0};
  return Seek(&at, offset) && ForEachPiece(at, length, [&out](char* data, size_t n) {
           std::memcpy(out, data, n);
           out += n;
           return true;
         });
}

bool ShmCache::Impl::WriteChain(uint32_t first, uint64_t offset, const char* data, uint64_t length) {
  ChainAt at{first, 0};
  return Seek(&at, offset) && ForEachPiece(at, length, [&data](char* to, size_t n) {
           std::memcpy(to, data, n);
           data += n;
           return true;
         });
}

std::string ShmCache::Impl::EntryName(uint32_t entry) const {
  const Entry& e = entries[entry];
  const uint32_t length = std::min<uint32_t>(e.name_length, kMaxStoredName);
  std::string name(length, '\0');
  if (!ReadChain(e.first_packet, 0, length, name.data())) return "<broken chain>";
  return name;
}

// ---- PacketReader -------------------------------------------------------------

PacketReader::PacketReader(const ShmCache& cache, const PinnedEntry& pin, uint64_t offset)
    : cache_(&cache), packet_(pin.first_packet_), offset_in_packet_(0),
      remaining_(pin.size_ - offset) {
  ShmCache::Impl::ChainAt at{packet_, 0};
  cache.impl_->Seek(&at, pin.name_length_ + offset);  // a pinned chain is whole
  packet_ = at.packet;
  offset_in_packet_ = static_cast<uint32_t>(at.offset);
}

int PacketReader::Fill(iovec* iov, int max_iov, size_t max_bytes) const {
  return cache_->impl_->Iovecs({packet_, offset_in_packet_}, std::min<uint64_t>(remaining_, max_bytes), iov,
                               max_iov);
}

void PacketReader::Advance(uint64_t bytes) {
  remaining_ -= bytes;
  ShmCache::Impl::ChainAt at{packet_, offset_in_packet_};
  cache_->impl_->Seek(&at, bytes);
  packet_ = at.packet;
  offset_in_packet_ = static_cast<uint32_t>(at.offset);
}

// ---- Reservation --------------------------------------------------------------

int Reservation::Spans(uint64_t offset, uint64_t length, iovec* iov, int max_iov) const {
  const ShmCache::Impl& impl = *cache_->impl_;
  ShmCache::Impl::ChainAt at{first_packet_, 0};
  if (!impl.Seek(&at, name_length_ + offset)) return 0;
  return impl.Iovecs(at, std::min(length, size_ - offset), iov, max_iov);
}

}  // namespace fc::shm_cache
