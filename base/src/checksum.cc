// Thin wrapper over libxxhash's streaming XXH64.
#include "fc/base/checksum.h"

#include <xxhash.h>

#include <new>

namespace fc {

Checksum64::Checksum64() : state_(XXH64_createState()) {
  if (state_ == nullptr) throw std::bad_alloc();
  Reset();
}

Checksum64::~Checksum64() { XXH64_freeState(static_cast<XXH64_state_t*>(state_)); }

void Checksum64::Update(const void* data, size_t length) {
  XXH64_update(static_cast<XXH64_state_t*>(state_), data, length);
}

uint64_t Checksum64::Digest() const { return XXH64_digest(static_cast<XXH64_state_t*>(state_)); }

void Checksum64::Reset() { XXH64_reset(static_cast<XXH64_state_t*>(state_), 0); }

uint64_t Checksum64::Of(const void* data, size_t length) { return XXH64(data, length, 0); }

}  // namespace fc
