// Compressed copies for --compress; see compressor.h.
#include "compressor.h"

#include <brotli/encode.h>
#include <zlib.h>
#include <zstd.h>

#include <array>

namespace fc::worker {
namespace {

constexpr int kGzipLevel = 9;
constexpr int kZstdLevel = 12;
constexpr int kBrotliQuality = 9;

bool StartsWith(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }
bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool Gzip(const void* data, size_t size, std::string* out, std::string* error) {
  z_stream z{};
  // windowBits 15 + 16: a gzip wrapper (RFC 1952), as Content-Encoding: gzip means.
  if (deflateInit2(&z, kGzipLevel, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK) {
    *error = "zlib: deflateInit2 failed";
    return false;
  }
  out->resize(deflateBound(&z, static_cast<uLong>(size)));
  z.next_in = static_cast<Bytef*>(const_cast<void*>(data));
  z.avail_in = static_cast<uInt>(size);
  z.next_out = reinterpret_cast<Bytef*>(out->data());
  z.avail_out = static_cast<uInt>(out->size());
  const int rc = deflate(&z, Z_FINISH);
  const size_t produced = out->size() - z.avail_out;
  deflateEnd(&z);
  if (rc != Z_STREAM_END) {
    *error = std::string("zlib: deflate: ") + (z.msg != nullptr ? z.msg : "did not finish");
    return false;
  }
  out->resize(produced);
  return true;
}

bool Zstd(const void* data, size_t size, std::string* out, std::string* error) {
  out->resize(ZSTD_compressBound(size));
  const size_t n = ZSTD_compress(out->data(), out->size(), data, size, kZstdLevel);
  if (ZSTD_isError(n)) {
    *error = std::string("zstd: ") + ZSTD_getErrorName(n);
    return false;
  }
  out->resize(n);
  return true;
}

bool Brotli(const void* data, size_t size, std::string* out, std::string* error) {
  size_t n = BrotliEncoderMaxCompressedSize(size);
  if (n == 0) n = size + 1024;
  out->resize(n);
  if (!BrotliEncoderCompress(kBrotliQuality, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_GENERIC, size,
                             static_cast<const uint8_t*>(data), &n, reinterpret_cast<uint8_t*>(out->data()))) {
    *error = "brotli: BrotliEncoderCompress failed";
    return false;
  }
  out->resize(n);
  return true;
}

}  // namespace

bool CompressibleType(std::string_view type) {
  type = type.substr(0, type.find(';'));
  while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
  if (StartsWith(type, "text/")) return true;
  if (EndsWith(type, "+xml") || EndsWith(type, "+json")) return true;  // svg, xhtml, rss, atom, ld, manifest
  static constexpr std::array<std::string_view, 12> kTypes = {
      "application/javascript", "application/x-javascript", "application/ecmascript",
      "application/json",       "application/xml",          "application/wasm",
      "application/x-sh",       "application/rtf",          "application/postscript",
      "font/ttf",               "font/otf",                 "application/vnd.ms-fontobject"};
  for (std::string_view t : kTypes) {
    if (type == t) return true;
  }
  return false;
}

std::string CopyName(http::Coding coding, std::string_view name) {
  std::string out = ".fc/";
  out += http::CodingToken(coding);
  out += '/';
  out += name;
  return out;
}

bool Compress(http::Coding coding, const void* data, size_t size, std::string* out, std::string* error) {
  switch (coding) {
    case http::Coding::kGzip: return Gzip(data, size, out, error);
    case http::Coding::kZstd: return Zstd(data, size, out, error);
    case http::Coding::kBrotli: return Brotli(data, size, out, error);
  }
  *error = "unknown coding";
  return false;
}

}  // namespace fc::worker
