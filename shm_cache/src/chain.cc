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
  uint32_t packet = first;
  for (uint32_t i = 0; i < count && packet < header->packet_count; ++i) {
    uint64_t& word = bitmap[packet / 64];
    const uint64_t bit = 1ULL << (packet % 64);
    if (word & bit) {
      word &= ~bit;
      --header->used_packets;
    }
    packet = links[packet];
  }
}

bool ShmCache::Impl::ReadChain(uint32_t first, uint64_t offset, uint64_t length,
                               char* out) const {
  const uint32_t ps = header->packet_size;
  uint32_t packet = first;
  uint32_t hops = 0;
  const uint32_t max_hops = header->packet_count;
  while (offset >= ps) {
    if (packet >= header->packet_count || ++hops > max_hops) return false;
    packet = links[packet];
    offset -= ps;
  }
  while (length > 0) {
    if (packet >= header->packet_count || ++hops > max_hops) return false;
    const uint64_t n = std::min<uint64_t>(length, ps - offset);
    std::memcpy(out, Packet(packet) + offset, n);
    out += n;
    length -= n;
    offset = 0;
    packet = links[packet];
  }
  return true;
}

bool ShmCache::Impl::WriteChain(uint32_t first, uint64_t offset, const char* data,
                                uint64_t length) {
  const uint32_t ps = header->packet_size;
  uint32_t packet = first;
  while (offset >= ps) {
    packet = links[packet];
    offset -= ps;
  }
  while (length > 0) {
    if (packet >= header->packet_count) return false;
    const uint64_t n = std::min<uint64_t>(length, ps - offset);
    std::memcpy(Packet(packet) + offset, data, n);
    data += n;
    length -= n;
    offset = 0;
    packet = links[packet];
  }
  return true;
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
  const ShmCache::Impl& impl = *cache.impl_;
  uint64_t skip = pin.name_length_ + offset;
  const uint32_t ps = impl.header->packet_size;
  while (skip >= ps) {
    packet_ = impl.links[packet_];
    skip -= ps;
  }
  offset_in_packet_ = static_cast<uint32_t>(skip);
}

int PacketReader::Fill(iovec* iov, int max_iov, size_t max_bytes) const {
  const ShmCache::Impl& impl = *cache_->impl_;
  const uint32_t ps = impl.header->packet_size;
  uint64_t left = std::min<uint64_t>(remaining_, max_bytes);
  uint32_t packet = packet_;
  uint32_t offset = offset_in_packet_;
  int n = 0;
  while (left > 0) {
    const uint64_t take = std::min<uint64_t>(left, ps - offset);
    char* base = impl.Packet(packet) + offset;
    if (n > 0 && static_cast<char*>(iov[n - 1].iov_base) + iov[n - 1].iov_len == base) {
      iov[n - 1].iov_len += take;  // the next packet lies right after: one iovec
    } else {
      if (n == max_iov) break;
      iov[n].iov_base = base;
      iov[n].iov_len = take;
      ++n;
    }
    left -= take;
    offset = 0;
    packet = impl.links[packet];
  }
  return n;
}

void PacketReader::Advance(uint64_t bytes) {
  const ShmCache::Impl& impl = *cache_->impl_;
  const uint32_t ps = impl.header->packet_size;
  remaining_ -= bytes;
  bytes += offset_in_packet_;
  while (bytes >= ps) {
    packet_ = impl.links[packet_];
    bytes -= ps;
  }
  offset_in_packet_ = static_cast<uint32_t>(bytes);
}

// ---- Reservation --------------------------------------------------------------

int Reservation::Spans(uint64_t offset, uint64_t length, iovec* iov, int max_iov) const {
  const ShmCache::Impl& impl = *cache_->impl_;
  const uint32_t ps = impl.header->packet_size;
  uint64_t skip = name_length_ + offset;
  uint32_t packet = first_packet_;
  while (skip >= ps) {
    packet = impl.links[packet];
    skip -= ps;
  }
  length = std::min(length, size_ - offset);
  int n = 0;
  while (length > 0) {
    const uint64_t take = std::min<uint64_t>(length, ps - skip);
    char* base = impl.Packet(packet) + skip;
    if (n > 0 && static_cast<char*>(iov[n - 1].iov_base) + iov[n - 1].iov_len == base) {
      iov[n - 1].iov_len += take;
    } else {
      if (n == max_iov) break;
      iov[n].iov_base = base;
      iov[n].iov_len = take;
      ++n;
    }
    length -= take;
    skip = 0;
    packet = impl.links[packet];
  }
  return n;
}

}  // namespace fc::shm_cache
