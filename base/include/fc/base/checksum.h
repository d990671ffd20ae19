// Checksum64: the whole-file checksum carried in GET replies, xxHash64 (seed 0)
// from Debian's libxxhash. A library beats hand-written code here: it is fast,
// well tested, and a client in any language can reproduce the value.
// Not thread-safe per object.
#pragma once

#include <cstddef>
#include <cstdint>

namespace fc {

class Checksum64 {
 public:
  Checksum64();
  ~Checksum64();
  Checksum64(const Checksum64&) = delete;
  Checksum64& operator=(const Checksum64&) = delete;

  void Update(const void* data, size_t length);
  uint64_t Digest() const;
  void Reset();

  // One-shot helper.
  static uint64_t Of(const void* data, size_t length);

 private:
  void* state_;  // XXH64_state_t*, kept opaque so xxhash.h stays out of this header
};

}  // namespace fc
