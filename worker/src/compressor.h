// Internal header: --compress, the compressed copies the loader makes once
// and every worker then serves from the shared cache (docs/web.md).
//
// A copy of NAME in coding C is the cache entry ".fc/C/NAME" (a reserved
// name no request can reach), a copy in ShmCache's sense: fresh while NAME's
// identity holds. Only files of compressible media types, between the
// minimum size and kMaxCompressSize, get one; a copy that would not be
// smaller is stored empty, as a marker that NAME is served as it is.
// Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fc/protocol/content_coding.h"

namespace fc::worker {

// Larger files are served as they are: compressing one would hold its first
// request for too long (at ~20 MB/s, 8 MiB is ~0.4 s on one loader thread).
constexpr uint64_t kMaxCompressSize = 8ull << 20;

// Text, scripts, JSON, XML, SVG, WebAssembly and uncompressed fonts; not
// images, video, archives or application/octet-stream (already compressed,
// or unknown). `media_type` as MediaTypes::Lookup gives it (parameters ok).
bool CompressibleType(std::string_view media_type);

// The cache name of NAME's copy in `coding`: ".fc/gzip/NAME".
std::string CopyName(http::Coding coding, std::string_view name);

// Compresses [data, data+size) into *out: gzip (zlib, level 9), zstd
// (libzstd, level 12) or br (libbrotli, quality 9): levels a per-request
// compressor could not afford, paid once per file version. False, with
// *error naming the library's complaint, on failure.
bool Compress(http::Coding coding, const void* data, size_t size, std::string* out, std::string* error);

}  // namespace fc::worker
