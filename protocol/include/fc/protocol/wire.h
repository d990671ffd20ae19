// The fc wire format (see PROTOCOL.md): fixed-size big-endian request and reply
// headers, the LIST body, and the status codes. Used by fc-client and the
// worker; pure functions over byte buffers, safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fc::protocol {

constexpr uint8_t kVersion = 1;
constexpr size_t kRequestHeaderSize = 40;
constexpr size_t kReplyHeaderSize = 40;
constexpr uint32_t kMaxNameLength = 4096;
constexpr uint32_t kMaxTokenLength = 256;

enum class Op : uint8_t { kGet = 1, kList = 2, kPut = 3 };

// Reply status. Values are part of the wire format; never renumber.
enum class Code : uint8_t {
  kOk = 0,
  kNotFound = 1,
  kForbidden = 2,
  kTooLarge = 3,  // request (name, token, upload) over a limit
  kBusy = 4,
  kInternal = 5,
  kBadRequest = 6,
  kBadVersion = 7,
  kBadRange = 8,
  kUnsupported = 9,  // a known op the server has switched off (e.g. PUT)
  kNoSpace = 10,     // the server's disk or quota is full; nothing was stored
  kBadChecksum = 11, // an upload's bytes do not match its checksum; nothing was stored
};
const char* CodeName(Code code);

// Reply flag bits.
constexpr uint8_t kFlagFromCache = 1;

struct RequestHeader {
  Op op = Op::kGet;
  uint32_t name_length = 0;
  uint64_t offset = 0;
  uint64_t length = 0;  // 0 = to the end of the file
  uint64_t checksum = 0;
  uint32_t token_length = 0;
};

struct ReplyHeader {
  Code code = Code::kOk;
  uint8_t flags = 0;
  uint64_t file_size = 0;
  uint64_t offset = 0;
  uint64_t body_length = 0;
  uint64_t checksum = 0;
};

// Outcome of decoding a request header.
enum class DecodeError { kNone, kBadMagic, kBadVersion, kBadOp, kNameTooLong, kEmptyName, kTokenTooLong, kReserved };

void EncodeRequestHeader(const RequestHeader& header, uint8_t out[kRequestHeaderSize]);
// REQUIRES: `in` holds kRequestHeaderSize bytes.
DecodeError DecodeRequestHeader(const uint8_t* in, RequestHeader* out);
// True when `prefix` (of any length) can still be the start of an fc request,
// i.e. it starts with the magic bytes "FC".
bool LooksLikeFcRequest(const uint8_t* prefix, size_t length);

void EncodeReplyHeader(const ReplyHeader& header, uint8_t out[kReplyHeaderSize]);
// Returns false on bad magic or an unknown version.
bool DecodeReplyHeader(const uint8_t* in, ReplyHeader* out);

// One line of a LIST reply.
struct ListItem {
  std::string name;
  uint64_t size = 0;
  uint32_t readers = 0;
  uint64_t hits = 0;
};
std::string EncodeListBody(const std::vector<ListItem>& items);
// Returns false if the body is malformed (truncated, trailing bytes, absurd counts).
bool DecodeListBody(std::string_view body, std::vector<ListItem>* items);

// Big-endian helpers, exposed for the parsers and their tests.
inline void PutU32(uint8_t* p, uint32_t v) {
  for (int i = 3; i >= 0; --i, v >>= 8) p[i] = static_cast<uint8_t>(v);
}
inline void PutU64(uint8_t* p, uint64_t v) {
  for (int i = 7; i >= 0; --i, v >>= 8) p[i] = static_cast<uint8_t>(v);
}
inline uint32_t GetU32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | p[i];
  return v;
}
inline uint64_t GetU64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

}  // namespace fc::protocol
