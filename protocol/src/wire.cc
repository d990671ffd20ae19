// Encoding and decoding of the fc wire format; the layout is specified in PROTOCOL.md.
#include "fc/protocol/wire.h"

#include <cstring>

namespace fc::protocol {
namespace {
constexpr uint8_t kMagic0 = 'F';
constexpr uint8_t kMagic1 = 'C';
constexpr size_t kListItemFixed = 4 + 8 + 4 + 8;
}  // namespace

const char* CodeName(Code code) {
  switch (code) {
    case Code::kOk: return "ok";
    case Code::kNotFound: return "not found";
    case Code::kForbidden: return "forbidden";
    case Code::kTooLarge: return "request too large";
    case Code::kBusy: return "busy";
    case Code::kInternal: return "internal error";
    case Code::kBadRequest: return "bad request";
    case Code::kBadVersion: return "unsupported protocol version";
    case Code::kBadRange: return "range not satisfiable";
    case Code::kUnsupported: return "operation not enabled";
    case Code::kNoSpace: return "no space on the server";
    case Code::kBadChecksum: return "checksum mismatch";
  }
  return "unknown status";
}

void EncodeRequestHeader(const RequestHeader& h, uint8_t out[kRequestHeaderSize]) {
  std::memset(out, 0, kRequestHeaderSize);
  out[0] = kMagic0;
  out[1] = kMagic1;
  out[2] = kVersion;
  out[3] = static_cast<uint8_t>(h.op);
  PutU32(out + 4, h.name_length);
  PutU64(out + 8, h.offset);
  PutU64(out + 16, h.length);
  PutU64(out + 24, h.checksum);
  PutU32(out + 32, h.token_length);
}

DecodeError DecodeRequestHeader(const uint8_t* in, RequestHeader* out) {
  if (in[0] != kMagic0 || in[1] != kMagic1) return DecodeError::kBadMagic;
  if (in[2] != kVersion) return DecodeError::kBadVersion;
  const uint8_t op = in[3];
  if (op < static_cast<uint8_t>(Op::kGet) || op > static_cast<uint8_t>(Op::kPut)) {
    return DecodeError::kBadOp;
  }
  out->op = static_cast<Op>(op);
  out->name_length = GetU32(in + 4);
  out->offset = GetU64(in + 8);
  out->length = GetU64(in + 16);
  out->checksum = GetU64(in + 24);
  out->token_length = GetU32(in + 32);
  if (GetU32(in + 36) != 0) return DecodeError::kReserved;
  if (out->name_length > kMaxNameLength) return DecodeError::kNameTooLong;
  if (out->token_length > kMaxTokenLength) return DecodeError::kTokenTooLong;
  if (out->op != Op::kList && out->name_length == 0) return DecodeError::kEmptyName;
  return DecodeError::kNone;
}

bool LooksLikeFcRequest(const uint8_t* prefix, size_t length) {
  if (length >= 1 && prefix[0] != kMagic0) return false;
  if (length >= 2 && prefix[1] != kMagic1) return false;
  return true;
}

void EncodeReplyHeader(const ReplyHeader& h, uint8_t out[kReplyHeaderSize]) {
  std::memset(out, 0, kReplyHeaderSize);
  out[0] = kMagic0;
  out[1] = kMagic1;
  out[2] = kVersion;
  out[3] = static_cast<uint8_t>(h.code);
  out[4] = h.flags;
  PutU64(out + 8, h.file_size);
  PutU64(out + 16, h.offset);
  PutU64(out + 24, h.body_length);
  PutU64(out + 32, h.checksum);
}

bool DecodeReplyHeader(const uint8_t* in, ReplyHeader* out) {
  if (in[0] != kMagic0 || in[1] != kMagic1 || in[2] != kVersion) return false;
  out->code = static_cast<Code>(in[3]);
  out->flags = in[4];
  out->file_size = GetU64(in + 8);
  out->offset = GetU64(in + 16);
  out->body_length = GetU64(in + 24);
  out->checksum = GetU64(in + 32);
  return true;
}

std::string EncodeListBody(const std::vector<ListItem>& items) {
  size_t total = 4;
  for (const auto& item : items) total += kListItemFixed + item.name.size();
  std::string body(total, '\0');
  auto* p = reinterpret_cast<uint8_t*>(body.data());
  PutU32(p, static_cast<uint32_t>(items.size()));
  p += 4;
  for (const auto& item : items) {
    PutU32(p, static_cast<uint32_t>(item.name.size()));
    PutU64(p + 4, item.size);
    PutU32(p + 12, item.readers);
    PutU64(p + 16, item.hits);
    p += kListItemFixed;
    std::memcpy(p, item.name.data(), item.name.size());
    p += item.name.size();
  }
  return body;
}

bool DecodeListBody(std::string_view body, std::vector<ListItem>* items) {
  items->clear();
  if (body.size() < 4) return false;
  const auto* p = reinterpret_cast<const uint8_t*>(body.data());
  const uint8_t* end = p + body.size();
  const uint32_t count = GetU32(p);
  p += 4;
  // Each item takes at least kListItemFixed + 1 bytes, so a huge count in a short
  // body is rejected before anything is reserved.
  if (count > static_cast<size_t>(end - p) / (kListItemFixed + 1)) return false;
  items->reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    if (static_cast<size_t>(end - p) < kListItemFixed) return false;
    ListItem item;
    const uint32_t name_length = GetU32(p);
    item.size = GetU64(p + 4);
    item.readers = GetU32(p + 12);
    item.hits = GetU64(p + 16);
    p += kListItemFixed;
    if (name_length == 0 || name_length > kMaxNameLength ||
        static_cast<size_t>(end - p) < name_length) {
      return false;
    }
    item.name.assign(reinterpret_cast<const char*>(p), name_length);
    p += name_length;
    items->push_back(std::move(item));
  }
  return p == end;
}

}  // namespace fc::protocol
