// libFuzzer target: the fc request parser (header decoding and name checks).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fc/protocol/wire.h"
#include "file_source.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < fc::protocol::kRequestHeaderSize) {
    (void)fc::protocol::LooksLikeFcRequest(data, size);
    return 0;
  }
  fc::protocol::RequestHeader h;
  if (fc::protocol::DecodeRequestHeader(data, &h) != fc::protocol::DecodeError::kNone) return 0;
  const size_t rest = size - fc::protocol::kRequestHeaderSize;
  const size_t name_length = h.name_length < rest ? h.name_length : rest;
  const std::string_view name(reinterpret_cast<const char*>(data) + fc::protocol::kRequestHeaderSize,
                              name_length);
  std::string canonical;
  if (fc::worker::FileSource::CanonicalName(name, &canonical).code == fc::protocol::Code::kOk) {
    // Canonical means idempotent, bounded, and free of empty, "." and ".." parts.
    std::string twice;
    if (fc::worker::FileSource::CanonicalName(canonical, &twice).code != fc::protocol::Code::kOk ||
        twice != canonical || canonical.size() >= fc::protocol::kMaxNameLength ||
        canonical.find("//") != std::string::npos || canonical.front() == '/' ||
        canonical.back() == '/') {
      __builtin_trap();
    }
  }
  return 0;
}
